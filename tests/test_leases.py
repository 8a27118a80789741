"""DHCP lease parsing and discovery: dhclient, systemd-networkd, NetworkManager."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, ok
from wirecheck.platform.leases import (
    Lease,
    current_leases,
    decode_classless_routes,
    decode_option_245,
    parse_dhclient_leases,
    parse_networkd_lease,
    scan_leases,
)

NOW = datetime(2026, 10, 2, 12, 0, tzinfo=timezone.utc)
PLATFORM_ROUTES = (("168.63.129.16/32", "10.1.0.1"), ("169.254.169.254/32", "10.1.0.1"))


def test_dhclient_fixture_both_leases_in_file_order() -> None:
    leases = parse_dhclient_leases(fixture_text("dhclient.leases"), "/var/lib/dhcp/x")
    assert [lease.expires for lease in leases] == [
        datetime(2015, 3, 10, 11, 2, 41, tzinfo=timezone.utc),
        datetime(2151, 11, 3, 8, 14, 9, tzinfo=timezone.utc),
    ]
    valid = leases[1]
    assert valid == Lease(
        interface="eth0",
        address="10.1.0.4",
        option_245="168.63.129.16",
        domain_name="k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net",
        routers=("10.1.0.1",),
        static_routes=(("0.0.0.0/0", "10.1.0.1"), *PLATFORM_ROUTES),
        expires=datetime(2151, 11, 3, 8, 14, 9, tzinfo=timezone.utc),
        source="/var/lib/dhcp/x",
    )
    assert leases[0].static_routes == ()


def test_networkd_fixture() -> None:
    lease = parse_networkd_lease(fixture_text("networkd-lease"), "/run/x/2", "eth0")
    assert lease == Lease(
        interface="eth0",
        address="10.1.0.4",
        option_245="168.63.129.16",
        domain_name="k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net",
        routers=("10.1.0.1",),
        static_routes=PLATFORM_ROUTES,
        expires=None,
        source="/run/x/2",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a8:3f:81:10", "168.63.129.16"),
        ("A8:3F:81:10", "168.63.129.16"),
        ("a:1:0:5", "10.1.0.5"),  # dhclient drops leading zeros
        ("168.63.129.16", "168.63.129.16"),  # declared as ip-address in dhclient.conf
        ('"\\250?\\201\\020"', "168.63.129.16"),  # a quoted byte string with octal escapes
        ("a83f8110", "168.63.129.16"),  # networkd
        ("a8:3f:81", None),
        ("a8:3f:81:10:00", None),
        ("zz:3f:81:10", None),
        ('"abc"', None),
        ("", None),
    ],
)
def test_option_245_forms(value: str, expected: str | None) -> None:
    assert decode_option_245(value) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 10, 1, 0, 1], (("0.0.0.0/0", "10.1.0.1"),)),
        ([24, 10, 1, 2, 10, 1, 0, 1], (("10.1.2.0/24", "10.1.0.1"),)),
        ([32, 168, 63, 129, 16, 10, 1, 0, 1], (("168.63.129.16/32", "10.1.0.1"),)),
        ([9, 10, 128, 1, 1, 1, 1], (("10.128.0.0/9", "1.1.1.1"),)),
        ([9, 10, 129, 1, 1, 1, 1], (("10.128.0.0/9", "1.1.1.1"),)),  # host bits cleared
        ([32, 168, 63, 129], ()),  # truncated
        ([33, 1, 2, 3, 4, 5, 6, 7, 8, 9], ()),  # width > 32
        ([0, 10, 1, 0, 1, 24, 10, 1], (("0.0.0.0/0", "10.1.0.1"),)),  # keeps the clean part
        (None, ()),
    ],
)
def test_classless_routes(values: list[int] | None, expected: tuple[tuple[str, str], ...]) -> None:
    assert decode_classless_routes(values) == expected


def test_dhclient_other_forms() -> None:
    text = """
default-duid "\\000\\001";
lease6 {
  interface "eth0";
  ia-na 1a:2b { iaaddr fe80::1 { max-life 100; } }
}
lease {
  interface "eth1";
  fixed-address 10.1.1.5;
  option routers 10.1.1.1,10.1.1.2;
  option unknown-121 20:a8:3f:81:10:a:1:1:1;
  option unknown-245 a:1:1:63;
  option domain-name "x.internal.cloudapp.net";  # a comment
  expire epoch 4102444800; # Fri Jan 01 00:00:00 2100
}
lease {
  interface "eth2";
  option unknown-245 "\\250?\\201\\020";
  expire never;
}
"""
    eth1, eth2 = parse_dhclient_leases(text, "f")
    assert eth1.interface == "eth1"
    assert eth1.routers == ("10.1.1.1", "10.1.1.2")
    assert eth1.static_routes == (("168.63.129.16/32", "10.1.1.1"),)
    assert eth1.option_245 == "10.1.1.99"
    assert eth1.domain_name == "x.internal.cloudapp.net"
    assert eth1.expires == datetime(2100, 1, 1, tzinfo=timezone.utc)
    assert eth2.option_245 == "168.63.129.16"
    assert eth2.expires is None


def test_networkd_newer_route_keys() -> None:
    lease = parse_networkd_lease(
        "ADDRESS=10.1.0.4\nCLASSLESS_ROUTES=168.63.129.16/32,10.1.0.1 0.0.0.0/0,10.1.0.1\n"
        "STATIC_ROUTES=10.9.0.0/16,10.1.0.1\nROUTER=10.1.0.1 10.1.0.2\n",
        "f",
        None,
    )
    assert lease.static_routes == (
        ("168.63.129.16/32", "10.1.0.1"),
        ("0.0.0.0/0", "10.1.0.1"),
        ("10.9.0.0/16", "10.1.0.1"),
    )
    assert lease.routers == ("10.1.0.1", "10.1.0.2")
    assert lease.option_245 is None


@given(st.text(max_size=400))
def test_parsers_never_raise_on_any_text(text: str) -> None:
    for lease in parse_dhclient_leases(text, "f"):
        assert lease.source == "f"
    assert parse_networkd_lease(text, "f", "eth0").interface == "eth0"


@given(st.lists(st.integers(min_value=-5, max_value=300), max_size=40))
def test_classless_routes_never_raise(values: list[int]) -> None:
    for destination, gateway in decode_classless_routes(values):
        assert "/" in destination
        assert gateway.count(".") == 3


def _machine() -> FakeMachine:
    other_245 = fixture_text("networkd-lease").replace("OPTION_245=a83f8110", "OPTION_245=0a010063")
    return FakeMachine(
        files={
            "/var/lib/dhcp/dhclient.eth0.leases": fixture_text("dhclient.leases"),
            "/var/lib/dhcp/unrelated.txt": 'lease { interface "eth9"; }',
            "/run/systemd/netif/leases/3": other_245,
            "/sys/class/net/eth0/ifindex": "2\n",
            "/sys/class/net/eth1/ifindex": "3\n",
            "/var/lib/NetworkManager/internal-"
            "2f7e3a1c-1b2d-4c5e-8f90-a1b2c3d4e5f6-eth2.lease": "ADDRESS=10.1.2.6\n",
        },
        dirs={
            "/var/lib/dhcp": ["dhclient.eth0.leases", "unrelated.txt"],
            "/run/systemd/netif/leases": ["3"],
            "/sys/class/net": ["eth0", "eth1"],
            "/var/lib/NetworkManager": [
                "internal-2f7e3a1c-1b2d-4c5e-8f90-a1b2c3d4e5f6-eth2.lease",
                "NetworkManager.state",
            ],
        },
    )


def test_current_leases_every_location_latest_unexpired_per_interface() -> None:
    leases = current_leases(_machine().system(), NOW)
    assert [(x.interface, x.option_245) for x in leases] == [
        ("eth0", "168.63.129.16"),
        ("eth1", "10.1.0.99"),
        ("eth2", None),
    ]
    assert leases[0].expires == datetime(2151, 11, 3, 8, 14, 9, tzinfo=timezone.utc)
    assert leases[1].source == "/run/systemd/netif/leases/3"


def test_scan_reports_files_and_only_the_newest_block_counts() -> None:
    scan = scan_leases(_machine().system(), NOW.replace(tzinfo=None))  # naive = UTC
    assert "/var/lib/dhcp/unrelated.txt" not in scan.files
    assert len(scan.files) == 3
    # eth0's file holds an expired block before the current one: superseded, not expired.
    assert scan.expired == ()
    # eth2's lease is NetworkManager's internal client's: its file holds the address only,
    # and nmcli (not on this machine) is the way to its options.
    (unknown,) = scan.incomplete
    assert unknown.startswith(
        "/var/lib/NetworkManager/internal-2f7e3a1c-1b2d-4c5e-8f90-a1b2c3d4e5f6-eth2.lease: "
        "NetworkManager's internal DHCP client stores only the address there"
    )
    assert unknown.endswith(
        "(nmcli is not installed): whether eth2's lease carries option 245 is unknown"
    )


def test_an_interface_whose_newest_lease_expired_has_none() -> None:
    later = datetime(2200, 1, 1, tzinfo=timezone.utc)
    scan = scan_leases(_machine().system(), later)
    assert [lease.interface for lease in scan.expired] == ["eth0"]
    assert "eth0" not in [lease.interface for lease in scan.leases]


def test_all_expired_gives_nothing() -> None:
    later = datetime(2200, 1, 1, tzinfo=timezone.utc)
    machine = _machine()
    del machine.dirs["/run/systemd/netif/leases"]
    del machine.dirs["/var/lib/NetworkManager"]
    assert current_leases(machine.system(), later) == []


def test_networkd_index_from_ip_link_when_no_sysfs() -> None:
    machine = FakeMachine(
        files={"/run/systemd/netif/leases/2": fixture_text("networkd-lease")},
        dirs={"/run/systemd/netif/leases": ["2"]},
        commands={
            ("ip", "-j", "link"): ok(
                '[{"ifindex": 1, "ifname": "lo"}, {"ifindex": 2, "ifname": "eth0"}]'
            )
        },
    )
    (lease,) = current_leases(machine.system(), NOW)
    assert lease.interface == "eth0"
    assert lease.option_245 == "168.63.129.16"


def test_rhel_dhclient_file_names_give_the_interface() -> None:
    body = "lease {\n  fixed-address 10.1.0.4;\n  option unknown-245 a8:3f:81:10;\n}\n"
    machine = FakeMachine(
        files={
            "/var/lib/dhclient/dhclient--eth0.lease": body,
            "/var/lib/dhclient/dhclient-4d1f2e3a-1111-2222-3333-444455556666-eth1.lease": body,
        },
        dirs={
            "/var/lib/dhclient": [
                "dhclient--eth0.lease",
                "dhclient-4d1f2e3a-1111-2222-3333-444455556666-eth1.lease",
            ]
        },
    )
    assert [x.interface for x in current_leases(machine.system(), NOW)] == ["eth0", "eth1"]


def test_unreadable_lease_file_is_a_problem_not_an_error() -> None:
    machine = FakeMachine(dirs={"/var/lib/dhcp": ["dhclient.leases"]})
    scan = scan_leases(machine.system(), NOW)
    assert scan.leases == ()
    assert scan.problems and "/var/lib/dhcp/dhclient.leases" in scan.problems[0]
