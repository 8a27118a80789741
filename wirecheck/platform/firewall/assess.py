"""Decisions on rules: which chains local traffic reaches, whether a rule can touch a
flow to address:port, the guest agent's own rules, and the counter difference between two
snapshots. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wirecheck.platform.firewall.model import IN_HOOKS, OUT_HOOKS, Cond, Rule, Snapshot


def reachable_chains(rules: Sequence[Rule], hooks: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """ "table chain" -> "out" or "in": the direction of traffic that can reach that chain.

    iptables base chains are named after their hook; nft base chains declare one. Other
    chains are reached by jumps; a chain reached from both directions is "both".
    """
    direction: dict[str, str] = {}
    for rule in rules:
        name = f"{rule.table} {rule.chain}"
        hook = next(iter(hooks.get(name, frozenset({rule.chain}))), rule.chain)
        if hook in OUT_HOOKS:
            direction[name] = "out"
        elif hook in IN_HOOKS:
            direction[name] = "in"
    changed = True
    while changed:
        changed = False
        for rule in rules:
            here = direction.get(f"{rule.table} {rule.chain}")
            if not here or not rule.verdict:
                continue
            there = f"{rule.table} {rule.verdict}"
            if there not in direction:
                if any(f"{r.table} {r.chain}" == there for r in rules):
                    direction[there] = here
                    changed = True
            elif direction[there] != here and direction[there] != "both":
                direction[there] = "both"
                changed = True
    return direction


def touches(rule: Rule, address: str, protocol: str, port: int, direction: str = "out") -> bool:
    """Can `rule` match a packet of a connection to address:port/protocol?

    Outgoing packets are matched on destination, replies (direction "in") on source.
    Conditions we do not evaluate (interfaces, uids, states) count as "may match".
    """
    m = rule.match
    addr, ports = (m.daddr, m.dport) if direction == "out" else (m.saddr, m.sport)
    if not _holds(addr, lambda v: _in_network(address, v)):
        return False
    if not _holds(m.protocol, lambda v: v in (protocol, "all", "0")):
        return False
    return _holds(ports, lambda v: _in_ports(port, v))


def jumps_into(rules: Iterable[Rule]) -> dict[str, list[Rule]]:
    """ "table chain" -> the rules that jump (or go) to that chain."""
    chains = {f"{r.table} {r.chain}" for r in rules}
    callers: dict[str, list[Rule]] = {}
    for rule in rules:
        there = f"{rule.table} {rule.verdict}"
        if rule.verdict and there in chains:
            callers.setdefault(there, []).append(rule)
    return callers


def touches_path(
    rule: Rule,
    callers: Mapping[str, Sequence[Rule]],
    address: str,
    protocol: str,
    port: int,
    direction: str = "out",
    _seen: frozenset[str] = frozenset(),
) -> bool:
    """`touches`, and for a rule in a user chain: some jump into that chain touches it too
    (a DROP in a chain entered only for 168.63.0.0/16 does not touch IMDS traffic)."""
    if not touches(rule, address, protocol, port, direction):
        return False
    here = f"{rule.table} {rule.chain}"
    entries = callers.get(here)
    if not entries:
        return True  # a base chain
    if here in _seen:
        return False  # a jump loop: no new path
    return any(
        touches_path(c, callers, address, protocol, port, direction, _seen | {here})
        for c in entries
    )


def mentions(rule: Rule, address: str, ports: Iterable[int]) -> bool:
    """Does the rule name the address (or a network holding it) or one of the ports?"""
    m = rule.match
    for cond in (m.daddr, m.saddr):
        if cond and not cond.negated and any(_specific(address, v) for v in cond.values):
            return True
    for cond in (m.dport, m.sport):
        if cond and not cond.negated and any(_in_ports(p, v) for p in ports for v in cond.values):
            return True
    return False


def is_agent_rule(rule: Rule, endpoint: str) -> bool:
    """One of the guest agent's own rules: expected, not a problem."""
    if rule.source == "nftables":
        return rule.table.split()[-1] == "walinuxagent"
    # The agent's iptables rules, or the firewalld passthroughs that persist them.
    table = {"iptables": "security", "firewalld": "direct security"}.get(rule.source)
    if table is None or rule.table != table or rule.chain != "OUTPUT":
        return False
    m = rule.match
    if not (m.daddr and not m.daddr.negated and _single_host(m.daddr.values, endpoint)):
        return False
    if not (m.protocol and m.protocol.values == ("tcp",) and not m.protocol.negated):
        return False
    verdict = (rule.verdict or "").upper()
    if verdict == "ACCEPT" and m.dport and m.dport.values == ("53",) and not m.dport.negated:
        return True
    if verdict == "ACCEPT" and m.uid and m.uid.values in (("0",), ("root",)):
        return not m.uid.negated
    states = set(m.ctstate.values) if m.ctstate else set()
    return verdict == "DROP" and {"invalid", "new"} <= states


def agent_firewall(rules: Iterable[Rule], endpoint: str) -> str | None:
    """A short description of the guest agent's rules found, or None."""
    ours = [r for r in rules if is_agent_rule(r, endpoint) and not r.policy]
    iptables = [r for r in ours if r.source == "iptables"]
    nft = sorted({r.table for r in ours if r.source == "nftables"})
    parts = []
    if iptables:
        parts.append(f"iptables security/OUTPUT ({len(iptables)} of 3 rules)")
    parts += [f"nftables table {table}" for table in nft]
    return "; ".join(parts) or None


@dataclass(frozen=True)
class Counted:
    rule: Rule
    packets: int  # packets it counted between the snapshots


def counter_increase(before: Snapshot, after: Snapshot) -> list[Counted]:
    """Rules whose packet counter rose between two snapshots (rules new in `after` too)."""
    earlier = {r.key: r.packets for r in before.rules if r.packets is not None}
    rose = []
    for rule in after.rules:
        if rule.packets is None:
            continue
        delta = rule.packets - earlier.get(rule.key, 0)
        if delta > 0:
            rose.append(Counted(rule, delta))
    return rose


def _holds(cond: Cond | None, test: Any) -> bool:
    if cond is None or not cond.values:
        return True
    return any(test(v) for v in cond.values) != cond.negated


def _in_network(address: str, value: str) -> bool:
    try:
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return True  # a name or a form we cannot evaluate: may match


def _specific(address: str, value: str) -> bool:
    return not value.endswith("/0") and _in_network(address, value)


def _single_host(values: tuple[str, ...], endpoint: str) -> bool:
    return len(values) == 1 and values[0] in (endpoint, f"{endpoint}/32")


def _in_ports(port: int, value: str) -> bool:
    low, _, high = value.partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return True  # a service name: may match
