"""Typed facts for tests of the diagnosis and of checks that read other checks' results:
built through the checks' own types, so renaming a field breaks these tests too."""

from __future__ import annotations

from collections.abc import Sequence

from tests.conftest import fixture_text
from wirecheck.checks.base import ProbeFacts
from wirecheck.checks.dns import DnsFacts, PtrLookup, ReverseFacts
from wirecheck.checks.egress.judge import EgressFacts, Observation
from wirecheck.checks.egress.primary_nic import PrimaryChoice
from wirecheck.checks.egress.source import SourceSeen, judge_source, primary_ip
from wirecheck.checks.endpoint import EndpointFacts
from wirecheck.checks.fetch import Fetch
from wirecheck.checks.firewall import CountedRule, FirewallFacts
from wirecheck.checks.imds import ImdsFacts
from wirecheck.checks.privileges import PrivilegesFacts
from wirecheck.checks.tcp import ConnectFacts
from wirecheck.checks.trace import TraceFacts
from wirecheck.checks.wire import WireFacts
from wirecheck.model import PLATFORM_ADDRESS, CheckResult, Facts, Status
from wirecheck.net.errors import NetOutcome
from wirecheck.net.traceroute.hops import Hop, HopKind, ProbeCell
from wirecheck.platform.firewall.agent_rules import review
from wirecheck.platform.firewall.forward import forward_blocks
from wirecheck.platform.firewall.model import Rule
from wirecheck.platform.firewall.parsers import parse_iptables_save
from wirecheck.platform.forwarding import Forwarding
from wirecheck.platform.imds import ImdsNic
from wirecheck.platform.leases import Lease, LeaseScan
from wirecheck.platform.netconfig import InterfaceConfig, NetConfig
from wirecheck.platform.routes import Nic, Route

WS = PLATFORM_ADDRESS


def row(check_id: str, status: Status, finding: str, facts: Facts | None = None) -> CheckResult:
    """A result as the runner posts it: the facts, and the evidence rendered from them."""
    evidence = facts.evidence() if facts is not None else {}
    return CheckResult(check_id, f"title of {check_id}", status, finding, evidence, facts=facts)


def connect(port: int, outcome: str = "connected", errno: str | None = None) -> ConnectFacts:
    local = ("10.1.0.4", 50000) if outcome == "connected" else None
    return ConnectFacts(WS, port, NetOutcome(outcome), 0.5, errno, local_address=local)


def wire(
    outcome: str = "connected",
    http_status: int | None = 200,
    connected: bool = True,
    elapsed_ms: float = 2.0,
    detail: str = "",
) -> WireFacts:
    fetch = Fetch(
        f"http://{WS}/?comp=versions",
        NetOutcome(outcome),
        elapsed_ms,
        connected,
        http_status=http_status if connected else None,
        detail=detail,
    )
    return WireFacts(fetch)


def dns(transport: str, outcome: str = "connected") -> DnsFacts:
    rcode = "NOERROR" if outcome == "connected" else None
    return DnsFacts(WS, 53, transport, "vm1.internal.cloudapp.net", NetOutcome(outcome), 1.0, rcode)


def reverse(name: str | None = None) -> ReverseFacts:
    lookup = PtrLookup(True, name, name or "NXDOMAIN")
    return ReverseFacts("16.129.63.168.in-addr.arpa.", (("direct UDP", lookup),))


def trace(port: int, hops: Sequence[tuple[int, str | None, HopKind]] = ()) -> TraceFacts:
    made = tuple(
        Hop(ttl, (ProbeCell(address, 0.4 if address else None),), kind, final=kind == "target")
        for ttl, address, kind in hops
    )
    return TraceFacts(WS, port, "kernel", "test", made, 8)


DIRECT: tuple[tuple[int, str | None, HopKind], ...] = ((1, WS, "target"),)


def egress(primary: str, leaves: str, faults: Sequence[str] = ()) -> EgressFacts:
    routes = tuple(
        Route(f"{WS}/32", leaves, gateway=line.split(" via ")[1].split()[0], metric=50)
        for line in faults
    )
    return EgressFacts(
        WS,
        False,
        PrimaryChoice(primary, ()),
        observations=(Observation("kernel route", leaves),),
        faults=routes if faults else None,
    )


def egress_wrong_source(primary: str = "10.1.0.4", source: str = "10.1.0.5") -> EgressFacts:
    """egress-nic judged: packets to the target leave eth0 with `source`, not `primary`."""
    nic = Nic("eth0", "000D3A4B5C6D", (source, primary))
    route = Route(f"{WS}/32", "eth0", "10.1.0.1", 100)
    seen = (SourceSeen(WS, "kernel route", "eth0", source),)
    lease = Lease("eth0", primary, WS, None, (), (), None, "lease")
    found = primary_ip("eth0", (nic,), None, {}, (lease,))
    problem = judge_source(found, "eth0", seen, (nic,), (route,), (), False)
    return EgressFacts(
        WS,
        False,
        PrimaryChoice("eth0", ()),
        routes=(route,),
        observations=(Observation("kernel route", "eth0", source),),
        nics=(nic,),
        primary_ip=found,
        sources=seen,
        source_problem=problem,
    )


def privileges(
    root: bool, user: str | None = None, agent_firewall: str | None = None, source: str = ""
) -> PrivilegesFacts:
    return PrivilegesFacts(root, user, agent_firewall, source)


def counted_rule(
    text: str, probes: Sequence[str], packets: int = 3, agent: bool = False
) -> CountedRule:
    rule = Rule(
        "iptables",
        "filter",
        "OUTPUT",
        text,
        text.rsplit(" ", 1)[-1],
        remove=f"iptables -t filter -D {text.removeprefix('-A ')}",
    )
    return CountedRule(rule, packets, tuple(probes), agent)


def firewall(*counted: CountedRule, agent_firewall: str | None = None) -> FirewallFacts:
    return FirewallFacts(
        ("iptables-save -c",), counted_before=True, agent_firewall=agent_firewall, counted=counted
    )


def agent_firewall_as_root(recorded: str, probes: Sequence[str]) -> FirewallFacts:
    """The firewall's facts when the guest agent's rules `recorded` (an iptables-save -c
    fixture) counted from zero while `probes` failed, running as root."""
    rules = parse_iptables_save(fixture_text(recorded))
    found = review(rules, WS, None, {r.key: 0 for r in rules if r.packets is not None})
    counted = tuple(
        CountedRule(r, r.packets or 0, tuple(probes), True)
        for r in rules
        if r.blocking and not r.policy and r.packets
    )
    return FirewallFacts(
        ("iptables-save -c",),
        counted_before=True,
        agent_firewall="iptables security/OUTPUT",
        counted=counted,
        root=True,
        agent_review=found,
    )


def firewall_pods_blocked() -> FirewallFacts:
    """The VM forwards (a bridge cni0) and a custom FORWARD rule drops pods' TCP 80 to WS."""
    rules = parse_iptables_save(
        f"*filter\n[4:240] -A FORWARD -d {WS}/32 -p tcp -m tcp --dport 80 -j DROP\nCOMMIT\n"
    )
    return FirewallFacts(
        ("iptables-save -c",),
        counted_before=True,
        forwarding=Forwarding(True, ("cni0",)),
        pod_blocks=tuple(forward_blocks(rules, {}, [(WS, "tcp", 80)])),
    )


def endpoint(cached: str | None = None, *static: InterfaceConfig) -> EndpointFacts:
    """No lease; `static`: the interfaces configured statically (then no /32 route either)."""
    return EndpointFacts(WS, LeaseScan(()), cached, (), NetConfig(tuple(static)))


def imds(outcome: str = "connected", nics: Sequence[ImdsNic] = ()) -> ImdsFacts:
    connected = outcome == "connected"
    fetch = Fetch(
        "http://169.254.169.254/metadata/instance/network",
        NetOutcome(outcome),
        1.0,
        connected,
        http_status=200 if connected else None,
    )
    return ImdsFacts(fetch, tuple(nics) if connected else None)


def outcome_of(facts: Facts | None) -> str | None:
    return facts.net_outcome.value if isinstance(facts, ProbeFacts) else None
