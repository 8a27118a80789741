"""The rules reader on iptables-nft: one table at a time, nft for its native tables only
(named by the kernel over netlink), the nat table walked once along our packets' path,
and a read that ran out of time said as such in the firewall row."""

from __future__ import annotations

import dataclasses
import errno
import json
import socket
import struct

import pytest

from tests.context_fakes import FakeMachine, context, ok
from wirecheck.checks.firewall import prepare_firewall, run_firewall
from wirecheck.model import Deadline, RunConfig, Status
from wirecheck.platform.budget import Cutoff
from wirecheck.platform.firewall import nft_tables
from wirecheck.platform.firewall.model import Snapshot
from wirecheck.platform.firewall.reader import read_iptables_tables, read_snapshot
from wirecheck.platform.firewall.relevance import Interest
from wirecheck.platform.sources import MachineFacts
from wirecheck.system import CommandResult

INTEREST = Interest(("168.63.129.16", "169.254.169.254"), (80, 32526, 53))
NFT_BACKEND = ok("iptables v1.8.9 (nf_tables)\n")
FILTER = """\
-P INPUT ACCEPT -c 0 0
-P OUTPUT ACCEPT -c 10 600
-N KUBE-SERVICES-FILTER
-A OUTPUT -c 10 600 -j KUBE-SERVICES-FILTER
-A KUBE-SERVICES-FILTER -d 10.96.0.1/32 -p tcp -m tcp --dport 9443 -c 0 0 -j REJECT
"""
NAT = {
    "OUTPUT": "-P OUTPUT ACCEPT -c 0 0\n-A OUTPUT -c 3 180 -j KUBE-SERVICES\n",
    "POSTROUTING": "-P POSTROUTING ACCEPT -c 0 0\n-A POSTROUTING -c 3 180 -j MASQUERADE\n",
    "PREROUTING": "-P PREROUTING ACCEPT -c 0 0\n",
    "INPUT": "-P INPUT ACCEPT -c 0 0\n",
    "KUBE-SERVICES": (
        "-N KUBE-SERVICES\n"
        "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 443 -c 0 0 -j KUBE-SVC-A\n"
        "-A KUBE-SERVICES -d 168.63.129.16/32 -p tcp -m tcp --dport 80 -c 2 120 "
        "-j DNAT --to-destination 10.9.9.9:80\n"
    ),
}
AGENT_TABLE = {
    "nftables": [
        {"table": {"family": "inet", "name": "walinuxagent"}},
        {"chain": {"family": "inet", "table": "walinuxagent", "name": "output", "hook": "output"}},
        {
            "rule": {
                "family": "inet",
                "table": "walinuxagent",
                "chain": "output",
                "handle": 4,
                "expr": [
                    {
                        "match": {
                            "op": "==",
                            "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                            "right": "168.63.129.16",
                        }
                    },
                    {"counter": {"packets": 0, "bytes": 0}},
                    {"drop": None},
                ],
            }
        },
    ]
}


def _machine(**overrides: object) -> FakeMachine:
    commands = {
        ("iptables", "-V"): NFT_BACKEND,
        ("iptables", "-w", "-t", "filter", "-S", "-v"): ok(FILTER),
        ("nft", "-j", "list", "table", "inet", "walinuxagent"): ok(json.dumps(AGENT_TABLE)),
        **{("iptables", "-w", "-t", "nat", "-v", "-S", c): ok(t) for c, t in NAT.items()},
    }
    return FakeMachine(
        commands=commands,
        # Chains enough (a big node's) that the tables are read one by one.
        nft_tables=[("ip", "filter", 60), ("ip", "nat", 80), ("inet", "walinuxagent", 1)],
        **overrides,  # type: ignore[arg-type]
    )


def test_iptables_nft_is_read_table_by_table_and_nft_for_its_own_tables_only() -> None:
    machine = _machine()
    snapshot = read_snapshot(machine.system(), 5.0, defer_nat=True, interest=INTEREST)
    assert snapshot.sources == (
        "iptables -S -v (filter)",
        "nft -j list table (inet walinuxagent)",
    )
    assert snapshot.deferred == ("nat",)
    assert not any("nat" in argv for argv in machine.ran)  # left for the one read per run
    assert ("nft", "-j", "list", "ruleset") not in machine.ran
    # The service REJECT cannot touch the probes: left out; the agent's nft DROP is kept.
    assert [r.text for r in snapshot.rules if not r.policy][-1].endswith("drop")
    assert not any("10.96.0.1" in r.text for r in snapshot.rules)


def test_the_nat_table_is_walked_only_where_our_packets_can_go() -> None:
    machine = _machine()
    nat = read_iptables_tables(machine.system(), Deadline(5), ("nat",), INTEREST)
    listed = [argv[-1] for argv in machine.ran if argv[:5] == ("iptables", "-w", "-t", "nat", "-v")]
    assert listed == ["OUTPUT", "POSTROUTING", "KUBE-SERVICES", "PREROUTING", "INPUT"]
    assert "KUBE-SVC-A" not in listed  # its jump is for 10.96.0.1: not followed
    texts = [r.text for r in nat.rules if not r.policy]
    assert texts == [
        "-A OUTPUT -j KUBE-SERVICES",
        "-A KUBE-SERVICES -d 168.63.129.16/32 -p tcp -m tcp --dport 80 "
        "-j DNAT --to-destination 10.9.9.9:80",
    ]
    assert nat.once == ("nat",)


def test_the_firewall_check_reads_nat_once_and_does_not_pretend_it_counted_it() -> None:
    machine = _machine()
    ctx = context(machine, RunConfig(timeout_s=5), timeout_s=5)
    ctx = dataclasses.replace(ctx, machine=MachineFacts(ctx.system, ctx.deadline, ctx.subject))
    before = prepare_firewall(ctx)
    outcome = run_firewall(dataclasses.replace(ctx, prepared={"firewall": before}))
    assert outcome.status is Status.OK, outcome.finding
    nat_reads = [argv for argv in machine.ran if argv[:4] == ("iptables", "-w", "-t", "nat")]
    assert len(nat_reads) == 5  # one walk for the run, not one per snapshot
    assert machine.ran.count(("iptables", "-w", "-t", "filter", "-S", "-v")) == 2
    seen = {r["rule"]: r for r in outcome.evidence["rules"]}
    dnat = next(r for text, r in seen.items() if "DNAT" in text)
    assert "packets_during_probes" not in dnat  # read once: no counter from before


def test_rules_not_read_in_time_make_an_error_that_says_so() -> None:
    machine = _machine()
    ctx = context(machine, RunConfig(timeout_s=5), timeout_s=5)
    spent = Cutoff(5)
    spent.cancel()
    machines = MachineFacts(ctx.system, spent, ctx.subject)  # the nat read gets no time
    outcome = run_firewall(dataclasses.replace(ctx, machine=machines))
    assert outcome.status is Status.ERROR
    assert outcome.finding.startswith(
        "not every rule could be read in time (iptables nat table: its time ran out)"
    )
    assert "among those read: " in outcome.finding
    assert outcome.evidence["not_read_in_full"]
    assert "no local rule touches" not in (outcome.finding.split("among those read")[0])


def test_without_the_kernels_table_list_it_is_read_as_before() -> None:
    machine = _machine()
    machine.nft_tables = None  # not root: the kernel does not answer
    machine.commands[("iptables-save", "-c")] = ok("*filter\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
    machine.commands[("nft", "-j", "list", "ruleset")] = ok('{"nftables": []}')
    snapshot = read_snapshot(machine.system(), 5.0, defer_nat=True, interest=INTEREST)
    assert snapshot.sources == ("iptables-save -c", "nft -j list ruleset")
    assert snapshot.deferred == ()


def test_a_small_iptables_nft_ruleset_is_one_iptables_save() -> None:
    """A VM's few chains: one command for every table beats one per table."""
    machine = _machine()
    machine.nft_tables = [("ip", "filter", 3), ("ip", "security", 3)]
    machine.commands[("iptables-save", "-c")] = ok("*filter\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
    snapshot = read_snapshot(machine.system(), 5.0, defer_nat=True, interest=INTEREST)
    assert snapshot.sources[0] == "iptables-save -c" and snapshot.deferred == ()
    assert ("iptables", "-V") not in machine.ran
    assert not any(argv[-2:] == ("-S", "-v") for argv in machine.ran)


# --- netlink ----------------------------------------------------------------------------------


def _message(kind: int, payload: bytes) -> bytes:
    header = struct.pack("=IHHII", 16 + len(payload), kind, 2, 1, 0)
    return (header + payload).ljust((16 + len(payload) + 3) & ~3, b"\0")


def _table(family: int, name: str, chains: int) -> bytes:
    raw = name.encode() + b"\0"
    attribute = struct.pack("=HH", 4 + len(raw), 1) + raw
    attribute = attribute.ljust((len(attribute) + 3) & ~3, b"\0")
    use = struct.pack("=HH", 8, 3) + struct.pack("!I", chains)  # NFTA_TABLE_USE, big-endian
    return _message(0x0A00, struct.pack("=BBH", family, 0, 0) + attribute + use)


def test_netlink_replies_are_read_as_tables() -> None:
    data = _table(2, "filter", 7) + _table(1, "walinuxagent", 1) + _message(3, b"\0\0\0\0")
    tables = [
        nft_tables.NftTable("ip", "filter", 7),
        nft_tables.NftTable("inet", "walinuxagent", 1),
    ]
    assert nft_tables.parse_messages(data) == (tables, True)
    assert nft_tables.parse_messages(data[:-4]) == (tables, False)


def test_a_netlink_error_is_an_oserror() -> None:
    refused = _message(2, struct.pack("=i", -errno.EPERM) + b"\0" * 16)
    with pytest.raises(PermissionError):
        nft_tables.parse_messages(refused)


def test_the_request_asks_for_a_dump_of_every_family() -> None:
    length, kind, flags, _, _ = struct.unpack_from("=IHHII", nft_tables.request())
    assert (length, kind, flags) == (20, 0x0A01, 0x301)
    assert nft_tables.request()[16] == socket.AF_UNSPEC


def test_iptables_tables_that_cannot_be_read_leave_the_snapshot_unreadable() -> None:
    """Not root: the kernel may still name the tables, but reading them is refused; no
    native nft table must not pass for "nothing in force"."""
    denied = FakeMachine(
        commands={
            ("iptables-save", "-c"): CommandResult(
                ("iptables-save", "-c"),
                4,
                "",
                "iptables-save: Permission denied (you must be root)",
            )
        },
        nft_tables=[("ip", "filter", 3), ("ip", "security", 3)],
    )
    snapshot = read_snapshot(denied.system(), 5.0, interest=INTEREST)
    assert not snapshot.readable
    assert snapshot.notes[0] == (
        "iptables-save -c: permission denied (reading firewall rules needs root)"
    )
    empty = FakeMachine(nft_tables=[])  # no table at all: nothing is in force, and we know it
    assert read_snapshot(empty.system(), 5.0, interest=INTEREST).readable


def test_rules_whose_reading_ran_out_of_time_are_an_error_not_a_missing_tool() -> None:
    from wirecheck.checks.firewall import assess

    cut = Snapshot(incomplete=("the rules: the time left ran out while they were read",))
    outcome = assess(None, cut, [], set(), set(), "168.63.129.16")
    assert outcome.status is Status.ERROR
    assert outcome.finding == (
        "the rules could not be read in time (the rules: the time left ran out while they "
        "were read)"
    )
    assert outcome.evidence["not_read_in_full"]
