"""Evidence at the moment a probe goes down or comes back, and the diagnosis of it.

What a one-shot run would need to explain the change, taken at once and all together
within one time budget: the firewall counters before (the snapshot kept from the end of
the previous round) and after, a TCP traceroute (the trace checks, through the runner),
the kernel's route to the target and the neighbour (ARP) entry of its next hop,
connection-tracking usage, and the guest agent's log lines written since the previous
round. The round's probe rows, the firewall verdict from the two snapshots and the trace
rows then go through the diagnosis, as in a run.

Between rounds the firewall snapshot is refreshed and the agent log's size noted, so
"before" always means "before this round's probes".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, field, replace
from typing import Any

from wirecheck.checks.base import CheckSpec
from wirecheck.checks.catalogue import load, load_all
from wirecheck.checks.firewall import FirewallFacts, assess, flows, read_situation
from wirecheck.checks.trace import TraceFacts
from wirecheck.diagnose import diagnose
from wirecheck.model import Cause, CheckResult, Deadline, RunConfig, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.firewall.model import Snapshot
from wirecheck.platform.firewall.reader import interest_of, read_snapshot
from wirecheck.platform.firewall.relevance import Interest
from wirecheck.platform.routes import KernelRoute, kernel_route
from wirecheck.platform.sources import Subject
from wirecheck.platform.waagent import WAAGENT_LOG
from wirecheck.runner import REPORT_GRACE_S, run_checks
from wirecheck.safe_text import printable
from wirecheck.system import System, open_regular, read_text

CONNTRACK_COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
CONNTRACK_MAX = "/proc/sys/net/netfilter/nf_conntrack_max"
WINDOWS_AGENT_LOG = r"C:\WindowsAzure\Logs\WaAppAgent.log"
AGENT_LOG_BYTES = 64 * 1024  # the newest part of what the log gained, at most
AGENT_LOG_LINES = 50
# A trace sends up to a few dozen SYNs when nothing answers: one per port at most this
# often, so a fault that flaps every round does not turn watch into a flood.
TRACE_MIN_GAP_S = 30.0
ROUTE_LOOKUP_S = 1.0
SNAPSHOT_MAX_S = 1.0  # the firewall snapshot between rounds
# Counters only grow, so an older "before" still precedes a failure: the rules are read
# again between quiet rounds only once the last reading is this old (reading them is most of
# a quiet round's cost), and always at a capture.
SNAPSHOT_EVERY_S = 30.0
MAX_RULES = 40
MAX_TEXT = 4000  # characters of a command's output kept
# The trace check for each port a probe's traffic uses.
TRACE_OF_PORT = {"http": "trace-80", "host_plugin": "trace-32526"}
DEFAULT_TRACE = "trace-80"

# /proc/sys answers a read of System.read_text's 4 MiB with ENOMEM: ask for a page.
PROC_READ_BYTES = 4096

TraceRunner = Callable[[Sequence[CheckSpec], RunConfig, Deadline], Sequence[CheckResult]]


def run_traces(
    specs: Sequence[CheckSpec], config: RunConfig, deadline: Deadline, system: System
) -> tuple[CheckResult, ...]:
    return run_checks(specs, config, system=system, deadline=deadline)


def read_span(path: str, start: int, limit: int) -> tuple[bytes, int]:
    """Up to `limit` bytes of `path` from `start` (the newest ones when there are more),
    and the file's size now."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < start:  # rotated or truncated since: all of the new file is new
            start = 0
        begin = max(start, size - limit)
        handle.seek(begin)
        return handle.read(size - begin), size


def read_proc(path: str) -> str:
    """A /proc/sys value."""
    return read_text(path, PROC_READ_BYTES)


def file_size(path: str) -> int:
    with open_regular(path) as handle:
        return os.fstat(handle.fileno()).st_size


class LogFollower:
    """The lines a log gained since the last mark (its size at that moment)."""

    def __init__(
        self,
        path: str,
        size_of: Callable[[str], int] = file_size,
        read: Callable[[str, int, int], tuple[bytes, int]] = read_span,
    ) -> None:
        self.path = path
        self._size_of = size_of
        self._read = read
        self.offset: int | None = None
        self.note = ""

    def mark(self) -> None:
        try:
            self.offset = self._size_of(self.path)
            self.note = ""
        except OSError as exc:
            self.offset = None
            self.note = f"{self.path}: {exc.strerror or exc}"

    def since_mark(self) -> dict[str, Any]:
        """The new lines (the last AGENT_LOG_LINES), then a new mark. A log that did not
        exist at the mark is new from its first byte."""
        start = self.offset or 0
        try:
            data, size = self._read(self.path, start, AGENT_LOG_BYTES)
        except OSError as exc:
            self.offset = None
            return {"path": self.path, "note": f"{exc.strerror or exc}"}
        self.offset = size
        new = size - start if size >= start else size
        lines = [printable(line, 500) for line in data.decode("utf-8", "replace").splitlines()]
        if new > len(data) and lines:
            lines = lines[1:]  # the first line was cut at the span's start
        return {
            "path": self.path,
            "new_bytes": new,
            "lines": lines[-AGENT_LOG_LINES:],
            "lines_not_kept": max(0, len(lines) - AGENT_LOG_LINES),
        }


class FirewallKeeper:
    """The last firewall snapshot, refreshed between rounds; given up when the rules
    cannot be read (not root, Windows), with the reason."""

    def __init__(
        self,
        system: System,
        clock: Callable[[], float] = time.monotonic,
        interest: Interest | None = None,
    ) -> None:
        self._system = system
        self._clock = clock
        self._interest = interest  # the rules that can matter to the probes' traffic
        self.last: Snapshot | None = None
        self.taken_at: float | None = None
        self.off: str | None = (
            "Windows Firewall keeps no per-rule counters" if system.windows else None
        )
        # As for a run's firewall row: root to the kernel or not, forwarding for pods.
        self.situation = None if system.windows else read_situation(system)

    def refresh_if_older(self, age_s: float, timeout_s: float) -> None:
        """Read the rules again if the last reading is older than `age_s` (or missing)."""
        if self.taken_at is None or self._clock() - self.taken_at >= age_s:
            self.refresh(timeout_s)

    def refresh(self, timeout_s: float) -> Snapshot | None:
        if self.off is not None:
            return None
        self.taken_at = self._clock()
        try:
            snapshot = read_snapshot(self._system, timeout_s, interest=self._interest)
        except Exception as exc:  # a reader's bug must not end the watch
            self.off = f"reading the rules failed: {type(exc).__name__}: {exc}"
            self.last = None
            return None
        if not snapshot.readable and snapshot.incomplete:
            return None  # out of time this once (a big node): keep the last, try again
        if not snapshot.readable:
            self.off = "; ".join(snapshot.notes) or "no firewall rules could be read"
            self.last = None
            return None
        self.last = snapshot
        return snapshot


@dataclass(frozen=True)
class Capture:
    """One capture: the evidence (JSON-ready) and the diagnosis of that moment."""

    evidence: dict[str, Any]
    causes: tuple[Cause, ...]
    took_s: float

    @property
    def first_cause(self) -> dict[str, Any] | None:
        return self.causes[0].to_dict() if self.causes else None


@dataclass
class Capturer:
    config: RunConfig
    probe_specs: Sequence[CheckSpec]
    system: System = field(default_factory=System)
    trace_gap_s: float = TRACE_MIN_GAP_S
    agent_log: LogFollower | None = None
    trace_runner: TraceRunner | None = None
    read_proc: Callable[[str], str] = read_proc
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _traced: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        subject = Subject(
            self.config.target,
            self.config.imds_address,
            tuple(dict.fromkeys(astuple(self.config.ports))),
        )
        self.firewall = FirewallKeeper(self.system, self.clock, interest_of(subject))
        if self.agent_log is None:
            self.agent_log = LogFollower(WINDOWS_AGENT_LOG if self.system.windows else WAAGENT_LOG)

    def between_rounds(self, budget_s: float) -> None:
        """After a quiet round: the "before" of the next one."""
        self.firewall.refresh_if_older(SNAPSHOT_EVERY_S, max(0.05, min(SNAPSHOT_MAX_S, budget_s)))
        assert self.agent_log is not None
        self.agent_log.mark()

    def capture(
        self, kind: str, results: Sequence[CheckResult], changed: Sequence[str], budget_s: float
    ) -> Capture:
        """Everything at once within `budget_s`, then the diagnosis. `changed`: the probes
        that went down (kind "down") or came back ("up")."""
        started, at = self.clock(), self.wall()
        deadline = Deadline(budget_s, self.clock)
        traces, skipped = self._traces_for(changed)
        before = self.firewall.last
        notes: list[str] = list(skipped)
        calls: dict[str, Callable[[], Any]] = {
            "path": lambda: self._path(deadline),
            "conntrack": self._conntrack,
            "agent_log": self._agent_log,
        }
        if self.firewall.off is None:
            calls["firewall"] = lambda: self.firewall.refresh(max(0.05, deadline.remaining()))
        if traces:
            # The runner waits a grace past its deadline: that must end inside ours.
            trace_deadline = Deadline(max(0.05, budget_s - 2 * REPORT_GRACE_S), self.clock)
            calls["traces"] = lambda: self._run_traces(traces, trace_deadline)
        errors: dict[str, Exception] = {}
        got = gather(calls, deadline, errors)
        for key, value in got.items():
            if value is None and key in errors:
                notes.append(f"{key}: failed: {type(errors[key]).__name__}: {errors[key]}")
            elif value is None and key != "firewall":
                notes.append(f"{key}: not done within the capture's {budget_s:g} s")
        trace_rows = got.get("traces") or ()
        # The traces ran now, their SYNs counted by the same rules: blame them alike.
        rows = [*results, *trace_rows]
        failed = {r.check_id for r in rows if r.status not in (Status.OK, Status.SKIP)}
        specs = {spec.id: spec for spec in self.probe_specs}
        specs.update({row.check_id: load(row.check_id) for row in trace_rows})
        evidence: dict[str, Any] = {"kind": kind, "at": at, "changed": list(changed)}
        firewall_row = self._firewall_row(before, got.get("firewall"), failed, rows)
        if firewall_row is not None:
            rows.append(firewall_row)
            specs["firewall"] = load("firewall")
            evidence["firewall"] = firewall_evidence(firewall_row, before)
        else:
            evidence["firewall"] = {"skipped": self.firewall.off or "not read in time"}
        evidence["traces"] = [trace_evidence(row) for row in trace_rows]
        evidence["path"] = got.get("path") or {"note": "not read in time"}
        evidence["conntrack"] = got.get("conntrack") or {"note": "not read in time"}
        evidence["agent_log"] = got.get("agent_log") or {"note": "not read in time"}
        causes = diagnose(rows, self.config.target, specs)
        evidence["diagnosed_checks"] = [row.check_id for row in rows]
        evidence["diagnosis"] = [cause.to_dict() for cause in causes]
        evidence["notes"] = notes
        took = self.clock() - started
        evidence["took_s"] = round(took, 3)
        return Capture(evidence, causes, took)

    # -- the parts ---------------------------------------------------------------------

    def _traces_for(self, changed: Sequence[str]) -> tuple[list[CheckSpec], list[str]]:
        """The trace checks for the ports of the probes that changed, minus the ones run
        too recently; and a note for each of those."""
        wanted: list[str] = []
        for spec in self.probe_specs:
            if spec.id in changed:
                wanted += [TRACE_OF_PORT[t.port] for t in spec.traffic if t.port in TRACE_OF_PORT]
        wanted = list(dict.fromkeys(wanted)) or [DEFAULT_TRACE]
        now = self.clock()
        chosen, notes = [], []
        for trace_id in wanted:
            last = self._traced.get(trace_id)
            if last is not None and now - last < self.trace_gap_s:
                notes.append(
                    f"{trace_id}: not run, the last one was {now - last:.0f} s ago (at most one "
                    f"every {self.trace_gap_s:g} s)"
                )
                continue
            self._traced[trace_id] = now
            chosen.append(load(trace_id))
        return chosen, notes

    def _run_traces(self, specs: Sequence[CheckSpec], deadline: Deadline) -> Sequence[CheckResult]:
        config = replace(self.config, timeout_s=deadline.remaining(), started=None)
        if self.trace_runner is not None:
            return self.trace_runner(specs, config, deadline)
        return run_traces(specs, config, deadline, self.system)

    def _path(self, deadline: Deadline) -> dict[str, Any]:
        if not self.system.linux:
            return {"note": "the route and neighbour entries are read on Linux only"}
        target = self.config.target
        route = kernel_route(self.system, target, min(ROUTE_LOOKUP_S, deadline.remaining()))
        if not isinstance(route, KernelRoute):
            return {"route": None, "note": route}
        hop = route.gateway or target
        shown = self.system.run_command(
            ["ip", "neigh", "show", hop], max(0.05, min(ROUTE_LOOKUP_S, deadline.remaining()))
        )
        neighbour = shown.stdout.strip() if shown.ok else shown.why
        return {
            "route": route.text,
            "interface": route.interface,
            "gateway": route.gateway,
            "neighbour": printable(neighbour, MAX_TEXT) or f"no neighbour entry for {hop}",
        }

    def _conntrack(self) -> dict[str, Any]:
        if not self.system.linux:
            return {"note": "connection tracking is read on Linux only"}
        try:
            count = int(self.read_proc(CONNTRACK_COUNT).strip())
            limit = int(self.read_proc(CONNTRACK_MAX).strip())
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return {"note": f"connection tracking not readable ({why}): nf_conntrack not loaded?"}
        usage = round(count / limit * 100, 2) if limit else None
        return {"count": count, "max": limit, "used_percent": usage}

    def _agent_log(self) -> dict[str, Any]:
        assert self.agent_log is not None
        return self.agent_log.since_mark()

    def _firewall_row(
        self,
        before: Snapshot | None,
        after: Snapshot | None,
        failed: set[str],
        results: Sequence[CheckResult],
    ) -> CheckResult | None:
        if after is None:
            return None
        traffic = flows(load_all(), self.config)
        ran = {r.check_id for r in results}
        situation = self.firewall.situation
        outcome = assess(
            before,
            after,
            traffic,
            failed,
            ran,
            self.config.target,
            root=situation.root if situation else None,
            root_note=situation.root_note if situation else "",
            forwarding=situation.forwarding if situation else None,
        )
        spec = load("firewall")
        return CheckResult(
            spec.id,
            spec.title,
            outcome.status,
            printable(outcome.finding, MAX_TEXT),
            outcome.evidence,
            outcome.fix and printable(outcome.fix, MAX_TEXT),
            0.0,
            outcome.facts,
        )


def firewall_evidence(row: CheckResult, before: Snapshot | None) -> dict[str, Any]:
    """The firewall row's verdict and, per rule that touches the probes, the counters
    before and after."""
    earlier: Mapping[str, int | None] = (
        {r.key: r.packets for r in before.rules} if before is not None else {}
    )
    shown = []
    facts = row.facts_as(FirewallFacts)
    for seen in facts.rules[:MAX_RULES] if facts is not None else ():
        rule = seen.rule
        shown.append(
            {
                "rule": rule.text,
                "table": rule.table,
                "chain": rule.chain,
                "verdict": rule.verdict,
                "packets_before": earlier.get(rule.key) if before is not None else None,
                "there_before": None if before is None else rule.key in earlier,
                "packets_after": rule.packets,
                "probes": list(seen.probes),
            }
        )
    return {
        "status": row.status.value,
        "finding": row.finding,
        "fix": row.fix,
        "counters": "before (end of the previous round) and after"
        if before is not None
        else "after only (no snapshot from before)",
        "rules": shown,
        "rules_not_shown": max(0, len(facts.rules) - len(shown)) if facts is not None else 0,
        "counted": [c.to_dict() for c in facts.counted] if facts is not None else [],
    }


def trace_evidence(row: CheckResult) -> dict[str, Any]:
    facts = row.facts_as(TraceFacts)
    return {
        "id": row.check_id,
        "status": row.status.value,
        "finding": row.finding,
        "traceroute": facts.traceroute_text if facts is not None else "",
    }
