"""egress-nic: which interface and source address packets to the target really leave by,
versus the primary NIC.

Evidence, strongest last: the kernel's route lookup for the target (interface, source,
gateway), the local address of the connected `tcp-80` socket, and, as root on Linux, the
interface on which a SYN to the target was actually captured. The primary NIC comes from
`wirecheck.primary_nic`. Collecting is per OS; the verdict (`judge`) is pure.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Deadline, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.leases import Lease, current_leases
from wirecheck.platform.routes import (
    KernelRoute,
    Nic,
    Route,
    kernel_route,
    linux_nics,
    lookup,
    name_windows_routes,
    normalize_mac,
    parse_route_print,
    route_table,
    routes_to,
)
from wirecheck.primary_nic import (
    ImdsNic,
    PrimaryChoice,
    Signals,
    choose_primary,
    imds_nics_from_evidence,
)
from wirecheck.system import System

FACTS_BUDGET_S = 1.5  # route, NIC and lease reads share this much of the deadline at most


@dataclass(frozen=True)
class Observation:
    """One piece of evidence for the interface the traffic leaves by."""

    how: str  # "kernel route", "tcp-80 socket", "captured SYN"
    interface: str
    source: str | None = None

    @property
    def key(self) -> str:
        """Its evidence key: route_interface, tcp_80_interface, captured_interface."""
        return _KEYS.get(self.how, self.how.replace(" ", "_").replace("-", "_"))


_KEYS = {
    "kernel route": "route_interface",
    "tcp-80 socket": "tcp_80_interface",
    "captured SYN": "captured_interface",
}


@dataclass(frozen=True)
class EgressFacts:
    target: str
    windows: bool
    choice: PrimaryChoice
    routes: tuple[Route, ...] = ()
    routes_from: str = ""
    kernel: KernelRoute | None = None
    notes: tuple[str, ...] = ()  # pieces of evidence that could not be had, and why
    observations: tuple[Observation, ...] = ()
    nics: tuple[Nic, ...] = field(default=())


# ---------------------------------------------------------------------------------------
# The verdict (pure)


def judge(facts: EgressFacts) -> Outcome:
    evidence = _evidence(facts)
    seen = facts.observations
    if not seen:
        return Outcome(
            Status.SKIP,
            f"could not tell which interface packets to {facts.target} leave by",
            evidence,
            fix="; ".join(facts.notes) or None,
        )
    leaves = seen[-1]  # the strongest piece: a captured SYN beats a socket beats a lookup
    primary = facts.choice.interface
    where = _where(leaves, facts.kernel)
    if primary is None:
        return Outcome(
            Status.WARN,
            f"packets to {facts.target} leave by {where}; which NIC is primary could not be "
            "determined (no default route, no lease with option 245, no IMDS match)",
            evidence,
            fix="Check `ip route show default` and the DHCP lease of the primary NIC; run as "
            "root with the imds check so the NICs can be matched by MAC.",
        )
    wrong = [o for o in seen if o.interface != primary]
    if not wrong:
        used = ", ".join(facts.choice.used) or "precedence"
        if facts.choice.conflicts:
            return Outcome(
                Status.WARN,
                f"packets to {facts.target} leave by {where}, the primary NIC by {used}; but "
                f"the signals disagree: {'; '.join(facts.choice.conflicts)}",
                evidence,
                fix=_conflict_fix(facts),
            )
        return Outcome(
            Status.OK,
            f"packets to {facts.target} leave by {where}, the primary NIC (by {used})",
            evidence,
        )
    faults = fault_routes(facts.routes, facts.target, wrong[-1].interface, primary)
    evidence["route_lines_at_fault"] = [r.ip_line() for r in faults]
    shown = ", ".join(f"{o.how}: {o.interface}" for o in seen)
    return Outcome(
        Status.FAIL,
        f"packets to {facts.target} leave by {_where(wrong[-1], facts.kernel)}, not by the "
        f"primary NIC {facts.choice.describe()} ({shown})"
        + (f"; at fault: {'; '.join(r.ip_line() for r in faults)}" if faults else ""),
        evidence,
        fix=fix_commands(facts, faults, wrong[-1].interface),
    )


def _where(seen: Observation, kernel: KernelRoute | None) -> str:
    text = seen.interface
    if seen.source:
        text += f" (source {seen.source}"
        if kernel and kernel.interface == seen.interface and kernel.gateway:
            text += f", via {kernel.gateway}"
        text += ")"
    return text


def fault_routes(
    routes: Sequence[Route], target: str, interface: str, primary: str | None
) -> list[Route]:
    """The routes that win `target` for `interface` over every route via the primary NIC,
    most specific first (a secondary NIC's ordinary default route is not at fault)."""
    covering = routes_to(routes, target)
    wrong = [r for r in covering if r.interface == interface]
    best = next((r for r in covering if r.interface == primary), None)
    if best is None:
        return wrong[:1] + [r for r in wrong[1:] if r.network == wrong[0].network]
    rank = (best.network.prefixlen, -best.metric)
    return [r for r in wrong if (r.network.prefixlen, -r.metric) >= rank]


def primary_gateway(facts: EgressFacts) -> str | None:
    primary = facts.choice.interface
    for route in routes_to(facts.routes, facts.target):
        if route.interface == primary and route.gateway:
            return route.gateway
    for route in facts.routes:
        if route.is_default and route.interface == primary and route.gateway:
            return route.gateway
    return None


def fix_commands(facts: EgressFacts, faults: Sequence[Route], wrong: str) -> str:
    primary, target = facts.choice.interface, facts.target
    gateway = primary_gateway(facts)
    specific = [r for r in faults if not r.is_default]
    has_host_route = any(
        r.interface == primary and r.network.prefixlen == 32
        for r in routes_to(facts.routes, target)
    )
    if has_host_route:
        gateway = None  # the primary's /32 is there; removing what beats it is enough
    steps: list[str] = []
    if facts.windows:
        steps += [f"route delete {target} mask 255.255.255.255 {r.gateway}" for r in specific]
        if gateway:
            steps.append(f"route -p add {target} mask 255.255.255.255 {gateway} metric 1")
    else:
        steps += [f"ip route del {r.selector()}" for r in specific]
        if gateway:
            steps.append(f"ip route replace {target}/32 via {gateway} dev {primary}")
    if not steps:
        return (
            f"Make {target} leave by {primary}: add a /32 route via {primary}'s gateway, and "
            f"find why traffic is steered to {wrong} (`ip rule`, `ip route show table all`)."
        )
    persist = (
        "then remove the route from the persistent configuration (`route print` Persistent Routes)"
        if facts.windows
        else "then remove its source from the network configuration (netplan, "
        "NetworkManager, ifcfg route-* files) so it does not come back"
    )
    return f"Run: {'; '.join(f'`{s}`' for s in steps)}; {persist}."


def _conflict_fix(facts: EgressFacts) -> str:
    return (
        "Make the signals agree: the lowest-metric default route, the DHCP lease with option "
        "245 and the /32 platform routes should all be on the primary NIC; a secondary NIC's "
        "default route needs a higher metric (`ip route show default`)."
    )


def _evidence(facts: EgressFacts) -> dict[str, object]:
    choice = facts.choice
    evidence: dict[str, object] = {
        "target": facts.target,
        "primary_nic": choice.interface,
        "primary_signals_used": list(choice.used),
        "signals": [vote.to_dict() for vote in choice.votes],
    }
    if choice.conflicts:
        evidence["conflicts"] = list(choice.conflicts)
    if choice.azure_nics:
        evidence["azure_nics"] = choice.azure_nics
    if facts.kernel is not None:
        evidence["kernel_route"] = {
            "interface": facts.kernel.interface,
            "source": facts.kernel.source,
            "gateway": facts.kernel.gateway,
            "text": facts.kernel.text,
        }
    for seen in facts.observations:
        evidence[seen.key] = seen.interface
        if seen.source and seen.how == "tcp-80 socket":
            evidence["tcp_80_local_address"] = seen.source
        if seen.source and seen.how == "captured SYN":
            evidence["captured_source"] = seen.source
    if facts.observations:
        evidence["leaves_by"] = facts.observations[-1].interface
    evidence["routes_to_target"] = [r.ip_line() for r in routes_to(facts.routes, facts.target)]
    evidence["routes_from"] = facts.routes_from
    if facts.notes:
        evidence["notes"] = list(facts.notes)
    return evidence


# ---------------------------------------------------------------------------------------
# Collecting (per OS)

CaptureFn = Callable[[str, int, Deadline, System], "CaptureOutcome"]


@dataclass(frozen=True)
class CaptureOutcome:
    interface: str | None
    source: str | None
    detail: str


def capture_with_packet_socket(
    target: str, port: int, deadline: Deadline, system: System
) -> CaptureOutcome:
    from wirecheck.net.traceroute.capture import capture_syn

    result = capture_syn(target, port, deadline, system.socket_factory)
    if result.captured is None:
        return CaptureOutcome(None, None, result.detail)
    return CaptureOutcome(result.captured.interface, result.captured.source, result.detail)


def _tcp80_observation(ctx: CheckContext, nics: Sequence[Nic]) -> tuple[Observation | None, str]:
    result = ctx.wait_for("tcp-80")
    if result is None:
        why = "not in this run" if "tcp-80" not in ctx.planned else "not done by the deadline"
        return None, f"tcp-80 socket: {why}"
    local = result.evidence.get("local_address")
    if not isinstance(local, str) or ":" not in local:
        return None, f"tcp-80 socket: did not connect ({result.status.value}: {result.finding})"
    address = local.rsplit(":", 1)[0]
    interface = result.evidence.get("interface")
    if not isinstance(interface, str) or not interface:
        interface = next((n.name for n in nics if address in n.addresses), None)
    if interface is None:
        return None, f"tcp-80 socket: local address {local} is on no known interface"
    return Observation("tcp-80 socket", interface, address), ""


def _imds(ctx: CheckContext) -> tuple[list[ImdsNic] | None, str]:
    if "imds" not in ctx.planned:
        return None, "imds: not in this run"
    result = ctx.wait_for("imds")
    if result is None:
        return None, "imds: not done by the deadline"
    nics = imds_nics_from_evidence(result.evidence.get("nics"))
    if nics is None:
        return None, f"imds: no NIC list ({result.status.value}: {result.finding})"
    return nics, ""


def collect_linux(ctx: CheckContext, capture: CaptureFn, now: datetime, port: int) -> EgressFacts:
    target, system = ctx.config.target, ctx.system
    budget = Deadline(min(FACTS_BUDGET_S, ctx.deadline.remaining()))
    root = system.is_root()
    calls: dict[str, Callable[[], object]] = {
        "route": lambda: kernel_route(system, target, budget.remaining()),
        "table": lambda: route_table(system, budget.remaining()),
        "nics": lambda: linux_nics(system, budget.remaining()),
        "leases": lambda: current_leases(system, now, budget.remaining()),
    }
    if root:
        calls["capture"] = lambda: capture(target, port, ctx.deadline, system)
    failed: dict[str, Exception] = {}
    got = gather(calls, ctx.deadline, failed)
    notes = [f"{key} failed: {type(exc).__name__}: {exc}" for key, exc in failed.items()]
    route = got["route"]
    kernel = route if isinstance(route, KernelRoute) else None
    if not isinstance(route, KernelRoute) and "route" not in failed:
        notes.append(str(route) if route else "kernel route lookup did not finish")
    table = got["table"]
    routes, routes_from = table if isinstance(table, tuple) else ([], "route table not read")
    nics_value = got["nics"]
    nics: list[Nic] = nics_value if isinstance(nics_value, list) else []
    leases_value = got["leases"]
    leases: list[Lease] | None = leases_value if isinstance(leases_value, list) else None

    observations: list[Observation] = []
    if kernel is not None and kernel.interface:
        observations.append(Observation("kernel route", kernel.interface, kernel.source))
    tcp80, why = _tcp80_observation(ctx, nics)
    if tcp80 is not None:
        observations.append(tcp80)
    elif why:
        notes.append(why)
    if root:
        captured = got.get("capture")
        if isinstance(captured, CaptureOutcome) and captured.interface:
            observations.append(Observation("captured SYN", captured.interface, captured.source))
        else:
            detail = captured.detail if isinstance(captured, CaptureOutcome) else "no result"
            notes.append(f"captured SYN: {detail}")
    else:
        notes.append("captured SYN: skipped, capturing needs root")
    imds, imds_why = _imds(ctx)
    if imds_why:
        notes.append(imds_why)
    signals = Signals(routes, leases, imds, nics)
    return EgressFacts(
        target,
        False,
        choose_primary(signals),
        tuple(routes),
        routes_from,
        kernel,
        tuple(notes),
        tuple(observations),
        tuple(nics),
    )


def psutil_nics() -> list[Nic]:
    """Adapters by name with MAC and IPv4 addresses (Windows: names are aliases); empty
    where psutil is missing (the single-file build)."""
    try:
        import psutil
    except ImportError:
        return []

    nics: list[Nic] = []
    for name, addrs in psutil.net_if_addrs().items():
        mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), None)
        ipv4 = tuple(a.address for a in addrs if a.family == socket.AF_INET)
        nics.append(Nic(name, normalize_mac(mac), ipv4))
    return nics


def collect_windows(
    ctx: CheckContext, adapters: Callable[[], list[Nic]] = psutil_nics
) -> EgressFacts:
    target, system = ctx.config.target, ctx.system
    budget = min(FACTS_BUDGET_S, ctx.deadline.remaining())
    done = system.run_command(["route", "print", "-4"], budget)
    nics = adapters() or [
        Nic(name, addresses=addresses) for name, addresses in system.interface_addresses().items()
    ]
    notes = ["captured SYN: not available on Windows in this version"]
    routes: list[Route] = []
    kernel: KernelRoute | None = None
    if done.ok:
        printed = parse_route_print(done.stdout)
        best = lookup(printed.routes, target)
        routes = name_windows_routes(printed.routes, nics)
        if best is not None:
            named = name_windows_routes([best], nics)[0]
            kernel = KernelRoute(
                target, named.interface, best.interface, best.gateway, _route_print_line(best)
            )
    else:
        notes.append(f"`route print -4` failed: {done.error or done.stderr.strip()}")
    observations: list[Observation] = []
    if kernel is not None and kernel.interface:
        observations.append(Observation("kernel route", kernel.interface, kernel.source))
    tcp80, why = _tcp80_observation(ctx, nics)
    if tcp80 is not None:
        observations.append(tcp80)
    elif why:
        notes.append(why)
    imds, imds_why = _imds(ctx)
    if imds_why:
        notes.append(imds_why)
    signals = Signals(routes, None, imds, nics)
    return EgressFacts(
        target,
        True,
        choose_primary(signals),
        tuple(routes),
        "route print -4",
        kernel,
        tuple(notes),
        tuple(observations),
        tuple(nics),
    )


def _route_print_line(route: Route) -> str:
    network = route.network
    return (
        f"{network.network_address} mask {network.netmask} "
        f"{route.gateway or 'On-link'} if {route.interface} metric {route.metric}"
    )


def run_egress(
    ctx: CheckContext,
    capture: CaptureFn = capture_with_packet_socket,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    platform: str = sys.platform,
    adapters: Callable[[], list[Nic]] = psutil_nics,
) -> Outcome:
    if platform.startswith("linux"):
        facts = collect_linux(ctx, capture, now(), ctx.config.ports.http)
    elif platform == "win32":
        facts = collect_windows(ctx, adapters)
    else:
        return Outcome(
            Status.SKIP,
            f"egress NIC evidence is collected on Linux and Windows, not on {platform}",
            {"target": ctx.config.target},
        )
    return judge(facts)


def _run(ctx: CheckContext) -> Outcome:
    return run_egress(ctx)


EGRESS_NIC = CheckSpec(
    "egress-nic",
    "Traffic to the platform leaves by the primary NIC",
    _run,
    explain="""\
Finds the primary NIC from the signals (the lowest-metric default route; the interface
whose DHCP lease has option 245 and the /32 routes to the platform addresses; the NICs
IMDS lists, matched by MAC, VFs skipped) and says which it used. Then proves which NIC
packets to the target leave by: the kernel's route lookup (`ip route get`), the local
address of tcp-80's connected socket, and as root the interface a SYN to the target was
captured on.
- ok: every piece of evidence names the primary NIC.
- warn: the traffic leaves by the NIC the best signal calls primary, but the signals
  disagree (e.g. the default route and the DHCP lease are on different NICs).
- fail: the traffic leaves by another NIC: the finding names the route lines at fault and
  the fix gives the commands (delete the wrong route, add the /32 via the primary's
  gateway, then remove it from the persistent network configuration).
- skip: no evidence could be had here (no route tool, not Linux/Windows).""",
)
