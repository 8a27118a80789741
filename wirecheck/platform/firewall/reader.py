"""Reading the machine's rules: iptables (or its -L form where -save is missing), nft
and firewalld's direct rules, into one `Snapshot`, within a time budget."""

from __future__ import annotations

import re

from wirecheck.model import Deadline
from wirecheck.platform.firewall.model import FIREWALLD_DIRECT_XML, IPTABLES_TABLES, Rule, Snapshot
from wirecheck.platform.firewall.parsers import (
    parse_firewalld_direct,
    parse_iptables_list,
    parse_iptables_save,
    parse_nft_json,
    parse_nft_text,
)
from wirecheck.system import System


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
