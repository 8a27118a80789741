"""Local firewall rules as data: parsers for what iptables, nft and firewalld print, the
question "can this rule touch packets to address:port?", the guest agent's own rules, and
the counter difference between two snapshots.

Everything but `read_snapshot` is pure and takes text, so it is tested on recorded output.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from wirecheck.model import Deadline
from wirecheck.system import System

# Verdicts that stop a packet; a rule with one of these that counts packets of a failed
# probe is the culprit.
BLOCKING = frozenset({"DROP", "REJECT", "BLOCK"})  # BLOCK: Windows Firewall
IPTABLES_TABLES = ("raw", "mangle", "nat", "filter", "security")
# Chains locally generated packets (and their replies) traverse, by direction.
OUT_HOOKS = frozenset({"OUTPUT", "POSTROUTING", "output", "postrouting"})
IN_HOOKS = frozenset({"INPUT", "PREROUTING", "input", "prerouting"})
_PROTO_NUMBERS = {"0": "all", "1": "icmp", "6": "tcp", "17": "udp"}
FIREWALLD_DIRECT_XML = "/etc/firewalld/direct.xml"


@dataclass(frozen=True)
class Cond:
    """One match condition: the packet's value is (or, negated, is not) one of `values`.

    Values are CIDRs for addresses, "80" or "80-90" for ports, lower-case names otherwise.
    """

    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Match:
    daddr: Cond | None = None
    saddr: Cond | None = None
    protocol: Cond | None = None
    dport: Cond | None = None
    sport: Cond | None = None
    uid: Cond | None = None
    ctstate: Cond | None = None
    oif: Cond | None = None
    # The rule has conditions we do not evaluate (set lookups, marks, rates, ...): it may
    # match, but a blocking rule like this is not "unconditional" either.
    unknown: bool = False


@dataclass(frozen=True)
class Rule:
    source: str  # iptables, nftables, firewalld, windows
    table: str  # "security", "ip walinuxagent", "direct filter"
    chain: str
    text: str  # the rule as the tool shows it
    verdict: str | None  # ACCEPT, DROP, REJECT, RETURN, a chain name, or None
    match: Match = Match()
    packets: int | None = None  # None: the rule has no counter
    bytes: int | None = None
    key: str = ""  # identifies the same rule in another snapshot
    remove: str = ""  # the command that deletes it
    policy: bool = False  # a chain's default policy, not a rule

    @property
    def blocking(self) -> bool:
        return (self.verdict or "").upper() in BLOCKING


@dataclass(frozen=True)
class Snapshot:
    rules: tuple[Rule, ...] = ()
    sources: tuple[str, ...] = ()  # the commands and files that were read
    notes: tuple[str, ...] = ()  # what could not be read, and why
    hooks: Mapping[str, frozenset[str]] = field(default_factory=dict)  # see reachable_chains

    @property
    def readable(self) -> bool:
        """Whether the rules in force were read (iptables or nft). firewalld's direct.xml
        alone does not count: it is configuration, readable by anyone, and says nothing
        about what the kernel does."""
        return any(source != FIREWALLD_DIRECT_XML for source in self.sources)


# ---------------------------------------------------------------------------------------
# iptables-save -c


def _policy_rule(table: str, chain: str, verdict: str, packets: str, octets: str) -> Rule:
    """A chain's policy as a rule, so a DROP policy is named like any DROP rule."""
    return Rule(
        "iptables",
        table,
        chain,
        f"-P {chain} {verdict}",
        verdict,
        packets=int(packets),
        bytes=int(octets),
        key=f"iptables {table} {chain} policy",
        remove=f"iptables -t {table} -P {chain} ACCEPT",
        policy=True,
    )


def parse_iptables_save(text: str) -> list[Rule]:
    """`iptables-save -c`: every table, every rule with `[packets:bytes]`, and chain policies."""
    rules: list[Rule] = []
    table = ""
    seen: dict[tuple[str, str, str], int] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        policy = re.fullmatch(r":(\S+)\s+(ACCEPT|DROP)\s+\[(\d+):(\d+)\]", line)
        if policy:
            chain, verdict, packets, octets = policy.groups()
            rules.append(_policy_rule(table, chain, verdict, packets, octets))
            continue
        counted = re.fullmatch(r"(?:\[(\d+):(\d+)\]\s+)?-A\s+(\S+)\s*(.*)", line)
        if not counted:
            continue
        packets, octets, chain, spec = counted.groups()
        occurrence = seen.setdefault((table, chain, spec), 0)
        seen[(table, chain, spec)] += 1
        match, verdict = parse_iptables_spec(spec)
        rules.append(
            Rule(
                "iptables",
                table,
                chain,
                f"-A {chain} {spec}".strip(),
                verdict,
                match,
                int(packets) if packets is not None else None,
                int(octets) if octets is not None else None,
                key=f"iptables {table} {chain} {spec} #{occurrence}",
                remove=f"iptables -t {table} -D {chain} {spec}".strip(),
            )
        )
    return rules


def parse_iptables_spec(spec: str) -> tuple[Match, str | None]:
    """The conditions and target of one rule in iptables-save syntax."""
    try:
        words = shlex.split(spec)
    except ValueError:
        words = spec.split()
    conds: dict[str, Cond] = {}
    verdict: str | None = None
    negate = False
    unknown = False
    i = 0
    while i < len(words):
        word = words[i]
        arg = words[i + 1] if i + 1 < len(words) else ""
        if word == "!":
            negate = True
            i += 1
            continue
        if arg == "!":  # old syntax: `--dport ! 53`
            negate, arg = True, words[i + 2] if i + 2 < len(words) else ""
            i += 1
        name = _IPTABLES_OPTIONS.get(word)
        if name:
            conds[name] = Cond(_option_values(name, arg), negate)
            i += 2
        elif word in ("-j", "--jump", "-g", "--goto"):
            verdict = arg
            break  # what follows are the target's own options
        else:
            if word.startswith("-") and word not in _NOT_CONDITIONS:
                unknown = True
            i += 2 if word in _WITH_ARGUMENT else 1
        negate = False
    return _match(conds, unknown), verdict


# Options that load a match module or annotate, and restrict nothing by themselves.
_NOT_CONDITIONS = frozenset({"-m", "--match", "--comment", "-w", "--wait"})
_WITH_ARGUMENT = frozenset({"-m", "--match", "--comment"})
_IPTABLES_OPTIONS = {
    "-d": "daddr",
    "--destination": "daddr",
    "--dst": "daddr",
    "-s": "saddr",
    "--source": "saddr",
    "--src": "saddr",
    "-p": "protocol",
    "--protocol": "protocol",
    "--dport": "dport",
    "--destination-port": "dport",
    "--dports": "dport",
    "--destination-ports": "dport",
    "--sport": "sport",
    "--source-port": "sport",
    "--sports": "sport",
    "--uid-owner": "uid",
    "--ctstate": "ctstate",
    "--state": "ctstate",
    "-o": "oif",
    "--out-interface": "oif",
}


def _option_values(name: str, arg: str) -> tuple[str, ...]:
    parts = [p for p in arg.split(",") if p]
    if name in ("dport", "sport"):
        return tuple(p.replace(":", "-") for p in parts)
    if name in ("protocol", "ctstate"):
        return tuple(_PROTO_NUMBERS.get(p, p).lower() for p in parts)
    return tuple(parts)


def _match(conds: Mapping[str, Cond], unknown: bool = False) -> Match:
    known = {k: v for k, v in conds.items() if k in Match.__dataclass_fields__}
    return Match(**known, unknown=unknown)


# ---------------------------------------------------------------------------------------
# iptables -L -nxv


def parse_iptables_list(text: str, table: str) -> list[Rule]:
    """`iptables [-t TABLE] -L -nxv [--line-numbers]` for one table."""
    rules: list[Rule] = []
    chain = ""
    position = 0
    numbered = False
    for raw in text.splitlines():
        head = re.match(
            r"Chain (\S+) \((?:policy (\S+) (\d+) packets, (\d+) bytes|\d+ references)\)", raw
        )
        if head:
            chain, verdict, packets, octets = head.groups()
            position = 0
            if verdict:
                rules.append(_policy_rule(table, chain, verdict, packets, octets))
            continue
        words = raw.split()
        if not words or not chain:
            continue
        if words[0] in ("pkts", "num"):
            numbered = words[0] == "num"
            continue
        if numbered:
            words = words[1:]
        if len(words) < 8 or not (words[0].isdigit() and words[1].isdigit()):
            continue
        position += 1
        try:
            rules.append(_list_row(words, table, chain, position))
        except (ValueError, IndexError):
            # A layout this parser does not know (some iptables builds leave out the opt
            # column): the row is not read, and the rest of the listing still is.
            continue
    return rules


_OPT_COLUMN = ("--", "-f", "!f")


def _list_row(words: list[str], table: str, chain: str, position: int) -> Rule:
    packets, octets = int(words[0]), int(words[1])
    rest = words[2:]
    target: str | None = None
    if rest[1] not in _OPT_COLUMN:  # a rule without -j leaves the target column empty
        target, rest = rest[0], rest[1:]
    protocol, _opt, _in_if, out_if, source, destination = rest[:6]
    extra = " ".join(rest[6:])
    conds: dict[str, Cond] = {}
    proto = _PROTO_NUMBERS.get(protocol.lstrip("!"), protocol.lstrip("!")).lower()
    if proto != "all":
        conds["protocol"] = Cond((proto,), protocol.startswith("!"))
    for name, value in (("saddr", source), ("daddr", destination)):
        if value.lstrip("!") != "0.0.0.0/0":
            conds[name] = Cond((value.lstrip("!"),), value.startswith("!"))
    if out_if.lstrip("!") != "*":
        conds["oif"] = Cond((out_if.lstrip("!"),), out_if.startswith("!"))
    for name, pattern in (
        ("dport", r"dpts?:(!)?(\S+)"),
        ("sport", r"spts?:(!)?(\S+)"),
        ("dport", r"multiport dports (!\s*)?(\S+)"),
        ("sport", r"multiport sports (!\s*)?(\S+)"),
        ("uid", r"owner UID match (!\s*)?(\S+)"),
        ("ctstate", r"(?:ctstate|state) (!\s*)?(\S+)"),
    ):
        found = re.search(pattern, extra)
        if found:
            conds[name] = Cond(_option_values(name, found.group(2)), bool(found.group(1)))
    text = " ".join(w for w in (target or "", *rest) if w)
    unknown = bool(re.search(r"match-set|mark match|limit:|recent:|string match", extra))
    return Rule(
        "iptables",
        table,
        chain,
        text,
        target,
        _match(conds, unknown),
        packets,
        octets,
        key=f"iptables {table} {chain} {text} @{position}",
        remove=f"iptables -t {table} -D {chain} {position}",
    )


# ---------------------------------------------------------------------------------------
# nft -j list ruleset


def parse_nft_json(text: str) -> tuple[list[Rule], dict[str, frozenset[str]]]:
    """Rules and base-chain hooks from `nft -j list ruleset`.

    Returns the rules and, per "family table chain", the hooks of base chains (so that
    `reachable_chains` can tell output chains from input chains).
    """
    document = json.loads(text)
    items = document.get("nftables", []) if isinstance(document, dict) else []
    rules: list[Rule] = []
    hooks: dict[str, frozenset[str]] = {}
    sets: dict[str, tuple[str, ...] | None] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        named = item.get("set")
        if isinstance(named, dict):
            where = f"{named.get('family')} {named.get('table')} {named.get('name')}"
            sets[where] = _nft_values({"set": named.get("elem") or []})
        chain = item.get("chain")
        if isinstance(chain, dict) and chain.get("hook"):
            where = f"{chain.get('family')} {chain.get('table')}"
            hooks[f"{where} {chain.get('name')}"] = frozenset({str(chain["hook"])})
            if chain.get("policy") == "drop":
                rules.append(
                    Rule(
                        "nftables",
                        where,
                        str(chain.get("name")),
                        f"chain {chain.get('name')} policy drop",
                        "DROP",
                        key=f"nftables {where} {chain.get('name')} policy",
                        remove=f"nft chain {where} {chain.get('name')} '{{ policy accept; }}'",
                        policy=True,
                    )
                )
        rule = item.get("rule")
        if isinstance(rule, dict):
            rules.append(_nft_rule(rule, sets))
    return rules, hooks


def _nft_rule(rule: Mapping[str, Any], sets: Mapping[str, tuple[str, ...] | None]) -> Rule:
    where = f"{rule.get('family')} {rule.get('table')}"
    chain = str(rule.get("chain"))
    conds: dict[str, Cond] = {}
    unknown = False
    words: list[str] = []
    verdict: str | None = None
    packets = octets = None
    exprs = rule.get("expr")
    for expr in exprs if isinstance(exprs, list) else []:
        if not isinstance(expr, dict) or not expr:
            continue
        kind, body = next(iter(expr.items()))
        if kind == "match" and isinstance(body, dict):
            right = body.get("right")
            shown = _nft_match(body)[2]
            if isinstance(right, str) and right.startswith("@"):
                members = sets.get(f"{where} {right[1:]}")
                if members is not None:  # a named set: match on its elements
                    body = {**body, "right": {"set": list(members)}}
            name, cond, _ = _nft_match(body)
            unknown = unknown or name is None
            if name:
                if name == "dport" and body["left"].get("payload", {}).get("protocol") in (
                    "tcp",
                    "udp",
                ):
                    conds.setdefault("protocol", Cond((body["left"]["payload"]["protocol"],)))
                conds[name] = cond
            words.append(shown)
        elif kind == "counter" and isinstance(body, dict):
            packets, octets = body.get("packets"), body.get("bytes")
            words.append(f"counter packets {packets} bytes {octets}")
        elif kind in ("accept", "drop", "return", "reject", "queue"):
            verdict = kind.upper()
            words.append(kind)
        elif kind in ("jump", "goto") and isinstance(body, dict):
            verdict = str(body.get("target"))
            words.append(f"{kind} {verdict}")
        elif kind == "xt" and isinstance(body, dict):
            if body.get("type") == "target":
                verdict = str(body.get("name"))
            words.append(f"xt {body.get('type')} {body.get('name')}")
        else:
            words.append(json.dumps(expr, separators=(",", ":")))
    handle = rule.get("handle")
    return Rule(
        "nftables",
        where,
        chain,
        " ".join(words),
        verdict,
        _match(conds, unknown),
        packets if isinstance(packets, int) else None,
        octets if isinstance(octets, int) else None,
        key=f"nftables {where} {chain} handle {handle}",
        remove=f"nft delete rule {where} {chain} handle {handle}",
    )


def _nft_match(body: Mapping[str, Any]) -> tuple[str | None, Cond, str]:
    """(condition name or None when we do not evaluate it, the condition, its text)."""
    op, left, right = body.get("op"), body.get("left"), body.get("right")
    shown_left = _nft_left_text(left)
    values = _nft_values(right)
    shown = f"{shown_left} {'' if op in ('==', 'in') else str(op) + ' '}{_nft_right_text(right)}"
    name = None
    if isinstance(left, dict):
        payload, meta, ct = left.get("payload"), left.get("meta"), left.get("ct")
        if isinstance(payload, dict):
            name = {
                "daddr": "daddr",
                "saddr": "saddr",
                "dport": "dport",
                "sport": "sport",
                "protocol": "protocol",
            }.get(str(payload.get("field")))
        elif isinstance(meta, dict):
            name = {"l4proto": "protocol", "skuid": "uid", "oifname": "oif"}.get(
                str(meta.get("key"))
            )
        elif isinstance(ct, dict) and ct.get("key") == "state":
            name = "ctstate"
    if op not in ("==", "!=", "in") or values is None:
        name = None  # ranges by comparison, set references: not evaluated (may match)
    return name, Cond(values or (), op == "!="), shown.strip()


def _nft_values(right: Any) -> tuple[str, ...] | None:
    if isinstance(right, bool):
        return None
    if isinstance(right, (str, int)):
        return None if str(right).startswith("@") else (str(right).lower(),)
    if isinstance(right, list):
        return tuple(str(v).lower() for v in right)
    if isinstance(right, dict):
        prefix, bounds, members = right.get("prefix"), right.get("range"), right.get("set")
        if isinstance(prefix, dict):
            return (f"{prefix.get('addr')}/{prefix.get('len')}",)
        if isinstance(bounds, list) and len(bounds) == 2:
            return (f"{bounds[0]}-{bounds[1]}",)
        if isinstance(members, list):
            out: list[str] = []
            for element in members:
                values = _nft_values(element)
                if values is None:
                    return None
                out += values
            return tuple(out)
    return None


def _nft_left_text(left: Any) -> str:
    if isinstance(left, dict):
        for kind in ("payload", "meta", "ct"):
            inner = left.get(kind)
            if isinstance(inner, dict):
                if kind == "payload":
                    return f"{inner.get('protocol')} {inner.get('field')}"
                return f"{'meta' if kind == 'meta' else 'ct'} {inner.get('key')}"
    return json.dumps(left, separators=(",", ":"))


def _nft_right_text(right: Any) -> str:
    if isinstance(right, dict):
        prefix, bounds, members = right.get("prefix"), right.get("range"), right.get("set")
        if isinstance(members, list):
            return "{ " + ", ".join(_nft_right_text(v) for v in members) + " }"
        if isinstance(prefix, dict):
            return f"{prefix.get('addr')}/{prefix.get('len')}"
        if isinstance(bounds, list):
            return "-".join(str(v) for v in bounds)
    if isinstance(right, list):
        return ",".join(str(v) for v in right)
    return str(right)


# ---------------------------------------------------------------------------------------
# nft list ruleset (text): older nft without JSON, and the recorded agent sample


def parse_nft_text(text: str) -> tuple[list[Rule], dict[str, frozenset[str]]]:
    rules: list[Rule] = []
    hooks: dict[str, frozenset[str]] = {}
    table = chain = ""
    depth = 0
    position = 0
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        opened = re.match(r"table\s+(\w+)\s+(\S+)\s*\{", line)
        if opened and depth == 0:
            table, depth = f"{opened.group(1)} {opened.group(2)}", 1
            continue
        opened = re.match(r"(chain|set|map|flowtable|counter|quota|limit)\s+(\S+)\s*\{", line)
        if opened and depth == 1:
            chain = opened.group(2) if opened.group(1) == "chain" else ""
            depth, position = 2, 0
            continue
        if line == "}":
            depth -= 1
            chain = chain if depth >= 2 else ""
            continue
        if depth != 2 or not chain:
            continue
        base = re.match(r"type\s+\w+\s+hook\s+(\w+).*?policy\s+(\w+)", line)
        if base:
            hooks[f"{table} {chain}"] = frozenset({base.group(1)})
            if base.group(2) == "drop":
                rules.append(
                    Rule(
                        "nftables",
                        table,
                        chain,
                        f"chain {chain} policy drop",
                        "DROP",
                        key=f"nftables {table} {chain} policy",
                        policy=True,
                    )
                )
            continue
        position += 1
        rules.append(_nft_text_rule(line, table, chain, position))
    return rules, hooks


def _nft_text_rule(line: str, table: str, chain: str, position: int) -> Rule:
    conds: dict[str, Cond] = {}
    value = r"(!=\s*)?(\{[^}]*\}|\S+)"
    for name, pattern in (
        ("daddr", rf"ip daddr {value}"),
        ("saddr", rf"ip saddr {value}"),
        ("dport", rf"(?:tcp|udp|th) dport {value}"),
        ("sport", rf"(?:tcp|udp|th) sport {value}"),
        ("protocol", rf"(?:meta l4proto|ip protocol) {value}"),
        ("uid", rf"(?:meta )?skuid {value}"),
        ("ctstate", rf"ct state {value}"),
        ("oif", rf"oifname {value}"),
    ):
        found = re.search(pattern, line)
        if found and not found.group(2).startswith("@"):
            items = [v.strip('"').lower() for v in re.split(r"[\s,{}]+", found.group(2)) if v]
            conds[name] = Cond(tuple(items), bool(found.group(1)))
    proto = re.search(r"\b(tcp|udp) [ds]port", line)
    if proto and "protocol" not in conds:
        conds["protocol"] = Cond((proto.group(1),))
    unknown = "@" in line or bool(re.search(r"\bmark\b|\blimit\b|\bfib\b", line))
    counter = re.search(r"counter packets (\d+) bytes (\d+)", line)
    verdict_word = re.search(r"\b(accept|drop|reject|return|queue|jump \S+|goto \S+)\b", line)
    verdict = None
    if verdict_word:
        word = verdict_word.group(1)
        verdict = word.split()[1] if " " in word else word.upper()
    return Rule(
        "nftables",
        table,
        chain,
        line,
        verdict,
        _match(conds, unknown),
        int(counter.group(1)) if counter else None,
        int(counter.group(2)) if counter else None,
        key=f"nftables {table} {chain} @{position}",
    )


# ---------------------------------------------------------------------------------------
# firewalld direct rules


def parse_firewalld_direct(text: str) -> list[Rule]:
    """/etc/firewalld/direct.xml: permanent direct rules (they carry no counters)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return []  # the real file has neither; refuse rather than expand entities
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return []
    rules: list[Rule] = []
    for element in root.iter("rule"):
        if element.get("ipv", "ipv4") != "ipv4":
            continue
        table, chain = element.get("table", "filter"), element.get("chain", "")
        spec = (element.text or "").strip()
        match, verdict = parse_iptables_spec(spec)
        priority = element.get("priority", "0")
        rules.append(
            Rule(
                "firewalld",
                f"direct {table}",
                chain,
                f"ipv4 {table} {chain} {priority} {spec}",
                verdict,
                match,
                key=f"firewalld {table} {chain} {spec}",
                remove=f"firewall-cmd --permanent --direct --remove-rule ipv4 {table} {chain} "
                f"{priority} {spec}",
            )
        )
    return rules


# ---------------------------------------------------------------------------------------
# Decisions


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
    """One of the guest agent's own rules (DESIGN 8): expected, not a problem."""
    if rule.source == "nftables":
        return rule.table.split()[-1] == "walinuxagent"
    if rule.source != "iptables" or rule.table != "security" or rule.chain != "OUTPUT":
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


# ---------------------------------------------------------------------------------------
# Reading the machine


def read_snapshot(system: System, timeout_s: float) -> Snapshot:
    """Every netfilter rule this user can read, with counters; what could not be read is a note.

    `timeout_s` bounds the whole snapshot, not each of its commands: they run one after
    another and share it.
    """
    budget = Deadline(timeout_s)
    rules: list[Rule] = []
    sources: list[str] = []
    notes: list[str] = []
    hooks: dict[str, frozenset[str]] = {}

    iptables = _read_iptables(system, budget, notes)
    if iptables is not None:
        command, found = iptables
        sources.append(command)
        rules += found
    nft = _read_nft(system, budget, notes)
    if nft is not None:
        command, found, found_hooks = nft
        # iptables-nft keeps its rules in nft tables named like the iptables tables:
        # list them once, from iptables, where they read as people wrote them.
        shown = {r.table for r in rules if r.source == "iptables"}
        found = [r for r in found if not _is_iptables_nft_table(r.table, shown)]
        sources.append(command)
        rules += found
        hooks.update(found_hooks)
    try:
        direct = parse_firewalld_direct(system.read_text(FIREWALLD_DIRECT_XML))
    except OSError:
        direct = []
    else:
        sources.append(FIREWALLD_DIRECT_XML)
    rules += direct
    return Snapshot(tuple(rules), tuple(sources), tuple(notes), hooks)


def _is_iptables_nft_table(table: str, iptables_tables: set[str]) -> bool:
    family, _, name = table.partition(" ")
    return family == "ip" and name in iptables_tables


def _read_iptables(
    system: System, budget: Deadline, notes: list[str]
) -> tuple[str, list[Rule]] | None:
    done = system.run_command(["iptables-save", "-c"], budget.remaining())
    if done.ok:
        return "iptables-save -c", parse_iptables_save(done.stdout)
    if done.error and "not installed" in done.error:
        # Some minimal images ship iptables without the -save tools.
        found: list[Rule] = []
        listed = False
        for table in IPTABLES_TABLES:
            shown = system.run_command(
                ["iptables", "-w", "-t", table, "-L", "-nxv"], budget.remaining()
            )
            if shown.error:
                notes.append(f"iptables: {shown.error}: no iptables rules read")
                return None
            if shown.ok:
                listed = True
                found += parse_iptables_list(shown.stdout, table)
        return ("iptables -L -nxv", found) if listed else None
    notes.append(f"iptables-save -c: {_why(done.error, done.stderr)}")
    return None


def _read_nft(
    system: System, budget: Deadline, notes: list[str]
) -> tuple[str, list[Rule], dict[str, frozenset[str]]] | None:
    done = system.run_command(["nft", "-j", "list", "ruleset"], budget.remaining())
    if done.ok:
        try:
            rules, hooks = parse_nft_json(done.stdout or '{"nftables": []}')
        except ValueError:
            notes.append("nft -j list ruleset: the output is not JSON")
            return None
        return "nft -j list ruleset", rules, hooks
    if done.error:
        notes.append(f"nft: {done.error}: no nftables rules read")
        return None
    if "json" in done.stderr.lower():  # an nft built without JSON support
        text = system.run_command(["nft", "list", "ruleset"], budget.remaining())
        if text.ok:
            rules, hooks = parse_nft_text(text.stdout)
            return "nft list ruleset", rules, hooks
    notes.append(f"nft list ruleset: {_why(done.error, done.stderr)}")
    return None


def _why(error: str | None, stderr: str) -> str:
    if error:
        return error
    text = " ".join(stderr.split())
    if re.search(r"permission denied|not permitted|must be root", text, re.IGNORECASE):
        return "permission denied (reading firewall rules needs root)"
    return text[:200] or "failed without a message"
