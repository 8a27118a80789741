"""Read all results together and say what is most likely wrong, most likely first. Pure.

Each rule below looks for one cause across the rows (a probe's outcome plus the context
that explains it) and claims the rows it explains, so a later rule sees only rows not yet
explained. Causes are then ranked by weight (how likely, and how directly the evidence
proves them); rows no rule explains still get a cause of their own, so nothing red goes
unmentioned. A run with nothing wrong says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wirecheck.model import Cause, CheckResult, Status

NO_PROBLEM = Cause(
    summary="No problem found: this VM can talk to the platform.",
    fix="Nothing to do.",
)

TCP_PROBES = ("tcp-80", "tcp-32526")
TRACES = {"tcp-80": "trace-80", "tcp-32526": "trace-32526"}
DNS_PROBES = ("dns-udp", "dns-tcp")
_BAD = (Status.FAIL, Status.ERROR, Status.WARN)
_OUTCOME_WORDS = {
    "timeout": "times out",
    "refused": "is refused",
    "blocked": "is blocked locally (EPERM)",
    "unreachable": "is unreachable",
    "bad-response": "gets a malformed answer",
    "error": "fails",
}
_MAX_EVIDENCE = 200  # characters per evidence line


@dataclass(frozen=True)
class _Found:
    cause: Cause
    weight: int


class _Run:
    """The results by id, and which rows a cause has explained so far."""

    def __init__(self, results: Sequence[CheckResult]) -> None:
        self.by_id = {r.check_id: r for r in results}
        self.claimed: set[str] = set()

    def get(self, check_id: str) -> CheckResult | None:
        return self.by_id.get(check_id)

    def ev(self, check_id: str, key: str) -> Any:
        result = self.by_id.get(check_id)
        return result.evidence.get(key) if result else None

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
        value = self.ev(check_id, "outcome")
        return str(value) if self.failed(check_id) and value else None

    @property
    def target(self) -> str:
        for result in self.by_id.values():
            value = result.evidence.get("target")
            if isinstance(value, str) and value:
                return value.split(":", 1)[0]
        return "the platform address"


def diagnose(results: Sequence[CheckResult]) -> tuple[Cause, ...]:
    """Ranked causes, each with its evidence and one fix; NO_PROBLEM when nothing is wrong."""
    run = _Run(results)
    found: list[_Found] = []
    for rule in _RULES:
        found += rule(run)
    for result in results:  # every row still unexplained gets its own line
        if run.open(result.check_id):
            found.append(_Found(_row_cause(result), _fallback_weight(result)))
            run.claimed.add(result.check_id)
    if not found:
        return (NO_PROBLEM,)
    ranked = sorted(enumerate(found), key=lambda item: (-item[1].weight, item[0]))
    return tuple(f.cause for _, f in ranked)


# ---------------------------------------------------------------------------------------
# Helpers


def _line(result: CheckResult) -> str:
    text = f"{result.check_id}: {result.status.value}: {result.finding}"
    return text if len(text) <= _MAX_EVIDENCE else text[: _MAX_EVIDENCE - 1] + "…"


def _port(run: _Run, check_id: str) -> str:
    target = run.ev(check_id, "target")
    if isinstance(target, str) and ":" in target:
        return target.rsplit(":", 1)[1]
    return check_id.rsplit("-", 1)[-1]


def _tcp_failures(run: _Run, outcomes: Iterable[str]) -> list[str]:
    wanted = set(outcomes)
    return [p for p in TCP_PROBES if run.open(p) and run.outcome(p) in wanted]


def _ports_text(run: _Run, probes: Sequence[str]) -> str:
    ports = [_port(run, p) for p in probes]
    return "TCP " + " and ".join(ports)


def _verb(probes: Sequence[str], outcome: str) -> str:
    word = _OUTCOME_WORDS.get(outcome, "fails")
    if len(probes) > 1:  # "times out" -> "time out", "is refused" -> "are refused"
        word = word.replace("times out", "time out").replace("is ", "are ", 1)
    return word


def _wire_connect_failed(run: _Run) -> bool:
    """wire-versions failed before any HTTP (its evidence then has no status or detail)."""
    wire = run.get("wire-versions")
    if wire is None or not run.failed("wire-versions"):
        return False
    return "http_status" not in wire.evidence and "detail" not in wire.evidence


def _follow_ons(run: _Run, probes: Sequence[str]) -> list[str]:
    """Rows that fail for the same reason as these TCP probes: their traces, wire-versions."""
    extra = [TRACES[p] for p in probes if run.bad(TRACES[p])]
    if "tcp-80" in probes and _wire_connect_failed(run):
        extra.append("wire-versions")
    return extra


def _claim(run: _Run, checks: Iterable[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(c for c in checks if c in run.by_id))
    run.claimed.update(ids)
    return ids


def _cause(
    run: _Run,
    summary: str,
    fix: str,
    checks: Iterable[str],
    extra: Iterable[str] = (),
    quiet: Iterable[str] = (),
) -> Cause:
    """A cause that explains `checks` (their rows are its evidence, with `extra`) and
    `quiet` (rows it also explains whose own finding is about something else)."""
    ids = _claim(run, checks)
    evidence = [_line(run.by_id[c]) for c in ids] + [e for e in extra if e]
    return Cause(summary, fix, tuple(dict.fromkeys(evidence)), ids + _claim(run, quiet))


# ---------------------------------------------------------------------------------------
# The rules, strongest evidence first (a later rule sees only rows not yet explained)


def _non_root_agent_firewall(run: _Run) -> list[_Found]:
    if run.ev("privileges", "root") is not False:
        return []
    timeouts = _tcp_failures(run, ["timeout"])
    if not timeouts:
        return []
    counted = run.ev("firewall", "counted") or []
    agent_counted = [c for c in counted if isinstance(c, Mapping) and c.get("agent")]
    agent_rules = run.ev("firewall", "agent_firewall")
    state = run.ev("privileges", "agent_firewall")
    # The agent firewall's signature: TCP to the platform is dropped, except to port 53.
    signature = run.ok("dns-tcp")
    known = state == "enabled" or agent_rules or agent_counted
    if state == "disabled" or not (known or signature):
        return []
    user = run.ev("privileges", "user")
    proof = [f"privileges: not root{f' (user {user})' if user else ''}"]
    if known:
        source = agent_rules or run.ev("privileges", "agent_firewall_source")
        proof.append(f"guest agent firewall: {source}")
    proof += [
        f"its rule `{c.get('rule')}` counted {c.get('packets_during_probes')}"
        for c in agent_counted
    ]
    if signature:
        proof.append(
            "dns-tcp: ok: TCP to the same address works on port 53 only, as the agent's "
            "firewall allows"
        )
    target = run.target
    how = "" if known else "most likely "
    cause = _cause(
        run,
        f"{_ports_text(run, timeouts)} {_verb(timeouts, 'timeout')} because you are not root: "
        f"{how}the guest agent's firewall drops TCP to {target} from non-root users. This is "
        "expected and says nothing about the network.",
        "Run as root: `sudo wirecheck`.",
        [*timeouts, *_follow_ons(run, timeouts), "privileges"],
        proof,
    )
    return [_Found(cause, 100 if known else 90)]


def _counted_local_rules(run: _Run) -> list[_Found]:
    counted = run.ev("firewall", "counted") or []
    found = []
    for item in counted:
        if not isinstance(item, Mapping) or item.get("agent") or not item.get("probes"):
            continue
        probes = [str(p) for p in item["probes"]]
        failing = ", ".join(_probe_text(run, p) for p in probes if p in _PROBE_NAMES)
        n = item.get("packets_during_probes")
        where = f"{item.get('table')}/{item.get('chain')}"
        rule = f"{item.get('source')} rule `{item.get('rule')}` ({where})"
        cause = _cause(
            run,
            f"{failing or ', '.join(probes) + ' fail'}: {rule} counted {n} packet(s) during the "
            "probes: remove it.",
            f"Remove it: `{item.get('remove')}`; and from where it is restored at boot "
            "(/etc/iptables/rules.v4, /etc/nftables.conf, firewalld, ufw, configuration tools).",
            probes,
            [f"firewall: {rule} counted {n} packet(s) while {', '.join(probes)} failed"],
            quiet=["firewall"],
        )
        found.append(_Found(cause, 95))
    return found


def _suspect_local_rules(run: _Run) -> list[_Found]:
    """Windows (no counters) and rules without counters: a matching blocking rule."""
    firewall = run.get("firewall")
    suspects = run.ev("firewall", "suspects") or []
    if firewall is None or firewall.status not in (Status.FAIL, Status.WARN) or not suspects:
        return []
    first = suspects[0] if isinstance(suspects[0], Mapping) else {}
    probes = [str(p) for p in first.get("probes") or []]
    if not probes or not any(run.bad(p) for p in probes):
        return []
    cause = _cause(
        run,
        f"{', '.join(_probe_text(run, p) for p in probes if run.bad(p))}: {firewall.finding}.",
        firewall.fix or "Remove the rule named in the firewall row.",
        [*probes, "firewall"],
    )
    return [_Found(cause, 90 if firewall.status is Status.FAIL else 80)]


def _blocked_locally(run: _Run) -> list[_Found]:
    blocked = [p for p in (*TCP_PROBES, *DNS_PROBES) if run.open(p) and run.outcome(p) == "blocked"]
    if not blocked:
        return []
    target = run.target
    firewall = run.get("firewall")
    readable = firewall is not None and firewall.status is not Status.SKIP
    hint = "" if readable else " Run as root so wirecheck can read the rules and name it."
    cause = _cause(
        run,
        f"{', '.join(_probe_text(run, p) for p in blocked)}: the kernel refused to send, so "
        "a local firewall rule forbids it.",
        f"Find and remove the rule: `iptables-save -c | grep {target}` and `nft list ruleset`."
        + hint,
        [*blocked, *_follow_ons(run, [p for p in blocked if p in TCP_PROBES])],
    )
    return [_Found(cause, 90)]


def _wrong_nic(run: _Run) -> list[_Found]:
    egress = run.get("egress-nic")
    if egress is None or egress.status not in (Status.FAIL, Status.WARN):
        return []
    if egress.status is Status.WARN:
        cause = _cause(
            run,
            f"The primary NIC is uncertain: {egress.finding}.",
            egress.fix or "See the egress-nic row.",
            ["egress-nic"],
        )
        return [_Found(cause, 35)]
    leaves = run.ev("egress-nic", "leaves_by")
    primary = run.ev("egress-nic", "primary_nic")
    lost = ["timeout", "unreachable", "refused"]
    affected = _tcp_failures(run, lost)
    dns = [p for p in DNS_PROBES if run.open(p) and run.outcome(p) in lost]
    consequence = []
    if affected:
        consequence.append(
            f"{_ports_text(run, affected)} {_verb(affected, run.outcome(affected[0]) or '')}"
        )
    if dns:
        consequence.append("DNS fails" if len(dns) > 1 else f"{_probe_text(run, dns[0])}")
    why = f"; that is why {' and '.join(consequence)}" if consequence else ""
    reverse = (
        ["dns-reverse"] if dns and run.open("dns-reverse") and run.failed("dns-reverse") else []
    )
    lines = run.ev("egress-nic", "route_lines_at_fault") or []
    cause = _cause(
        run,
        f"Traffic to {run.target} leaves by {leaves or 'another NIC'}, not by the primary NIC "
        f"{primary or '?'}{why}: the platform answers only on the primary NIC.",
        egress.fix or "Route the platform address via the primary NIC.",
        ["egress-nic", *affected, *_follow_ons(run, affected), *dns, *reverse],
        [f"route at fault: {line}" for line in lines],
    )
    return [_Found(cause, 85)]


def _wireserver_errors(run: _Run) -> list[_Found]:
    wire = run.get("wire-versions")
    if wire is None or not run.open("wire-versions") or _wire_connect_failed(run):
        return []
    status = wire.evidence.get("http_status")
    elapsed = wire.evidence.get("elapsed_ms")
    if wire.evidence.get("outcome") == "timeout":
        summary = (
            f"WireServer is slow: the connection works but no complete answer to ?comp=versions "
            f"came within the deadline ({elapsed} ms)."
        )
    elif isinstance(status, int) and status != 200:
        summary = (
            f"WireServer answers ?comp=versions with HTTP {status}: the connection works, "
            "the answer is an error."
        )
    elif wire.evidence.get("outcome") == "bad-response":
        summary = (
            "What answers on port 80 does not speak valid HTTP: something other than "
            "WireServer answers for the platform address."
        )
    else:
        summary = f"WireServer's answer to ?comp=versions is not usable: {wire.finding}."
    extra = []
    if wire.evidence.get("guest_proxy_agent_header"):
        extra.append(
            "the reply carries x-ms-azure-host-authorization: it came through the "
            "GuestProxyAgent's local listener"
        )
    fix = wire.fix or "Open a support case with `wirecheck bundle`."
    if run.ok("trace-80"):
        fix = (
            "The path is direct (trace-80 ok), so the host's WireServer misbehaves: retry in a "
            "few minutes, then open a support case with `wirecheck bundle`."
        )
    cause = _cause(run, summary, fix, ["wire-versions"], extra)
    return [_Found(cause, 80)]


def _path_hops(run: _Run) -> list[_Found]:
    found = []
    extra_hops: list[tuple[str, str, list[str]]] = []  # (trace, "hop 1 a.b.c.d", failing)
    for probe, trace in TRACES.items():
        result = run.get(trace)
        if result is None or not run.open(trace):
            continue
        hops = [h for h in result.evidence.get("hops") or [] if isinstance(h, Mapping)]
        routers = [h for h in hops if h.get("kind") == "router" and h.get("address")]
        reached = any(h.get("kind") == "target" for h in hops)
        if result.status is Status.WARN and reached:
            between = ", ".join(f"hop {h.get('ttl')} {h.get('address')}" for h in routers)
            extra_hops.append(
                (trace, between or "a silent hop", [probe] if run.open(probe) else [])
            )
        elif result.status is Status.FAIL and routers and run.open(probe):
            last = routers[-1]
            wire = ["wire-versions"] if probe == "tcp-80" and _wire_connect_failed(run) else []
            cause = _cause(
                run,
                f"{_probe_text(run, probe)}: packets get past hop {last.get('ttl')} "
                f"({last.get('address')}) and are dropped after it: an appliance or a route in "
                "the path, not the platform.",
                result.fix or "Remove the appliance or route from the path to the platform.",
                [probe, trace, *wire],
            )
            found.append(_Found(cause, 75))
    if extra_hops:
        traces = [t for t, _, _ in extra_hops]
        ports = ("ports " if len(traces) > 1 else "port ") + " and ".join(
            _port(run, t) for t in traces
        )
        between = "; ".join(dict.fromkeys(b for _, b, _ in extra_hops))
        failing = [p for _, _, probes in extra_hops for p in probes]
        first = run.get(traces[0])
        cause = _cause(
            run,
            f"An extra hop is in the path to {run.target} ({ports}): {between} before the "
            "target; on Azure it is one hop away (an appliance or a wrong route).",
            (first.fix if first else None)
            or "Remove the route or UDR that sends the platform address there.",
            [*traces, *failing],
        )
        found.append(_Found(cause, 75 if failing else 45))
    return found


def _upstream(run: _Run) -> list[_Found]:
    found = []
    for outcome, weight in (("timeout", 70), ("refused", 70), ("unreachable", 70)):
        probes = _tcp_failures(run, [outcome])
        if not probes:
            continue
        target = run.target
        extra = []
        firewall = run.get("firewall")
        if firewall is not None and firewall.status is not Status.SKIP:
            extra.append(f"firewall: no local rule counted these packets ({firewall.finding})")
        elif firewall is not None:
            extra.append(f"firewall: local rules not read ({firewall.finding})")
        if run.ev("privileges", "root") is False:
            extra.append("privileges: not root, but the guest agent's firewall is not enabled")
        if outcome == "timeout":
            summary = (
                f"{_ports_text(run, probes)} {_verb(probes, outcome)} and no local rule counted "
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
                f"{_ports_text(run, probes)} {_verb(probes, outcome)}: something answers with a "
                "reset or port-unreachable instead of the platform (a REJECT rule or an "
                "appliance in the path)."
            )
            fix = (
                f"Find what rejects it: `iptables-save -c | grep {target}`, `nft list ruleset`, "
                "then the appliance or firewall in the path (the trace rows)."
            )
        else:
            summary = (
                f"{_ports_text(run, probes)} {_verb(probes, outcome)}: there is no usable "
                f"route to {target}."
            )
            fix = (
                f"`ip route get {target}` must leave by the primary NIC's gateway: renew DHCP on "
                "the primary NIC or restore the /32 route."
            )
        cause = _cause(run, summary, fix, [*probes, *_follow_ons(run, probes)], extra)
        found.append(_Found(cause, weight))
    return found


def _dns_transport(run: _Run) -> list[_Found]:
    broken = [p for p in DNS_PROBES if run.failed(p)]
    unexplained = [p for p in broken if run.open(p)]
    if not unexplained:
        return []
    target = run.target
    reverse = ["dns-reverse"] if run.open("dns-reverse") and run.failed("dns-reverse") else []
    names = {"dns-udp": "UDP", "dns-tcp": "TCP"}
    if len(unexplained) == 2:
        summary = (
            f"DNS to {target} fails over UDP and TCP ({run.outcome('dns-udp')}, "
            f"{run.outcome('dns-tcp')}): the platform resolver cannot be reached."
        )
        fix = (
            f"Allow UDP and TCP 53 to {target}: look for a rule (`iptables-save -c | grep 53`, "
            "`nft list ruleset`), a DNS proxy or an appliance in the path."
        )
    else:
        (probe,) = unexplained
        transport = names[probe]
        word = _OUTCOME_WORDS.get(run.outcome(probe) or "", "fails")
        other = "UDP" if transport == "TCP" else "TCP"
        works = f" while {other} works" if run.ok(f"dns-{other.lower()}") else ""
        summary = (
            f"DNS over {transport} 53 to {target} {word}{works}: {transport} port 53 is "
            "blocked or dropped on the way."
        )
        fix = (
            f"Allow {transport} port 53 to {target}: `iptables-save -c | grep -e {target} -e "
            f"'dport 53'` and `nft list ruleset` name the rule; then an NSG or appliance."
        )
    return [_Found(_cause(run, summary, fix, [*unexplained, *reverse]), 65)]


def _endpoint(run: _Run) -> list[_Found]:
    endpoint = run.get("endpoint")
    if endpoint is None or not run.open("endpoint"):
        return []
    used = run.ev("endpoint", "agent_would_use")
    target = run.ev("endpoint", "target") or run.target
    differs = isinstance(used, str) and used != target
    summary = f"{_sentence(endpoint.finding)}."
    cause = _cause(run, summary, endpoint.fix or "See the endpoint row.", ["endpoint"])
    return [_Found(cause, 60 if differs else 15)]


def _from_row(check_id: str, weight: int, prefix: str) -> Callable[[_Run], list[_Found]]:
    """A rule that turns one context row's warning into a cause, in that row's words."""

    def rule(run: _Run) -> list[_Found]:
        result = run.get(check_id)
        if result is None or not run.open(check_id):
            return []
        finding = result.finding if prefix else _sentence(result.finding)
        cause = _cause(run, f"{prefix}{finding}.", result.fix or "See the row.", [check_id])
        return [_Found(cause, weight)]

    return rule


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


_PROBE_NAMES = {
    "tcp-80": "TCP 80",
    "tcp-32526": "TCP 32526",
    "wire-versions": "GET ?comp=versions",
    "dns-udp": "DNS over UDP",
    "dns-tcp": "DNS over TCP",
    "imds": "IMDS",
}


def _probe_text(run: _Run, check_id: str) -> str:
    """`TCP 80 times out`, `DNS over UDP is blocked locally (EPERM)`, ..."""
    outcome = str(run.ev(check_id, "outcome") or "") if run.bad(check_id) else ""
    word = _OUTCOME_WORDS.get(outcome, "fails")
    if check_id in TCP_PROBES:
        return f"TCP {_port(run, check_id)} {word}"
    return f"{_PROBE_NAMES.get(check_id, check_id)} {word}"


def _row_cause(result: CheckResult) -> Cause:
    return Cause(
        summary=f"{result.title}: {result.finding}",
        fix=result.fix or "See the row's evidence.",
        evidence=(_line(result),),
        checks=(result.check_id,),
    )


def _fallback_weight(result: CheckResult) -> int:
    return {Status.FAIL: 12, Status.ERROR: 11, Status.WARN: 10}.get(result.status, 0)


_RULES: tuple[Callable[[_Run], list[_Found]], ...] = (
    _counted_local_rules,  # first: a probe a named rule counted is that rule's, root or not
    _non_root_agent_firewall,
    _suspect_local_rules,
    _blocked_locally,
    _wrong_nic,
    _wireserver_errors,
    _path_hops,
    _upstream,
    _dns_transport,
    _endpoint,
    _from_row("proxy", 50, ""),
    _from_row("dns-reverse", 40, ""),
    _from_row("guest-agent", 30, "Guest agent: "),
    _from_row("imds", 20, ""),
)
