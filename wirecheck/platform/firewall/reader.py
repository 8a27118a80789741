"""Reading the machine's rules: iptables (or its -L form where -save is missing), nft
and firewalld's direct rules, into one `Snapshot`, within a time budget.

Where iptables is iptables-nft, `iptables-save` fetches and translates every table on
every call (seconds for a Kubernetes node's 50k rules), and `nft list ruleset` lists those
same rules again: so there the tables are read one by one (`iptables -t T -S -v`), only
those the kernel has, and nft only for its native tables (whose names the kernel gives,
`nft_tables`). A caller may also leave the nat table out (`defer_nat`), to read it once
per run (`DEFERRED_TABLES`) rather than before and after the probes: nat cannot drop a
packet, so its counters never name a culprit.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from wirecheck.model import Deadline
from wirecheck.platform.budget import Cutoff, OutOfTime
from wirecheck.platform.firewall.model import FIREWALLD_DIRECT_XML, IPTABLES_TABLES, Rule, Snapshot
from wirecheck.platform.firewall.nft_tables import NftTable
from wirecheck.platform.firewall.parsers import (
    parse_firewalld_direct,
    parse_iptables_list,
    parse_iptables_rules,
    parse_iptables_save,
    parse_nft_json,
    parse_nft_text,
)
from wirecheck.platform.firewall.relevance import Interest, keep_relevant
from wirecheck.platform.sources import Source, Subject
from wirecheck.system import System

IPTABLES_PER_TABLE = "iptables -S -v"
# More chains than this in iptables-nft's tables (a Kubernetes node has one per service and
# endpoint): reading them one table at a time beats one iptables-save, which fetches and
# translates every table whatever it is asked; below it, one command beats five.
MANY_CHAINS = 100
NFT_PER_TABLE = "nft -j list table"


@dataclass
class _Read:
    """What a snapshot gathers as its readers go."""

    rules: list[Rule] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hooks: dict[str, frozenset[str]] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)
    iptables_tables: set[str] = field(default_factory=set)  # those iptables shows
    deferred: tuple[str, ...] = ()
    interest: Interest | None = None  # keep only the rules that can matter to it


def read_snapshot(
    system: System,
    timeout_s: float,
    *,
    defer_nat: bool = False,
    until: Deadline | None = None,
    interest: Interest | None = None,
) -> Snapshot:
    """Every netfilter rule this user can read, with counters; what could not be read is a note.

    `timeout_s` bounds the whole snapshot, not each of its commands: they run one after
    another and share it (`until`, when given, too: the parsing of a huge output stops at
    it). `defer_nat`: leave iptables-nft's nat table out, as `Snapshot.deferred` says.
    `interest`: keep only the iptables rules that can matter to that traffic (`relevance`).
    """
    started = time.monotonic()
    budget = Deadline(timeout_s)
    limit = _sooner(budget, until)
    read = _Read(interest=interest)
    tables = _nft_table_list(system)
    try:
        _read_iptables(system, limit, read, tables, defer_nat)
        _read_nft(system, limit, read, tables)
    except OutOfTime:
        read.incomplete.append("the rules: the time left ran out while they were read")
    try:
        direct = parse_firewalld_direct(system.read_text(FIREWALLD_DIRECT_XML))
    except OSError:
        pass
    else:
        read.sources.append(FIREWALLD_DIRECT_XML)
        read.rules += direct
    return Snapshot(
        tuple(read.rules),
        tuple(read.sources),
        tuple(read.notes),
        read.hooks,
        deferred=read.deferred,
        incomplete=tuple(read.incomplete),
        read_s=time.monotonic() - started,
    )


def read_iptables_tables(
    system: System, until: Deadline, tables: Sequence[str], interest: Interest | None = None
) -> Snapshot:
    """Some iptables-nft tables read once: nat chain by chain from where locally sent
    packets enter it (`walk_nat`), the others one command each (`iptables -t T -S -v`)."""
    read = _Read(interest=interest)
    try:
        if "nat" in tables and interest is not None:
            walk_nat(system, until, read, interest)
        _per_table(system, until, read, [t for t in tables if t != "nat" or interest is None])
    except OutOfTime:
        read.incomplete.append(f"iptables {', '.join(tables)} table: its time ran out")
    return Snapshot(
        tuple(read.rules),
        tuple(read.sources),
        tuple(read.notes),
        once=tuple(tables),
        incomplete=tuple(read.incomplete),
    )


def interest_of(subject: Subject) -> Interest:
    """The traffic whose rules matter: to the target and IMDS, on the probes' ports."""
    return Interest(subject.addresses, subject.ports)


def _deferred(system: System, until: Cutoff, subject: Subject) -> Snapshot:
    return read_iptables_tables(system, until, ("nat",), interest_of(subject))


# The nat table a snapshot left out (`defer_nat`), read once per run, while the probes run;
# its budget is the run's (a Kubernetes node's nat table takes seconds to list).
DEFERRED_TABLES = Source("the iptables nat table", 60.0, _deferred)


# Where locally sent packets enter the nat table (replies never pass through nat: the
# kernel undoes the translation itself), and its other base chains, read but not followed.
NAT_ENTRIES = ("OUTPUT", "POSTROUTING")
NAT_OTHER_BASES = ("PREROUTING", "INPUT")
# More chains than this to follow: one `iptables -S` of the whole table is quicker.
MAX_WALKED_CHAINS = 64
# Targets that are not chains (a jump to one of these is not followed).
_TARGETS = frozenset(
    {
        *("ACCEPT", "DROP", "REJECT", "RETURN", "DNAT", "SNAT", "MASQUERADE", "REDIRECT"),
        *("NETMAP", "MARK", "CONNMARK", "LOG", "NFLOG", "NFQUEUE", "CT", "NOTRACK", "TRACE"),
        *("AUDIT", "CLASSIFY", "DSCP", "TOS", "TTL", "TCPMSS", "CHECKSUM", "TPROXY", "SET"),
    }
)


def walk_nat(system: System, until: Deadline, read: _Read, interest: Interest) -> None:
    """The nat table's chains that packets to `interest` can enter, one `iptables -S CHAIN`
    each: from OUTPUT and POSTROUTING along the jumps that can match such a packet (and
    the other base chains, for their own rules).

    A Kubernetes node's nat table holds a chain per service and per endpoint (tens of
    thousands of rules): listed whole, it costs seconds of iptables-nft's CPU; walked, the
    few chains our packets can enter. A walk that grows past MAX_WALKED_CHAINS reads the
    whole table instead."""
    from wirecheck.platform.firewall.assess import may_touch_any  # pure, same layer

    order: list[str] = []
    rules_of: dict[str, list[Rule]] = {}
    queue = deque(NAT_ENTRIES)
    queued = set(NAT_ENTRIES)
    while queue:
        if len(order) >= MAX_WALKED_CHAINS:
            read.notes.append(
                f"iptables nat: more than {MAX_WALKED_CHAINS} chains on the probes' path: "
                "the whole table was read"
            )
            _per_table(system, until, read, ["nat"])
            return
        chain = queue.popleft()
        rules = _list_nat_chain(system, until, read, chain)
        if rules is None:
            continue
        order.append(chain)
        rules_of[chain] = rules
        for rule in rules:
            target = rule.verdict
            if not target or target in _TARGETS or target in queued:
                continue
            if may_touch_any(rule, interest.addresses, interest.ports):
                queued.add(target)
                queue.append(target)
    for base in NAT_OTHER_BASES:
        rules = _list_nat_chain(system, until, read, base)
        if rules is not None:
            order.append(base)
            rules_of[base] = rules
    walked = [r for chain in order for r in rules_of[chain]]
    specs = [(r.chain, r.text.split(" ", 2)[2] if r.text.count(" ") >= 2 else "") for r in walked]
    relevant = iter(keep_relevant([s for r, s in zip(walked, specs) if not r.policy], interest))
    # The jumps kept to be followed that lead nowhere that matters are dropped now.
    read.rules += [r for r in walked if r.policy or next(relevant)]
    read.sources.append(f"iptables -S -v (nat: {len(order)} chain(s) on the probes' path)")
    read.iptables_tables.add("nat")


def _list_nat_chain(system: System, until: Deadline, read: _Read, chain: str) -> list[Rule] | None:
    done = system.run_command(["iptables", "-w", "-t", "nat", "-v", "-S", chain], until.remaining())
    if not done.ok:
        if chain in (*NAT_ENTRIES, *NAT_OTHER_BASES) and not done.error:
            why = _why(done.error, done.stderr)
            if "does not exist" not in why:
                read.notes.append(f"iptables -t nat -S {chain}: {why}")
        elif done.error:
            read.notes.append(f"iptables -t nat -S {chain}: {done.error}")
        return None  # not a chain after all (a target extension), or gone meanwhile
    # Only what can matter is parsed: the rules about our traffic, and the jumps a packet
    # of it can take (the walk follows them); a service's jump is dismissed from its text.
    return parse_iptables_rules(done.stdout, "nat", until, read.interest, entering=True)


def _sooner(budget: Deadline, until: Deadline | None) -> Deadline:
    if until is None or budget.remaining() <= until.remaining():
        return budget
    return until


def _nft_table_list(system: System) -> list[NftTable] | None:
    """The kernel's nftables tables; None when it cannot be asked (then nft is asked)."""
    try:
        return [NftTable(*table) for table in system.nft_tables()]
    except OSError:
        return None


def _read_iptables(
    system: System,
    until: Deadline,
    read: _Read,
    nft_tables: list[NftTable] | None,
    defer_nat: bool,
) -> None:
    """One `iptables-save -c` (one command, every table), unless the kernel says the
    iptables-nft tables are big: then table by table, and nat left out when asked."""
    chains = {t.name: t.chains for t in nft_tables or () if t.family == "ip"}
    big = sum(chains.get(t, 0) for t in IPTABLES_TABLES) > MANY_CHAINS
    version = system.run_command(["iptables", "-V"], until.remaining()) if big else None
    if version is not None and version.ok and "nf_tables" in version.stdout:
        present = [t for t in IPTABLES_TABLES if t in chains]
        read.iptables_tables.update(present)
        wanted = [t for t in present if not (defer_nat and t == "nat")]
        read.deferred = tuple(t for t in present if t not in wanted)
        _per_table(system, until, read, wanted)
        return
    _read_iptables_save(system, until, read)


def _per_table(system: System, until: Deadline, read: _Read, tables: Sequence[str]) -> None:
    listed = False
    for table in tables:
        done = system.run_command(["iptables", "-w", "-t", table, "-S", "-v"], until.remaining())
        if not done.ok:
            why = _why(done.error, done.stderr)
            if "does not exist" in why:
                continue  # not loaded here: no rules in it
            read.notes.append(f"iptables -t {table} -S -v: {why}")
            if done.error or "permission" in why:
                return  # the others would fail the same way
            continue
        listed = True
        read.rules += parse_iptables_rules(done.stdout, table, until, read.interest)
    if listed:
        read.sources.append(f"{IPTABLES_PER_TABLE} ({', '.join(tables)})")


def _read_iptables_save(system: System, until: Deadline, read: _Read) -> None:
    done = system.run_command(["iptables-save", "-c"], until.remaining())
    if done.ok:
        found = parse_iptables_save(done.stdout, until, read.interest)
        read.sources.append("iptables-save -c")
        read.rules += found
        read.iptables_tables.update(r.table for r in found)
        return
    if done.error and "not installed" in done.error:
        # Some minimal images ship iptables without the -save tools.
        found = []
        listed = False
        for table in IPTABLES_TABLES:
            shown = system.run_command(
                ["iptables", "-w", "-t", table, "-L", "-nxv"], until.remaining()
            )
            if shown.error:
                read.notes.append(f"iptables: {shown.error}: no iptables rules read")
                return
            if shown.ok:
                listed = True
                found += parse_iptables_list(shown.stdout, table)
        if listed:
            read.sources.append("iptables -L -nxv")
            read.rules += found
            read.iptables_tables.update(r.table for r in found)
        return
    read.notes.append(f"iptables-save -c: {_why(done.error, done.stderr)}")


def _read_nft(system: System, until: Deadline, read: _Read, tables: list[NftTable] | None) -> None:
    # iptables-nft keeps its rules in nft tables named like the iptables tables: list them
    # once, from iptables, where they read as people wrote them.
    shown = {r.table for r in read.rules if r.source == "iptables"} | read.iptables_tables
    if tables is None:
        _read_nft_ruleset(system, until, read, shown)
        return
    native = [(t.family, t.name) for t in tables if not _is_iptables_nft(t.family, t.name, shown)]
    listed = []
    for family, name in native:
        done = system.run_command(["nft", "-j", "list", "table", family, name], until.remaining())
        if not done.ok:
            read.notes.append(f"nft list table {family} {name}: {_why(done.error, done.stderr)}")
            continue
        try:
            rules, hooks = parse_nft_json(done.stdout or '{"nftables": []}')
        except ValueError:
            read.notes.append(f"nft -j list table {family} {name}: the output is not JSON")
            continue
        listed.append(f"{family} {name}")
        read.rules += rules
        read.hooks.update(hooks)
    iptables_unread = not read.sources and any(
        t.family == "ip" and t.name in IPTABLES_TABLES for t in tables
    )
    if listed:
        read.sources.append(f"{NFT_PER_TABLE} ({', '.join(listed)})")
    elif not native and not iptables_unread:
        # Nothing else in force: knowing that is a reading (not so when iptables' own
        # tables are there and could not be read: not root).
        read.sources.append("nftables: no native tables (asked the kernel)")


def _read_nft_ruleset(system: System, until: Deadline, read: _Read, shown: set[str]) -> None:
    done = system.run_command(["nft", "-j", "list", "ruleset"], until.remaining())
    if done.ok:
        try:
            rules, hooks = parse_nft_json(done.stdout or '{"nftables": []}')
        except ValueError:
            read.notes.append("nft -j list ruleset: the output is not JSON")
            return
        read.sources.append("nft -j list ruleset")
        read.rules += [r for r in rules if not _is_iptables_nft_table(r.table, shown)]
        read.hooks.update(hooks)
        return
    if done.error:
        read.notes.append(f"nft: {done.error}: no nftables rules read")
        return
    if "json" in done.stderr.lower():  # an nft built without JSON support
        text = system.run_command(["nft", "list", "ruleset"], until.remaining())
        if text.ok:
            rules, hooks = parse_nft_text(text.stdout)
            read.sources.append("nft list ruleset")
            read.rules += [r for r in rules if not _is_iptables_nft_table(r.table, shown)]
            read.hooks.update(hooks)
            return
    read.notes.append(f"nft list ruleset: {_why(done.error, done.stderr)}")


def _is_iptables_nft_table(table: str, iptables_tables: set[str]) -> bool:
    family, _, name = table.partition(" ")
    return _is_iptables_nft(family, name, iptables_tables)


def _is_iptables_nft(family: str, name: str, iptables_tables: set[str]) -> bool:
    return family == "ip" and name in iptables_tables


def _why(error: str | None, stderr: str) -> str:
    if error:
        return error
    text = " ".join(stderr.split())
    if re.search(r"permission denied|not permitted|must be root", text, re.IGNORECASE):
        return "permission denied (reading firewall rules needs root)"
    return text[:200] or "failed without a message"
