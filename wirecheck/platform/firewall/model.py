"""Local firewall rules as data: a rule, its match conditions, and a snapshot of all
rules read at one moment. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Verdicts that stop a packet; a rule with one of these that counts packets of a failed
# probe is the culprit.
BLOCKING = frozenset({"DROP", "REJECT", "BLOCK"})  # BLOCK: Windows Firewall
IPTABLES_TABLES = ("raw", "mangle", "nat", "filter", "security")
# Chains locally generated packets (and their replies) traverse, by direction.
OUT_HOOKS = frozenset({"OUTPUT", "POSTROUTING", "output", "postrouting"})
IN_HOOKS = frozenset({"INPUT", "PREROUTING", "input", "prerouting"})
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
    # iptables tables left out, to be read once per run rather than before and after the
    # probes (the nat table, which cannot drop, of a big iptables-nft ruleset).
    deferred: tuple[str, ...] = ()
    # Tables read only once (no counters from before the probes to compare with).
    once: tuple[str, ...] = ()
    # What was not read in full (its time ran out), in words: no rule's absence may be
    # stated for it.
    incomplete: tuple[str, ...] = ()
    read_s: float = 0.0  # how long reading it took (the next reading takes about as long)

    @property
    def readable(self) -> bool:
        """Whether the rules in force were read (iptables or nft). firewalld's direct.xml
        alone does not count: it is configuration, readable by anyone, and says nothing
        about what the kernel does."""
        return any(source != FIREWALLD_DIRECT_XML for source in self.sources)
