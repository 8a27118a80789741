"""Which iptables rules can matter to the probes' traffic, decided from the rule's text
before it is parsed: a Kubernetes node's 50k rules are nearly all about its own service
addresses, and parsing each costs more than the whole analysis of the few that remain.

A rule can matter when it names one of the addresses of interest (its -d/-s network
holds one) or one of the ports (its --dport/--sport), or when it stops packets (DROP,
REJECT) and its destination does not exclude every address of interest: exactly the rules
the firewall check can report. A jump matters when it leads to a chain that holds a rule
that matters (the path into that chain is judged from the jumps). Every other rule is
left out, and counted. Conservative by construction: a form these patterns do not read
keeps the rule, and a test holds them to the parser's reading.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from wirecheck.platform.firewall.model import BLOCKING


@dataclass(frozen=True)
class Interest:
    """The traffic the probes send: to these addresses, on these ports."""

    addresses: tuple[str, ...]
    ports: tuple[int, ...]


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'[^']*'")
# A comment, quoted (`--comment "ns/svc:http"`, as kube-proxy writes them) or not.
_COMMENT = re.compile(r'(?:^|\s)--comment\s+(?:"(?:[^"\\]|\\.)*"|\S+)')
_TARGET = re.compile(r"(?:^|\s)(?:-j|--jump|-g|--goto)\s+(\S+)")
_ADDRESS = re.compile(r"(?:^|\s)(!\s+)?(-d|--destination|--dst|-s|--source|--src)\s+(!\s+)?(\S+)")
_DESTINATION = ("-d", "--destination", "--dst")
_DESTINATION_PORTS = ("--dport", "--dports", "--destination-port", "--destination-ports")
_PORT = re.compile(
    r"(?:^|\s)(!\s+)?(--dports?|--destination-ports?|--sports?|--source-ports?)\s+(!\s+)?(\S+)"
)


def conditions(spec: str) -> tuple[str, str | None]:
    """The part of an iptables-save rule spec that holds its conditions (quoted words and
    comments blanked, the target and its own options cut off), and its target."""
    plain = _COMMENT.sub(" ", spec) if "--comment" in spec else spec
    if '"' in plain or "'" in plain:
        plain = _QUOTED.sub('""', plain)
    target = _TARGET.search(plain)
    if target is None:
        return plain, None
    return plain[: target.start()], target.group(1)


def may_matter(spec: str, interest: Interest) -> bool:
    """Whether a rule (its iptables-save spec, `-A CHAIN` left out) can touch or name the
    traffic of `interest`; False only when it surely cannot."""
    return _judge(*conditions(spec), interest)[0]


def may_enter(spec: str, interest: Interest) -> bool:
    """Whether a rule (a jump) can match a packet sent to `interest`: its destination and
    destination port do not exclude all of them. False only when it surely cannot."""
    return _judge(*conditions(spec), interest)[1]


# The "before" and "after" snapshots hold the same rules: each is judged once per run.
@lru_cache(maxsize=1 << 16)
def _judged(spec: str, interest: Interest) -> tuple[str | None, bool, bool]:
    """(target, may matter, may match a packet sent to `interest`) of a rule's spec."""
    plain, target = conditions(spec)
    return (target, *_judge(plain, target, interest))


def _judge(plain: str, target: str | None, interest: Interest) -> tuple[bool, bool]:
    """(may matter, may match a packet sent to `interest`), in one pass over the text."""
    wanted = _wanted(interest.addresses)
    named = False
    enters = True  # no destination condition excludes every address and port
    excluded = False  # a destination condition excludes every address
    if " -" in plain or plain.startswith(("-", "!")):
        # As the parser reads a rule, a condition given twice counts once: the last.
        last: dict[str, tuple[bool, str]] = {}
        for negated, option, negated_after, value in _ADDRESS.findall(plain):
            kind = "daddr" if option in _DESTINATION else "saddr"
            last[kind] = (bool(negated or negated_after), value)
        for negated, option, negated_after, value in _PORT.findall(plain):
            kind = "dport" if option in _DESTINATION_PORTS else "sport"
            last[kind] = (bool(negated or negated_after), value)
        for kind, (negated, value) in last.items():
            if negated:
                continue  # `! -d X` lets what is outside X through; it names nothing
            if kind in ("daddr", "saddr"):
                holding = [v for v in value.split(",") if v and _holds_any(v, wanted)]
                named = named or any(not v.endswith("/0") for v in holding)
                if kind == "daddr" and not holding:
                    enters, excluded = False, True
            else:
                hit = _names_port(value, interest.ports)
                named = named or hit
                if kind == "dport" and not hit:
                    enters = False
    # A blocking rule may stop our packets unless its destination excludes them all (its
    # ports aside: a rule is judged for the probes' replies too).
    stops = target is not None and target.upper() in BLOCKING
    return named or (stops and not excluded), enters


def keep_relevant(
    rules: Sequence[tuple[str, str]], interest: Interest, entering: bool = False
) -> list[bool]:
    """For each (chain, spec) of one table: whether to keep it. The rules that may matter,
    and every jump on a path into a chain that holds one; `entering`: also every jump that
    can match a packet of `interest` (to follow it into chains not read yet)."""
    targets: list[str | None] = []
    keep: list[bool] = []
    wanted: set[str] = set()
    for chain, spec in rules:
        target, matters, enters = _judged(spec, interest)
        targets.append(target)
        matters = matters or (entering and target is not None and enters)
        keep.append(matters)
        if matters:
            wanted.add(chain)
    callers: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        if target is not None:
            callers.setdefault(target, []).append(index)
    queue = list(wanted)
    while queue:  # backwards along the jumps, each chain once
        for index in callers.get(queue.pop(), ()):
            keep[index] = True
            chain = rules[index][0]
            if chain not in wanted:
                wanted.add(chain)
                queue.append(chain)
    return keep


def _names_port(value: str, ports: Iterable[int]) -> bool:
    for part in value.split(","):
        low, _, high = part.replace(":", "-").partition("-")
        try:
            if any(int(low) <= port <= int(high or low) for port in ports):
                return True
        except ValueError:
            return True  # a service name: may be one of ours
    return False


@lru_cache(maxsize=64)
def _wanted(addresses: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(int(ipaddress.IPv4Address(a)) for a in addresses)


def _holds_any(value: str, addresses: tuple[int, ...]) -> bool:
    """Whether the network `value` ("a.b.c.d/n" or an address) holds one of `addresses`.
    Integer arithmetic: ipaddress costs 10x, and a big ruleset names each network once."""
    network, _, length = value.partition("/")
    try:
        octets = [int(part) for part in network.split(".")]
        bits = int(length) if length else 32
    except ValueError:
        return True  # a name, a dotted mask: may hold one
    if len(octets) != 4 or not all(0 <= o <= 255 for o in octets) or not 0 <= bits <= 32:
        return True
    number = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    shift = 32 - bits
    return any((number ^ address) >> shift == 0 for address in addresses)
