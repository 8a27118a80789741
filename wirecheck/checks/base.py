"""What a check is: a declared spec plus a function from a context to an outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wirecheck.model import CheckResult, Deadline, Evidence, RunConfig, Status
from wirecheck.system import System


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds id, title and timing."""

    status: Status
    finding: str
    evidence: Evidence = field(default_factory=dict)
    fix: str | None = None


class ResultBoard:
    """Where finished checks post results and dependent checks wait for them."""

    def __init__(self) -> None:
        self._results: dict[str, CheckResult] = {}
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _event(self, check_id: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(check_id, threading.Event())

    def post(self, result: CheckResult) -> None:
        with self._lock:
            self._results[result.check_id] = result
        self._event(result.check_id).set()

    def wait(self, check_id: str, timeout_s: float) -> CheckResult | None:
        """The result of another check, or None if it is not in this run or not done in time."""
        self._event(check_id).wait(timeout_s)
        with self._lock:
            return self._results.get(check_id)

    def get(self, check_id: str) -> CheckResult | None:
        with self._lock:
            return self._results.get(check_id)


@dataclass(frozen=True)
class CheckContext:
    config: RunConfig
    deadline: Deadline
    system: System = field(default_factory=System)
    board: ResultBoard = field(default_factory=ResultBoard)
    planned: frozenset[str] = frozenset()  # ids of the checks in this run
    # What each check's `prepare` hook returned, by check id; absent when the hook failed,
    # ran out of time, or the check has none.
    prepared: Mapping[str, object] = field(default_factory=dict)

    def wait_for(self, check_id: str) -> CheckResult | None:
        """Wait on another check's result (not on the clock), bounded by the deadline."""
        if check_id not in self.planned:
            return None
        return self.board.wait(check_id, self.deadline.remaining())


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    run: Callable[[CheckContext], Outcome]
    explain: str  # what it does, what each outcome means, how to fix: `wirecheck explain`
    context: bool = False  # a context check (explains red rows) rather than a core probe
    # Runs before any check starts (all hooks at once, briefly bounded): for a "before"
    # snapshot that must precede every probe packet. Its value is `ctx.prepared[id]`.
    prepare: Callable[[CheckContext], object] | None = None
