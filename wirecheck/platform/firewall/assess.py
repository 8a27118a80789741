"""Decisions on rules: which chains local traffic reaches, whether a rule can touch a
flow to address:port, the guest agent's own rules, and the counter difference between two
snapshots. Pure."""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from wirecheck.platform.firewall.model import IN_HOOKS, OUT_HOOKS, Cond, Rule, Snapshot


def reachable_chains(rules: Sequence[Rule], hooks: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """ "table chain" -> "out" or "in": the direction of traffic that can reach that chain.

    iptables base chains are named after their hook; nft base chains declare one. Other
    chains are reached by jumps; a chain reached from both directions is "both".

    A walk over the chains, not over the rules: the rules are indexed by chain once, each
    jump is an edge, and each direction visits each chain and edge at most once (linear).
    """
    existing: set[str] = set()
    seeds: dict[str, set[str]] = {"out": set(), "in": set()}
    for rule in rules:
        name = f"{rule.table} {rule.chain}"
        if name in existing:
            continue
        existing.add(name)
        hook = next(iter(hooks.get(name, frozenset({rule.chain}))), rule.chain)
        if hook in OUT_HOOKS:
            seeds["out"].add(name)
        elif hook in IN_HOOKS:
            seeds["in"].add(name)
    edges: dict[str, list[str]] = {}
    for rule in rules:
        if rule.verdict:
            there = f"{rule.table} {rule.verdict}"
            if there in existing:
                edges.setdefault(f"{rule.table} {rule.chain}", []).append(there)
    reached = {way: _walk(start, edges) for way, start in seeds.items()}
    direction: dict[str, str] = {}
    for name in existing:
        ways = [way for way in ("out", "in") if name in reached[way]]
        if ways:
            direction[name] = "both" if len(ways) == 2 else ways[0]
    return direction


def _walk(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """Every chain reachable from `start` along `edges` (breadth first, each edge once)."""
    seen = set(start)
    queue = deque(seen)
    while queue:
        for there in edges.get(queue.popleft(), ()):
            if there not in seen:
                seen.add(there)
                queue.append(there)
    return seen


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


def may_touch_any(
    rule: Rule, addresses: Iterable[str], ports: Iterable[int], direction: str = "out"
) -> bool:
    """`touches` for any of these addresses and ports, over TCP or UDP: the address first,
    so a rule for another network is dismissed in one look, not one per port."""
    m = rule.match
    addr, port_cond = (m.daddr, m.dport) if direction == "out" else (m.saddr, m.sport)
    if not any(_holds(addr, lambda v, a=a: _in_network(a, v)) for a in addresses):
        return False
    if not _holds(m.protocol, lambda v: v in ("tcp", "udp", "all", "0")):
        return False
    return any(_holds(port_cond, lambda v, p=p: _in_ports(p, v)) for p in ports)


def jumps_into(rules: Sequence[Rule]) -> dict[str, list[Rule]]:
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
) -> bool:
    """`touches`, and for a rule in a user chain: some jump into that chain touches it too
    (a DROP in a chain entered only for 168.63.0.0/16 does not touch IMDS traffic).

    One question, answered by a backward search that visits each chain once; to ask it of
    many rules, use `FlowPaths`, which answers each chain once for all of them.
    """
    if not touches(rule, address, protocol, port, direction):
        return False
    here = f"{rule.table} {rule.chain}"
    seen = {here}
    stack = [here]
    while stack:
        entries = callers.get(stack.pop())
        if not entries:
            return True  # a base chain (or one nothing jumps into): the path starts here
        for caller in entries:
            there = f"{caller.table} {caller.chain}"
            if there not in seen and touches(caller, address, protocol, port, direction):
                seen.add(there)
                stack.append(there)
    return False


class FlowPaths:
    """Which chains a packet of one flow can enter, for every rule of a snapshot at once.

    A chain is entered when nothing jumps into it (a base chain) or when a rule that
    touches the flow jumps into it from an entered chain: a walk forward from the base
    chains, per flow and direction, each chain and each jump looked at once (linear in the
    rules), done the first time a rule of that flow is asked about.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.callers = jumps_into(rules)
        self._jumps: dict[str, list[Rule]] = {}
        chains: list[str] = []
        for rule in rules:
            here = f"{rule.table} {rule.chain}"
            if here not in self._jumps:
                self._jumps[here] = []
                chains.append(here)
            if rule.verdict and f"{rule.table} {rule.verdict}" in self.callers:
                self._jumps[here].append(rule)
        self._bases = [c for c in chains if c not in self.callers]
        self._entered: dict[tuple[str, str, int, str], set[str]] = {}
        self.jumps_evaluated = 0  # work done, for tests: at most one look per jump and flow

    def touches_path(
        self, rule: Rule, address: str, protocol: str, port: int, direction: str = "out"
    ) -> bool:
        """The same answer as `touches_path(rule, callers, ...)`, for any number of rules
        in the time of one walk per flow."""
        if not touches(rule, address, protocol, port, direction):
            return False
        return f"{rule.table} {rule.chain}" in self.entered(address, protocol, port, direction)

    def entered(self, address: str, protocol: str, port: int, direction: str) -> set[str]:
        key = (address, protocol, port, direction)
        found = self._entered.get(key)
        if found is None:
            found = set(self._bases)
            queue = deque(self._bases)
            while queue:
                for jump in self._jumps.get(queue.popleft(), ()):
                    self.jumps_evaluated += 1
                    there = f"{jump.table} {jump.verdict}"
                    if there not in found and touches(jump, address, protocol, port, direction):
                        found.add(there)
                        queue.append(there)
            self._entered[key] = found
        return found


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


# A big ruleset names the same networks and ports over and over (and the probes' few
# addresses and ports are asked about each): each pair is decided once.
_CACHED = 1 << 16


@lru_cache(maxsize=_CACHED)
def _in_network(address: str, value: str) -> bool:
    try:
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        return True  # a name or a form we cannot evaluate: may match


def _specific(address: str, value: str) -> bool:
    return not value.endswith("/0") and _in_network(address, value)


def _single_host(values: tuple[str, ...], endpoint: str) -> bool:
    return len(values) == 1 and values[0] in (endpoint, f"{endpoint}/32")


@lru_cache(maxsize=_CACHED)
def _in_ports(port: int, value: str) -> bool:
    low, _, high = value.partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return True  # a service name: may match
