"""Route and adapter parsers (wirecheck.platform.routes) on recorded output.

Linux samples: proc-net-route* (shared fixtures); ip-*-two-nics.* recorded in a lab
namespace (eth0 10.1.0.4 primary, eth1 10.1.1.5 with a wrong /32 to 168.63.129.16).
Windows samples (windows-*.txt) follow the layouts of `route print -4`, `Get-NetRoute
-AddressFamily IPv4`, `Get-NetAdapter` and `Get-NetIPAddress ... | Format-Table` on an
Azure VM with two NICs and accelerated networking (a Mellanox VF sharing the primary
NIC's MAC).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_text
from wirecheck.errors import ParseError
from wirecheck.platform.routes import (
    Route,
    default_routes,
    lookup,
    name_windows_routes,
    normalize_mac,
    parse_get_netadapter,
    parse_get_netipaddress,
    parse_get_netroute,
    parse_ip_addr_json,
    parse_ip_route_get,
    parse_ip_route_json,
    parse_proc_net_route,
    parse_route_print,
    parse_uevent_driver,
    routes_to,
    windows_nics,
)

TARGET, IMDS = "168.63.129.16", "169.254.169.254"


def test_proc_net_route_single_nic() -> None:
    routes = parse_proc_net_route(fixture_text("proc-net-route"))
    assert [r.ip_line() for r in routes] == [
        "default via 10.1.0.1 dev eth0 metric 100",
        "10.1.0.0/24 dev eth0 metric 100",
        "168.63.129.16/32 via 10.1.0.1 dev eth0 metric 100",
        "169.254.169.254/32 via 10.1.0.1 dev eth0 metric 100",
    ]
    best = lookup(routes, TARGET)
    assert best is not None and (best.interface, best.gateway) == ("eth0", "10.1.0.1")


def test_proc_net_route_two_nics_sends_the_platform_out_of_eth1() -> None:
    routes = parse_proc_net_route(fixture_text("proc-net-route-two-nics"))
    best = lookup(routes, TARGET)
    assert best is not None
    assert best.ip_line() == "168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50"
    imds = lookup(routes, IMDS)
    assert imds is not None and imds.interface == "eth0"
    assert [r.interface for r in default_routes(routes)] == ["eth0", "eth1"]
    assert [r.interface for r in routes_to(routes, TARGET)] == ["eth1", "eth0", "eth1"]


def test_proc_net_route_malformed_line_is_named() -> None:
    header = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
    text = header + "eth0\tZZ\t0\t1\t0\t0\t0\t0\n"
    with pytest.raises(ParseError, match="line 2"):
        parse_proc_net_route(text)


def test_ip_route_json_all_tables() -> None:
    routes = parse_ip_route_json(fixture_text("ip-route-table-all-two-nics.json"))
    assert all(":" not in r.destination for r in routes)  # IPv6 dropped
    local = [r for r in routes if r.table == "local"]
    assert local and all(r.type in ("local", "broadcast") for r in local)
    best = lookup(routes, TARGET)
    assert best is not None and best.ip_line() == (
        "168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50"
    )
    assert best.selector() == "168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50"
    connected = next(r for r in routes if r.destination == "10.1.1.0/24")
    assert connected.ip_line() == "10.1.1.0/24 dev eth1 proto kernel scope link src 10.1.1.5"


def test_route_in_another_table_names_its_table() -> None:
    route = Route("168.63.129.16/32", "eth1", "10.1.1.1", table="100")
    assert route.selector() == "168.63.129.16/32 via 10.1.1.1 dev eth1 table 100"
    assert lookup([route], TARGET) is None  # not in main
    assert lookup([route], TARGET, table=None) == route


@pytest.mark.parametrize("name", ["ip-route-get-two-nics.json", "ip-route-get-two-nics.txt"])
def test_ip_route_get_both_forms(name: str) -> None:
    got = parse_ip_route_get(fixture_text(name))
    assert (got.destination, got.interface, got.source, got.gateway) == (
        TARGET,
        "eth1",
        "10.1.1.5",
        "10.1.1.1",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "local 127.0.0.1 dev lo src 127.0.0.1 uid 0\n    cache <local>",
            ("lo", "127.0.0.1", None),
        ),
        ("10.1.0.9 dev eth0 src 10.1.0.4 uid 1000\n    cache", ("eth0", "10.1.0.4", None)),
        ('[{"dst":"10.1.0.9","dev":"eth0","prefsrc":"10.1.0.4"}]', ("eth0", "10.1.0.4", None)),
    ],
)
def test_ip_route_get_on_link_and_local(text: str, expected: tuple[str, str, None]) -> None:
    got = parse_ip_route_get(text)
    assert (got.interface, got.source, got.gateway) == expected


@pytest.mark.parametrize("text", ["", "[not json", "[]"])
def test_ip_route_get_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        parse_ip_route_get(text)


def test_ip_addr_json() -> None:
    nics = {n.name: n for n in parse_ip_addr_json(fixture_text("ip-addr-two-nics.json"))}
    assert nics["eth0"].mac == "000D3A4B5C6D" and nics["eth0"].addresses == ("10.1.0.4",)
    assert nics["eth1"].mac == "000D3A4B5C7E" and nics["eth1"].addresses == ("10.1.1.5",)
    assert nics["lo"].mac is None  # all zeros is no MAC


def test_uevent_driver() -> None:
    assert parse_uevent_driver("DRIVER=hv_netvsc\nINTERFACE=eth0\n") == "hv_netvsc"
    assert parse_uevent_driver("INTERFACE=eth0\n") is None


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        ("00:0d:3a:4b:5c:6d", "000D3A4B5C6D"),
        ("00-0D-3A-4B-5C-6D", "000D3A4B5C6D"),
        ("00 0d 3a 4b 5c 6d", "000D3A4B5C6D"),
        ("000D3A4B5C6D", "000D3A4B5C6D"),
        ("00:00:00:00:00:00", None),
        ("00:0d:3a", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_mac(text: str | None, mac: str | None) -> None:
    assert normalize_mac(text) == mac


@given(st.binary(min_size=6, max_size=6).filter(lambda b: any(b)))
def test_normalize_mac_any_separator(raw: bytes) -> None:
    expected = raw.hex().upper()
    for sep in (":", "-", " ", ""):
        assert normalize_mac(sep.join(f"{b:02x}" for b in raw)) == expected


@given(st.text(max_size=300))
def test_route_parsers_never_crash_on_noise(text: str) -> None:
    parse_get_netroute(text)
    parse_get_netipaddress(text)
    try:
        parse_route_print(text)
        parse_proc_net_route("header\n" + text)
    except ParseError:
        pass


# ---------------------------------------------------------------------------------------
# Windows


def test_route_print_single_nic() -> None:
    printed = parse_route_print(fixture_text("windows-route-print.txt"))
    assert [(n.index, n.mac) for n in printed.interfaces] == [(6, "000D3A4B5C6D"), (1, None)]
    assert printed.persistent == ()
    best = lookup(printed.routes, TARGET)
    assert best is not None and (best.interface, best.gateway, best.metric) == (
        "10.1.0.4",
        "10.1.0.1",
        11,
    )
    on_link = lookup(printed.routes, "10.1.0.9")
    assert on_link is not None and on_link.gateway is None


def test_route_print_two_nics_wrong_persistent_route() -> None:
    printed = parse_route_print(fixture_text("windows-route-print-two-nics.txt"))
    assert len(printed.interfaces) == 4
    vf = next(n for n in printed.interfaces if n.index == 14)
    assert vf.mac == "000D3A4B5C6D" and vf.description and vf.description.startswith("Mellanox")
    best = lookup(printed.routes, TARGET)
    assert best is not None and (best.interface, best.gateway, best.metric) == (
        "10.1.1.5",
        "10.1.1.1",
        6,
    )
    assert [(r.destination, r.gateway, r.metric) for r in printed.persistent] == [
        ("168.63.129.16/32", "10.1.1.1", 1),
        ("0.0.0.0/0", "10.1.1.1", 5000),
    ]
    assert [r.metric for r in default_routes(printed.routes)] == [10, 5010]


def test_get_netroute_adds_interface_metric_and_agrees_with_route_print() -> None:
    routes = parse_get_netroute(fixture_text("windows-get-netroute.txt"))
    assert len(routes) == 20
    best = lookup(routes, TARGET)
    assert best is not None and (best.interface, best.gateway, best.metric) == (
        "if11",
        "10.1.1.1",
        6,
    )
    assert [r.interface for r in default_routes(routes)] == ["if6", "if11"]


def test_get_netadapter_and_netipaddress_name_the_routes() -> None:
    adapters = parse_get_netadapter(fixture_text("windows-get-netadapter.txt"))
    assert [(a.name, a.index, a.mac) for a in adapters] == [
        ("Ethernet 3", 14, "000D3A4B5C6D"),
        ("Ethernet 2", 11, "000D3A4B5C7E"),
        ("Ethernet", 6, "000D3A4B5C6D"),
    ]
    assert adapters[0].description == "Mellanox ConnectX-4 Lx Virtual Ethern"
    addresses = parse_get_netipaddress(fixture_text("windows-get-netipaddress.txt"))
    assert addresses == {11: ("10.1.1.5",), 6: ("10.1.0.4",), 1: ("127.0.0.1",)}
    nics = windows_nics(adapters, addresses)
    by_index = name_windows_routes(
        parse_get_netroute(fixture_text("windows-get-netroute.txt")), nics
    )
    by_address = name_windows_routes(
        parse_route_print(fixture_text("windows-route-print-two-nics.txt")).routes, nics
    )
    for routes in (by_index, by_address):
        best = lookup(routes, TARGET)
        assert best is not None and best.interface == "Ethernet 2"


def test_get_netadapter_without_header_is_refused() -> None:
    with pytest.raises(ParseError, match="Get-NetAdapter"):
        parse_get_netadapter("nothing here\n")
