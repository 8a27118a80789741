"""The watch loop: rounds on a paced schedule until the duration is over or a stop is
asked for; each round's probes through the runner, its outcomes into the record, the
event log and the Prometheus file; an evidence capture on every change.

Nothing here prints: the command line gets each round, change and capture through a
listener. The clock, the round and the capture are parameters, so the loop is tested
(and benchmarked) with fakes at full speed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union

from wirecheck.checks.base import CheckSpec
from wirecheck.model import CheckResult, Deadline, RunConfig
from wirecheck.report.files import write_atomic
from wirecheck.runner import run_checks
from wirecheck.system import System
from wirecheck.watch.capture import Capture
from wirecheck.watch.events import SCHEMA_VERSION, EventLog
from wirecheck.watch.prometheus import PROMETHEUS_MODE, render_watch_prometheus
from wirecheck.watch.rate import Pace, Schedule
from wirecheck.watch.record import Sample, WatchRecord
from wirecheck.watch.windows import Changes, Window

# The capture's budget: about an interval, within these bounds.
CAPTURE_MIN_S = 1.0
CAPTURE_MAX_S = 3.0
# Of the interval, what a round's probes may take by default (the rest is for the
# snapshot between rounds), and never more than this.
ROUND_SHARE = 0.8
ROUND_MAX_S = 3.0


def capture_budget(interval_s: float) -> float:
    return min(CAPTURE_MAX_S, max(CAPTURE_MIN_S, interval_s))


def round_timeout(interval_s: float) -> float:
    return min(ROUND_MAX_S, interval_s * ROUND_SHARE)


@dataclass(frozen=True)
class WatchPlan:
    config: RunConfig  # target, ports, ...; timeout_s: one round's deadline
    pace: Pace
    duration_s: float | None = None  # None: until stopped
    capture_budget_s: float = CAPTURE_MAX_S
    event_log: Path | None = None
    prometheus_file: Path | None = None
    host: str = ""
    version: str = ""


class Stop:
    """Asked from a signal handler or another thread; the loop ends after its round."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""

    def request(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


class Clock:
    """The real time; tests and the bench pass one that only pretends."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def wait(self, stop: Stop, seconds: float) -> bool:
        """Wait `seconds` unless stopped first; True when stopped."""
        if seconds > 0:
            stop.event.wait(seconds)
        return stop.requested

    def cpu(self) -> tuple[float, float]:
        """CPU seconds of this process (all threads) and of the children it waited for."""
        times = os.times()
        return time.process_time(), times.children_user + times.children_system


class Capturing(Protocol):
    def between_rounds(self, budget_s: float) -> None: ...

    def capture(
        self, kind: str, results: Sequence[CheckResult], changed: Sequence[str], budget_s: float
    ) -> Capture: ...


RoundRunner = Callable[[Deadline], Sequence[CheckResult]]


def probe_round(specs: Sequence[CheckSpec], config: RunConfig, system: System) -> RoundRunner:
    """A round as a run of the probe checks, under the round's deadline."""

    def run(deadline: Deadline) -> Sequence[CheckResult]:
        return run_checks(specs, config, system=system, deadline=deadline)

    return run


@dataclass(frozen=True)
class RoundEvent:
    number: int
    at: float
    samples: tuple[Sample, ...]
    changes: Changes
    window: Window | None  # the open window, or the one this round closed


@dataclass(frozen=True)
class CaptureEvent:
    window: Window
    kind: str  # "down" or "up"
    capture: Capture


@dataclass(frozen=True)
class NoteEvent:
    text: str


WatchEvent = Union[RoundEvent, CaptureEvent, NoteEvent]
Listener = Callable[[WatchEvent], None]


@dataclass
class Outputs:
    """Where each round goes besides the listener: the event log, the Prometheus file.
    A file that cannot be written is said once and then left alone."""

    plan: WatchPlan
    log: EventLog | None = None
    notify: Listener = field(default=lambda _event: None)
    _prometheus_failed: bool = False

    def open(self) -> None:
        if self.plan.event_log is not None:
            self.log = EventLog(self.plan.event_log)

    def event(self, event: dict[str, Any], sync: bool = False) -> None:
        log = self.log
        if log is None:
            return
        log.write(event, sync)
        if log.error is not None:
            self.notify(NoteEvent(f"the event log stopped: {log.error}"))
            self.log = None

    def prometheus(self, record: WatchRecord) -> None:
        path = self.plan.prometheus_file
        if path is None or self._prometheus_failed:
            return
        try:
            data = render_watch_prometheus(record).encode("utf-8")
            write_atomic(path, data, PROMETHEUS_MODE, durable=False)
        except OSError as exc:
            self._prometheus_failed = True
            self.notify(NoteEvent(f"the Prometheus file {path} stopped: {exc.strerror or exc}"))

    def close(self) -> None:
        if self.log is not None:
            self.log.close()


def watch(
    plan: WatchPlan,
    probes: Sequence[str],
    run_round: RoundRunner,
    capturer: Capturing,
    *,
    stop: Stop | None = None,
    listener: Listener | None = None,
    clock: Clock | None = None,
) -> WatchRecord:
    """Rounds until `plan.duration_s` is over or `stop` is requested; the record of them.

    Raises OSError only when the event log cannot be opened at all (before any probe)."""
    stop = stop or Stop()
    clock = clock or Clock()
    notify = listener or (lambda _event: None)
    outputs = Outputs(plan, notify=notify)
    outputs.open()
    started_mono, started_wall = clock.monotonic(), clock.wall()
    record = WatchRecord(
        plan.config.target,
        probes,
        plan.pace.interval_s,
        started_wall,
        requested_interval_s=plan.pace.requested_s,
        host=plan.host,
        version=plan.version,
    )
    if plan.pace.raised:
        record.note(plan.pace.note())
        notify(NoteEvent(plan.pace.note()))
    outputs.event(_start_event(plan, record), sync=True)
    try:
        _rounds(plan, record, run_round, capturer, outputs, stop, clock, started_mono)
    finally:
        record.ended_at = clock.wall()
        record.stop_reason = record.stop_reason or stop.reason or "stopped"
        outputs.event(_stop_event(record), sync=True)
        outputs.close()
    return record


def _rounds(
    plan: WatchPlan,
    record: WatchRecord,
    run_round: RoundRunner,
    capturer: Capturing,
    outputs: Outputs,
    stop: Stop,
    clock: Clock,
    started: float,
) -> None:
    interval = plan.pace.interval_s
    schedule = Schedule(interval, started)
    end_at = None if plan.duration_s is None else started + plan.duration_s
    capturer.between_rounds(min(interval, CAPTURE_MIN_S))
    cpu_start: tuple[float, float] | None = None
    try:
        while True:
            due = schedule.due()
            if end_at is not None and due >= end_at:  # no round starts past the end
                if not clock.wait(stop, end_at - clock.monotonic()):
                    record.stop_reason = "duration"
                return
            while clock.monotonic() < due:  # a wait may end a hair early: never start early
                if clock.wait(stop, due - clock.monotonic()):
                    return
            if stop.requested:
                return
            now = clock.monotonic()
            if cpu_start is None:
                cpu_start = clock.cpu()
            schedule.started(now)
            at = clock.wall()
            results = run_round(Deadline(plan.config.timeout_s, clock.monotonic))
            samples = tuple(Sample.of(result) for result in results)
            changes = record.add_round(at, samples)
            window = record.windows.current or changes.closed
            outputs.event(_round_event(record.rounds, at, samples), sync=changes.any)
            for event in _change_events(changes, at):
                outputs.event(event, sync=True)
            outputs.notify(RoundEvent(record.rounds, at, samples, changes, window))
            if changes.any and window is not None:
                kind = "down" if changes.went_down else "up"
                changed = changes.went_down or changes.came_up
                capture = capturer.capture(kind, results, changed, plan.capture_budget_s)
                window.attach(capture.evidence, capture.first_cause if kind == "down" else None)
                outputs.event(
                    {"event": "capture", "window": window.number, **capture.evidence}, sync=True
                )
                outputs.notify(CaptureEvent(window, kind, capture))
            else:
                capturer.between_rounds(schedule.due() - clock.monotonic())
            outputs.prometheus(record)
            if stop.requested:
                return
    finally:
        if cpu_start is not None:
            cpu_end = clock.cpu()
            record.cpu_s = cpu_end[0] - cpu_start[0]
            record.cpu_children_s = cpu_end[1] - cpu_start[1]


def _start_event(plan: WatchPlan, record: WatchRecord) -> dict[str, Any]:
    return {
        "event": "start",
        "schema_version": SCHEMA_VERSION,
        "t": record.started_at,
        "target": record.target,
        "probes": list(record.probes),
        "interval_s": plan.pace.interval_s,
        "requested_interval_s": plan.pace.requested_s,
        "round_timeout_s": plan.config.timeout_s,
        "duration_s": plan.duration_s,
        "host": plan.host,
        "version": plan.version,
        "pid": os.getpid(),
    }


def _round_event(number: int, at: float, samples: Sequence[Sample]) -> dict[str, Any]:
    """A round, compactly: per probe its status and milliseconds, and the finding when
    it was not ok."""
    shown: dict[str, Any] = {}
    for sample in samples:
        entry: list[Any] = [sample.status, round(sample.seconds * 1000, 3)]
        if sample.up is False:
            entry.append(sample.finding)
        shown[sample.probe] = entry
    return {"event": "round", "n": number, "t": at, "probes": shown}


def _change_events(changes: Changes, at: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    if changes.opened is not None:
        events.append(
            {
                "event": "window-open",
                "window": changes.opened.number,
                "t": at,
                "probes": list(changes.opened.probes),
                "findings": dict(changes.opened.findings),
            }
        )
    events += [{"event": "down", "probe": p, "t": at} for p in changes.went_down]
    events += [{"event": "up", "probe": p, "t": at} for p in changes.came_up]
    if changes.closed is not None:
        closed = changes.closed
        events.append(
            {
                "event": "window-close",
                "window": closed.number,
                "t": at,
                "start": closed.start,
                "duration_s": round(closed.duration_s(), 3),
                "probes": list(closed.probes),
                "first_cause": closed.first_cause,
            }
        )
    return events


def _stop_event(record: WatchRecord) -> dict[str, Any]:
    return {
        "event": "stop",
        "t": record.end,
        "reason": record.stop_reason,
        "rounds": record.rounds,
        "windows": record.windows.total,
        "cpu_per_round_ms": record.cpu_per_round_ms,
    }
