"""Rules in the FORWARD path that drop traffic to the platform: what containers and pods
behind this VM send is forwarded, never passes OUTPUT, and only these rules see it. Pure.

AKS blocks pods from WireServer on purpose (`-I FORWARD -d 168.63.129.16 -p tcp --dport 80
-j DROP`, and 32526 since 2024; the host reaches it through OUTPUT), and can restrict IMDS
to the node's own address (a FORWARD DROP commented "AKS managed"): those are recognised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from wirecheck.platform.firewall.assess import jumps_into, mentions, touches_path
from wirecheck.platform.firewall.model import Rule

FORWARD_HOOKS = frozenset({"FORWARD", "forward"})
AKS_COMMENT = "AKS managed"
WIRESERVER = "168.63.129.16"


@dataclass(frozen=True)
class PodBlock:
    """A blocking rule on the forwarding path that matches traffic to the platform."""

    rule: Rule
    flows: tuple[tuple[str, str, int], ...]  # (address, protocol, port) it drops
    aks: bool  # one of AKS's own rules (by design)

    def text(self) -> str:
        """`168.63.129.16 (TCP 80, TCP 32526)`: what it drops, by address."""
        return describe_flows(self.flows)

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule.text,
            "table": self.rule.table,
            "chain": self.rule.chain,
            "packets": self.rule.packets,
            "blocks": self.text(),
            "aks_by_design": self.aks,
            "remove": self.rule.remove,
        }


def forward_chains(rules: Sequence[Rule], hooks: Mapping[str, frozenset[str]]) -> set[str]:
    """ "table chain" of every chain forwarded packets pass: the FORWARD base chains and
    the chains they jump to."""
    reached = set()
    for rule in rules:
        name = f"{rule.table} {rule.chain}"
        if hooks.get(name, frozenset({rule.chain})) & FORWARD_HOOKS:
            reached.add(name)
    chains = {f"{r.table} {r.chain}" for r in rules}
    changed = True
    while changed:
        changed = False
        for rule in rules:
            target = f"{rule.table} {rule.verdict}"
            here = f"{rule.table} {rule.chain}"
            if here in reached and rule.verdict and target in chains and target not in reached:
                reached.add(target)
                changed = True
    return reached


def forward_blocks(
    rules: Sequence[Rule],
    hooks: Mapping[str, frozenset[str]],
    flows: Iterable[tuple[str, str, int]],
) -> list[PodBlock]:
    """Blocking rules on the forwarding path that name the platform (an address or port of
    its flows) and can match that flow; chain policies are left out (a DROP policy needs the
    ACCEPTs before it, which a rule list alone does not settle)."""
    chains = forward_chains(rules, hooks)
    callers = jumps_into(rules)
    wanted = list(dict.fromkeys(flows))
    kube = any(r.chain.startswith("KUBE-") or (r.verdict or "").startswith("KUBE-") for r in rules)
    found = []
    for rule in rules:
        if rule.policy or not rule.blocking or f"{rule.table} {rule.chain}" not in chains:
            continue
        hit = [
            (address, protocol, port)
            for address, protocol, port in wanted
            if mentions(rule, address, (port,))
            and touches_path(rule, callers, address, protocol, port, "out")
        ]
        if hit:
            aks = AKS_COMMENT in rule.text or (kube and _aks_wireserver_rule(rule))
            found.append(PodBlock(rule, tuple(dict.fromkeys(hit)), aks))
    return found


def _aks_wireserver_rule(rule: Rule) -> bool:
    """AgentBaker's pod rule: `FORWARD -d 168.63.129.16 -p tcp --dport 80|32526 -j DROP`,
    nothing more (on a Kubernetes node: its chains are there)."""
    m = rule.match
    plain = not (m.saddr or m.uid or m.ctstate or m.oif or m.sport or m.unknown)
    return bool(
        rule.chain == "FORWARD"
        and (rule.verdict or "").upper() == "DROP"
        and plain
        and m.daddr
        and not m.daddr.negated
        and m.daddr.values in ((WIRESERVER,), (f"{WIRESERVER}/32",))
        and m.protocol
        and m.protocol.values == ("tcp",)
        and m.dport
        and not m.dport.negated
        and m.dport.values in (("80",), ("32526",))
    )


def describe_flows(flows: Iterable[tuple[str, str, int]]) -> str:
    by_address: dict[str, list[str]] = {}
    for address, protocol, port in flows:
        by_address.setdefault(address, []).append(f"{protocol.upper()} {port}")
    return "; ".join(f"{a} ({', '.join(dict.fromkeys(p))})" for a, p in by_address.items())
