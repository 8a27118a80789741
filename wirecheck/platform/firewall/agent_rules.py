"""The Linux guest agent's own firewall rules: the set the installed agent version puts in,
what is there instead (order, missing, duplicated or leftover rules), whose packets its DROP
counted, and how to put it right. Pure: rules and counters in, a review out.

The agent keeps its rules in the `security` table's OUTPUT chain (iptables), persisted as
firewalld direct passthroughs where firewalld runs, or as one rule in the nftables table
`walinuxagent` where iptables is absent. Every agent version checks only that its rules
exist (`iptables -C`), never where they sit: a DROP placed before the uid-0 ACCEPT, or a
duplicate, stays until someone deletes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from wirecheck.platform.firewall.model import Rule

Kind = Literal["dns-accept", "uid0-accept", "drop", "plain-drop", "state-accept"]
DROPS: tuple[Kind, ...] = ("drop", "plain-drop")
ACCEPTS: tuple[Kind, ...] = ("dns-accept", "uid0-accept")

LABEL: Mapping[Kind, str] = {
    "dns-accept": "the TCP 53 ACCEPT",
    "uid0-accept": "the uid-0 ACCEPT",
    "drop": "the DROP",
    "plain-drop": "a plain DROP without a state match (left by agents 2.2.15-2.2.16)",
    "state-accept": "a ctstate INVALID,NEW ACCEPT (left by agents 2.2.20-2.2.25)",
}


def rule_text(kind: Kind, endpoint: str) -> str:
    """The rule as the agent appends it, in iptables-save form."""
    head = f"-A OUTPUT -d {endpoint}/32 -p tcp"
    return {
        "dns-accept": f"{head} -m tcp --dport 53 -j ACCEPT",
        "uid0-accept": f"{head} -m owner --uid-owner 0 -j ACCEPT",
        "drop": f"{head} -m conntrack --ctstate INVALID,NEW -j DROP",
        "plain-drop": f"{head} -j DROP",
        "state-accept": f"{head} -m conntrack --ctstate INVALID,NEW -j ACCEPT",
    }[kind]


@dataclass(frozen=True)
class VersionSet:
    """The rules an agent version installs, in order, and what restarting it does."""

    label: str  # which versions
    kinds: tuple[Kind, ...]
    restart: str  # what a restart (or the agent's own periodic check) repairs
    repairs_missing: bool = False  # it re-creates a set with a missing rule by itself


_CURRENT = VersionSet(
    "agents 2.13 and later",
    ("dns-accept", "uid0-accept", "drop"),
    "they reset the set when some (not all) of its rules are missing; they never check the "
    "order or duplicates",
    repairs_missing=True,
)
# (first version, the set from there on), newest first.
_SETS: tuple[tuple[tuple[int, ...], VersionSet], ...] = (
    ((2, 13), _CURRENT),
    (
        (2, 8, 0, 11),
        VersionSet(
            "agents 2.8.0.11 to 2.12",
            ("dns-accept", "uid0-accept", "drop"),
            "they re-create the set when one of its rules is missing (every "
            "OS.EnableFirewallPeriod); they never check the order or duplicates",
            repairs_missing=True,
        ),
    ),
    (
        (2, 7, 0, 6),
        VersionSet(
            "agents 2.7.0.6 to 2.8.0.10",
            ("dns-accept", "uid0-accept", "drop"),
            "they leave the set alone while its DROP exists",
        ),
    ),
    (
        (2, 2, 54),
        VersionSet(
            "agents 2.2.54 to 2.7.0.5",
            ("uid0-accept", "drop"),
            "they leave the set alone while its DROP exists",
        ),
    ),
    (
        (2, 2, 26),
        VersionSet(
            "agents 2.2.26 to 2.2.53",
            ("uid0-accept", "drop"),
            "they delete and re-add the set in order at each service start, so a restart "
            "alone repairs the order",
        ),
    ),
    (
        (2, 2, 20),
        VersionSet(
            "agents 2.2.20 to 2.2.25",
            ("uid0-accept", "state-accept"),
            "they add only missing rules",
        ),
    ),
    ((2, 2, 17), VersionSet("agents 2.2.17 to 2.2.19", (), "their firewall is disabled")),
    (
        (2, 2, 15),
        VersionSet(
            "agents 2.2.15 and 2.2.16",
            ("uid0-accept", "plain-drop"),
            "they make no change while the DROP exists",
        ),
    ),
)


def version_tuple(version: str) -> tuple[int, ...] | None:
    found = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(p) for p in found.group(0).split(".")) if found else None


def expected_set(version: str | None) -> VersionSet:
    """The set `version` installs; the current agents' set when the version is unknown."""
    parsed = version_tuple(version) if version else None
    if parsed is None:
        return _CURRENT
    for first, found in _SETS:
        if parsed >= first:
            return found
    return VersionSet("agents before 2.2.15", (), "they install no firewall")


def classify(rule: Rule, endpoint: str) -> Kind | None:
    """Which of the agent's rules (any version) this is, if it is one."""
    if rule.policy or rule.chain != "OUTPUT":
        return None
    if (rule.source, rule.table) not in (
        ("iptables", "security"),
        ("firewalld", "direct security"),
    ):
        return None
    m = rule.match
    if not (
        m.daddr and not m.daddr.negated and m.daddr.values in ((endpoint,), (f"{endpoint}/32",))
    ):
        return None
    if not (m.protocol and m.protocol.values == ("tcp",) and not m.protocol.negated):
        return None
    verdict = (rule.verdict or "").upper()
    states = set(m.ctstate.values) if m.ctstate and not m.ctstate.negated else set()
    if verdict == "ACCEPT" and m.dport and m.dport.values == ("53",) and not m.dport.negated:
        return "dns-accept"
    if verdict == "ACCEPT" and m.uid and m.uid.values in (("0",), ("root",)) and not m.uid.negated:
        return "uid0-accept"
    if verdict == "ACCEPT" and states == {"invalid", "new"}:
        return "state-accept"
    if verdict == "DROP" and {"invalid", "new"} <= states:
        return "drop"
    if verdict == "DROP" and not (m.ctstate or m.uid or m.dport or m.unknown):
        return "plain-drop"
    return None


def nft_rule_kind(rule: Rule, endpoint: str) -> bool:
    """The agent's one nftables rule, complete: TCP to the endpoint, not port 53, not uid 0,
    state new or invalid, dropped."""
    m = rule.match
    return bool(
        rule.verdict == "DROP"
        and m.daddr
        and endpoint in {v.split("/")[0] for v in m.daddr.values}
        and m.dport
        and m.dport.negated
        and m.dport.values == ("53",)
        and m.uid
        and m.uid.negated
        and m.uid.values in (("0",), ("root",))
        and m.ctstate
        and {"invalid", "new"} <= set(m.ctstate.values)
    )


@dataclass(frozen=True)
class AgentRuleSeen:
    """One of the agent's rules in force, in chain order, with what it counted."""

    kind: Kind | None  # None: the nftables rule
    rule: Rule
    delta: int | None  # packets during the probes; None: not known (no snapshot, a reset)

    def to_dict(self, position: int) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "position": position,
            "rule": self.rule.text,
            "is": LABEL[self.kind] if self.kind else "the agent's nftables rule",
            "packets": self.rule.packets,
        }
        if self.delta is not None:
            shown["packets_during_probes"] = self.delta
        return shown


@dataclass(frozen=True)
class AgentReview:
    """The agent's rules found, against the set its version installs."""

    endpoint: str
    where: str  # "iptables security/OUTPUT" or "nftables table ip walinuxagent"
    rules: tuple[AgentRuleSeen, ...]
    version: str | None
    expected: VersionSet
    problems: tuple[str, ...]  # what is wrong with the rules in force
    persistent: tuple[Rule, ...] = ()  # firewalld's permanent passthroughs of the set
    persistent_problems: tuple[str, ...] = ()
    counters_reset: bool = False  # a counter went down: the agent zeroed them meanwhile

    @property
    def drop_counted(self) -> int:
        return sum(r.delta or 0 for r in self.rules if r.kind in DROPS or r.kind is None)

    @property
    def uid0_ahead_counted(self) -> bool:
        """A uid-0 ACCEPT before the first DROP counted packets: root's went through it."""
        for seen in self.rules:
            if seen.kind in DROPS or seen.kind is None:
                return False
            if seen.kind == "uid0-accept" and (seen.delta or 0) > 0:
                return True
        return False

    @property
    def dropped_root(self) -> bool:
        """Root's packets reached a DROP: it counted during the probes, and no uid-0 ACCEPT
        ahead of it counted (had one matched, root's packets would have stopped there)."""
        return self.drop_counted > 0 and not self.uid0_ahead_counted

    def why(self) -> str:
        """Why root's packets reach the DROP, in one clause."""
        if self.problems:
            return "; ".join(self.problems)
        return (
            "the rules are complete and in order, yet the uid-0 ACCEPT did not match root's "
            "packets (WALinuxAgent issue #3492 reports this on Azure Linux 3, with no public "
            "root cause)"
        )

    def fix(self) -> str:
        restart = (
            "`systemctl restart walinuxagent` (the unit is `waagent` on RHEL and SUSE): "
            "finding none of its rules, the agent adds its set again"
        )
        order = ", ".join(LABEL[k] for k in self.expected.kinds) or "no rule"
        removal = _removal_commands(self)
        if not self.problems:
            drops = [r.rule for r in self.rules if r.kind in DROPS or r.kind is None]
            delete = "; ".join(f"`{r.remove}`" for r in drops if r.remove)
            return (
                "Collect `wirecheck bundle` and report it (WALinuxAgent #3492 describes the "
                f"same); deleting the DROP ({delete}) restores access until the agent adds it "
                "again."
            )
        which = self.expected.label + ("" if self.version else "; the installed version is unknown")
        missing = any(p.endswith(" is missing") for p in self.problems)
        if missing and self.expected.repairs_missing:
            why = (
                f"{self.expected.label} re-create a set with a missing rule by themselves, so one "
                "that stays missing means the agent is not running or does not manage its "
                "firewall (OS.EnableFirewall=y in /etc/waagent.conf)"
            )
        else:
            why = f"a restart alone does not repair it: {self.expected.restart}"
        text = (
            f"Delete the agent's rules, every copy: {removal}; then {restart}, in order "
            f"({order}, as {which} install it). Note that {why}."
        )
        if self.persistent_problems:
            extra = "; ".join(f"`{r.remove}`" for r in _persistent_extras(self))
            text += (
                " firewalld restores its permanent copy at every boot: remove the extra "
                f"passthroughs ({extra}), then `firewall-cmd --reload`."
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "where": self.where,
            "version": self.version or "unknown",
            "expected": {
                "versions": self.expected.label,
                "rules": [rule_text(k, self.endpoint) for k in self.expected.kinds],
            },
            "rules_in_order": [r.to_dict(i) for i, r in enumerate(self.rules, 1)],
            "problems": list(self.problems),
        }
        if self.persistent:
            shown["firewalld_passthroughs"] = [r.text for r in self.persistent]
        if self.persistent_problems:
            shown["firewalld_problems"] = list(self.persistent_problems)
        if self.counters_reset:
            shown["counters"] = (
                "a counter went down between the snapshots: it was zeroed meanwhile (agents "
                "2.2.20 to 2.12 zero them every 30 minutes), so its rise is not known"
            )
        return shown


def review(
    rules: Sequence[Rule],
    endpoint: str,
    version: str | None = None,
    before: Mapping[str, int] | None = None,
) -> AgentReview | None:
    """The agent's rules in `rules` (in chain order) against its version's set; None when it
    has none. `before`: each rule's packet counter (by key) before the probes."""
    expected = expected_set(version)
    iptables = [(classify(r, endpoint), r) for r in rules if r.source == "iptables"]
    ours = [(kind, r) for kind, r in iptables if kind is not None]
    nft = [r for r in rules if r.source == "nftables" and r.table.split()[-1] == "walinuxagent"]
    passthroughs = [
        (kind, r)
        for r in rules
        if r.source == "firewalld" and (kind := classify(r, endpoint)) is not None
    ]
    if not ours and not nft and not passthroughs:
        return None
    reset = False

    def delta(rule: Rule) -> int | None:
        nonlocal reset
        if before is None or rule.packets is None:
            return None
        change = rule.packets - before.get(rule.key, 0)  # a rule new since: from zero
        if change < 0:
            reset = True  # zeroed meanwhile: what it counted since is not all ours
            return None
        return change

    if ours or not nft:
        seen = tuple(AgentRuleSeen(kind, r, delta(r)) for kind, r in ours)
        where = "iptables security/OUTPUT"
        problems = _set_problems([s.kind for s in seen if s.kind], expected)
    else:
        seen = tuple(AgentRuleSeen(None, r, delta(r)) for r in nft if not r.policy)
        where = f"nftables table {nft[0].table}"
        problems = _nft_problems(seen, endpoint)
    persistent_problems = _persistent_problems([k for k, _ in passthroughs])
    return AgentReview(
        endpoint,
        where,
        seen,
        version,
        expected,
        tuple(problems),
        tuple(r for _, r in passthroughs),
        tuple(persistent_problems),
        reset,
    )


def _set_problems(kinds: Sequence[Kind], expected: VersionSet) -> list[str]:
    problems: list[str] = []
    if not kinds:
        return ["none of its iptables rules is in force (only firewalld's permanent copy)"]
    first_drop = next((i for i, k in enumerate(kinds) if k in DROPS), None)
    for kind in ACCEPTS:
        if kind not in kinds:
            if kind in expected.kinds:
                problems.append(f"{LABEL[kind]} is missing")
        elif first_drop is not None and kinds.index(kind) > first_drop:
            problems.append(f"{LABEL[kinds[first_drop]]} comes before {LABEL[kind]}")
    for kind in dict.fromkeys(kinds):
        count = kinds.count(kind)
        if count > 1:
            problems.append(f"{LABEL[kind]} is there {count} times")
        if kind not in expected.kinds and kind in ("plain-drop", "state-accept"):
            problems.append(f"{LABEL[kind]} is still there")
    problems += [f"{LABEL[k]} is missing" for k in expected.kinds if k in DROPS and k not in kinds]
    return problems


def _nft_problems(seen: Sequence[AgentRuleSeen], endpoint: str) -> list[str]:
    if not seen:
        return ["the table has no rule"]
    complete = [s for s in seen if nft_rule_kind(s.rule, endpoint)]
    problems = []
    if len(seen) > 1:
        problems.append(f"the table holds {len(seen)} rules instead of one")
    if not complete:
        problems.append(
            "its rule lacks part of `tcp dport != 53 skuid != 0 ct state invalid,new` "
            "(so it drops more than non-root connections)"
        )
    return problems


def _persistent_problems(kinds: Sequence[Kind]) -> list[str]:
    return [
        f"firewalld's permanent passthroughs hold {LABEL[k]} {kinds.count(k)} times"
        for k in dict.fromkeys(kinds)
        if kinds.count(k) > 1
    ]


def _persistent_extras(found: AgentReview) -> list[Rule]:
    """The passthroughs beyond the first of each kind (RHEL 9 images shipped an extra one)."""
    seen: set[Kind | None] = set()
    extras = []
    for rule in found.persistent:
        kind = classify(rule, found.endpoint)
        if kind in seen:
            extras.append(rule)
        seen.add(kind)
    return extras


def _removal_commands(found: AgentReview) -> str:
    """The commands that delete every rule of the set. Rules read from `iptables -L` are
    deleted by position, last first, so the positions still hold."""
    if found.where.startswith("nftables"):
        return f"`nft delete table {found.where.split('table ', 1)[1]}`"
    commands = [r.rule.remove for r in found.rules if r.rule.remove]
    positional = all(c.rsplit(" ", 1)[-1].isdigit() for c in commands)
    if positional:
        commands.sort(key=lambda c: -int(c.rsplit(" ", 1)[-1]))
    return "; ".join(f"`{c}`" for c in commands)
