"""The result model: plain frozen data, no I/O.

Everything a check finds ends up in a `CheckResult`; a whole run is a `Report`.
Renderers and the diagnosis read these and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from wirecheck.strenum import StrEnum

PLATFORM_ADDRESS = "168.63.129.16"
IMDS_ADDRESS = "169.254.169.254"

# JSON-compatible values only: evidence is rendered verbatim into every report.
Evidence = Mapping[str, Any]


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        """Monitoring-plugin exit code this status alone would give."""
        return _EXIT_CODES[self]


# skip is "could not run here" and does not fail a run by itself; error is our own
# failure and is reported like a fail, because the question stayed unanswered.
_EXIT_CODES = {Status.OK: 0, Status.SKIP: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 2}

EXIT_OK, EXIT_WARN, EXIT_FAIL, EXIT_UNKNOWN = 0, 1, 2, 3
# The checks ran and the verdict was printed, but a report file asked for is missing.
EXIT_NOT_WRITTEN = 4


class Facts:
    """What a check found, as typed values; each check's subclass is a frozen dataclass.

    Other checks and the diagnosis read these fields, never the rendered evidence; the
    reports show `evidence()`, the JSON-ready rendering of the same facts.
    """

    def evidence(self) -> dict[str, Any]:
        raise NotImplementedError


F = TypeVar("F", bound=Facts)


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    title: str
    status: Status
    finding: str
    evidence: Evidence = field(default_factory=dict)  # `facts` rendered for the reports
    fix: str | None = None
    duration_s: float = 0.0
    facts: Facts | None = None

    def facts_as(self, kind: type[F]) -> F | None:
        """The facts, if the check found them and they are of this kind."""
        return self.facts if isinstance(self.facts, kind) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.check_id,
            "title": self.title,
            "status": self.status.value,
            "finding": self.finding,
            "evidence": dict(self.evidence),
            "fix": self.fix,
            "duration_s": round(self.duration_s, 4),
        }


@dataclass(frozen=True)
class Cause:
    """One line of the diagnosis: what is most likely wrong and what to do."""

    summary: str
    fix: str
    evidence: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "fix": self.fix,
            "evidence": list(self.evidence),
            "checks": list(self.checks),
        }


@dataclass(frozen=True)
class Ports:
    """Logical platform ports mapped to the ports really probed.

    Checks are named after the logical port (`tcp-80`); tests point the same code
    paths at servers on 127.0.0.1 by changing the real port only.
    """

    http: int = 80
    host_plugin: int = 32526
    dns: int = 53
    imds: int = 80


@dataclass(frozen=True)
class RunConfig:
    target: str = PLATFORM_ADDRESS
    timeout_s: float = 5.0
    ports: Ports = Ports()
    dns_name: str | None = None  # asked when no DNS suffix is known
    only: frozenset[str] = frozenset()
    skip: frozenset[str] = frozenset()
    imds_address: str = IMDS_ADDRESS  # tests and the lab point the imds check elsewhere
    trace_engine: str = "auto"  # auto, raw or kernel (see net.traceroute.choose_engine)
    # The time.monotonic() the deadline counts from; None: when the checks start. The CLI
    # gives the command's own start, so --timeout bounds the whole command, start-up included.
    started: float | None = None


class Deadline:
    """One absolute deadline for the whole run, shared by every check."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        self._clock = clock
        self.at = (clock() if start is None else start) + seconds

    @property
    def clock(self) -> Callable[[], float]:
        """The clock this deadline reads: deadlines and durations derived from it use it
        too, so a test that passes a fake clock sees every one of them on that clock."""
        return self._clock

    def remaining(self) -> float:
        return max(0.0, self.at - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class Report:
    target: str
    started_at: float  # unix time
    duration_s: float
    results: tuple[CheckResult, ...]
    causes: tuple[Cause, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""

    @property
    def status(self) -> Status:
        """The worst status of the run, in exit-code order."""
        worst = Status.OK
        for result in self.results:
            if result.status.exit_code > worst.exit_code:
                worst = result.status
        return worst

    @property
    def exit_code(self) -> int:
        return max((r.status.exit_code for r in self.results), default=EXIT_OK)

    def result(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.check_id == check_id), None)
