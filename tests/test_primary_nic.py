"""Choosing the primary NIC (checks/egress/primary_nic.py) on tables of signals,
agreeing and conflicting."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import fixture_text
from wirecheck.checks.egress.primary_nic import (
    DEFAULT_ROUTE,
    DHCP_LEASE,
    IMDS,
    ImdsNic,
    Signals,
    choose_primary,
    imds_matches,
)
from wirecheck.platform.imds import parse_network
from wirecheck.platform.leases import Lease, parse_dhclient_leases, parse_networkd_lease
from wirecheck.platform.routes import Nic, Route, parse_proc_net_route

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
MAC0, MAC1 = "000D3A4B5C6D", "000D3A4B5C7E"
ETH0 = Nic("eth0", MAC0, ("10.1.0.4",), driver="hv_netvsc")
ETH1 = Nic("eth1", MAC1, ("10.1.1.5",), driver="hv_netvsc")
VF0 = Nic("enP1s1", MAC0, (), master="eth0", driver="mlx5_core")
WG0 = Nic("wg0", None, ("10.99.0.2",))


def _imds_fixture() -> list[ImdsNic]:
    return parse_network(fixture_text("imds-network.json"))


def _dhclient_lease() -> Lease:
    leases = parse_dhclient_leases(fixture_text("dhclient.leases"), "/var/lib/dhcp/x.leases")
    current = [lease for lease in leases if lease.expires is None or lease.expires > NOW]
    assert len(current) == 1
    return current[0]


def _lease(interface: str, option: str | None = "168.63.129.16", routes: bool = True) -> Lease:
    static = (("168.63.129.16/32", "10.1.0.1"), ("169.254.169.254/32", "10.1.0.1"))
    return Lease(interface, None, option, None, (), static if routes else (), None, "test")


def _default(interface: str, metric: int, gateway: str = "10.1.0.1") -> Route:
    return Route("0.0.0.0/0", interface, gateway, metric)


def test_imds_nics_from_the_fixture() -> None:
    nics = _imds_fixture()
    assert [(n.mac, n.private_ipv4, n.public_ipv4) for n in nics] == [
        (MAC0, ("10.1.0.4",), ("20.51.7.193",)),
        (MAC1, ("10.1.1.5",), ()),  # the empty public IP string is dropped
    ]


def test_single_nic_vm_every_signal_agrees() -> None:
    choice = choose_primary(
        Signals(
            parse_proc_net_route(fixture_text("proc-net-route")),
            [_dhclient_lease()],
            _imds_fixture()[:1],
            [ETH0],
        )
    )
    assert choice.interface == "eth0"
    assert choice.used == (DEFAULT_ROUTE, DHCP_LEASE, IMDS)
    assert choice.conflicts == ()
    assert choice.describe() == "eth0 (by default-route, dhcp-lease, imds)"
    lease_vote = choice.vote(DHCP_LEASE)
    assert lease_vote is not None and "option 245 = 168.63.129.16" in lease_vote.detail
    assert "/32 routes to 168.63.129.16/32, 169.254.169.254/32" in lease_vote.detail


def test_networkd_lease_counts_as_well() -> None:
    lease = parse_networkd_lease(fixture_text("networkd-lease"), "/run/x/2", "eth0")
    choice = choose_primary(Signals((), [lease], None, [ETH0]))
    assert choice.interface == "eth0" and choice.used == (DHCP_LEASE,)


@pytest.mark.parametrize(
    ("name", "signals", "primary", "used", "conflict_words"),
    [
        (
            "two NICs, healthy: eth1's default route has the higher metric",
            Signals(
                [_default("eth0", 100), _default("eth1", 200, "10.1.1.1")],
                [_lease("eth0")],
                [ImdsNic(MAC0, ("10.1.0.4",)), ImdsNic(MAC1, ("10.1.1.5",))],
                [ETH0, ETH1],
            ),
            "eth0",
            (DEFAULT_ROUTE, DHCP_LEASE, IMDS),
            [],
        ),
        (
            "default route on eth1 wins by metric, lease on eth0: warn, default route ranks",
            Signals(
                [_default("eth0", 100), _default("eth1", 50, "10.1.1.1")],
                [_lease("eth0")],
                None,
                [ETH0, ETH1],
            ),
            "eth1",
            (DEFAULT_ROUTE, DHCP_LEASE),
            ["dhcp-lease points at eth0, not eth1"],
        ),
        (
            "a VPN's default route cannot be primary while IMDS names the Azure NICs",
            Signals(
                [_default("wg0", 0, "10.99.0.1"), _default("eth0", 100)],
                [_lease("eth0")],
                [ImdsNic(MAC0, ("10.1.0.4",)), ImdsNic(MAC1, ("10.1.1.5",))],
                [ETH0, ETH1, WG0],
            ),
            "eth0",
            (DEFAULT_ROUTE, DHCP_LEASE, IMDS),
            ["default-route points at wg0, not eth0"],
        ),
        (
            "two default routes with one metric: ambiguous, the lease decides",
            Signals(
                [_default("eth1", 100, "10.1.1.1"), _default("eth0", 100)],
                [_lease("eth0")],
                None,
                [ETH0, ETH1],
            ),
            "eth0",
            (DEFAULT_ROUTE, DHCP_LEASE),
            ["default-route is ambiguous (eth1, eth0)"],
        ),
        (
            "option 245 on both leases, the /32 routes only on eth0's",
            Signals(
                [],
                [_lease("eth1", routes=False), _lease("eth0")],
                None,
                [ETH0, ETH1],
            ),
            "eth0",
            (DHCP_LEASE,),
            [],
        ),
        (
            "IMDS alone with one NIC decides",
            Signals([], [], [ImdsNic(MAC0, ("10.1.0.4",))], [ETH0, VF0]),
            "eth0",
            (IMDS,),
            [],
        ),
        (
            "IMDS gives the primary's MAC another private IP",
            Signals([_default("eth0", 100)], None, [ImdsNic(MAC0, ("10.1.0.99",))], [ETH0]),
            "eth0",
            (DEFAULT_ROUTE, IMDS),
            ["IMDS gives its MAC 000D3A4B5C6D the private IP 10.1.0.99"],
        ),
        (
            "the only default route is on an interface IMDS does not know",
            Signals([_default("wg0", 0, "10.99.0.1")], None, [ImdsNic(MAC0)], [ETH0, WG0]),
            "eth0",
            (DEFAULT_ROUTE, IMDS),
            ["default-route points at wg0, not eth0"],
        ),
        (
            "nothing to go on",
            Signals([], [], [], [ETH0]),
            None,
            (),
            [],
        ),
    ],
)
def test_primary_choice_table(
    name: str,
    signals: Signals,
    primary: str | None,
    used: tuple[str, ...],
    conflict_words: list[str],
) -> None:
    choice = choose_primary(signals)
    assert choice.interface == primary, name
    assert choice.used == used, name
    assert len(choice.conflicts) == len(conflict_words), (name, choice.conflicts)
    for words, conflict in zip(conflict_words, choice.conflicts):
        assert words in conflict, (name, conflict)


def test_lease_and_imds_not_read_say_so() -> None:
    choice = choose_primary(Signals([_default("eth0", 100)], None, None, [ETH0]))
    lease, imds = choice.vote(DHCP_LEASE), choice.vote(IMDS)
    assert lease is not None and lease.detail == "DHCP leases were not read"
    assert imds is not None and imds.detail == "IMDS was not consulted in this run"
    no_245 = choose_primary(Signals([], [_lease("eth0", option=None)], None, [ETH0]))
    vote = no_245.vote(DHCP_LEASE)
    assert vote is not None and vote.interfaces == () and "option 245" in vote.detail


@pytest.mark.parametrize(
    ("nics", "expected"),
    [
        ([ETH0, VF0, ETH1], {"eth0": MAC0, "eth1": MAC1}),  # the VF is skipped by driver
        (
            # No driver facts (Windows via psutil): the VF holds no address.
            [Nic("Ethernet 3", MAC0), Nic("Ethernet", MAC0, ("10.1.0.4",))],
            {"Ethernet": MAC0},
        ),
        (
            [
                Nic("Ethernet 3", MAC0, description="Mellanox ConnectX-4 Lx Virtual Ethernet"),
                Nic("Ethernet", MAC0, description="Microsoft Hyper-V Network Adapter"),
            ],
            {"Ethernet": MAC0},
        ),
        ([Nic("docker0", "0242AC110002", ("172.17.0.1",))], {}),
    ],
)
def test_imds_matching_skips_accelerated_networking_vfs(
    nics: list[Nic], expected: dict[str, str]
) -> None:
    assert imds_matches([ImdsNic(MAC0), ImdsNic(MAC1)], nics) == expected
