"""Fakes for the watch loop: a clock that only pretends, scripted rounds, a capturer that
records what it was asked. The loop runs at full speed on them, with no timing in the
assertions: the fake clock says when everything happened."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wirecheck.model import Cause, CheckResult, Deadline, Status
from wirecheck.watch.capture import Capture
from wirecheck.watch.loop import Clock, Stop
from wirecheck.watch.record import WatchRecord

WALL_START = 1_700_000_000.0


class FakeClock(Clock):
    """Monotonic time starts at 100; wall time at WALL_START; waiting just moves it on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + self.now - 100.0

    def wait(self, stop: Stop, seconds: float) -> bool:
        if stop.requested:
            return True
        if seconds > 0:
            self.waits.append(seconds)
            self.now += seconds
        return stop.requested

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def cpu(self) -> tuple[float, float]:
        return self.now / 1000, 0.0


def result(probe: str, status: Status, seconds: float = 0.001, finding: str = "") -> CheckResult:
    return CheckResult(
        probe, probe, status, finding or f"{probe} {status.value}", {}, None, seconds
    )


@dataclass
class ScriptedRounds:
    """Round n (from 1) gives script[n-1]: probe -> status (missing probes ok); after the
    script, every probe is ok. Each round takes `round_s` of fake time."""

    clock: FakeClock
    probes: Sequence[str]
    script: Sequence[Mapping[str, Status]] = ()
    round_s: float = 0.01
    starts: list[float] = field(default_factory=list)  # monotonic time of each round
    stop_after: int | None = None  # request a stop in this round
    stop: Stop | None = None

    def __call__(self, deadline: Deadline) -> Sequence[CheckResult]:
        self.starts.append(self.clock.now)
        number = len(self.starts)
        statuses = self.script[number - 1] if number <= len(self.script) else {}
        self.clock.advance(self.round_s)
        if self.stop_after == number and self.stop is not None:
            self.stop.request("test")
        return [
            result(p, statuses.get(p, Status.OK), 0.001 * (1 + number % 7), f"{p} said {number}")
            for p in self.probes
        ]


@dataclass
class RecordingCapturer:
    """Remembers every capture and every quiet round; a capture takes `capture_s`."""

    clock: FakeClock
    capture_s: float = 0.2
    captures: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)
    between: list[float] = field(default_factory=list)

    def between_rounds(self, budget_s: float) -> None:
        self.between.append(budget_s)

    def capture(
        self, kind: str, results: Sequence[CheckResult], changed: Sequence[str], budget_s: float
    ) -> Capture:
        at = self.clock.wall()
        self.captures.append((kind, tuple(changed), budget_s))
        self.clock.advance(min(self.capture_s, budget_s))
        failing = [r.check_id for r in results if r.status is not Status.OK]
        cause = Cause(f"{', '.join(failing) or 'nothing'} breaks", "Fix it.", checks=tuple(failing))
        evidence: dict[str, Any] = {
            "kind": kind,
            "at": at,
            "changed": list(changed),
            "diagnosed_checks": [r.check_id for r in results],
            "diagnosis": [cause.to_dict()],
            "notes": [],
        }
        return Capture(evidence, (cause,), self.capture_s)


def sample_record(
    probes: Sequence[str] = ("tcp-80", "tcp-32526"),
    script: Sequence[Mapping[str, Status]] | None = None,
    duration_s: float = 30.0,
) -> WatchRecord:
    """A watch of 30 rounds a second apart: tcp-32526 down in rounds 6-9 and 20-21."""
    from wirecheck.model import RunConfig
    from wirecheck.watch.loop import WatchPlan, watch
    from wirecheck.watch.rate import pace

    if script is None:
        script = [
            {"tcp-32526": Status.FAIL} if n in (6, 7, 8, 9, 20, 21) else {} for n in range(1, 31)
        ]
    clock = FakeClock()
    plan = WatchPlan(
        RunConfig(timeout_s=0.8), pace(1.0, len(probes)), duration_s, 1.0, host="vm1", version="9.9"
    )
    return watch(
        plan, probes, ScriptedRounds(clock, probes, script), RecordingCapturer(clock), clock=clock
    )
