"""egress-nic's facts and verdict, free of I/O: where packets to the target leave, against
the primary NIC, and the commands that fix a wrong route."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wirecheck.checks.base import Outcome
from wirecheck.checks.egress.primary_nic import PrimaryChoice
from wirecheck.checks.egress.source import PrimaryIp, SourceProblem, SourceSeen, judge_source
from wirecheck.model import Facts, Status
from wirecheck.platform.routes import KernelRoute, Nic, Route, routes_to


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
class EgressFacts(Facts):
    target: str
    windows: bool
    choice: PrimaryChoice
    routes: tuple[Route, ...] = ()
    routes_from: str = ""
    kernel: KernelRoute | None = None
    notes: tuple[str, ...] = ()  # pieces of evidence that could not be had, and why
    observations: tuple[Observation, ...] = ()
    nics: tuple[Nic, ...] = field(default=())
    # The routes that send the target away from the primary NIC, once judged so.
    faults: tuple[Route, ...] | None = None
    # The source address: the primary NIC's primary private IP, the sources seen (to the
    # target and to IMDS), the kernel's route to IMDS, and, once judged, what is wrong.
    primary_ip: PrimaryIp | None = None
    sources: tuple[SourceSeen, ...] = ()
    imds_kernel: KernelRoute | None = None
    source_problem: SourceProblem | None = None

    @property
    def leaves_by(self) -> str | None:
        """The interface the strongest piece of evidence says packets leave by."""
        return self.observations[-1].interface if self.observations else None

    def evidence(self) -> dict[str, Any]:
        return _evidence(self)


# ---------------------------------------------------------------------------------------
# The verdict (pure)


def judge(facts: EgressFacts) -> Outcome:
    seen = facts.observations
    if not seen:
        return Outcome(
            Status.SKIP,
            f"could not tell which interface packets to {facts.target} leave by",
            facts,
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
            facts,
            fix="Check `ip route show default` and the DHCP lease of the primary NIC; run as "
            "root with the imds check so the NICs can be matched by MAC.",
        )
    wrong = [o for o in seen if o.interface != primary]
    if not wrong:
        used = ", ".join(facts.choice.used) or "precedence"
        kernels = tuple(k for k in (facts.kernel, facts.imds_kernel) if k is not None)
        source = judge_source(
            facts.primary_ip,
            primary,
            facts.sources,
            facts.nics,
            facts.routes,
            kernels,
            facts.windows,
        )
        if source is not None:
            return Outcome(
                Status.FAIL,
                source.finding(primary),
                replace(facts, source_problem=source),
                fix=source.fix,
            )
        if facts.choice.conflicts:
            return Outcome(
                Status.WARN,
                f"packets to {facts.target} leave by {where}, the primary NIC by {used}; but "
                f"the signals disagree: {'; '.join(facts.choice.conflicts)}",
                facts,
                fix=_conflict_fix(facts),
            )
        return Outcome(
            Status.OK,
            f"packets to {facts.target} leave by {where}, the primary NIC (by {used})",
            facts,
        )
    faults = fault_routes(facts.routes, facts.target, wrong[-1].interface, primary)
    shown = ", ".join(f"{o.how}: {o.interface}" for o in seen)
    return Outcome(
        Status.FAIL,
        f"packets to {facts.target} leave by {_where(wrong[-1], facts.kernel)}, not by the "
        f"primary NIC {facts.choice.describe()} ({shown})"
        + (f"; at fault: {'; '.join(r.ip_line() for r in faults)}" if faults else ""),
        replace(facts, faults=tuple(faults)),
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


def _evidence(facts: EgressFacts) -> dict[str, Any]:
    choice = facts.choice
    evidence: dict[str, Any] = {
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
    if facts.faults is not None:
        evidence["route_lines_at_fault"] = [r.ip_line() for r in facts.faults]
    if facts.primary_ip is not None:
        evidence["primary_ip"] = facts.primary_ip.describe()
    if facts.sources:
        evidence["sources"] = [f"{s.how} to {s.destination}: {s.address}" for s in facts.sources]
    if facts.source_problem is not None:
        evidence["source_problem"] = facts.source_problem.to_dict()
    return evidence
