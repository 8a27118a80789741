"""What a diagnosis rule sees of a run: the results by id with their typed facts, which rows
a cause has explained so far, and the helpers that turn rows into causes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from wirecheck.checks.base import CheckSpec, ProbeFacts
from wirecheck.diagnose import kinds as k
from wirecheck.diagnose.kinds import Kind
from wirecheck.model import Cause, CheckResult, F, Status

_BAD = (Status.FAIL, Status.ERROR, Status.WARN)
_MAX_EVIDENCE = 200  # characters per evidence line
OUTCOME_WORDS = {
    "timeout": "times out",
    "refused": "is refused",
    "blocked": "is blocked locally (EPERM)",
    "unreachable": "is unreachable",
    "bad-response": "gets a malformed answer",
    "error": "fails",
}
PROBE_NAMES = {
    "wire-versions": "GET ?comp=versions",
    "dns-udp": "DNS over UDP",
    "dns-tcp": "DNS over TCP",
    "imds": "IMDS",
}


@dataclass(frozen=True)
class Found:
    """A cause a rule found, and how strongly (higher ranks first)."""

    cause: Cause
    weight: int


class RunView:
    """The results by id, the specs of their checks, and which rows are explained so far."""

    def __init__(
        self, results: Sequence[CheckResult], specs: Mapping[str, CheckSpec], target: str
    ) -> None:
        self.by_id = {r.check_id: r for r in results}
        self.specs = specs
        self.target = target
        self.claimed: set[str] = set()

    # -- reading rows ----------------------------------------------------------------------

    def get(self, check_id: str) -> CheckResult | None:
        return self.by_id.get(check_id)

    def facts(self, check_id: str, kind: Kind[F] | type[F]) -> F | None:
        """A row's facts, if it has them and they are of this kind (see `kinds`: a kind's
        class is loaded only here, once a row of it is found)."""
        result = self.by_id.get(check_id)
        if result is None or result.facts is None:
            return None
        return result.facts_as(kind.load() if isinstance(kind, Kind) else kind)

    def bad(self, check_id: str) -> bool:
        result = self.by_id.get(check_id)
        return result is not None and result.status in _BAD

    def failed(self, check_id: str) -> bool:
        result = self.by_id.get(check_id)
        return result is not None and result.status in (Status.FAIL, Status.ERROR)

    def ok(self, check_id: str) -> bool:
        result = self.by_id.get(check_id)
        return result is not None and result.status is Status.OK

    def open(self, check_id: str) -> bool:
        """Failed or warned, and no cause has explained it yet."""
        return self.bad(check_id) and check_id not in self.claimed

    def outcome(self, check_id: str) -> str | None:
        """How a failed probe's exchange ended ("timeout", "refused", ...); None otherwise."""
        facts = self.facts(check_id, ProbeFacts)
        return facts.net_outcome.value if facts is not None and self.failed(check_id) else None

    def probes(self, kind: str) -> tuple[str, ...]:
        """The ids of this run's probes of one kind (connect, http, dns, ptr, trace)."""
        return tuple(i for i, spec in self.specs.items() if spec.probe == kind and i in self.by_id)

    def trace_of(self, probe: str) -> str | None:
        """The trace check that follows the same port as a connect probe."""
        spec = self.specs.get(probe)
        for trace in self.probes("trace"):
            if spec is not None and self.specs[trace].traffic == spec.traffic:
                return trace
        return None

    def named(self, check_id: str) -> bool:
        """Whether a cause names this check by what it sends (`TCP 80 times out`)."""
        spec = self.specs.get(check_id)
        return (spec is not None and spec.probe == "connect") or check_id in PROBE_NAMES

    def port(self, check_id: str) -> str:
        spec = self.specs.get(check_id)
        probe = spec.probe if spec else None
        if probe == "trace":
            trace = self.facts(check_id, k.TRACE)
            port = trace.port if trace is not None else None
        else:
            connect = self.facts(check_id, k.CONNECT)
            port = connect.port if connect is not None else None
        return str(port) if port is not None else check_id.rsplit("-", 1)[-1]

    def wire_connect_failed(self) -> bool:
        """wire-versions failed before any HTTP: for the same reason as TCP 80."""
        wire = self.facts("wire-versions", k.WIRE)
        return wire is not None and self.failed("wire-versions") and not wire.fetch.connected

    # -- wording ---------------------------------------------------------------------------

    def probe_text(self, check_id: str) -> str:
        """`TCP 80 times out`, `DNS over UDP is blocked locally (EPERM)`, ..."""
        facts = self.facts(check_id, ProbeFacts)
        outcome = facts.net_outcome.value if facts is not None and self.bad(check_id) else ""
        word = OUTCOME_WORDS.get(outcome, "fails")
        refused_as = self.facts(check_id, k.CONNECT)
        if outcome == "blocked" and refused_as is not None and refused_as.errno:
            # The error the system gave: EPERM on Linux, WSAEACCES on Windows.
            word = word.replace("EPERM", refused_as.errno.split(" ", 1)[0])
        spec = self.specs.get(check_id)
        if spec is not None and spec.probe == "connect":
            return f"TCP {self.port(check_id)} {word}"
        return f"{PROBE_NAMES.get(check_id, check_id)} {word}"

    def ports_text(self, probes: Sequence[str]) -> str:
        return "TCP " + " and ".join(self.port(p) for p in probes)

    def failing(self, kind: str, outcomes: Iterable[str]) -> list[str]:
        """Unexplained probes of one kind that failed with one of `outcomes`."""
        wanted = set(outcomes)
        return [p for p in self.probes(kind) if self.open(p) and self.outcome(p) in wanted]

    def follow_ons(self, probes: Sequence[str]) -> list[str]:
        """Rows that fail for the same reason as these connect probes: their traces, and
        wire-versions when TCP 80 is among them."""
        extra = []
        for probe in probes:
            trace = self.trace_of(probe)
            if trace is not None and self.bad(trace):
                extra.append(trace)
        http = self.specs.get("wire-versions")
        same_port = http is not None and any(
            self.specs[p].traffic == http.traffic for p in probes if p in self.specs
        )
        if same_port and self.wire_connect_failed():
            extra.append("wire-versions")
        return extra

    # -- making causes ---------------------------------------------------------------------

    def line(self, result: CheckResult) -> str:
        text = f"{result.check_id}: {result.status.value}: {result.finding}"
        return text if len(text) <= _MAX_EVIDENCE else text[: _MAX_EVIDENCE - 1] + "…"

    def claim(self, checks: Iterable[str]) -> tuple[str, ...]:
        ids = tuple(dict.fromkeys(c for c in checks if c in self.by_id))
        self.claimed.update(ids)
        return ids

    def cause(
        self,
        summary: str,
        fix: str,
        checks: Iterable[str],
        extra: Iterable[str] = (),
        quiet: Iterable[str] = (),
    ) -> Cause:
        """A cause that explains `checks` (their rows are its evidence, with `extra`) and
        `quiet` (rows it also explains whose own finding is about something else)."""
        ids = self.claim(checks)
        evidence = [self.line(self.by_id[c]) for c in ids] + [e for e in extra if e]
        return Cause(summary, fix, tuple(dict.fromkeys(evidence)), ids + self.claim(quiet))


def verb(probes: Sequence[str], outcome: str) -> str:
    word = OUTCOME_WORDS.get(outcome, "fails")
    if len(probes) > 1:  # "times out" -> "time out", "is refused" -> "are refused"
        word = word.replace("times out", "time out").replace("is ", "are ", 1)
    return word


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
