"""A scenario's fault switched on and off on a schedule: an intermittent fault to watch.

The scenario's iptables rules (in the VM's or the host's namespace) are added for `on_s`
seconds every `period_s` seconds, the first time `offset_s` after the start, by a process
the lab owns (it runs in the lab's host namespace, so `wirecheck lab down` stops it with
the simulators, and a SIGTERM makes it take its rules out first). Every switch is logged,
with the time before and after the iptables commands, to a JSON Lines schedule file: what
was really applied, for comparing with the failure windows watch found.

    python -m wirecheck.lab.flap --lab NAME --scenario S --on 8 --period 30 --offset 22 \\
        --schedule-file F --ready-file R
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirecheck.lab.errors import LabError
from wirecheck.lab.names import LabNames, lab_names
from wirecheck.lab.scenarios import ExpectCause, Scenario, Where, scenario
from wirecheck.lab.service import Log, write_ready
from wirecheck.system import run_command

COMMAND_TIMEOUT_S = 10.0
_FLAP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*(?:\+\s*(\d+(?:\.\d+)?))?\s*$")


@dataclass(frozen=True)
class Flap:
    """The fault is on for `on_s` seconds of every `period_s`, the first time `offset_s`
    after the start (default: healthy first, the fault at the end of each period)."""

    on_s: float
    period_s: float
    offset_s: float | None = None

    @property
    def first_on_s(self) -> float:
        return self.period_s - self.on_s if self.offset_s is None else self.offset_s

    def describe(self) -> str:
        return f"on for {self.on_s:g} s every {self.period_s:g} s, first at {self.first_on_s:g} s"

    def edges(self, start: float) -> Iterator[tuple[float, bool]]:
        """(time, fault on?) of every switch, forever."""
        at = start + self.first_on_s
        while True:
            yield at, True
            yield at + self.on_s, False
            at += self.period_s


def parse_flap(text: str) -> Flap:
    """`ON/PERIOD` or `ON/PERIOD+OFFSET`, seconds: `8/30`, `3/7+2`."""
    found = _FLAP.match(text)
    if found is None:
        raise LabError(
            f"--flap {text!r}: give ON/PERIOD[+OFFSET] in seconds, e.g. 8/30 (on 8 s of "
            "every 30 s) or 3/7+2 (the first time 2 s after the start)"
        )
    on, period = float(found.group(1)), float(found.group(2))
    offset = float(found.group(3)) if found.group(3) else None
    if not (0 < on < period) or not math.isfinite(period):
        raise LabError(
            f"--flap {text!r}: in ON/PERIOD, ON must be more than 0 and less than PERIOD (the "
            "fault is on for part of each period)"
        )
    return Flap(on, period, offset)


def flappable(chosen: Scenario) -> Scenario:
    """The scenario, if its fault is made of firewall rules that can come and go."""
    if not chosen.rules:
        with_rules = ", ".join(s.name for s in _rule_scenarios())
        raise LabError(
            f"scenario {chosen.name!r} has no firewall rules to switch on and off; "
            f"flapping needs one that has: {with_rules}"
        )
    return chosen


def _rule_scenarios() -> list[Scenario]:
    from wirecheck.lab.scenarios import SCENARIOS

    return [s for s in SCENARIOS if s.rules]


def fault_commands(names: LabNames, chosen: Scenario, on: bool) -> list[list[str]]:
    """The iptables commands that add (on) or delete (off) the scenario's rules."""
    commands = []
    rules = chosen.rules if on else tuple(reversed(chosen.rules))
    for rule in rules:
        ns = names.vm if rule.where is Where.VM else names.host
        action = "-A" if on else "-D"
        commands.append(
            [
                *("ip", "netns", "exec", ns),
                *("iptables", "-w", "-t", rule.table, action, rule.chain, *rule.spec),
            ]
        )
    return commands


# ---- what was applied, and what watch found ---------------------------------------------


@dataclass(frozen=True)
class Applied:
    """One stretch with the fault on: switched on between on_from and on_to (before and
    after the commands), off between off_from and off_to (None: still on)."""

    on_from: float
    on_to: float
    off_from: float | None = None
    off_to: float | None = None


def applied_windows(events: Iterable[Mapping[str, Any]]) -> list[Applied]:
    """The schedule file's switches as stretches of fault."""
    found: list[Applied] = []
    pending: Mapping[str, Any] | None = None
    for event in events:
        if event.get("fault") == "on":
            pending = event
        elif event.get("fault") == "off" and pending is not None:
            found.append(
                Applied(pending["from"], pending["to"], float(event["from"]), float(event["to"]))
            )
            pending = None
    if pending is not None:
        found.append(Applied(pending["from"], pending["to"]))
    return found


def read_schedule(path: Path) -> list[Applied]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return applied_windows(events)


@dataclass(frozen=True)
class Match:
    applied: Applied
    window: Mapping[str, Any] | None  # None: watch found no window for it
    problems: tuple[str, ...]

    def line(self) -> str:
        where = f"fault {_t(self.applied.on_to)} to {_t(self.applied.off_to)}"
        if self.window is None:
            return f"{where}: NO window found"
        found = self.window
        start_off = found["start"] - self.applied.on_to
        end = found.get("end")
        end_off = (
            "-" if end is None or self.applied.off_to is None else _s(end - self.applied.off_to)
        )
        cause = (found.get("first_cause") or {}).get("summary", "no cause")
        verdict = "ok" if not self.problems else "; ".join(self.problems)
        return (
            f"{where}: window {found['number']} {_t(found['start'])} to {_t(end)} "
            f"(start {_s(start_off)}, end {end_off}): {cause} [{verdict}]"
        )


def _t(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(stamp)) + f".{int(stamp * 10) % 10}"


def _s(seconds: float) -> str:
    return f"{seconds:+.2f} s"


def compare(
    windows: Sequence[Mapping[str, Any]],
    applied: Sequence[Applied],
    interval_s: float,
    watched: tuple[float, float],
    expect: ExpectCause | None = None,
) -> tuple[list[Match], list[str]]:
    """Each stretch of fault applied wholly inside the watch against the window found for
    it (start and end within one interval, the expected first cause), and the windows
    found in healthy time. Pure."""
    begin, end = watched
    inside = [a for a in applied if a.on_from >= begin and a.off_to is not None and a.off_to <= end]
    matches: list[Match] = []
    used: set[int] = set()
    for stretch in inside:
        assert stretch.off_from is not None and stretch.off_to is not None
        window = next(
            (
                w
                for w in windows
                if w["number"] not in used
                and w["start"] < stretch.off_to + interval_s
                and (w.get("end") is None or w["end"] > stretch.on_from)
            ),
            None,
        )
        if window is None:
            matches.append(Match(stretch, None, ("no window found",)))
            continue
        used.add(window["number"])
        problems = []
        if not stretch.on_from <= window["start"] <= stretch.on_to + interval_s:
            problems.append(
                f"starts {window['start'] - stretch.on_to:+.2f} s from the fault, not within "
                f"one interval ({interval_s:g} s)"
            )
        if window.get("end") is None:
            problems.append("never ended")
        elif not stretch.off_from <= window["end"] <= stretch.off_to + interval_s:
            problems.append(
                f"ends {window['end'] - stretch.off_to:+.2f} s from the fault's end, not within "
                f"one interval ({interval_s:g} s)"
            )
        if expect is not None:
            problems += _cause_problems(window, expect)
        matches.append(Match(stretch, window, tuple(problems)))
    extra = [
        f"window {w['number']} at {_t(w['start'])} is in a healthy period"
        for w in windows
        if w["number"] not in used
        and not any(_overlaps(w, a, interval_s) for a in applied if a not in inside)
    ]
    return matches, extra


def _overlaps(window: Mapping[str, Any], stretch: Applied, interval_s: float) -> bool:
    """A window that belongs to a stretch cut off by the watch's start or end."""
    end = window.get("end")
    stop = stretch.off_to + interval_s if stretch.off_to is not None else math.inf
    return bool(window["start"] < stop and (end is None or end > stretch.on_from))


def _cause_problems(window: Mapping[str, Any], expect: ExpectCause) -> list[str]:
    """The scenario's expected first cause, naming the rows this window's diagnosis saw."""
    captures = window.get("captures") or []
    seen = set(captures[0].get("diagnosed_checks") or []) if captures else set()
    narrowed = ExpectCause(expect.keywords, expect.checks & frozenset(seen), expect.absent)
    return narrowed.problems(window.get("first_cause"))


# ---- the process ------------------------------------------------------------------------


def _apply(names: LabNames, chosen: Scenario, on: bool, log: Log) -> tuple[float, float]:
    started = time.time()
    for argv in fault_commands(names, chosen, on):
        done = run_command(argv, COMMAND_TIMEOUT_S)
        if not done.ok:
            log(f"`{' '.join(argv)}` failed: {done.why}")
    return started, time.time()


def _record(path: Path, on: bool, span: tuple[float, float]) -> None:
    line = json.dumps({"fault": "on" if on else "off", "from": span[0], "to": span[1]}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def run(names: LabNames, chosen: Scenario, flap: Flap, schedule: Path, log: Log) -> None:
    """Switch the fault until SIGTERM or SIGINT; then take it out."""
    stopping = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        log(f"stopping on {signal.Signals(signum).name}")
        stopping.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    on = False
    try:
        for at, switch_on in flap.edges(time.time()):
            if stopping.wait(max(0.0, at - time.time())):
                return
            span = _apply(names, chosen, switch_on, log)
            on = switch_on
            _record(schedule, switch_on, span)
            log(f"fault {'on' if switch_on else 'off'}")
    finally:
        if on:
            _record(schedule, False, _apply(names, chosen, False, log))
            log("fault off (stopping)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wirecheck.lab.flap")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--on", type=float, required=True)
    parser.add_argument("--period", type=float, required=True)
    parser.add_argument("--offset", type=float)
    parser.add_argument("--schedule-file", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args(argv)
    log = Log(name="flap")
    chosen = flappable(scenario(args.scenario))
    flap = Flap(args.on, args.period, args.offset)
    log(f"scenario {chosen.name}: {flap.describe()}")
    write_ready(args.ready_file, {"scenario": chosen.name, "pid": os.getpid()})
    run(lab_names(args.lab), chosen, flap, args.schedule_file, log)


if __name__ == "__main__":
    main()
