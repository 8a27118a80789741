"""What a check is: one declaration (`CheckSpec`) that says everything true of it, and a
function from a context to an outcome with typed facts."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from wirecheck.model import (
    CheckResult,
    Deadline,
    F,
    Facts,
    RunConfig,
    Status,
)
from wirecheck.net.errors import NetOutcome
from wirecheck.platform.sources import Got, MachineFacts, Source, Subject
from wirecheck.system import System

T = TypeVar("T")

Address = Literal["target", "imds"]
Transport = Literal["tcp", "udp"]
PortName = Literal["http", "host_plugin", "dns", "imds"]  # fields of model.Ports
ProbeKind = Literal["connect", "http", "dns", "ptr", "trace"]


class ProbeFacts(Facts):
    """The facts of a probe of the platform address: at least, how its exchange ended."""

    @property
    def net_outcome(self) -> NetOutcome:
        raise NotImplementedError


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; the runner adds id, title, timing and the evidence
    rendered from the facts."""

    status: Status
    finding: str
    facts: Facts | None = None
    fix: str | None = None

    @property
    def evidence(self) -> dict[str, Any]:
        """The facts rendered for the reports."""
        return self.facts.evidence() if self.facts is not None else {}


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
    deadline: Deadline  # this check's: the run's deadline, or sooner when it has a budget
    system: System = field(default_factory=System)
    board: ResultBoard = field(default_factory=ResultBoard)
    # The checks in this run, by id (the firewall check attributes their traffic, the
    # privileges check lists what running without root costs them).
    specs: Mapping[str, CheckSpec] = field(default_factory=dict)
    # What each check's `prepare` hook returned, by check id; absent when the hook failed,
    # ran out of time, or the check has none.
    prepared: Mapping[str, object] = field(default_factory=dict)
    # The run's machine facts, each read once and shared (None: a context outside a run,
    # as in tests: each `fact` is then read for the asking check alone).
    machine: MachineFacts | None = None

    def fact(self, source: Source[T], now: datetime | None = None) -> Got[T]:
        """A piece of machine state (`platform.machine`), read once per run by whichever
        check asks first; waited for no longer than this check's deadline.

        `now`: when leases are judged, for a context outside a run (the run's machine
        judges them at the run's start)."""
        machine = self.machine
        if machine is None:
            subject = self.subject if now is None else dataclasses.replace(self.subject, now=now)
            machine = MachineFacts(self.system, self.deadline, subject)
        return machine.get(source, self.deadline)

    def start_facts(self, *sources: Source[Any]) -> None:
        """Start reading these sources now (they are read at the same time), without
        waiting: `fact` then waits for each."""
        if self.machine is not None:
            for source in sources:
                self.machine.start(source)

    @property
    def subject(self) -> Subject:
        """What this run asks about, for the machine's readers."""
        ports = self.config.ports
        wanted = (ports.http, ports.host_plugin, ports.dns, ports.imds)
        return Subject(self.config.target, self.config.imds_address, tuple(dict.fromkeys(wanted)))

    @property
    def planned(self) -> frozenset[str]:
        """The ids of the checks in this run."""
        return frozenset(self.specs)

    def wait_for(self, check_id: str) -> CheckResult | None:
        """Wait on another check's result (not on the clock), bounded by the deadline."""
        if check_id not in self.specs:
            return None
        return self.board.wait(check_id, self.deadline.remaining())

    def facts_of(self, check_id: str, kind: type[F]) -> tuple[F | None, str]:
        """Another check's facts, waited for; else None and why not, in a few words."""
        if check_id not in self.specs:
            return None, "not in this run"
        result = self.wait_for(check_id)
        if result is None:
            return None, "not done by the deadline"
        facts = result.facts_as(kind)
        if facts is None:
            return None, f"{result.status.value}: {result.finding}"
        return facts, ""


@dataclass(frozen=True)
class Traffic:
    """One kind of packet a check sends: to the target or to IMDS, by protocol, to one of
    the `Ports` (by field name, so tests and the lab can move the real port)."""

    to: Address
    protocol: Transport
    port: PortName

    def flow(self, config: RunConfig) -> tuple[str, str, int]:
        """(address, protocol, port) as probed in this run."""
        address = config.target if self.to == "target" else config.imds_address
        return address, self.protocol, int(getattr(config.ports, self.port))


@dataclass(frozen=True)
class Degradation:
    """What running without root (Windows: Administrator) costs a check, and where."""

    text: str
    windows: bool = False  # False: on Linux
    only_with_proxy_agent: bool = False  # only where the GuestProxyAgent is installed


@dataclass(frozen=True)
class CheckSpec:
    """Everything that is true of a check, declared once; every list of checks (the
    catalogue, the lab's, the probes, the degraded rows, the docs) derives from these."""

    id: str
    title: str
    run: Callable[[CheckContext], Outcome]
    explain: str  # what it does, what each outcome means, how to fix: `wirecheck explain`
    facts: type[Facts] | None = None  # the kind of facts its outcomes carry
    context: bool = False  # a context check (explains red rows) rather than a core check
    # A probe of the platform address: its failure is a symptom the diagnosis explains.
    probe: ProbeKind | None = None
    traffic: tuple[Traffic, ...] = ()  # what it sends (a rule counting it is blamed)
    without_root: tuple[Degradation, ...] = ()
    # Its own time budget inside the run's deadline: a context check must not hold the
    # verdict for the whole deadline (None: the run's deadline).
    budget_s: float | None = None
    # When its row is not explained by a cross-check cause: the weight of the cause made
    # from its own finding and fix (higher ranks first), and the words that lead it.
    cause_weight: int | None = None
    cause_prefix: str = ""
    # Runs before any check starts (all hooks at once, briefly bounded): for a "before"
    # snapshot that must precede every probe packet. Its value is `ctx.prepared[id]`.
    prepare: Callable[[CheckContext], object] | None = None

    @property
    def ok_when(self) -> str:
        """When its row is ok: the `- ok:` item of its explain text, on one line."""
        lines = self.explain.splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("- ok:")), None)
        if start is None:
            return ""
        found = [lines[start][len("- ok:") :].strip()]
        for line in lines[start + 1 :]:
            if not line.startswith("  "):
                break
            found.append(line.strip())
        return " ".join(found)

    def sends_tcp_to_target_beyond_dns(self) -> bool:
        """Whether the guest agent's firewall drops some of its traffic for non-root users
        (it drops TCP to the platform address on any port but 53)."""
        return any(
            t.to == "target" and t.protocol == "tcp" and t.port != "dns" for t in self.traffic
        )
