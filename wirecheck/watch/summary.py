"""The summary at the end of a watch, as data (the JSON file) and as text. Pure.

Per probe: rounds, availability and latency quantiles; then every failure window kept
in memory with its probes, first cause and the evidence captured when it opened and
closed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from wirecheck.model import EXIT_FAIL, EXIT_OK, EXIT_UNKNOWN
from wirecheck.watch.record import WatchRecord

SCHEMA_VERSION = 1


def exit_code(record: WatchRecord) -> int:
    """0: every round of every probe was ok; 2: some failure window; 3: no round ran."""
    if record.rounds == 0:
        return EXIT_UNKNOWN
    return EXIT_FAIL if record.windows.total else EXIT_OK


def verdict(record: WatchRecord) -> str:
    return {EXIT_OK: "OK", EXIT_FAIL: "FAIL"}.get(exit_code(record), "UNKNOWN")


def utc(stamp: float, date: bool = False) -> str:
    shown = datetime.fromtimestamp(stamp, timezone.utc)
    text = shown.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    return f"{text}.{int(shown.microsecond / 100_000)}"


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat(timespec="milliseconds")


def span(seconds: float) -> str:
    """`8.2 s`, `3 min 5 s`, `2 h 1 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def summary_data(record: WatchRecord, event_log: str | None = None) -> dict[str, Any]:
    end = record.end
    duration = max(0.0, end - record.started_at)
    down = record.windows.down_s(end)
    windows = [w.to_dict(end) for w in record.windows.kept]
    children = record.cpu_children_s / record.rounds * 1000 if record.rounds else None
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "wirecheck-watch",
        "version": record.version,
        "target": record.target,
        "host": record.host,
        "started": iso(record.started_at),
        "ended": iso(end),
        "started_at": record.started_at,
        "ended_at": end,
        "duration_s": round(duration, 3),
        "rounds": record.rounds,
        "interval_s": record.interval_s,
        "requested_interval_s": record.requested_interval_s,
        "stop_reason": record.stop_reason,
        "status": verdict(record).lower(),
        "exit_code": exit_code(record),
        "probes": {
            probe: {
                "rounds": stats.rounds,
                "ok": stats.up,
                "not_ok": stats.down,
                "skipped": stats.skipped,
                "availability": None
                if stats.availability is None
                else round(stats.availability, 6),
                "latency_ms": stats.quantiles().to_ms(),
                "last_status": stats.last_status,
            }
            for probe, stats in record.stats.items()
        },
        "windows_total": record.windows.total,
        "windows_shown": len(windows),
        "down_s": round(down, 3),
        "down_percent": round(down / duration * 100, 3) if duration else 0.0,
        "windows": windows,
        "notes": list(record.notes),
        "cpu": {
            "per_round_ms": None
            if record.cpu_per_round_ms is None
            else round(record.cpu_per_round_ms, 3),
            "children_per_round_ms": None if children is None else round(children, 3),
        },
        "event_log": event_log,
    }


def render_summary_json(record: WatchRecord, event_log: str | None = None) -> str:
    return json.dumps(summary_data(record, event_log), indent=2, default=str) + "\n"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def probe_table(data: Mapping[str, Any]) -> list[str]:
    probes: Mapping[str, Any] = data["probes"]
    width = max([len("probe"), *(len(p) for p in probes)])
    head = (
        f"{'probe':<{width}}  {'rounds':>6}  {'not ok':>6}  {'available':>9}  "
        f"{'p50':>9}  {'p95':>9}  {'p99':>9}  {'max':>9}"
    )
    lines = [head]
    for probe, entry in probes.items():
        latency = entry["latency_ms"]
        share = entry["availability"]
        shown = "-" if share is None else f"{share * 100:.3f}%"
        lines.append(
            f"{probe:<{width}}  {entry['rounds']:>6}  {entry['not_ok']:>6}  {shown:>9}  "
            f"{_ms(latency['p50']):>9}  {_ms(latency['p95']):>9}  {_ms(latency['p99']):>9}  "
            f"{_ms(latency['max']):>9}"
        )
    return lines


def evidence_line(capture: Mapping[str, Any]) -> str:
    """One capture's evidence in a line: firewall, trace, route, neighbour, conntrack, log."""
    parts: list[str] = []
    firewall = capture.get("firewall") or {}
    if "skipped" in firewall:
        parts.append(f"firewall: not read ({firewall['skipped']})")
    elif firewall:
        counted = firewall.get("counted") or []
        parts.append(
            f"firewall {firewall.get('status')}"
            + (f": {len(counted)} blocking rule(s) counted packets" if counted else "")
        )
    for trace in capture.get("traces") or []:
        parts.append(f"{trace.get('id')} {trace.get('status')}")
    path = capture.get("path") or {}
    if path.get("route"):
        parts.append(f"route: {path['route']}")
    if path.get("neighbour"):
        parts.append(f"neighbour: {path['neighbour']}")
    if path.get("note"):
        parts.append(f"path: {path['note']}")
    conntrack = capture.get("conntrack") or {}
    if "count" in conntrack:
        parts.append(f"conntrack {conntrack['count']}/{conntrack['max']}")
    elif conntrack.get("note"):
        parts.append(f"conntrack: {conntrack['note']}")
    log = capture.get("agent_log") or {}
    if "lines" in log:
        parts.append(f"agent log: {len(log['lines'])} new line(s)")
    elif log.get("note"):
        parts.append(f"agent log {log.get('path', '')}: {log['note']}")
    return "; ".join(parts)


def window_lines(window: Mapping[str, Any]) -> list[str]:
    end = window["end"]
    until = f"{utc(end)} UTC" if end is not None else "UTC, still failing at the end"
    lines = [
        f"{window['number']:>2}. {utc(window['start'])} - {until} "
        f"({span(window['duration_s'])}): {', '.join(window['probes'])}"
    ]
    lines += [f"    {probe}: {finding}" for probe, finding in window["findings"].items()]
    cause = window.get("first_cause")
    if cause:
        lines.append(f"    first cause: {cause['summary']}")
        lines.append(f"    fix: {cause['fix']}")
    for capture in window.get("captures") or []:
        label = "when it broke" if capture.get("kind") == "down" else "when it came back"
        lines.append(f"    evidence {label} ({utc(capture['at'])}): {evidence_line(capture)}")
    return lines


def render_summary_text(record: WatchRecord, event_log: str | None = None) -> str:
    data = summary_data(record, event_log)
    host = f" from {data['host']}" if data["host"] else ""
    lines = [
        f"wirecheck watch: {data['target']}{host}, {utc(data['started_at'], True)} to "
        f"{utc(data['ended_at'], True)} UTC ({span(data['duration_s'])})",
        f"{data['rounds']} round(s), one every {data['interval_s']:g} s; ended: "
        f"{data['stop_reason']}",
        "",
        *probe_table(data),
        "",
    ]
    total, shown = data["windows_total"], data["windows_shown"]
    if total == 0:
        lines.append("Failure windows: none.")
    else:
        lines.append(
            f"Failure windows: {total}, {span(data['down_s'])} in all "
            f"({data['down_percent']:.2f} % of the time)"
            + (f"; the last {shown} are shown, all are in the event log" if shown < total else "")
        )
        for window in data["windows"]:
            lines += window_lines(window)
    lines += [f"note: {note}" for note in data["notes"]]
    if event_log:
        lines.append(f"event log: {event_log}")
    lines.append(summary_line(data))
    return "\n".join(lines) + "\n"


def summary_line(data: Mapping[str, Any]) -> str:
    """`wirecheck watch: FAIL - 2 failure window(s) in 120 rounds; first cause: ...`."""
    status = str(data["status"]).upper()
    if data["rounds"] == 0:
        return "wirecheck watch: UNKNOWN - no round ran"
    total = data["windows_total"]
    if not total:
        return f"wirecheck watch: OK - every probe ok in all {data['rounds']} rounds"
    windows: Sequence[Mapping[str, Any]] = data["windows"]
    first = next((w["first_cause"] for w in windows if w.get("first_cause")), None)
    cause = f"; first cause: {first['summary']}" if first else ""
    rounds = data["rounds"]
    return f"wirecheck watch: {status} - {total} failure window(s) in {rounds} rounds{cause}"
