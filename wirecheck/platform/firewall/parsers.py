"""Parsers for what iptables, nft and firewalld print, into `Rule`s. Pure: they take
text, so they are tested on recorded output."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any, NamedTuple
from xml.etree import ElementTree

from wirecheck.model import Deadline
from wirecheck.platform.budget import checked
from wirecheck.platform.firewall.model import Cond, Match, Rule
from wirecheck.platform.firewall.relevance import Interest, keep_relevant

_PROTO_NUMBERS = {"0": "all", "1": "icmp", "6": "tcp", "17": "udp"}
# `iptables -L` without -n names ports by service (`tcp dpt:domain`); the ones that matter here.
_SERVICE_PORTS = {"domain": "53", "http": "80", "https": "443"}


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


_SAVE_POLICY = re.compile(r":(\S+)\s+(ACCEPT|DROP)\s+\[(\d+):(\d+)\]")
_SAVE_RULE = re.compile(r"(?:\[(\d+):(\d+)\]\s+)?-A\s+(\S+)\s*(.*)")


def parse_iptables_save(
    text: str, until: Deadline | None = None, interest: Interest | None = None
) -> list[Rule]:
    """`iptables-save -c`: every table, every rule with `[packets:bytes]`, and chain policies.

    `interest`: keep only the rules that can matter to that traffic (and the policies);
    see `relevance`. Linear in the text; raises OutOfTime when `until` expires first."""
    entries: list[_Entry] = []
    table = ""
    for raw in checked(text.splitlines(), until):
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        policy = _SAVE_POLICY.fullmatch(line)
        if policy:
            chain, verdict, packets, octets = policy.groups()
            entries.append(_Entry(table, chain, verdict, packets, octets, policy=True))
            continue
        counted = _SAVE_RULE.fullmatch(line)
        if counted:
            packets, octets, chain, spec = counted.groups()
            entries.append(_Entry(table, chain, spec, packets, octets))
    return _rules(entries, until, interest)


class _Entry(NamedTuple):
    """One line of a listing, before it is parsed: a rule (its spec) or a chain's policy."""

    table: str
    chain: str
    spec: str  # the policy's verdict, for a policy
    packets: str | None
    octets: str | None
    policy: bool = False


def _rules(
    entries: list[_Entry],
    until: Deadline | None,
    interest: Interest | None,
    entering: bool = False,
) -> list[Rule]:
    """The entries parsed, in order; with `interest`, only those that can matter to it
    (`entering`: and the jumps that can match its packets)."""
    keep = [True] * len(entries)
    if interest is not None:
        tables: dict[str, list[int]] = {}
        for index, entry in enumerate(entries):
            if not entry.policy:
                tables.setdefault(entry.table, []).append(index)
        for indexes in tables.values():
            kept = keep_relevant(
                [(entries[i].chain, entries[i].spec) for i in indexes], interest, entering
            )
            for index, wanted in zip(indexes, kept):
                keep[index] = wanted
    rules: list[Rule] = []
    seen: dict[tuple[str, str, str], int] = {}
    for entry, wanted in checked(zip(entries, keep), until):
        if entry.policy:
            packets, octets = entry.packets or "0", entry.octets or "0"
            rules.append(_policy_rule(entry.table, entry.chain, entry.spec, packets, octets))
            continue
        occurrence = seen.setdefault((entry.table, entry.chain, entry.spec), 0)
        seen[(entry.table, entry.chain, entry.spec)] += 1
        if wanted:
            rules.append(
                _spec_rule(
                    entry.table, entry.chain, entry.spec, entry.packets, entry.octets, occurrence
                )
            )
    return rules


def _spec_rule(
    table: str, chain: str, spec: str, packets: str | None, octets: str | None, occurrence: int
) -> Rule:
    """A rule in iptables-save syntax; `occurrence`: how many identical ones came before
    (their keys differ)."""
    match, verdict = parse_iptables_spec(spec)
    return Rule(
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


# ---------------------------------------------------------------------------------------
# iptables -t TABLE -S -v

_RULES_POLICY = re.compile(r"-P\s+(\S+)\s+(ACCEPT|DROP)(?:\s+-c\s+(\d+)\s+(\d+))?")
_RULES_RULE = re.compile(r"-A\s+(\S+)\s*(.*)")
# `-S -v` puts the counters before the target (`... -c 12 720 -j DROP`), or last.
_RULES_COUNTERS = re.compile(r"(?:^|\s)-c\s+(\d+)\s+(\d+)(?=\s+-[jg]\s|\s*$)")


def parse_iptables_rules(
    text: str,
    table: str,
    until: Deadline | None = None,
    interest: Interest | None = None,
    entering: bool = False,
) -> list[Rule]:
    """`iptables -w -t TABLE -S -v` (or `-S CHAIN`): rules and policies, with counters, in
    the syntax of iptables-save (the same keys and removal commands). `interest`: as for
    `parse_iptables_save`; `entering`: keep the jumps that can match its packets too (a
    walk follows them). Linear in the text; raises OutOfTime when `until` expires first."""
    entries: list[_Entry] = []
    for raw in checked(text.splitlines(), until):
        line = raw.strip()
        policy = _RULES_POLICY.fullmatch(line) if line.startswith("-P") else None
        if policy:
            chain, verdict, packets, octets = policy.groups()
            entries.append(_Entry(table, chain, verdict, packets, octets, policy=True))
            continue
        added = _RULES_RULE.fullmatch(line)
        if not added:
            continue  # -N CHAIN, blank lines
        chain, spec = added.groups()
        packets = octets = None
        at = spec.rfind("-c ")
        if at != -1:
            # The counters: before the target, or last (a quoted comment cannot end there).
            counters = _RULES_COUNTERS.search(spec, max(0, at - 1)) or next(
                reversed(list(_RULES_COUNTERS.finditer(spec))), None
            )
            if counters is not None:
                packets, octets = counters.groups()
                spec = f"{spec[: counters.start()]} {spec[counters.end() :]}".strip()
                spec = " ".join(spec.split()) if "  " in spec else spec
        entries.append(_Entry(table, chain, spec, packets, octets))
    return _rules(entries, until, interest, entering)


def parse_iptables_spec(spec: str) -> tuple[Match, str | None]:
    """The conditions and target of one rule in iptables-save syntax."""
    words = _shell_words(spec)
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


# A shell word: plain characters, backslash escapes and quoted parts, as iptables-save
# quotes comments (`--comment "ns/svc:http"`).
_WORD_PATTERN = r"""(?:[^\s"'\\]|\\.|"(?:[^"\\]|\\.)*"|'[^']*')+"""
_WORD = re.compile(_WORD_PATTERN)
_WORDS = re.compile(rf"\s*(?:{_WORD_PATTERN}\s*)*")
_QUOTED = re.compile(r"""\\(.)|"((?:[^"\\]|\\.)*)"|'([^']*)'""")


def _shell_words(spec: str) -> list[str]:
    """`spec` split as a POSIX shell would (what shlex.split does, 20x quicker: a big
    ruleset has tens of thousands of quoted comments); unbalanced quotes: split on spaces."""
    if '"' not in spec and "'" not in spec and "\\" not in spec:
        return spec.split()
    simple = "'" not in spec and "\\" not in spec and spec.count('"') % 2 == 0
    if not simple and not _WORDS.fullmatch(spec):
        try:  # an odd form (a trailing backslash, an unbalanced quote): shlex decides
            return shlex.split(spec)
        except ValueError:
            return spec.split()
    return [_unquote_word(word) for word in _WORD.findall(spec)]


def _unquote_word(word: str) -> str:
    if '"' not in word and "'" not in word and "\\" not in word:
        return word
    if word[0] == word[-1] == '"' and word.count('"') == 2 and "\\" not in word:
        return word[1:-1]  # iptables-save's quoted comment: the usual quoted word
    return _QUOTED.sub(_unquoted, word)


def _unquoted(found: re.Match[str]) -> str:
    escaped, double, single = found.groups()
    if escaped is not None:
        return escaped
    if double is not None:
        return re.sub(r"\\([\\\"])", r"\1", double)  # shlex: the only escapes inside "..."
    return single or ""


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
        return tuple(_SERVICE_PORTS.get(p, p).replace(":", "-") for p in parts)
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
            r"Chain (\S+) \((?:policy (\S+) (\d+[KMGT]?) packets, (\d+[KMGT]?) bytes|"
            r"\d+ references)\)",
            raw,
        )
        if head:
            chain, verdict, packets, octets = head.groups()
            position = 0
            if verdict:
                counts = str(_count(packets) or 0), str(_count(octets) or 0)
                rules.append(_policy_rule(table, chain, verdict, *counts))
            continue
        words = raw.split()
        if not words or not chain:
            continue
        if words[0] in ("pkts", "num"):
            numbered = words[0] == "num"
            continue
        if numbered:
            words = words[1:]
        if len(words) < 8 or not (_count(words[0]) is not None and _count(words[1]) is not None):
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
_ANY_ADDRESS = ("0.0.0.0/0", "anywhere")
_ANY_INTERFACE = ("*", "any")
_UNITS = {"K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


def _count(word: str) -> int | None:
    """A counter as `iptables -L -v` prints it: exact with -x, else `4324K` (powers of 1000)."""
    if word.isdigit():
        return int(word)
    if len(word) > 1 and word[:-1].isdigit() and word[-1] in _UNITS:
        return int(word[:-1]) * _UNITS[word[-1]]
    return None


def _list_row(words: list[str], table: str, chain: str, position: int) -> Rule:
    packets, octets = _count(words[0]) or 0, _count(words[1]) or 0
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
        if value.lstrip("!") not in _ANY_ADDRESS:
            conds[name] = Cond((value.lstrip("!"),), value.startswith("!"))
    if out_if.lstrip("!") not in _ANY_INTERFACE:
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
    for element in root.iter("passthrough"):
        passed = _passthrough(element.get("ipv", "ipv4"), (element.text or "").strip())
        if passed is not None:
            rules.append(passed)
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


def _passthrough(ipv: str, args: str) -> Rule | None:
    """One direct passthrough (`-t security -A OUTPUT <spec>`): the rule firewalld adds with
    iptables when it starts, in its table and chain (the guest agent persists its rules so)."""
    if ipv != "ipv4":
        return None
    found = re.fullmatch(r"(?:-t\s+(\S+)\s+)?(?:-A|--append|-I|--insert)\s+(\S+)\s*(.*)", args)
    if not found:
        return None
    table, chain, spec = found.group(1) or "filter", found.group(2), found.group(3)
    match, verdict = parse_iptables_spec(spec)
    return Rule(
        "firewalld",
        f"direct {table}",
        chain,
        f"passthrough ipv4 {args}",
        verdict,
        match,
        key=f"firewalld passthrough {args}",
        remove=f"firewall-cmd --permanent --direct --remove-passthrough ipv4 {args}",
    )
