"""The live view as lines of text: one per round, one per change, one per capture. Pure.

A pipe or a log gets plain lines with full UTC times, one per round, so `grep DOWN` finds
every change; a terminal gets the same words with colour (the caller passes `paint`).
Only ASCII: a terminal that cannot show more must still show this.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from wirecheck.watch.loop import CaptureEvent, NoteEvent, RoundEvent, WatchEvent
from wirecheck.watch.summary import span

# (text, status) -> text, coloured or not; status: ok, warn, fail, skip, error, down, up.
Paint = Callable[[str, str], str]


def plain(text: str, _status: str) -> str:
    return text


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_lines(event: WatchEvent, paint: Paint = plain) -> list[str]:
    if isinstance(event, RoundEvent):
        return round_lines(event, paint)
    if isinstance(event, CaptureEvent):
        return [capture_line(event, paint)]
    if isinstance(event, NoteEvent):
        return [f"note: {event.text}"]
    return []


def round_lines(event: RoundEvent, paint: Paint = plain) -> list[str]:
    parts = []
    for sample in event.samples:
        if sample.up:
            parts.append(f"{sample.probe} {paint('ok', 'ok')} {sample.seconds * 1000:.1f}ms")
        else:
            parts.append(f"{sample.probe} {paint(sample.status.upper(), sample.status)}")
    lines = [f"{stamp(event.at)} #{event.number}  " + "  ".join(parts)]
    changes, window = event.changes, event.window
    findings = {s.probe: s.finding for s in event.samples}
    for probe in changes.went_down:
        lines.append(
            f"{stamp(event.at)} {paint('DOWN', 'down')} {probe}: {findings.get(probe, '')}"
            + (f" (window {window.number})" if window is not None else "")
        )
    for probe in changes.came_up:
        lines.append(f"{stamp(event.at)} {paint('UP', 'up')} {probe}")
    if changes.closed is not None:
        closed = changes.closed
        lines.append(
            f"{stamp(event.at)} window {closed.number} closed after "
            f"{span(closed.duration_s())}: {', '.join(closed.probes)}"
        )
    return lines


def capture_line(event: CaptureEvent, paint: Paint = plain) -> str:
    capture = event.capture
    when = "broke" if event.kind == "down" else "came back"
    first = capture.causes[0].summary if capture.causes else "no cause found"
    if event.kind == "down":
        said = f"first cause: {paint(first, 'fail')}"
    else:
        said = f"diagnosis now: {first}"
    return (
        f"{stamp(capture.evidence.get('at') or 0.0)} evidence of window {event.window.number} "
        f"({when}) in {capture.took_s:.1f} s; {said}"
    )
