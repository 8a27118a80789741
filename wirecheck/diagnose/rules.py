"""The diagnosis rules that read several rows at once, strongest evidence first.

Each rule looks for one cause across the rows (a probe's outcome plus the context that
explains it) and claims the rows it explains, so a later rule sees only rows not yet
explained. A check whose own row can simply become a cause declares that in its spec
(`cause_weight`); rows nobody explains get a cause of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from wirecheck import advice
from wirecheck.diagnose import kinds as k
from wirecheck.diagnose.view import OUTCOME_WORDS, Found, RunView, sentence, verb
from wirecheck.model import Status
from wirecheck.net.errors import NetOutcome

Rule = Callable[[RunView], "list[Found]"]


def non_root_agent_firewall(run: RunView) -> list[Found]:
    privileges = run.facts("privileges", k.PRIVILEGES)
    if privileges is None or privileges.root:
        return []
    timeouts = run.failing("connect", ["timeout"])
    if not timeouts:
        return []
    firewall = run.facts("firewall", k.FIREWALL)
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
    if privileges.user_namespace:
        proof.append(f"privileges: {privileges.user_namespace}")
    inside = " to the kernel (root only inside a user namespace)"
    cause = run.cause(
        f"{run.ports_text(timeouts)} {verb(timeouts, 'timeout')} because you are not root"
        f"{inside if privileges.user_namespace else ''}: {how}the guest agent's firewall "
        f"drops TCP to {run.target} from non-root users. This is expected and says nothing "
        "about the network.",
        advice.RUN_AS_REAL_ROOT if privileges.user_namespace else advice.RUN_AS_ROOT,
        [*timeouts, *run.follow_ons(timeouts), "privileges"],
        proof,
    )
    return [Found(cause, 100 if known else 90)]


def counted_local_rules(run: RunView) -> list[Found]:
    firewall = run.facts("firewall", k.FIREWALL)
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


def agent_firewall_as_root(run: RunView) -> list[Found]:
    """Running as root, the guest agent's own DROP counted the failing probes' packets: its
    rules are out of order, incomplete, or do not take this process for uid 0."""
    firewall = run.facts("firewall", k.FIREWALL)
    review = firewall.agent_review if firewall else None
    if firewall is None or review is None or not firewall.agent_dropped_root:
        return []
    counted = [p for c in firewall.agent_counted for p in c.probes]
    # A probe that timed out at the deadline may report after the firewall's second reading:
    # it is still the DROP's when the rule can match its packets.
    keys = {c.rule.key for c in firewall.agent_counted}
    late = [
        p
        for seen in firewall.rules
        if seen.rule.key in keys
        for p in seen.probes
        if run.outcome(p) == "timeout"
    ]
    probes = [p for p in dict.fromkeys([*counted, *late]) if run.open(p)]
    if not probes:
        return []
    connects = [p for p in probes if p in run.probes("connect")]
    failing = ", ".join(run.probe_text(p) for p in probes if run.named(p))
    order = "; ".join(
        f"{i}. `{r.rule.text}` ({r.delta if r.delta is not None else '?'} during the probes)"
        for i, r in enumerate(review.rules, 1)
    )
    cause = run.cause(
        f"{failing or ', '.join(probes) + ' fail'}: running as root, the guest agent's own "
        f"firewall drops root's packets: its DROP counted {review.drop_counted} packet(s) during "
        f"the probes and no uid-0 ACCEPT ahead of it let them through: {review.why()}.",
        review.fix(),
        [*probes, *run.follow_ons(connects), "firewall"],
        [f"firewall: {review.where} in order: {order}"],
    )
    return [Found(cause, 97)]


def suspect_local_rules(run: RunView) -> list[Found]:
    """Windows (no counters) and rules without counters: a matching blocking rule."""
    row = run.get("firewall")
    firewall = run.facts("firewall", k.FIREWALL)
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
    refused = [p for p in connects if _windows_refused(run, p)]
    if refused:
        ports = " and ".join(run.port(p) for p in refused)
        cause = run.cause(
            f"TCP {ports} to {run.target}: Windows refused the connection (WSAEACCES, 10013): "
            "the Windows Firewall or a WFP filter (a VPN client, an EDR or security product) "
            "blocks it on this VM; nothing left it.",
            advice.windows_local_block(run.target, ports),
            [*blocked, *run.follow_ons(connects)],
        )
        return [Found(cause, 90)]
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


def _windows_refused(run: RunView, probe: str) -> bool:
    facts = run.facts(probe, k.CONNECT)
    return facts is not None and (facts.errno or "").startswith("WSAEACCES")


def conntrack_full(run: RunView) -> list[Found]:
    """Probes time out while the kernel says its connection-tracking table is full."""
    facts = run.facts("conntrack", k.CONNTRACK)
    row = run.get("conntrack")
    if facts is None or row is None or not facts.dropping or not run.open("conntrack"):
        return []
    connects = run.failing("connect", ["timeout"])
    dns = run.failing("dns", ["timeout"])
    if not connects and not dns:
        return []
    failing = [*connects, *dns]
    said = ", ".join(run.probe_text(p) for p in failing)
    cause = run.cause(
        f"{said}: the kernel's connection-tracking table is full, so it drops the first packet "
        "of new connections, these included.",
        row.fix or "Make room in the connection-tracking table.",
        [*failing, *run.follow_ons(connects), "conntrack"],
    )
    return [Found(cause, 88)]


def wrong_source(run: RunView) -> list[Found]:
    """Packets leave the primary NIC with a secondary address: the platform ignores them."""
    egress = run.facts("egress-nic", k.EGRESS)
    problem = egress.source_problem if egress else None
    if egress is None or problem is None or not run.open("egress-nic"):
        return []
    lost = ["timeout", "unreachable", "refused"]
    affected = run.failing("connect", lost)
    dns = run.failing("dns", lost)
    reverse = [p for p in run.probes("ptr") if dns and run.open(p) and run.failed(p)]
    imds = run.facts("imds", k.IMDS)
    imds_lost = imds is not None and run.open("imds") and imds.fetch.outcome.value in lost
    consequence = []
    if affected:
        consequence.append(
            f"{run.ports_text(affected)} {verb(affected, run.outcome(affected[0]) or '')}"
        )
    if dns:
        consequence.append("DNS fails" if len(dns) > 1 else run.probe_text(dns[0]))
    if imds_lost:
        consequence.append("IMDS does not answer")
    why = f"; that is why {' and '.join(consequence)}" if consequence else ""
    destinations = ", ".join(dict.fromkeys(s.destination for s in problem.wrong))
    cause = run.cause(
        f"Packets to {destinations} leave {egress.choice.interface} with source "
        f"{problem.address}, not the primary NIC's primary private IP {problem.primary.address}"
        f"{why}: {advice.PRIMARY_IP_ONLY}.",
        problem.fix,
        [
            "egress-nic",
            *affected,
            *run.follow_ons(affected),
            *dns,
            *reverse,
            *(["imds"] if imds_lost else []),
        ],
        [f"why {problem.address}: {problem.why}", f"primary IP by {problem.primary.detail}"],
    )
    return [Found(cause, 86)]


def wrong_nic(run: RunView) -> list[Found]:
    row = run.get("egress-nic")
    if row is None or row.status not in (Status.FAIL, Status.WARN) or not run.open("egress-nic"):
        return []
    if row.status is Status.WARN:
        cause = run.cause(
            f"The primary NIC is uncertain: {row.finding}.",
            row.fix or "See the egress-nic row.",
            ["egress-nic"],
        )
        return [Found(cause, 35)]
    egress = run.facts("egress-nic", k.EGRESS)
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


def proxy_agent_refused(run: RunView) -> list[Found]:
    """The GuestProxyAgent on this VM answered the request itself: not WireServer's error."""
    found = []
    wire, imds = run.facts("wire-versions", k.WIRE), run.facts("imds", k.IMDS)
    for check_id, service, refusal in (
        ("wire-versions", "WireServer", wire.proxy_agent_refusal if wire else None),
        ("imds", "IMDS", imds.proxy_agent_refusal if imds else None),
    ):
        row = run.get(check_id)
        if refusal is None or row is None or not run.open(check_id):
            continue
        request = "GET ?comp=versions" if service == "WireServer" else "the IMDS request"
        cause = run.cause(
            f"{request} gets {refusal.describe()}; it never reached {service}.",
            row.fix or refusal.fix(),
            [check_id],
            [
                "the answer has an empty body, `connection: close` and no "
                "x-ms-azure-host-authorization header: the agent's own refusal"
            ],
        )
        found.append(Found(cause, 81 if service == "WireServer" else 55))
    return found


def wireserver_errors(run: RunView) -> list[Found]:
    row = run.get("wire-versions")
    wire = run.facts("wire-versions", k.WIRE)
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
        facts = run.facts(trace, k.TRACE) if trace else None
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
                "are dropped after it: the guest sends them through that hop "
                f"({advice.GUEST_DIVERSION}), not straight to the platform.",
                row.fix or f"{advice.guest_route_fix(run.target)}.",
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
            f"target; on Azure it is one hop away ({advice.NO_UDR}): the guest sends it "
            f"there ({advice.GUEST_DIVERSION}).",
            (first.fix if first else None) or f"{advice.guest_route_fix(run.target)}.",
            [*traces, *failing],
        )
        found.append(Found(cause, 75 if failing else 45))
    return found


def upstream(run: RunView) -> list[Found]:
    found = []
    target = run.target
    privileges = run.facts("privileges", k.PRIVILEGES)
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
                f"the packets: they leave the VM and get no answer. "
                f"{sentence(advice.beyond_the_guest(' and '.join(run.port(p) for p in probes)))}."
            )
            fix = f"{advice.guest_route_fix(target)}; {advice.SUPPORT_CASE}."
        elif outcome == "refused":
            summary = (
                f"{run.ports_text(probes)} {verb(probes, outcome)}: something answers with a "
                "reset or port-unreachable instead of the platform (a REJECT rule, or a proxy "
                "or appliance the guest routes through)."
            )
            fix = (
                f"Find what rejects it: {advice.find_rule(target)}, "
                "then what the guest routes through (the trace rows)."
            )
        else:
            summary = (
                f"{run.ports_text(probes)} {verb(probes, outcome)}: there is no usable "
                f"route to {target}."
            )
            fix = advice.restore_route(target)
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
            f"a DNS proxy or appliance the guest routes through, then {advice.nsg_rule('dns')}."
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
            f"name the rule; then {advice.nsg_rule('dns')}."
        )
    return [Found(run.cause(summary, fix, [*unexplained, *reverse]), 65)]


def static_address(run: RunView) -> list[Found]:
    """A statically configured VM whose guest agent has nothing to find WireServer by."""
    row = run.get("endpoint")
    facts = run.facts("endpoint", k.ENDPOINT)
    if row is None or facts is None or not run.open("endpoint") or facts.found:
        return []
    static = facts.static
    if not static:
        return []
    agent = run.facts("guest-agent", k.LINUX_AGENT)
    dhcp = [e for e in (agent.errors if agent else []) if "dhcp" in e.message.lower()]
    rows = ["endpoint", *(["guest-agent"] if dhcp and run.open("guest-agent") else [])]
    first = static[0]
    cause = run.cause(
        f"{first.interface} has a static address ({first.tool}, {first.source}) and nothing "
        f"tells the guest agent where WireServer is (no DHCP lease with option 245, no cached "
        f"endpoint, no /32 route to {run.target}): its own DHCP request goes unanswered, so it "
        "stays Not Ready.",
        row.fix or "Configure the primary NIC by DHCP.",
        rows,
        [f"address configuration: {c.describe()}" for c in static]
        + [f"guest agent log: {e.to_text()}" for e in dhcp[-2:]],
    )
    return [Found(cause, 62)]


def pods_blocked(run: RunView) -> list[Found]:
    """The VM forwards for containers or pods, and a FORWARD-path rule (not AKS's own)
    drops their traffic to the platform: the VM's own probes pass, the pods' do not."""
    firewall = run.facts("firewall", k.FIREWALL)
    row = run.get("firewall")
    if firewall is None or row is None or not firewall.foreign_pod_blocks:
        return []
    if not run.open("firewall"):
        return []
    block = firewall.foreign_pod_blocks[0]
    rule = block.rule
    extra = [f"forwarding: {firewall.forwarding.describe()}"] if firewall.forwarding else []
    extra += [
        f"also: `{b.rule.text}` ({b.rule.table}/{b.rule.chain})" for b in firewall.pod_blocks[1:]
    ]
    cause = run.cause(
        f"Containers or pods behind this VM cannot reach {block.text()}: "
        f"{rule.source} rule `{rule.text}` ({rule.table}/{rule.chain}) drops their forwarded "
        "traffic; the VM's own traffic passes.",
        row.fix or f"Remove it: `{rule.remove}`.",
        ["firewall"],
        extra,
    )
    return [Found(cause, 38)]


def _in_error(run: RunView, check_id: str) -> bool:
    result = run.get(check_id)
    return result is not None and result.status is Status.ERROR


def endpoint(run: RunView) -> list[Found]:
    row = run.get("endpoint")
    facts = run.facts("endpoint", k.ENDPOINT)
    if row is None or not run.open("endpoint"):
        return []
    differs = facts is not None and facts.agent_would_use != facts.target
    cause = run.cause(f"{sentence(row.finding)}.", row.fix or "See the endpoint row.", ["endpoint"])
    return [Found(cause, 60 if differs else 15)]


RULES: tuple[Rule, ...] = (
    counted_local_rules,  # first: a probe a named rule counted is that rule's, root or not
    agent_firewall_as_root,
    non_root_agent_firewall,
    suspect_local_rules,
    blocked_locally,
    conntrack_full,
    wrong_source,
    wrong_nic,
    proxy_agent_refused,
    wireserver_errors,
    path_hops,
    upstream,
    dns_transport,
    static_address,
    pods_blocked,
    endpoint,
)
