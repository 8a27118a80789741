"""The diagnosis rules that read several rows at once, strongest evidence first.

Each rule looks for one cause across the rows (a probe's outcome plus the context that
explains it) and claims the rows it explains, so a later rule sees only rows not yet
explained. A check whose own row can simply become a cause declares that in its spec
(`cause_weight`); rows nobody explains get a cause of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from wirecheck import advice
from wirecheck.checks.egress.judge import EgressFacts
from wirecheck.checks.endpoint import EndpointFacts
from wirecheck.checks.firewall import FirewallFacts
from wirecheck.checks.privileges import PrivilegesFacts
from wirecheck.checks.trace import TraceFacts
from wirecheck.checks.wire import WireFacts
from wirecheck.diagnose.view import OUTCOME_WORDS, Found, RunView, sentence, verb
from wirecheck.model import Status
from wirecheck.net.errors import NetOutcome

Rule = Callable[[RunView], "list[Found]"]


def non_root_agent_firewall(run: RunView) -> list[Found]:
    privileges = run.facts("privileges", PrivilegesFacts)
    if privileges is None or privileges.root:
        return []
    timeouts = run.failing("connect", ["timeout"])
    if not timeouts:
        return []
    firewall = run.facts("firewall", FirewallFacts)
    agent_counted = firewall.agent_counted if firewall else ()
    agent_rules = firewall.agent_firewall if firewall else None
    state = privileges.agent_firewall
    # The agent firewall's signature: TCP to the platform is dropped, except to port 53.
    signature = run.ok("dns-tcp")
    known = state == "enabled" or bool(agent_rules) or bool(agent_counted)
    if state == "disabled" or not (known or signature):
        return []
    user = privileges.user
    proof = [f"privileges: not root{f' (user {user})' if user else ''}"]
    if known:
        proof.append(f"guest agent firewall: {agent_rules or privileges.agent_firewall_source}")
    proof += [f"its rule `{c.rule.text}` counted {c.packets}" for c in agent_counted]
    if signature:
        proof.append(
            "dns-tcp: ok: TCP to the same address works on port 53 only, as the agent's "
            "firewall allows"
        )
    how = "" if known else "most likely "
    cause = run.cause(
        f"{run.ports_text(timeouts)} {verb(timeouts, 'timeout')} because you are not root: "
        f"{how}the guest agent's firewall drops TCP to {run.target} from non-root users. This "
        "is expected and says nothing about the network.",
        advice.RUN_AS_ROOT,
        [*timeouts, *run.follow_ons(timeouts), "privileges"],
        proof,
    )
    return [Found(cause, 100 if known else 90)]


def counted_local_rules(run: RunView) -> list[Found]:
    firewall = run.facts("firewall", FirewallFacts)
    found = []
    for item in firewall.culprits if firewall else ():
        if not item.probes:
            continue
        probes = list(item.probes)
        failing = ", ".join(run.probe_text(p) for p in probes if run.named(p))
        rule = item.rule
        named = f"{rule.source} rule `{rule.text}` ({rule.table}/{rule.chain})"
        during = f"{item.packets} packet(s)"
        cause = run.cause(
            f"{failing or ', '.join(probes) + ' fail'}: {named} counted {item.packets} packet(s) "
            "during the probes: remove it.",
            f"Remove it: `{rule.remove}`; and from where it is restored at boot "
            "(/etc/iptables/rules.v4, /etc/nftables.conf, firewalld, ufw, configuration tools).",
            probes,
            [f"firewall: {named} counted {during} while {', '.join(probes)} failed"],
            quiet=["firewall"],
        )
        found.append(Found(cause, 95))
    return found


def suspect_local_rules(run: RunView) -> list[Found]:
    """Windows (no counters) and rules without counters: a matching blocking rule."""
    row = run.get("firewall")
    firewall = run.facts("firewall", FirewallFacts)
    if row is None or firewall is None or row.status not in (Status.FAIL, Status.WARN):
        return []
    if not firewall.suspects:
        return []
    probes = list(firewall.suspects[0].probes)
    if not probes or not any(run.bad(p) for p in probes):
        return []
    cause = run.cause(
        f"{', '.join(run.probe_text(p) for p in probes if run.bad(p))}: {row.finding}.",
        row.fix or "Remove the rule named in the firewall row.",
        [*probes, "firewall"],
    )
    return [Found(cause, 90 if row.status is Status.FAIL else 80)]


def blocked_locally(run: RunView) -> list[Found]:
    connects = run.failing("connect", ["blocked"])
    blocked = connects + run.failing("dns", ["blocked"])
    if not blocked:
        return []
    firewall = run.get("firewall")
    readable = firewall is not None and firewall.status is not Status.SKIP
    hint = "" if readable else " Run as root so wirecheck can read the rules and name it."
    cause = run.cause(
        f"{', '.join(run.probe_text(p) for p in blocked)}: the kernel refused to send, so "
        "a local firewall rule forbids it.",
        f"Find and remove the rule: {advice.find_rule(run.target)}." + hint,
        [*blocked, *run.follow_ons(connects)],
    )
    return [Found(cause, 90)]


def wrong_nic(run: RunView) -> list[Found]:
    row = run.get("egress-nic")
    if row is None or row.status not in (Status.FAIL, Status.WARN):
        return []
    if row.status is Status.WARN:
        cause = run.cause(
            f"The primary NIC is uncertain: {row.finding}.",
            row.fix or "See the egress-nic row.",
            ["egress-nic"],
        )
        return [Found(cause, 35)]
    egress = run.facts("egress-nic", EgressFacts)
    leaves = egress.leaves_by if egress else None
    primary = egress.choice.interface if egress else None
    lost = ["timeout", "unreachable", "refused"]
    affected = run.failing("connect", lost)
    dns = run.failing("dns", lost)
    consequence = []
    if affected:
        consequence.append(
            f"{run.ports_text(affected)} {verb(affected, run.outcome(affected[0]) or '')}"
        )
    if dns:
        consequence.append("DNS fails" if len(dns) > 1 else run.probe_text(dns[0]))
    why = f"; that is why {' and '.join(consequence)}" if consequence else ""
    reverse = [p for p in run.probes("ptr") if dns and run.open(p) and run.failed(p)]
    faults = egress.faults or () if egress else ()
    cause = run.cause(
        f"Traffic to {run.target} leaves by {leaves or 'another NIC'}, not by the primary NIC "
        f"{primary or '?'}{why}: the platform answers only on the primary NIC.",
        row.fix or "Route the platform address via the primary NIC.",
        ["egress-nic", *affected, *run.follow_ons(affected), *dns, *reverse],
        [f"route at fault: {route.ip_line()}" for route in faults],
    )
    return [Found(cause, 85)]


def wireserver_errors(run: RunView) -> list[Found]:
    row = run.get("wire-versions")
    wire = run.facts("wire-versions", WireFacts)
    if row is None or wire is None or not run.open("wire-versions") or run.wire_connect_failed():
        return []
    status, elapsed = wire.fetch.http_status, wire.fetch.elapsed_ms
    if wire.fetch.outcome.value == "timeout":
        summary = (
            f"WireServer is slow: the connection works but no complete answer to ?comp=versions "
            f"came within the deadline ({elapsed} ms)."
        )
    elif status is not None and status != 200:
        summary = (
            f"WireServer answers ?comp=versions with HTTP {status}: the connection works, "
            "the answer is an error."
        )
    elif wire.fetch.outcome.value == "bad-response":
        summary = (
            "What answers on port 80 does not speak valid HTTP: something other than "
            "WireServer answers for the platform address."
        )
    else:
        summary = f"WireServer's answer to ?comp=versions is not usable: {row.finding}."
    extra = []
    if wire.fetch.proxy_agent_header:
        extra.append(
            "the reply carries x-ms-azure-host-authorization: it came through the "
            "GuestProxyAgent's local listener"
        )
    fix = row.fix or "Open a support case with `wirecheck bundle`."
    if run.ok("trace-80"):
        fix = (
            "The path is direct (trace-80 ok), so the host's WireServer misbehaves: retry in a "
            "few minutes, then open a support case with `wirecheck bundle`."
        )
    return [Found(run.cause(summary, fix, ["wire-versions"], extra), 80)]


def path_hops(run: RunView) -> list[Found]:
    found = []
    extra_hops: list[tuple[str, str, list[str]]] = []  # (trace, "hop 1 a.b.c.d", failing)
    for probe in run.probes("connect"):
        trace = run.trace_of(probe)
        row = run.get(trace) if trace else None
        facts = run.facts(trace, TraceFacts) if trace else None
        if trace is None or row is None or facts is None or not run.open(trace):
            continue
        routers = [h for h in facts.hops if h.kind == "router" and h.address]
        if row.status is Status.WARN and facts.reached:
            between = ", ".join(f"hop {h.ttl} {h.address}" for h in routers)
            extra_hops.append(
                (trace, between or "a silent hop", [probe] if run.open(probe) else [])
            )
        elif row.status is Status.FAIL and routers and run.open(probe):
            last = routers[-1]
            wire = ["wire-versions"] if "wire-versions" in run.follow_ons([probe]) else []
            cause = run.cause(
                f"{run.probe_text(probe)}: packets get past hop {last.ttl} ({last.address}) and "
                "are dropped after it: an appliance or a route in the path, not the platform.",
                row.fix or "Remove the appliance or route from the path to the platform.",
                [probe, trace, *wire],
            )
            found.append(Found(cause, 75))
    if extra_hops:
        traces = [t for t, _, _ in extra_hops]
        ports = ("ports " if len(traces) > 1 else "port ") + " and ".join(
            run.port(t) for t in traces
        )
        between = "; ".join(dict.fromkeys(b for _, b, _ in extra_hops))
        failing = [p for _, _, probes in extra_hops for p in probes]
        first = run.get(traces[0])
        cause = run.cause(
            f"An extra hop is in the path to {run.target} ({ports}): {between} before the "
            "target; on Azure it is one hop away (an appliance or a wrong route).",
            (first.fix if first else None)
            or "Remove the route or UDR that sends the platform address there.",
            [*traces, *failing],
        )
        found.append(Found(cause, 75 if failing else 45))
    return found


def upstream(run: RunView) -> list[Found]:
    found = []
    target = run.target
    privileges = run.facts("privileges", PrivilegesFacts)
    for outcome in ("timeout", "refused", "unreachable"):
        probes = run.failing("connect", [outcome])
        if not probes:
            continue
        extra = []
        firewall = run.get("firewall")
        if firewall is not None and firewall.status is not Status.SKIP:
            extra.append(f"firewall: no local rule counted these packets ({firewall.finding})")
        elif firewall is not None:
            extra.append(f"firewall: local rules not read ({firewall.finding})")
        if privileges is not None and not privileges.root:
            extra.append("privileges: not root, but the guest agent's firewall is not enabled")
        if outcome == "timeout":
            summary = (
                f"{run.ports_text(probes)} {verb(probes, outcome)} and no local rule counted "
                f"the packets: they are dropped after leaving the VM (an appliance or firewall "
                f"in the path, a route to it, or a block on the host side)."
            )
            fix = (
                f"Check where {target} is routed (`ip route get {target}`; in Azure the NIC's "
                "effective routes) and any NVA/firewall on that path; if the path is direct, "
                "open a support case with `wirecheck bundle`."
            )
        elif outcome == "refused":
            summary = (
                f"{run.ports_text(probes)} {verb(probes, outcome)}: something answers with a "
                "reset or port-unreachable instead of the platform (a REJECT rule or an "
                "appliance in the path)."
            )
            fix = (
                f"Find what rejects it: {advice.find_rule(target)}, "
                "then the appliance or firewall in the path (the trace rows)."
            )
        else:
            summary = (
                f"{run.ports_text(probes)} {verb(probes, outcome)}: there is no usable "
                f"route to {target}."
            )
            fix = (
                f"`ip route get {target}` must leave by the primary NIC's gateway: renew DHCP on "
                "the primary NIC or restore the /32 route."
            )
        cause = run.cause(summary, fix, [*probes, *run.follow_ons(probes)], extra)
        found.append(Found(cause, 70))
    return found


def dns_transport(run: RunView) -> list[Found]:
    # A question the network lost: a row in error for its own reason (a name it could not
    # ask, a crash) is not the resolver's fault.
    broken = [
        p
        for p in run.probes("dns")
        if run.failed(p)
        and not (_in_error(run, p) and run.outcome(p) in (None, NetOutcome.CONNECTED.value))
    ]
    unexplained = [p for p in broken if run.open(p)]
    if not unexplained:
        return []
    target = run.target
    reverse = [p for p in run.probes("ptr") if run.open(p) and run.failed(p)]
    names = {"dns-udp": "UDP", "dns-tcp": "TCP"}
    if len(unexplained) == 2:
        summary = (
            f"DNS to {target} fails over UDP and TCP ({run.outcome('dns-udp')}, "
            f"{run.outcome('dns-tcp')}): the platform resolver cannot be reached."
        )
        fix = (
            f"Allow UDP and TCP 53 to {target}: look for a rule ({advice.find_rule(53)}), "
            "a DNS proxy or an appliance in the path."
        )
    else:
        (probe,) = unexplained
        transport = names[probe]
        word = OUTCOME_WORDS.get(run.outcome(probe) or "", "fails")
        other = "UDP" if transport == "TCP" else "TCP"
        works = f" while {other} works" if run.ok(f"dns-{other.lower()}") else ""
        summary = (
            f"DNS over {transport} 53 to {target} {word}{works}: {transport} port 53 is "
            "blocked or dropped on the way."
        )
        fix = (
            f"Allow {transport} port 53 to {target}: {advice.find_rule(target, repr('dport 53'))} "
            "name the rule; then an NSG or appliance."
        )
    return [Found(run.cause(summary, fix, [*unexplained, *reverse]), 65)]


def _in_error(run: RunView, check_id: str) -> bool:
    result = run.get(check_id)
    return result is not None and result.status is Status.ERROR


def endpoint(run: RunView) -> list[Found]:
    row = run.get("endpoint")
    facts = run.facts("endpoint", EndpointFacts)
    if row is None or not run.open("endpoint"):
        return []
    differs = facts is not None and facts.agent_would_use != facts.target
    cause = run.cause(f"{sentence(row.finding)}.", row.fix or "See the endpoint row.", ["endpoint"])
    return [Found(cause, 60 if differs else 15)]


RULES: tuple[Rule, ...] = (
    counted_local_rules,  # first: a probe a named rule counted is that rule's, root or not
    non_root_agent_firewall,
    suspect_local_rules,
    blocked_locally,
    wrong_nic,
    wireserver_errors,
    path_hops,
    upstream,
    dns_transport,
    endpoint,
)
