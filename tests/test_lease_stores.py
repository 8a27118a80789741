"""The lease reader: dhclient files from their end, every other DHCP client's store, and
what it says when it cannot read everything (recorded formats in tests/fixtures)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import fixture_bytes, fixture_text
from tests.context_fakes import FakeMachine, ok
from wirecheck.errors import ParseError
from wirecheck.model import Deadline
from wirecheck.platform.lease_parsers import (
    DhclientTail,
    Lease,
    dhcp_options,
    lease_from_nm_options,
    nm_device_dhcp4,
    nmcli_dhcp4,
    parse_dhclient_block,
    parse_dhclient_leases,
    parse_dhcp_message,
    parse_wicked_lease,
)
from wirecheck.platform.leases import read_dhclient_tail, scan_leases
from wirecheck.system import System, open_regular

WS = "168.63.129.16"
NOW = datetime(2026, 10, 2, 12, 0, tzinfo=timezone.utc)
PLATFORM_ROUTES = (("168.63.129.16/32", "10.1.0.1"), ("169.254.169.254/32", "10.1.0.1"))
NM_UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
NM_INTERNAL = f"/var/lib/NetworkManager/internal-{NM_UUID}-eth0.lease"
NMCLI = ("nmcli", "-f", "DHCP4", "device", "show", "eth0")


def _block(iface: str, address: str, option: str = "a8:3f:81:10", expire: str = "never") -> str:
    return (
        "lease {\n"
        f'  interface "{iface}";\n'
        f"  fixed-address {address};\n"
        f"  option unknown-245 {option};\n"
        f"  expire {expire};\n"
        "}\n"
    )


def _reader(data: bytes) -> Callable[[int, int], bytes]:
    return lambda offset, length: data[offset : offset + length]


def _tail(data: bytes, hint: str | None = None, chunk: int = 64, **options: object) -> object:
    return read_dhclient_tail(
        _reader(data), len(data), "f", hint, Deadline(60), chunk=chunk, **options
    )


# ---------------------------------------------------------------------------------------
# dhclient from the end


def test_a_file_for_one_interface_stops_at_its_newest_block() -> None:
    older = "".join(_block("eth0", f"10.1.0.{i}", "a:1:0:63") for i in range(10, 200))
    data = (older + _block("eth0", "10.1.0.4")).encode()
    read = read_dhclient_tail(_reader(data), len(data), "f", "eth0", Deadline(60), chunk=256)
    (lease,) = read.leases
    assert (lease.address, lease.option_245) == ("10.1.0.4", WS)
    assert read.bytes_read < len(data) // 10  # the older blocks were never read
    assert read.stopped is None


def test_a_shared_file_gives_each_interfaces_newest_block() -> None:
    blocks = [
        _block("eth0", "10.1.0.4", "a:1:0:63"),
        _block("eth1", "10.1.1.5", "a:1:0:64"),
        _block("eth0", "10.1.0.4"),
        'lease6 {\n  interface "eth0";\n  ia-na 1a:2b { iaaddr fe80::1 { max-life 1; } }\n}\n',
        _block("eth2", "10.1.2.6", "a:1:0:65"),
    ]
    data = ('default-duid "\\000\\001";\n' + "".join(blocks)).encode()
    read = read_dhclient_tail(_reader(data), len(data), "f", None, Deadline(60), chunk=13)
    assert sorted((x.interface, x.option_245) for x in read.leases) == [
        ("eth0", WS),
        ("eth1", "10.1.0.100"),
        ("eth2", "10.1.0.101"),
    ]
    assert read.blocks == 4  # the lease6 block is not an IPv4 lease


def test_a_cut_off_newest_block_is_not_a_lease_and_the_one_before_stands() -> None:
    data = (_block("eth0", "10.1.0.4") + 'lease {\n  interface "eth0";\n  fixed-addr').encode()
    read = read_dhclient_tail(_reader(data), len(data), "f", "eth0", Deadline(60))
    (lease,) = read.leases
    assert lease.address == "10.1.0.4"
    assert read.cut == [
        (
            "eth0",
            "f: the newest lease block of eth0 has no closing brace (cut off, or being "
            "written): not a lease",
        )
    ]


def test_a_block_cut_before_its_expiry_never_counts_as_never_expiring() -> None:
    assert (
        parse_dhclient_block('lease {\n  interface "eth0";\n  option unknown-245 a8', "f") is None
    )
    text = fixture_text("dhclient.leases")
    assert parse_dhclient_leases(text[: text.rindex("expire")], "f")[-1].expires is not None


def test_the_deadline_stops_it_and_it_says_what_is_missing() -> None:
    ticks = iter(range(1000))
    deadline = Deadline(3, clock=lambda: float(next(ticks)))  # expires after a few reads
    data = "".join(_block(f"eth{i % 50}", "10.1.0.4") for i in range(500)).encode()
    read = read_dhclient_tail(_reader(data), len(data), "f", None, deadline, chunk=256)
    assert read.stopped == "the time budget ran out"
    assert 0 < read.bytes_read < len(data)


def test_the_size_cap_stops_it() -> None:
    data = "".join(_block("eth0", "10.1.0.4") for _ in range(50)).encode()
    read = read_dhclient_tail(
        _reader(data), len(data), "f", "eth9", Deadline(60), chunk=100, max_bytes=300
    )
    assert read.stopped == "the 0 MiB cap"
    assert read.bytes_read == 300


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["eth0", "eth1", "eth2"]), st.integers(1, 254)), max_size=12
    ),
    st.integers(min_value=1, max_value=90),
)
def test_from_the_end_agrees_with_reading_the_whole_file(
    blocks: list[tuple[str, int]], chunk: int
) -> None:
    text = "".join(_block(iface, f"10.1.0.{n}") for iface, n in blocks)
    whole = {lease.interface: lease for lease in parse_dhclient_leases(text, "f")}
    data = text.encode()
    read = read_dhclient_tail(_reader(data), len(data), "f", None, Deadline(60), chunk=chunk)
    assert {lease.interface: lease for lease in read.leases} == whole


def test_the_tail_keeps_what_precedes_the_last_block() -> None:
    tail = DhclientTail()
    assert tail.feed(b"ease {\n}\n", at_start=False) == []
    assert tail.pending == 9
    assert tail.feed(b"x;\nl", at_start=True) == [b"lease {\n}\n"]
    assert tail.pending == 0


# ---------------------------------------------------------------------------------------
# Other stores, from recorded files


def test_networkmanager_internal_client_options_come_from_its_device_state() -> None:
    options = nm_device_dhcp4(fixture_text("nm-run-devices-2"))
    lease = lease_from_nm_options(options, "/run/NetworkManager/devices/2", "eth0")
    assert lease == Lease(
        "eth0",
        "10.1.0.4",
        WS,
        "k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net",
        ("10.1.0.1",),
        (("0.0.0.0/0", "10.1.0.1"), *PLATFORM_ROUTES),
        datetime.fromtimestamp(6290445695, timezone.utc),
        "/run/NetworkManager/devices/2",
    )


def test_nmcli_shows_the_same_options() -> None:
    assert nmcli_dhcp4(fixture_text("nmcli-f-dhcp4-device-show-eth0.txt")) == nm_device_dhcp4(
        fixture_text("nm-run-devices-2")
    )


def test_wicked_lease_with_its_undeclared_prefix() -> None:
    lease = parse_wicked_lease(
        fixture_bytes("wicked-lease-eth0-dhcp-ipv4.xml"), "/var/lib/wicked/x", "eth0"
    )
    assert lease == Lease(
        "eth0",
        "10.1.0.4",
        WS,
        "k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net",
        ("10.1.0.1",),
        (("0.0.0.0/0", "10.1.0.1"), *PLATFORM_ROUTES),
        None,  # lease-time 4294967295: infinite
        "/var/lib/wicked/x",
    )


def test_wicked_lease_with_entities_is_refused_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lease [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><lease><type>&b;</type></lease>'
    )
    with pytest.raises(ParseError, match="refused"):
        parse_wicked_lease(bomb, "f", "eth0")


def test_wicked_lease_not_granted_and_expiring() -> None:
    text = fixture_text("wicked-lease-eth0-dhcp-ipv4.xml")
    assert parse_wicked_lease(text.replace("granted", "released").encode(), "f", "eth0") is None
    timed = text.replace("<lease-time>4294967295</lease-time>", "<lease-time>3600</lease-time>")
    lease = parse_wicked_lease(timed.encode(), "f", "eth0")
    assert lease is not None
    assert lease.expires == datetime.fromtimestamp(1791013255, timezone.utc) + timedelta(hours=1)


def test_dhcpcd_keeps_the_raw_message_with_option_245() -> None:
    message = fixture_bytes("dhcpcd-eth0.lease")
    acquired = datetime(2026, 10, 2, tzinfo=timezone.utc)
    lease = parse_dhcp_message(message, "/var/lib/dhcpcd/eth0.lease", "eth0", acquired)
    assert (lease.address, lease.option_245, lease.routers) == ("10.1.0.4", WS, ("10.1.0.1",))
    assert lease.static_routes == (("0.0.0.0/0", "10.1.0.1"), *PLATFORM_ROUTES)
    assert lease.domain_name == "k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net"
    assert lease.expires is None  # lease time 0xffffffff
    assert dhcp_options(message)[53] == b"\x05"  # DHCPACK


def test_dhcpcd_garbage_and_truncation() -> None:
    with pytest.raises(ParseError, match="magic cookie"):
        parse_dhcp_message(b"\0" * 300, "f", "eth0")
    truncated = fixture_bytes("dhcpcd-eth0.lease")[:-4]  # option 245 cut short
    assert parse_dhcp_message(truncated, "f", "eth0").option_245 is None


@given(st.binary(max_size=600))
def test_dhcpcd_parser_never_raises_anything_else(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_dhcp_message(data, "f", "eth0")


# ---------------------------------------------------------------------------------------
# The whole scan


def _nm_internal_machine() -> FakeMachine:
    return FakeMachine(
        files={
            NM_INTERNAL: fixture_text("nm-internal-eth0.lease"),
            "/run/NetworkManager/devices/2": fixture_text("nm-run-devices-2"),
            "/sys/class/net/eth0/ifindex": "2\n",
        },
        dirs={
            "/var/lib/NetworkManager": [NM_INTERNAL.rsplit("/", 1)[1], "timestamps"],
            "/run/NetworkManager/devices": ["2"],
            "/sys/class/net": ["eth0"],
        },
    )


def test_scan_finds_option_245_of_networkmanagers_internal_client() -> None:
    scan = scan_leases(_nm_internal_machine().system(), NOW)
    (lease,) = scan.leases
    assert (lease.interface, lease.option_245, lease.source) == (
        "eth0",
        WS,
        "/run/NetworkManager/devices/2",
    )
    assert scan.complete


def test_without_a_device_state_file_nmcli_is_asked() -> None:
    machine = _nm_internal_machine()
    del machine.dirs["/run/NetworkManager/devices"]
    machine.commands[NMCLI] = ok(fixture_text("nmcli-f-dhcp4-device-show-eth0.txt"))
    scan = scan_leases(machine.system(), NOW)
    (lease,) = scan.leases
    assert (lease.option_245, lease.source) == (WS, " ".join(NMCLI))
    assert scan.complete


def test_networkmanager_up_to_1_20_kept_option_245_in_the_file() -> None:
    machine = _nm_internal_machine()
    machine.files[NM_INTERNAL] = fixture_text("nm-internal-systemd-client-eth0.lease")
    del machine.dirs["/run/NetworkManager/devices"]
    (lease,) = scan_leases(machine.system(), NOW).leases
    assert (lease.option_245, lease.static_routes) == (WS, PLATFORM_ROUTES)


def test_every_other_store() -> None:
    dhclient = f"/var/lib/NetworkManager/dhclient-{NM_UUID}-eth1.lease"
    machine = FakeMachine(
        files={
            dhclient: fixture_text("nm-dhclient-eth0.lease").replace('"eth0"', '"eth1"'),
            "/var/lib/wicked/lease-eth2-dhcp-ipv4.xml": fixture_text(
                "wicked-lease-eth0-dhcp-ipv4.xml"
            ),
            "/run/dhclient.lease": fixture_text("cloud-init-run-dhclient.lease").replace(
                '"eth0"', '"eth4"'
            ),
        },
        binary={"/var/lib/dhcpcd/eth3.lease": fixture_bytes("dhcpcd-eth0.lease")},
        dirs={
            "/var/lib/NetworkManager": [dhclient.rsplit("/", 1)[1]],
            "/var/lib/wicked": ["lease-eth2-dhcp-ipv4.xml", "iaid.xml"],
            "/var/lib/dhcpcd": ["eth3.lease", "eth3.lease6", "duid"],
        },
    )
    scan = scan_leases(machine.system(), NOW)
    assert [(x.interface, x.option_245) for x in scan.leases] == [
        (f"eth{i}", WS) for i in range(1, 5)
    ]
    assert scan.complete and scan.problems == ()


def test_a_broken_file_is_a_problem_and_the_rest_is_read() -> None:
    machine = FakeMachine(
        files={
            "/var/lib/wicked/lease-eth0-dhcp-ipv4.xml": "<lease><unclosed>",
            "/var/lib/dhcp/dhclient.eth1.leases": _block("eth1", "10.1.1.5"),
        },
        binary={"/var/lib/dhcpcd/eth2.lease": b"not a DHCP message"},
        dirs={
            "/var/lib/wicked": ["lease-eth0-dhcp-ipv4.xml"],
            "/var/lib/dhcp": ["dhclient.eth1.leases"],
            "/var/lib/dhcpcd": ["eth2.lease"],
        },
    )
    scan = scan_leases(machine.system(), NOW)
    assert [x.interface for x in scan.leases] == ["eth1"]
    assert [p.split(":")[0] for p in scan.problems] == [
        "/var/lib/wicked/lease-eth0-dhcp-ipv4.xml",
        "/var/lib/dhcpcd/eth2.lease",
    ]


def test_a_spent_budget_names_what_was_not_read() -> None:
    machine = FakeMachine(
        files={"/var/lib/dhcp/dhclient.eth0.leases": _block("eth0", "10.1.0.4")},
        dirs={"/var/lib/dhcp": ["dhclient.eth0.leases"]},
    )
    scan = scan_leases(machine.system(), NOW, Deadline(0))
    assert scan.leases == ()
    assert scan.incomplete == (
        "not read before the time budget ran out: /var/lib/dhcp/dhclient.eth0.leases: the "
        "leases they hold are unknown",
    )


def test_a_huge_shared_file_cut_by_the_budget_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wirecheck.platform.leases.TAIL_CHUNK", 1024)
    ticks = iter(range(10_000))
    text = "".join(_block(f"eth{i % 3}", "10.1.0.4") for i in range(300))
    machine = FakeMachine(
        files={"/var/lib/dhclient/dhclient.leases": text},
        dirs={"/var/lib/dhclient": ["dhclient.leases"]},
    )
    scan = scan_leases(machine.system(), NOW, Deadline(4, clock=lambda: float(next(ticks))))
    (note,) = scan.incomplete
    assert note.startswith("/var/lib/dhclient/dhclient.leases: read 0.0 of 0.0 MiB from its end (")
    assert note.endswith(
        "before the time budget ran out: the older blocks were not read; an interface whose "
        "newest lease is older than that part is not known"
    )


def test_the_newest_file_wins_for_an_interface(tmp_path: Path) -> None:
    """A stale dhclient file left in an image against the live networkd lease: the file
    written last holds the current lease."""
    stale = tmp_path / "stale"
    stale.write_text(_block("eth0", "10.1.0.4", "a:1:0:63"))
    live = tmp_path / "live"
    live.write_text("ADDRESS=10.1.0.4\nOPTION_245=a83f8110\n")
    os.utime(stale, (1_600_000_000, 1_600_000_000))
    paths = {"/var/lib/dhcp/dhclient.eth0.leases": stale, "/run/systemd/netif/leases/2": live}
    dirs = {
        "/var/lib/dhcp": ["dhclient.eth0.leases"],
        "/run/systemd/netif/leases": ["2"],
        "/sys/class/net": ["eth0"],
    }

    def open_file(path: str) -> BinaryIO:
        if path not in paths:
            raise FileNotFoundError(path)
        return open_regular(str(paths[path]))

    def list_dir(path: str) -> list[str]:
        if path not in dirs:
            raise FileNotFoundError(path)
        return dirs[path]

    def read_text(path: str) -> str:
        if path == "/sys/class/net/eth0/ifindex":
            return "2\n"
        raise FileNotFoundError(path)

    system = System(read_text=read_text, list_dir=list_dir, open_file=open_file)
    (lease,) = scan_leases(system, NOW).leases
    assert (lease.option_245, lease.source) == (WS, "/run/systemd/netif/leases/2")
    os.utime(stale, None)  # now the dhclient file is the newer one
    os.utime(live, (1_600_000_000, 1_600_000_000))
    (lease,) = scan_leases(system, NOW).leases
    assert lease.option_245 == "10.1.0.99"


def test_the_primary_nic_vote_says_when_leases_were_not_all_read() -> None:
    from wirecheck.checks.egress.primary_nic import lease_vote

    vote = lease_vote([], ("168.63.129.16", "169.254.169.254"), ("f: read 1.0 of 9.0 MiB",))
    assert vote.interfaces == ()
    assert vote.detail == (
        "no DHCP lease read has option 245 (0 read), but not every lease could be read: "
        "f: read 1.0 of 9.0 MiB"
    )
    assert "no current DHCP lease has option 245" in lease_vote([], ("x",)).detail
