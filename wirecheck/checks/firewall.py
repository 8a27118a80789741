"""firewall: local rules that touch the platform address or its ports, and the one whose
counter rose while a probe failed.

The "before" snapshot is taken by the runner's prepare hook, before any probe sends a
packet; the "after" one once the probes are done. A blocking rule that counted packets
in between, for a probe that failed, is named with the command that removes it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import CheckResult, RunConfig, Status
from wirecheck.platform.firewall.assess import (
    agent_firewall,
    counter_increase,
    is_agent_rule,
    jumps_into,
    mentions,
    reachable_chains,
    touches_path,
)
from wirecheck.platform.firewall.model import Rule, Snapshot
from wirecheck.platform.firewall.reader import read_snapshot
from wirecheck.platform.windows import parse_firewall_rules

# The traffic each probe sends: (address: "target" | "imds", protocol, port name in Ports).
PROBE_TRAFFIC: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "tcp-80": (("target", "tcp", "http"),),
    "tcp-32526": (("target", "tcp", "host_plugin"),),
    "wire-versions": (("target", "tcp", "http"),),
    "dns-udp": (("target", "udp", "dns"),),
    "dns-tcp": (("target", "tcp", "dns"),),
    "dns-reverse": (("target", "udp", "dns"), ("target", "tcp", "dns")),
    "trace-80": (("target", "tcp", "http"),),
    "trace-32526": (("target", "tcp", "host_plugin"),),
    "egress-nic": (("target", "tcp", "http"),),
    "imds": (("imds", "tcp", "imds"),),
}
# Reading the rules again takes tens of milliseconds; keep this much of the deadline for it.
AFTER_RESERVE_S = 0.25
# A probe that times out reports at the deadline, after the second reading: its result is
# awaited this much past the deadline (well within the runner's grace).
RESULT_GRACE_S = 0.15
MAX_RULES_SHOWN = 40
PERSISTENCE = (
    "/etc/iptables/rules.v4, /etc/sysconfig/iptables, /etc/nftables.conf, firewalld, ufw or "
    "the cloud-init/configuration tool that adds it"
)


@dataclass(frozen=True)
class Flow:
    check_id: str
    address: str
    protocol: str
    port: int


def flows(config: RunConfig) -> list[Flow]:
    addresses = {"target": config.target, "imds": config.imds_address}
    return [
        Flow(check_id, addresses[where], protocol, getattr(config.ports, port))
        for check_id, traffic in PROBE_TRAFFIC.items()
        for where, protocol, port in traffic
    ]


def prepare_firewall(ctx: CheckContext, platform_name: str = sys.platform) -> Snapshot | None:
    """The "before" snapshot (Linux; Windows Firewall keeps no per-rule counters)."""
    if platform_name == "win32":
        return None
    return read_snapshot(ctx.system, ctx.deadline.remaining())


def run_firewall(ctx: CheckContext, platform_name: str = sys.platform) -> Outcome:
    before = ctx.prepared.get("firewall")
    _wait_for_probes(ctx, AFTER_RESERVE_S)
    if platform_name == "win32":
        return _windows(ctx)
    after = read_snapshot(ctx.system, max(ctx.deadline.remaining(), 0.1))
    results = _wait_for_probes(ctx, -RESULT_GRACE_S)
    failed = {i for i, r in results.items() if r.status not in (Status.OK, Status.SKIP)}
    earlier = before if isinstance(before, Snapshot) and before.readable else None
    return assess(earlier, after, flows(ctx.config), failed, set(results), ctx.config.target)


def _windows(ctx: CheckContext) -> Outcome:
    done = ctx.system.run_command(
        ["netsh", "advfirewall", "firewall", "show", "rule", "name=all", "verbose"],
        max(ctx.deadline.remaining(), 0.1),
    )
    if not done.ok:
        why = done.error or done.stderr.strip() or f"exit status {done.returncode}"
        return Outcome(Status.SKIP, f"could not read the Windows Firewall rules: {why}")
    after = Snapshot(tuple(parse_firewall_rules(done.stdout)), ("netsh advfirewall",))
    results = _wait_for_probes(ctx, -RESULT_GRACE_S)
    failed = {i for i, r in results.items() if r.status not in (Status.OK, Status.SKIP)}
    return assess(None, after, flows(ctx.config), failed, set(results), ctx.config.target)


def _wait_for_probes(ctx: CheckContext, reserve_s: float) -> dict[str, CheckResult]:
    """The probes' results, waiting at most until `reserve_s` before the deadline (a
    negative reserve waits past it)."""
    until = time.monotonic() + ctx.deadline.remaining() - reserve_s
    results: dict[str, CheckResult] = {}
    for check_id in PROBE_TRAFFIC:
        if check_id in ctx.planned:
            result = ctx.board.wait(check_id, max(0.0, until - time.monotonic()))
            if result is not None:
                results[check_id] = result
    return results


def assess(
    before: Snapshot | None,
    after: Snapshot,
    traffic: Sequence[Flow],
    failed: set[str],
    ran: set[str],
    target: str,
) -> Outcome:
    """The verdict from two snapshots and the probes' results. Pure."""
    if not after.readable:
        return Outcome(
            Status.SKIP,
            "no firewall rules could be read: " + ("; ".join(after.notes) or "no tool found"),
            {"notes": list(after.notes)},
            fix="Run as root to read iptables/nft rules and their counters.",
        )
    rose = {c.rule.key: c.packets for c in counter_increase(before, after)} if before else {}
    evidence: dict[str, object] = {
        "read": list(after.sources),
        "counters": "before and after the probes"
        if before
        else "after the probes only (no snapshot before them): rules are not tied to probes",
        "agent_firewall": agent_firewall(after.rules, target),
    }
    if after.notes:
        evidence["notes"] = list(after.notes)
    found = _sort_rules(after, before is not None, rose, traffic, failed, ran, target)
    shown, culprits, suspects, agent_counted = (
        found.shown,
        found.culprits,
        found.suspects,
        found.agent_counted,
    )
    evidence["rules"] = shown[:MAX_RULES_SHOWN]
    if len(shown) > MAX_RULES_SHOWN:
        evidence["rules_not_shown"] = len(shown) - MAX_RULES_SHOWN
    evidence["counted"] = [
        _counted_dict(rule, delta, hit, agent=False) for rule, delta, hit in culprits
    ] + [_counted_dict(rule, delta, hit, agent=True) for rule, delta, hit in agent_counted]
    if culprits:
        rule, delta, hit = culprits[0]
        others = f" (and {len(culprits) - 1} more, see evidence)" if len(culprits) > 1 else ""
        return Outcome(
            Status.FAIL,
            f"{_name(rule)} counted {delta} packet{'s' if delta != 1 else ''} during the probes "
            f"while {', '.join(hit)} failed{others}",
            evidence,
            fix=_remove_fix(rule),
        )
    if suspects:
        evidence["suspects"] = [
            {"rule": r.text, "table": r.table, "chain": r.chain, "probes": hit}
            for r, hit in suspects
        ]
        rule, hit = suspects[0]
        windows = rule.source == "windows"
        why = f"and {', '.join(hit)} failed" if hit else "(the probes it matches did not run here)"
        if windows and hit:
            # Windows Firewall: a matching enabled block rule wins over any allow rule.
            return Outcome(
                Status.FAIL, f"{_name(rule)} blocks this traffic {why}", evidence, _remove_fix(rule)
            )
        if not hit:
            proof = ""
        elif rule.packets is None:
            proof = " (it keeps no counter to prove it)"
        else:
            proof = " (no counter snapshot from before the probes to prove it)"
        return Outcome(
            Status.WARN,
            f"{_name(rule)} can drop traffic to {target} {why}{proof}",
            evidence,
            fix=_remove_fix(rule),
        )
    agent_rules = evidence["agent_firewall"]
    if agent_counted:
        rule, delta, hit = agent_counted[0]
        finding = (
            f"the guest agent's own rule dropped {delta} packet(s) of {', '.join(hit)}: "
            "expected for a non-root user (see privileges)"
        )
    elif agent_rules and all(r["agent"] for r in shown):
        finding = f"only the guest agent's own rules touch {target} (expected): {agent_rules}"
    elif shown:
        foreign = sum(not r["agent"] for r in shown)
        expected = "the guest agent's own rules (expected) and " if agent_rules else ""
        finding = f"{expected}{foreign} rule(s) touch {target} or its ports; none blocked a probe"
    else:
        finding = f"no local rule touches {target} or its ports"
    return Outcome(Status.OK, finding, evidence)


@dataclass
class _Sorted:
    """The rules that touch the probes' traffic, sorted by what they did to it."""

    shown: list[dict[str, object]] = field(default_factory=list)
    culprits: list[tuple[Rule, int, list[str]]] = field(default_factory=list)
    suspects: list[tuple[Rule, list[str]]] = field(default_factory=list)
    agent_counted: list[tuple[Rule, int, list[str]]] = field(default_factory=list)


def _sort_rules(
    after: Snapshot,
    counted: bool,
    rose: Mapping[str, int],
    traffic: Sequence[Flow],
    failed: set[str],
    ran: set[str],
    target: str,
) -> _Sorted:
    """culprits: foreign blocking rules that counted packets while a probe they match
    failed; suspects: ones that may have, with no counter to tell (or whose probes did not
    run); agent_counted: the guest agent's own rule doing its job."""
    directions = reachable_chains(after.rules, after.hooks)
    callers = jumps_into(after.rules)
    found = _Sorted()
    for rule in after.rules:
        probes = _touched(rule, directions.get(f"{rule.table} {rule.chain}"), callers, traffic)
        if not probes:
            continue
        agent = is_agent_rule(rule, target)
        delta = rose.get(rule.key, 0)
        found.shown.append(_rule_dict(rule, agent, probes, delta if counted else None))
        if not rule.blocking:
            continue
        hit = [p for p in probes if p in failed]
        if agent:
            if delta and hit:
                found.agent_counted.append((rule, delta, hit))
        elif delta and hit:
            found.culprits.append((rule, delta, hit))
        elif hit and (not counted or rule.packets is None):
            found.suspects.append((rule, hit))
        elif not set(probes) & ran and not rule.policy:
            found.suspects.append((rule, []))
    return found


def _touched(
    rule: Rule,
    direction: str | None,
    callers: Mapping[str, Sequence[Rule]],
    traffic: Iterable[Flow],
) -> list[str]:
    """The probes whose packets this rule can match (outgoing, or their replies)."""
    if direction is None:
        return []  # a chain no local traffic reaches (FORWARD, an unused user chain)
    found = []
    for flow in traffic:
        named = mentions(rule, flow.address, (flow.port,))
        out = direction in ("out", "both") and (
            touches_path(rule, callers, flow.address, flow.protocol, flow.port, "out")
            and (named or (rule.blocking and not rule.match.unknown))
        )
        back = direction in ("in", "both") and (
            named
            and not rule.policy
            and touches_path(rule, callers, flow.address, flow.protocol, flow.port, "in")
        )
        if out or back:
            found.append(flow.check_id)
    return list(dict.fromkeys(found))


def _name(rule: Rule) -> str:
    where = f"{rule.table}/{rule.chain}"
    kind = {"windows": "Windows Firewall rule", "firewalld": "firewalld direct rule"}.get(
        rule.source, f"{rule.source} rule"
    )
    if rule.policy:
        return f"the {where} chain's default policy ({rule.verdict})"
    return f"{kind} `{rule.text}` ({where})"


def _remove_fix(rule: Rule) -> str:
    if rule.policy:
        return (
            f"Allow the platform before the default policy drops it, or change it: "
            f"`{rule.remove}`; make it permanent in {PERSISTENCE}."
        )
    if rule.source == "windows":
        return f"Disable or delete the rule: `{rule.remove}` (or Group Policy, if it sets it)."
    return f"Remove it: `{rule.remove}`; and from where it is restored at boot ({PERSISTENCE})."


def _rule_dict(rule: Rule, agent: bool, probes: list[str], delta: int | None) -> dict[str, object]:
    shown: dict[str, object] = {
        "source": rule.source,
        "table": rule.table,
        "chain": rule.chain,
        "rule": rule.text,
        "verdict": rule.verdict,
        "packets": rule.packets,
        "agent": agent,
        "probes": probes,
    }
    if delta is not None and rule.packets is not None:
        shown["packets_during_probes"] = delta
    return shown


def _counted_dict(rule: Rule, delta: int, hit: list[str], agent: bool) -> dict[str, object]:
    return {
        "source": rule.source,
        "table": rule.table,
        "chain": rule.chain,
        "rule": rule.text,
        "verdict": rule.verdict,
        "packets_during_probes": delta,
        "probes": hit,
        "agent": agent,
        "remove": rule.remove,
    }


FIREWALL = CheckSpec(
    "firewall",
    "Local firewall rules for the platform address",
    run_firewall,
    explain="""\
Reads every local rule that can touch the target or its ports: iptables in all tables
(including `security`, where the guest agent puts its rules) with packet counters
(`iptables-save -c`, or `iptables -L -nxv`), nftables (`nft -j list ruleset`), firewalld
direct rules; on Windows, Windows Firewall rules. The counters are read before the first
probe and again after the probes, so a blocking rule that counted packets while a probe
failed is named, with the command that removes it.
The guest agent's own rules (security/OUTPUT: accept TCP 53, accept uid 0, drop NEW and
INVALID; or the nftables table `walinuxagent`) are recognised and expected.
- ok: no rule touches the target, only the agent's rules do, or none blocked a probe.
- warn: a blocking rule matches the target or a probed port but has no counter to prove
  it dropped a probe (or its probe did not run).
- fail: a blocking rule counted packets during the probes while the probe it matches
  failed (Windows: an enabled block rule matches a failed probe).
- skip: no rule could be read (not root, or neither iptables nor nft installed).
Fix: remove the rule (the command is in the fix line) and from where it is restored at boot.""",
    context=True,
    prepare=prepare_firewall,
)
