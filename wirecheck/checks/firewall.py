"""firewall: local rules that touch the platform address or its ports, and the one whose
counter rose while a probe failed.

The "before" snapshot is taken by the runner's prepare hook, before any probe sends a
packet; the "after" one once the probes are done. A blocking rule that counted packets
in between, for a probe that failed, is named with the command that removes it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Degradation, Outcome
from wirecheck.checks.catalogue import load_all
from wirecheck.checks.guest_agent import LinuxAgentFacts
from wirecheck.model import CheckResult, Facts, RunConfig, Status
from wirecheck.platform.firewall.agent_rules import AgentReview, review
from wirecheck.platform.firewall.assess import (
    FlowPaths,
    agent_firewall,
    counter_increase,
    is_agent_rule,
    mentions,
    reachable_chains,
)
from wirecheck.platform.firewall.forward import PodBlock, describe_flows, forward_blocks
from wirecheck.platform.firewall.model import Rule, Snapshot
from wirecheck.platform.firewall.reader import DEFERRED_TABLES, interest_of, read_snapshot
from wirecheck.platform.forwarding import Forwarding, read_forwarding
from wirecheck.platform.sources import Got
from wirecheck.platform.userns import root_outside
from wirecheck.system import System

# Reading the rules again takes tens of milliseconds; keep this much of the deadline for it,
# or, where the first reading took longer (a big node), that long again and a half.
AFTER_RESERVE_S = 0.25
# A probe that times out reports at the deadline, after the second reading: its result is
# awaited this much past the deadline (well within the runner's grace).
RESULT_GRACE_S = 0.15
MAX_RULES_SHOWN = 40
# Windows Firewall rules and WFP filters: a match with a failed probe is the block (no
# counters to prove it, and a block beats any allow).
WINDOWS_SOURCES = ("windows", "wfp")
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


def flows(specs: Iterable[CheckSpec], config: RunConfig) -> list[Flow]:
    """The traffic the checks send, as their specs declare it. Every check's, not only this
    run's: a rule that would drop a probe that did not run is still worth naming."""
    return [Flow(spec.id, *traffic.flow(config)) for spec in specs for traffic in spec.traffic]


@dataclass(frozen=True)
class RuleSeen:
    """A rule that can touch the probes' traffic, and what it did during the run."""

    rule: Rule
    agent: bool  # one of the guest agent's own rules
    probes: tuple[str, ...]  # the checks whose packets it can match
    packets_during_probes: int | None  # None: no "before" snapshot, or no counter

    def to_dict(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "source": self.rule.source,
            "table": self.rule.table,
            "chain": self.rule.chain,
            "rule": self.rule.text,
            "verdict": self.rule.verdict,
            "packets": self.rule.packets,
            "agent": self.agent,
            "probes": list(self.probes),
        }
        if self.packets_during_probes is not None:
            shown["packets_during_probes"] = self.packets_during_probes
        return shown


@dataclass(frozen=True)
class CountedRule:
    """A blocking rule whose counter rose while probes it matches failed."""

    rule: Rule
    packets: int
    probes: tuple[str, ...]  # the failed probes it matches
    agent: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.rule.source,
            "table": self.rule.table,
            "chain": self.rule.chain,
            "rule": self.rule.text,
            "verdict": self.rule.verdict,
            "packets_during_probes": self.packets,
            "probes": list(self.probes),
            "agent": self.agent,
            "remove": self.rule.remove,
        }


@dataclass(frozen=True)
class SuspectRule:
    """A blocking rule that may have dropped probes, with no counter to tell."""

    rule: Rule
    probes: tuple[str, ...]  # the failed probes it matches (empty: its probes did not run)


@dataclass(frozen=True)
class FirewallFacts(Facts):
    sources: tuple[str, ...]  # the commands and files read
    notes: tuple[str, ...] = ()  # what could not be read, and why
    readable: bool = True  # the rules in force were read
    counted_before: bool = False  # a snapshot from before the probes exists
    agent_firewall: str | None = None  # the guest agent's own rules found, described
    rules: tuple[RuleSeen, ...] = ()
    counted: tuple[CountedRule, ...] = ()  # foreign rules first, then the agent's
    suspects: tuple[SuspectRule, ...] = ()  # only when no rule was counted
    # Whether the probes ran as uid 0 to the kernel (None: not known, e.g. Windows); a root
    # inside a user namespace is not, and says so in `root_note`.
    root: bool | None = None
    root_note: str = ""
    agent_review: AgentReview | None = None  # the guest agent's rules against its version's
    # Whether this VM forwards for containers or pods, and the FORWARD-path rules that drop
    # their traffic to the platform (only looked for when it forwards).
    forwarding: Forwarding | None = None
    pod_blocks: tuple[PodBlock, ...] = ()
    incomplete: tuple[str, ...] = ()  # what was not read in full (time ran out)

    @property
    def foreign_pod_blocks(self) -> tuple[PodBlock, ...]:
        """Pod blocks that are not AKS's own (by design) rules."""
        return tuple(b for b in self.pod_blocks if not b.aks)

    @property
    def agent_dropped_root(self) -> bool:
        """As root, the agent's DROP counted while probes it matches failed, and no uid-0
        ACCEPT ahead of it did: the agent's own firewall dropped root's traffic."""
        review = self.agent_review
        return bool(self.root and self.agent_counted and review is not None and review.dropped_root)

    @property
    def culprits(self) -> tuple[CountedRule, ...]:
        return tuple(c for c in self.counted if not c.agent)

    @property
    def agent_counted(self) -> tuple[CountedRule, ...]:
        return tuple(c for c in self.counted if c.agent)

    def evidence(self) -> dict[str, Any]:
        if not self.readable:
            shown: dict[str, Any] = {"notes": list(self.notes)}
            if self.incomplete:
                shown["not_read_in_full"] = list(self.incomplete)
            return shown
        evidence: dict[str, Any] = {
            "read": list(self.sources),
            "counters": "before and after the probes"
            if self.counted_before
            else "after the probes only (no snapshot before them): rules are not tied to probes",
            "agent_firewall": self.agent_firewall,
        }
        if self.root is not None:
            evidence["probes_ran_as"] = "root" if self.root else "not root"
        if self.root_note:
            evidence["user_namespace"] = self.root_note
        if self.agent_review is not None:
            evidence["agent_rules"] = self.agent_review.to_dict()
        if self.forwarding is not None:
            evidence["forwarding"] = self.forwarding.describe()
        if self.pod_blocks:
            evidence["forwarded_traffic_dropped"] = [b.to_dict() for b in self.pod_blocks]
        if self.notes:
            evidence["notes"] = list(self.notes)
        if self.incomplete:
            evidence["not_read_in_full"] = list(self.incomplete)
        evidence["rules"] = [r.to_dict() for r in self.rules[:MAX_RULES_SHOWN]]
        if len(self.rules) > MAX_RULES_SHOWN:
            evidence["rules_not_shown"] = len(self.rules) - MAX_RULES_SHOWN
        evidence["counted"] = [c.to_dict() for c in self.counted]
        if self.suspects:
            evidence["suspects"] = [
                {
                    "rule": s.rule.text,
                    "table": s.rule.table,
                    "chain": s.rule.chain,
                    "probes": list(s.probes),
                }
                for s in self.suspects
            ]
        return evidence


def prepare_firewall(ctx: CheckContext) -> Snapshot | None:
    """The "before" snapshot (Linux; Windows Firewall keeps no per-rule counters)."""
    if ctx.system.windows:
        return None
    before = read_snapshot(
        ctx.system, ctx.deadline.remaining(), defer_nat=True, interest=interest_of(ctx.subject)
    )
    if before.deferred:
        ctx.start_facts(DEFERRED_TABLES)  # read once, while the probes run
    return before


def run_firewall(ctx: CheckContext) -> Outcome:
    if ctx.system.windows:
        return _windows(ctx)  # no counters: read while the probes run, then match
    before = ctx.prepared.get("firewall")
    took = before.read_s if isinstance(before, Snapshot) else 0.0
    # What does not change during the probes is read now, not in the last moments.
    situation = read_situation(ctx.system)
    traffic = flows(load_all(), ctx.config)
    # The second reading starts early enough for a big node: as long again as the first took.
    _wait_for_probes(ctx, max(AFTER_RESERVE_S, 1.5 * took + 0.1))
    after = read_snapshot(
        ctx.system,
        max(ctx.deadline.remaining(), 0.1),
        defer_nat=True,
        interest=interest_of(ctx.subject),
    )
    if after.deferred:
        after = with_deferred(after, ctx.fact(DEFERRED_TABLES))
    results = _wait_for_probes(ctx, -RESULT_GRACE_S)
    failed = {i for i, r in results.items() if r.status not in (Status.OK, Status.SKIP)}
    earlier = before if isinstance(before, Snapshot) and before.readable else None
    return assess(
        earlier,
        after,
        traffic,
        failed,
        set(results),
        ctx.config.target,
        root=situation.root,
        root_note=situation.root_note,
        agent_version=_agent_version(ctx),
        forwarding=situation.forwarding,
    )


@dataclass(frozen=True)
class Situation:
    """What judging the rules depends on besides the rules: whether the probes ran as uid 0
    to the kernel (the guest agent's rules let only uid 0 through; a root inside a user
    namespace is not, and `root_note` says so), and whether this VM forwards for pods."""

    root: bool
    root_note: str = ""
    forwarding: Forwarding | None = None


def read_situation(system: System) -> Situation:
    """The situation of a Linux run (a run's firewall row and watch's captures alike)."""
    root, note = root_outside(system) if system.is_root() else (False, "")
    return Situation(root, note, read_forwarding(system))


def _agent_version(ctx: CheckContext) -> str | None:
    """The guest agent's version, if its row is already done (it finishes within seconds;
    the firewall check runs until the probes are done): which rule set it installs."""
    result = ctx.board.get("guest-agent")
    facts = result.facts_as(LinuxAgentFacts) if result else None
    return facts.agent_version if facts else None


def with_deferred(after: Snapshot, deferred: Got[Snapshot]) -> Snapshot:
    """`after` with the tables it left out, read once (or, when they could not be, noted)."""
    found = deferred.value
    if found is None:
        return dataclasses.replace(after, incomplete=(*after.incomplete, deferred.why))
    return dataclasses.replace(
        after,
        rules=after.rules + found.rules,
        sources=after.sources + found.sources,
        notes=after.notes + found.notes,
        once=found.once,
        incomplete=after.incomplete + found.incomplete,
    )


def _windows(ctx: CheckContext) -> Outcome:
    from wirecheck.checks.firewall_windows import windows_snapshot  # Windows only

    traffic = flows(load_all(), ctx.config)
    after = windows_snapshot(ctx, [(f.address, f.protocol, f.port) for f in traffic])
    if isinstance(after, Outcome):
        return after
    results = _wait_for_probes(ctx, -RESULT_GRACE_S)
    failed = {i for i, r in results.items() if r.status not in (Status.OK, Status.SKIP)}
    return assess(None, after, traffic, failed, set(results), ctx.config.target)


def _wait_for_probes(ctx: CheckContext, reserve_s: float) -> dict[str, CheckResult]:
    """The probes' results, waiting at most until `reserve_s` before the deadline (a
    negative reserve waits past it)."""
    until = time.monotonic() + ctx.deadline.remaining() - reserve_s
    results: dict[str, CheckResult] = {}
    for spec in ctx.specs.values():
        if spec.traffic:
            result = ctx.board.wait(spec.id, max(0.0, until - time.monotonic()))
            if result is not None:
                results[spec.id] = result
    return results


def assess(
    before: Snapshot | None,
    after: Snapshot,
    traffic: Sequence[Flow],
    failed: set[str],
    ran: set[str],
    target: str,
    *,
    root: bool | None = None,
    root_note: str = "",
    agent_version: str | None = None,
    forwarding: Forwarding | None = None,
) -> Outcome:
    """The verdict from two snapshots and the probes' results. Pure.

    `root`: whether the probes ran as uid 0 to the kernel (the guest agent's rules let
    only uid 0 through); `agent_version`: which rule set the agent installs."""
    if not after.readable and after.incomplete:
        return Outcome(
            Status.ERROR,
            f"the rules could not be read in time ({'; '.join(after.incomplete)})",
            FirewallFacts(after.sources, after.notes, readable=False, incomplete=after.incomplete),
            fix="Run again with a longer --timeout (reading this machine's rules takes long).",
        )
    if not after.readable:
        return Outcome(
            Status.SKIP,
            "no firewall rules could be read: " + ("; ".join(after.notes) or "no tool found"),
            FirewallFacts(after.sources, after.notes, readable=False),
            fix="Run as root to read iptables/nft rules and their counters.",
        )
    rose = {c.rule.key: c.packets for c in counter_increase(before, after)} if before else {}
    found = _sort_rules(after, before is not None, rose, traffic, failed, ran, target)
    culprits = [c for c in found.counted if not c.agent]
    agent_counted = [c for c in found.counted if c.agent]
    earlier = {r.key: r.packets for r in before.rules if r.packets is not None} if before else None
    facts = FirewallFacts(
        after.sources,
        after.notes,
        counted_before=before is not None,
        agent_firewall=agent_firewall(after.rules, target),
        rules=tuple(found.seen),
        counted=tuple(culprits + agent_counted),
        suspects=() if culprits else tuple(found.suspects),
        root=root,
        root_note=root_note,
        agent_review=review(after.rules, target, agent_version, earlier),
        forwarding=forwarding,
        pod_blocks=tuple(
            forward_blocks(
                after.rules, after.hooks, [(f.address, f.protocol, f.port) for f in traffic]
            )
        )
        if forwarding is not None and forwarding.enabled
        else (),
        incomplete=after.incomplete,
    )
    if culprits:
        first = culprits[0]
        delta = first.packets
        others = f" (and {len(culprits) - 1} more, see evidence)" if len(culprits) > 1 else ""
        return Outcome(
            Status.FAIL,
            f"{_name(first.rule)} counted {delta} packet{'s' if delta != 1 else ''} during the "
            f"probes while {', '.join(first.probes)} failed{others}",
            facts,
            fix=_remove_fix(first.rule),
        )
    if facts.agent_dropped_root and facts.agent_review is not None:
        first = agent_counted[0]
        agent = facts.agent_review
        return Outcome(
            Status.FAIL,
            f"running as root, the guest agent's own rule `{first.rule.text}` "
            f"({agent.where}) counted {first.packets} packet(s) while "
            f"{', '.join(first.probes)} failed: {agent.why()}",
            facts,
            fix=agent.fix(),
        )
    if found.suspects:
        rule, hit = found.suspects[0].rule, found.suspects[0].probes
        windows = rule.source in WINDOWS_SOURCES
        why = f"and {', '.join(hit)} failed" if hit else "(the probes it matches did not run here)"
        if windows and hit:
            # Windows Firewall: a matching enabled block rule wins over any allow rule.
            return Outcome(
                Status.FAIL, f"{_name(rule)} blocks this traffic {why}", facts, _remove_fix(rule)
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
            facts,
            fix=_remove_fix(rule),
        )
    if facts.foreign_pod_blocks:
        first_block = facts.foreign_pod_blocks[0]
        rule = first_block.rule
        counted = f", {rule.packets} packet(s) so far" if rule.packets else ""
        return Outcome(
            Status.WARN,
            f"containers or pods behind this VM ({_behind(forwarding)}) cannot reach "
            f"{first_block.text()}: {_name(rule)} drops that forwarded traffic"
            f"{counted}"
            + (
                f" (and {len(facts.foreign_pod_blocks) - 1} more rule(s))"
                if len(facts.foreign_pod_blocks) > 1
                else ""
            ),
            facts,
            fix=f"If they must reach the platform, remove it: `{rule.remove}`; and from where "
            f"it is restored ({PERSISTENCE}). Traffic from the VM itself is not affected.",
        )
    agent_rules = facts.agent_firewall
    if agent_counted and root:
        first = agent_counted[0]
        finding = (
            f"the guest agent's own rule counted {first.packets} packet(s) during the probes, "
            "but its uid-0 ACCEPT let root's through: other users' connections"
        )
    elif agent_counted:
        first = agent_counted[0]
        finding = (
            f"the guest agent's own rule dropped {first.packets} packet(s) of "
            f"{', '.join(first.probes)}: expected for a non-root user (see privileges)"
        )
    elif agent_rules and all(r.agent for r in found.seen):
        finding = f"only the guest agent's own rules touch {target} (expected): {agent_rules}"
    elif found.seen:
        foreign = sum(not r.agent for r in found.seen)
        expected = "the guest agent's own rules (expected) and " if agent_rules else ""
        finding = f"{expected}{foreign} rule(s) touch {target} or its ports; none blocked a probe"
    else:
        finding = f"no local rule touches {target} or its ports"
    if after.incomplete:
        # What was not read may hold the rule: say what is missing, never "no rule".
        return Outcome(
            Status.ERROR,
            f"not every rule could be read in time ({'; '.join(after.incomplete)}); among "
            f"those read: {finding}",
            facts,
            fix="Run again with a longer --timeout (reading this machine's rules takes "
            "long); the rules read are in the evidence.",
        )
    return Outcome(Status.OK, finding + _aks_note(facts), facts)


@dataclass
class _Sorted:
    """The rules that touch the probes' traffic, sorted by what they did to it."""

    seen: list[RuleSeen] = field(default_factory=list)
    counted: list[CountedRule] = field(default_factory=list)
    suspects: list[SuspectRule] = field(default_factory=list)


def _sort_rules(
    after: Snapshot,
    counted: bool,
    rose: Mapping[str, int],
    traffic: Sequence[Flow],
    failed: set[str],
    ran: set[str],
    target: str,
) -> _Sorted:
    """counted: blocking rules that counted packets while a probe they match failed (the
    agent's own among them, marked); suspects: ones that may have, with no counter to tell
    (or whose probes did not run)."""
    directions = reachable_chains(after.rules, after.hooks)
    paths = FlowPaths(after.rules)
    found = _Sorted()
    for rule in after.rules:
        probes = _touched(rule, directions.get(f"{rule.table} {rule.chain}"), paths, traffic)
        if not probes:
            continue
        agent = is_agent_rule(rule, target)
        # A table read once (after the probes only) has no counters to compare with.
        compared = counted and not (rule.source == "iptables" and rule.table in after.once)
        delta = rose.get(rule.key, 0) if compared else 0
        shown_delta = delta if compared and rule.packets is not None else None
        found.seen.append(RuleSeen(rule, agent, tuple(probes), shown_delta))
        if not rule.blocking:
            continue
        hit = tuple(p for p in probes if p in failed)
        if delta and hit:
            found.counted.append(CountedRule(rule, delta, hit, agent))
        elif agent:
            continue
        elif hit and (not compared or rule.packets is None):
            found.suspects.append(SuspectRule(rule, hit))
        elif not set(probes) & ran and not rule.policy:
            found.suspects.append(SuspectRule(rule, ()))
    found.suspects.sort(key=lambda s: not s.probes)  # ones matching a failed probe first
    return found


def _touched(
    rule: Rule, direction: str | None, paths: FlowPaths, traffic: Iterable[Flow]
) -> list[str]:
    """The probes whose packets this rule can match (outgoing, or their replies)."""
    if direction is None:
        return []  # a chain no local traffic reaches (FORWARD, an unused user chain)
    # The probes' traffic is a few distinct (address, protocol, port): each is decided
    # once per rule, whichever checks send it.
    decided: dict[tuple[str, str, int], bool] = {}
    found = []
    for flow in traffic:
        key = (flow.address, flow.protocol, flow.port)
        hit = decided.get(key)
        if hit is None:
            hit = decided[key] = _touches_flow(rule, direction, paths, *key)
        if hit:
            found.append(flow.check_id)
    return list(dict.fromkeys(found))


def _behind(forwarding: Forwarding | None) -> str:
    if forwarding is None:
        return "it forwards"
    named = forwarding.bridges + forwarding.container_interfaces
    return f"ip_forward=1, {', '.join(named[:3])}" if named else "ip_forward=1"


def _aks_note(facts: FirewallFacts) -> str:
    """AKS's own FORWARD rules, said in the finding: by design, not a fault."""
    blocked = [f for b in facts.pod_blocks if b.aks for f in b.flows]
    if not blocked:
        return ""
    return f"; pods cannot reach {describe_flows(blocked)} (AKS's own FORWARD rules, by design)"


def _touches_flow(
    rule: Rule, direction: str, paths: FlowPaths, address: str, protocol: str, port: int
) -> bool:
    named = mentions(rule, address, (port,))
    if not named and not (rule.blocking and not rule.match.unknown):
        return False  # neither names the flow nor stops it: whatever it matches, not ours
    out = direction in ("out", "both") and paths.touches_path(rule, address, protocol, port, "out")
    back = (
        direction in ("in", "both")
        and named
        and not rule.policy
        and paths.touches_path(rule, address, protocol, port, "in")
    )
    return out or back


def _name(rule: Rule) -> str:
    where = f"{rule.table}/{rule.chain}"
    kind = {"windows": "Windows Firewall rule", "firewalld": "firewalld direct rule"}.get(
        rule.source, f"{rule.source} rule"
    )
    if rule.source == "windows" and rule.policy:
        return f"the Windows Firewall's {rule.text}"
    if rule.source == "wfp":
        return f"WFP filter {rule.text}"
    if rule.policy:
        return f"the {where} chain's default policy ({rule.verdict})"
    return f"{kind} `{rule.text}` ({where})"


def _remove_fix(rule: Rule) -> str:
    if rule.source == "windows" and rule.policy:
        return (
            f"Allow it outbound: `{rule.remove}` (Group Policy, if it sets the policy); or let "
            "outbound through by default: `netsh advfirewall set allprofiles firewallpolicy "
            "blockinbound,allowoutbound`."
        )
    if rule.source == "wfp":
        return f"Not a firewall rule: {rule.remove}."
    if rule.policy:
        return (
            f"Allow the platform before the default policy drops it, or change it: "
            f"`{rule.remove}`; make it permanent in {PERSISTENCE}."
        )
    if rule.source == "windows":
        return f"Disable or delete the rule: `{rule.remove}` (or Group Policy, if it sets it)."
    return f"Remove it: `{rule.remove}`; and from where it is restored at boot ({PERSISTENCE})."


FIREWALL = CheckSpec(
    "firewall",
    "Local firewall rules for the platform address",
    run_firewall,
    explain="""\
Reads every local rule that can touch the target or its ports: iptables in all tables
(including `security`, where the guest agent puts its rules) with packet counters
(`iptables-save -c`, or `iptables -L -nxv`; on iptables-nft one `iptables -S -v` per
table, and the nat table, which cannot drop, once, chain by chain along the probes'
path), nftables' own tables (`nft -j list table`, or `nft -j list ruleset`), firewalld
direct rules; on Windows, Windows Firewall rules, each profile's default outbound policy
and, as Administrator, the WFP filters of other software (VPN clients, EDR) that match the
target. The counters are read before the first probe and again after the probes, so a
blocking rule that counted packets while a probe failed is named, with the command that
removes it. On a node with tens of thousands of rules, only the rules that can touch the
probes' traffic are analysed (the rest are left out from their text, before parsing).
The guest agent's own rules (security/OUTPUT: accept TCP 53, accept uid 0, drop NEW and
INVALID; or the nftables table `walinuxagent`; or firewalld passthroughs) are recognised,
listed in order with their counters and compared with the set the installed agent version
puts in. For a non-root user their DROP is expected; running as root (uid 0 outside any user
namespace), a DROP of theirs that counted the failing probes' packets is not: the finding
says what is wrong (the DROP before the uid-0 ACCEPT, a missing or duplicated rule, a
leftover of an old agent).
When the VM forwards for containers or pods (ip_forward=1; bridges, CNI interfaces), the
rules on the FORWARD path that drop their traffic to the target or IMDS are named too (AKS's
own, which block pods from WireServer by design, are said but not a warning).
- ok: no rule touches the target, only the agent's rules do, or none blocked a probe.
- warn: a blocking rule matches the target or a probed port but has no counter to prove
  it dropped a probe (or its probe did not run); or a FORWARD-path rule (not AKS's own)
  drops what containers or pods behind the VM send to the platform.
- fail: a blocking rule counted packets during the probes while the probe it matches
  failed (Windows: an enabled block rule, a default outbound Block with no allow rule, or
  a WFP block filter matches a failed probe); or, as root, the guest agent's own DROP did.
- skip: no rule could be read (not root, or neither iptables nor nft installed).
- error: not every rule could be read in time: what was read is in the evidence, and no
  rule's absence is claimed.
Fix: remove the rule (the command is in the fix line) and from where it is restored at boot;
for the agent's own rules, delete them all and restart the agent, which adds them again in
order.""",
    facts=FirewallFacts,
    context=True,
    without_root=(
        Degradation("iptables and nft rules and their counters can be read only by root"),
        Degradation(
            "WFP filters of other software (`netsh wfp show filters`) can be read only by "
            "Administrator",
            windows=True,
        ),
    ),
    prepare=prepare_firewall,
)

SPECS = (FIREWALL,)
