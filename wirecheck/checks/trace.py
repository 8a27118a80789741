"""trace-80 and trace-32526: TCP traceroute to the platform's ports.

On Azure the platform address is one hop away; a hop in between means the guest sent
the packets elsewhere (a guest route, a tunnel or VPN client, an appliance it routes
through). The result carries the trace in `traceroute -T` text form (the classic
report's `Testing 80 Port ...` sections) and as structured hops.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wirecheck import advice
from wirecheck.checks.base import CheckContext, CheckSpec, Degradation, Outcome, ProbeFacts, Traffic
from wirecheck.model import Deadline, Status
from wirecheck.net.errors import NetOutcome
from wirecheck.net.parallel import gather
from wirecheck.net.traceroute import (
    KERNEL,
    RAW,
    Engine,
    EngineUnavailable,
    TraceRequest,
    TraceRun,
    choose_engine,
)
from wirecheck.net.traceroute.hops import Hop, render_traceroute
from wirecheck.net.traceroute.schedule import TracePlan
from wirecheck.platform.machine import KERNEL_ROUTE
from wirecheck.platform.routes import KernelRoute
from wirecheck.platform.waagent import proxy_agent_installed

# Reverse names for the hops (traceroute's default, non `-n` form) get this much of what
# is left of the deadline, at most; a hop whose name is not back in time shows its address,
# as traceroute does when a lookup fails.
NAMES_BUDGET_S = 0.5


@dataclass(frozen=True)
class TraceFacts(ProbeFacts):
    target: str
    port: int
    engine: str | None = None  # None: no trace ran (the row is a skip)
    engine_reason: str = ""
    hops: tuple[Hop, ...] = ()
    max_hops: int = 0
    probes_sent: int = 0
    trace_ms: float = 0.0
    ended_at_deadline: bool = False
    traceroute_text: str = ""  # what `traceroute -T` would print
    interface: str | None = None  # the raw engine's, from the kernel's route lookup
    source: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def reached(self) -> bool:
        return any(hop.kind == "target" for hop in self.hops)

    @property
    def net_outcome(self) -> NetOutcome:
        return NetOutcome.CONNECTED if self.reached else NetOutcome.TIMEOUT

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {"target": f"{self.target}:{self.port}"}
        if self.engine is None:
            return evidence
        evidence.update(
            engine=self.engine,
            engine_reason=self.engine_reason,
            hops=[hop.to_dict() for hop in self.hops],
            max_hops=self.max_hops,
            probes_sent=self.probes_sent,
            trace_ms=self.trace_ms,
            ended_at_deadline=self.ended_at_deadline,
            traceroute_text=self.traceroute_text,
        )
        if self.interface:
            evidence["interface"] = self.interface
            evidence["source"] = self.source
        if self.notes:
            evidence["notes"] = list(self.notes)
        return evidence


@dataclass(frozen=True)
class EngineChoice:
    engine: Engine
    request: TraceRequest
    notes: tuple[str, ...] = ()


EngineFactory = Callable[[str, CheckContext, TraceRequest], EngineChoice]


def make_engine(name: str, ctx: CheckContext, request: TraceRequest) -> EngineChoice:
    """The engine `name`, ready to run; the raw engine falls back to the kernel engine
    (with a note saying why) when scapy, the route lookup or raw sockets are missing."""
    from wirecheck.net.traceroute.kernel import KernelEngine

    kernel = KernelEngine(ctx.system.socket_factory)
    if name != RAW:
        return EngineChoice(kernel, request)
    scapy, route = _load_scapy_and_route(ctx, request.target)
    if isinstance(route, str):
        return EngineChoice(kernel, request, (f"raw engine not used: {route}",))
    if isinstance(scapy, BaseException):
        return EngineChoice(
            kernel, request, (f"raw engine not used: scapy could not be imported ({scapy})",)
        )
    from wirecheck.net.traceroute.raw import RawEngine

    routed = replace(request, interface=route.interface, source=route.source)
    return EngineChoice(
        _FallbackEngine(RawEngine(scapy), kernel),
        routed,
        (f"kernel route: {route.text}",),
    )


class _FallbackEngine:
    """The raw engine, or the kernel engine when raw sockets cannot be opened here (root
    without CAP_NET_RAW, e.g. in a container)."""

    def __init__(self, raw: Engine, kernel: Engine) -> None:
        self.raw, self.kernel = raw, kernel
        self.name = raw.name
        self.note: str | None = None

    def trace(self, request: TraceRequest, deadline: Deadline) -> TraceRun:
        try:
            return self.raw.trace(request, deadline)
        except EngineUnavailable as exc:
            self.note = f"raw engine not used: {exc}"
            return self.kernel.trace(replace(request, interface=None, source=None), deadline)


def _load_scapy_and_route(ctx: CheckContext, target: str) -> tuple[Any, KernelRoute | str]:
    """Import scapy while `ip route get` runs: the import is the slow part (~0.5 s)."""
    from wirecheck.net.traceroute.raw import import_scapy

    loaded: dict[str, Any] = {}

    def load() -> None:
        try:
            loaded["scapy"] = import_scapy()
        except Exception as exc:  # ImportError, or scapy failing at import on this host
            loaded["scapy"] = exc

    loader = threading.Thread(target=load, name="import-scapy", daemon=True)
    loader.start()
    # Shared with egress-nic and the other trace: `ip route get` runs once per run.
    got = ctx.fact(KERNEL_ROUTE)
    route = got.value if got.value is not None else got.why
    if isinstance(route, KernelRoute) and not (route.interface and route.source):
        route = f"`ip route get {target}` named no interface or source address ({route.text})"
    loader.join(ctx.deadline.remaining())
    if "scapy" not in loaded:
        return TimeoutError("the run's deadline passed while scapy was loading"), route
    return loaded["scapy"], route


def run_trace(
    ctx: CheckContext,
    port: int,
    service: str,
    engines: EngineFactory = make_engine,
) -> Outcome:
    target = ctx.config.target
    platform = ctx.system.platform
    try:
        ipaddress.IPv4Address(target)
    except ValueError:
        return Outcome(
            Status.SKIP,
            f"TCP traceroute needs an IPv4 address as target, not {target!r}",
            TraceFacts(target, port),
            fix="Run with --target set to the address (e.g. 168.63.129.16).",
        )
    root, wanted = ctx.system.is_root(), ctx.config.trace_engine
    engine_name, why = choose_engine(
        root,
        platform,
        wanted,
        # Only `auto` as root on Linux asks; the files are not read otherwise.
        proxy_agent=root
        and wanted == "auto"
        and platform.startswith("linux")
        and proxy_agent_installed(ctx.system.read_text),
    )
    if engine_name is None:
        return Outcome(
            Status.SKIP,
            why,
            TraceFacts(target, port),
            fix=f"Trace by hand: `Test-NetConnection {target} -Port {port} -TraceRoute` shows "
            f"the path (ICMP), and `Find-NetRoute -RemoteIPAddress {target}` the route used; "
            "on Linux wirecheck traces TCP itself.",
        )
    request = TraceRequest(target, port, TracePlan())
    choice = engines(engine_name, ctx, request)
    run = choice.engine.trace(choice.request, ctx.deadline)
    notes = list(choice.notes)
    fallback = getattr(choice.engine, "note", None)
    if isinstance(fallback, str):
        notes.append(fallback)
    names = hop_names(ctx, run.hops)
    text = render_traceroute(target, run.hops, run.max_hops, names=names)
    verdict = classify(
        run.hops, target, port, stopped_reason=run.stopped_reason, deadline_hit=run.deadline_hit
    )
    facts = TraceFacts(
        target,
        port,
        run.engine,
        why,
        run.hops,
        run.max_hops,
        run.probes_sent,
        round(run.duration_s * 1000, 1),
        run.deadline_hit,
        text,
        choice.request.interface,
        choice.request.source,
        tuple(notes),
    )
    fix = verdict.fix
    if (
        verdict.status is Status.FAIL
        and run.engine == KERNEL
        and not ctx.system.is_root()
        and not any(hop.address for hop in run.hops)
    ):
        fix = (
            f"Run wirecheck as root: {advice.agent_firewall_drops_non_root(target)}, so "
            "unprivileged probes see nothing. " + (fix or "")
        ).strip()
    finding = f"{service}: {verdict.finding} [{run.engine} engine]"
    return Outcome(verdict.status, finding, facts, fix)


def hop_names(ctx: CheckContext, hops: tuple[Hop, ...]) -> dict[str, str]:
    """Reverse names for the hop addresses, as traceroute shows them without `-n`."""
    addresses = sorted({a for hop in hops for a in hop.addresses})
    budget = Deadline(min(NAMES_BUDGET_S, ctx.deadline.remaining()))
    if not addresses or budget.expired:
        return {}
    lookup = ctx.system.reverse_lookup
    found = gather({a: _bind(lookup, a) for a in addresses}, budget)
    return {address: name for address, name in found.items() if name}


def _bind(lookup: Callable[[str], str | None], address: str) -> Callable[[], str | None]:
    return lambda: lookup(address)


# ---------------------------------------------------------------------------------------
# The verdict (pure): what the hops mean, in words, with the fix

_FLAG_MEANING = {
    "!N": "network unreachable",
    "!H": "host unreachable",
    "!P": "protocol unreachable",
    "!S": "source route failed",
    "!X": "communication administratively prohibited (a filter)",
    "!V": "host precedence violation",
    "!C": "precedence cutoff",
}


@dataclass(frozen=True)
class TraceVerdict:
    status: Status
    finding: str
    fix: str | None = None
    details: tuple[str, ...] = field(default=())


def classify(
    hops: Sequence[Hop],
    target: str,
    port: int,
    *,
    stopped_reason: str | None = None,
    deadline_hit: bool = False,
) -> TraceVerdict:
    """ok: the target answered at hop 1; warn: it answered later (name the hops in between);
    fail: it never answered, with what the last answering hop said."""
    where = f"{target}:{port}"
    if stopped_reason is not None:
        return TraceVerdict(
            Status.FAIL,
            f"the trace to {where} could not send its probes: {stopped_reason}",
            _send_fix(stopped_reason, target, port),
        )
    final = next((h for h in hops if h.final), None)
    if final is not None and final.kind == "target":
        return _reached(final, hops, target, port)
    if final is not None:  # a router said the target is unreachable
        meaning = _FLAG_MEANING.get(final.flag, "port unreachable (it rejects the port itself)")
        return TraceVerdict(
            Status.FAIL,
            f"hop {final.ttl} ({final.address}) answered {meaning}"
            + (f" ({final.flag})" if final.flag else "")
            + f" for {where}; the target never answered",
            f"Hop {final.ttl} ({final.address}) refuses to forward to {target}: unless it is "
            f"the primary NIC's gateway, the guest sends {target} to it "
            f"({advice.GUEST_DIVERSION}): {advice.guest_route_fix(target)}; "
            f"{advice.SUPPORT_CASE}.",
        )
    answering = [h for h in hops if h.kind == "router"]
    waited = "until the deadline" if deadline_hit else f"within {len(hops)} hops"
    if not answering:
        return TraceVerdict(
            Status.FAIL,
            f"nothing answered the probes to {where} {waited}: no router and not the target",
            f"Packets to {where} are dropped before anything answers: look for a local rule "
            f"({advice.find_rule(target, port)}); then, as {advice.beyond_the_guest(port)}, "
            f"`ip route get {target}`; {advice.SUPPORT_CASE}.",
        )
    last = answering[-1]
    return TraceVerdict(
        Status.FAIL,
        f"the target {where} never answered ({waited}); the last hop that answered is "
        f"hop {last.ttl} ({last.address}): time exceeded, so packets got past it and were "
        "dropped later",
        f"Something after hop {last.ttl} ({last.address}) drops port {port} to {target}. On "
        "Azure the platform is one hop away, so that hop should not be in the path at all: "
        f"the guest sends {target} there ({advice.GUEST_DIVERSION}; {advice.NO_UDR}): "
        f"{advice.guest_route_fix(target)}.",
    )


def _reached(final: Hop, hops: Sequence[Hop], target: str, port: int) -> TraceVerdict:
    rtts = [c.rtt_ms for c in final.cells if c.rtt_ms is not None]
    took = f" in {min(rtts):.3f} ms" if rtts else ""
    how = "answered" if final.flag == "" else f"answered {final.flag}"
    if final.ttl == 1:
        return TraceVerdict(
            Status.OK, f"{target} {how} at hop 1{took}, directly: no hop in between"
        )
    between = [_describe(h) for h in hops if h.ttl < final.ttl]
    return TraceVerdict(
        Status.WARN,
        f"{target} {how} at hop {final.ttl}, not hop 1: in between " + ", ".join(between),
        f"On Azure the platform address is one hop away ({advice.NO_UDR}): the guest "
        f"sends port {port} elsewhere ({advice.GUEST_DIVERSION}). "
        f"{advice.guest_route_fix(target)}.",
        tuple(between),
    )


def _describe(hop: Hop) -> str:
    if hop.kind == "none":
        return f"hop {hop.ttl} silent (* * *)"
    return f"hop {hop.ttl} {', '.join(hop.addresses)}"


def _send_fix(reason: str, target: str, port: int) -> str:
    if "EPERM" in reason or "EACCES" in reason:
        return (
            f"A local firewall rule forbids sending to {target}:{port} (the kernel refused the "
            f"probe): {advice.find_rule(target, port)} name it; remove it."
        )
    return f"There is no usable way out to {target}: {advice.restore_route(target)}"


def run_trace_80(ctx: CheckContext) -> Outcome:
    return run_trace(ctx, ctx.config.ports.http, "TCP 80")


def run_trace_32526(ctx: CheckContext) -> Outcome:
    return run_trace(ctx, ctx.config.ports.host_plugin, "TCP 32526")


_EXPLAIN = """\
TCP traceroute to the target's port {port}: SYN probes with TTL 1, 2, 3... sent at once,
each answered by a router (ICMP time exceeded) or by the target (SYN-ACK or RST). The
kernel engine makes one TCP connect per TTL and reads the router's ICMP from the socket's
error queue; the raw engine (root) sends half-open probes (scapy) on the interface the
kernel's route names. Both find the same hops; by default (--trace-engine auto) the raw one
is used only where the GuestProxyAgent is installed, because it may redirect connects but
not raw packets. The engine used, and why, is in the evidence. The trace stops as soon as
the target answered and every lower hop is accounted for, and never runs past the deadline.
The text form is what `traceroute -T -p {port}` prints (the classic report shows it).
- ok: the target answered at hop 1 (on Azure it is one hop away).
- warn: the target answered at a later hop: the guest sent the packets through the hops in
  between (named): a guest route or policy rule, a tunnel or VPN client, or an appliance
  it routes through ({no_udr}); check `ip route get <target>`.
- fail: the target never answered; the finding says what the last answering hop said
  (time exceeded: dropped after it; unreachable: it refused to forward).
- skip: no engine here (Windows in this version) or the target is not an IPv4 address."""

# Root would trace with raw SYNs, which the GuestProxyAgent cannot redirect.
_WITHOUT_ROOT = (
    Degradation(
        "only the kernel engine runs: no raw SYNs past the GuestProxyAgent",
        only_with_proxy_agent=True,
    ),
)

TRACE_80 = CheckSpec(
    "trace-80",
    "TCP traceroute to port 80",
    run_trace_80,
    explain=_EXPLAIN.format(port=80, no_udr=advice.NO_UDR),
    facts=TraceFacts,
    probe="trace",
    traffic=(Traffic("target", "tcp", "http"),),
    without_root=_WITHOUT_ROOT,
)

TRACE_32526 = CheckSpec(
    "trace-32526",
    "TCP traceroute to port 32526",
    run_trace_32526,
    explain=_EXPLAIN.format(port=32526, no_udr=advice.NO_UDR),
    facts=TraceFacts,
    probe="trace",
    traffic=(Traffic("target", "tcp", "host_plugin"),),
    without_root=_WITHOUT_ROOT,
)

SPECS = (TRACE_80, TRACE_32526)
