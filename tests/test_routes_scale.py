"""Route tables of a big node: read whole (no silent cap), only what matters kept, and an
incomplete read said as such, never taken for a missing route."""

from __future__ import annotations

import ipaddress
import json
import socket

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.context_fakes import FakeMachine, ok
from wirecheck.checks.egress.primary_nic import default_route_vote
from wirecheck.model import Deadline
from wirecheck.platform.budget import Cutoff
from wirecheck.platform.routes import (
    IP_ROUTE_ALL,
    _covering,
    iter_ip_route_json,
    pick_ip_routes,
    read_route_table,
)
from wirecheck.system import CommandResult

TARGET, IMDS = "168.63.129.16", "169.254.169.254"
WANTED = (TARGET, IMDS)


def _json_routes(count: int) -> str:
    """`ip -j route show table all` of a node with `count` routes, the default last."""
    items = [
        {
            "dst": f"10.{128 + i // 65536}.{i // 256 % 256}.{i % 256}",
            "gateway": "10.1.0.1",
            "dev": "eth0",
            "protocol": "static",
            "flags": [],
        }
        for i in range(count)
    ]
    items += [
        {"dst": f"{TARGET}", "gateway": "10.1.0.1", "dev": "eth0", "metric": 100, "flags": []},
        {"type": "local", "dst": "10.1.0.4", "table": "local", "dev": "eth0", "flags": []},
        {
            "dst": "default",
            "gateway": "10.1.0.1",
            "dev": "eth0",
            "metric": 100,
            "flags": [],
            "nexthops": [{"gateway": "10.1.0.1", "dev": "eth0"}],
        },
    ]
    return json.dumps(items)


def _proc_routes(count: int) -> str:
    """/proc/net/route with `count` host routes, then the default route: 13 MB for 100k."""
    header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

    def hex_le(address: str) -> str:
        return socket.inet_aton(address)[::-1].hex().upper()

    hosts = (f"10.{128 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count))
    lines = [
        f"eth0\t{hex_le(host)}\t0101010A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n" for host in hosts
    ]
    lines.append("eth0\t00000000\t0100010A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
    return header + "".join(lines)


def test_a_hundred_thousand_routes_are_read_whole_and_only_what_matters_is_kept() -> None:
    text = _json_routes(100_000)
    machine = FakeMachine(commands={IP_ROUTE_ALL: ok(text)})
    table = read_route_table(machine.system(), Deadline(60), WANTED)
    assert table.complete and table.note == ""
    assert table.total == 100_003
    assert sorted(r.destination for r in table.routes) == ["0.0.0.0/0", f"{TARGET}/32"]
    default = next(r for r in table.routes if r.is_default)
    assert (default.interface, default.gateway, default.metric) == ("eth0", "10.1.0.1", 100)


def test_proc_net_route_is_streamed_past_four_mebibytes() -> None:
    """The old reader kept the first 4 MiB (32,767 routes) and lost the default route."""
    text = _proc_routes(100_000)
    assert len(text) > 4 * 1024 * 1024
    machine = FakeMachine(files={"/proc/net/route": text})
    table = read_route_table(machine.system(), Deadline(60), WANTED)
    assert table.source == "/proc/net/route" and table.complete
    assert table.total == 100_001
    assert [r.destination for r in table.routes] == ["0.0.0.0/0"]


def test_a_read_out_of_time_says_so_and_no_route_is_called_missing() -> None:
    text = _proc_routes(50_000)
    machine = FakeMachine(files={"/proc/net/route": text})
    spent = Cutoff(60)
    spent.cancel()
    table = read_route_table(machine.system(), spent, WANTED)
    assert not table.complete
    assert "stopped at its time budget" in table.note
    vote = default_route_vote(table.routes, table.note)
    assert vote.interfaces == ()
    assert "no default route among the routes read" in vote.detail
    assert "no IPv4 default route in the main table" not in vote.detail


def test_ip_that_timed_out_is_not_replaced_by_a_guess() -> None:
    timed_out = CommandResult(IP_ROUTE_ALL, None, error="ip did not finish", timed_out=True)
    machine = FakeMachine(
        commands={IP_ROUTE_ALL: timed_out}, files={"/proc/net/route": _proc_routes(3)}
    )
    table = read_route_table(machine.system(), Deadline(5), WANTED)
    assert not table.complete and table.routes == ()


def test_the_scan_decodes_only_the_routes_kept() -> None:
    text = _json_routes(1000)
    decoded: list[str] = []

    def keep(destination: str) -> bool:
        decoded.append(destination)
        return destination in ("0.0.0.0/0", TARGET)

    routes, total = pick_ip_routes(text, keep)
    assert total == 1003
    assert [r.destination for r in routes] == [f"{TARGET}/32", "0.0.0.0/0"]
    # Every destination was tested once by the scan; the kept ones once more when decoded.
    assert len(decoded) == 1003 + 2
    full = [r for r in iter_ip_route_json(text, None, keep) if r is not None]
    assert full == routes


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
    st.sampled_from([TARGET, IMDS, "10.1.0.4"]),
)
def test_the_covering_set_agrees_with_ipaddress(number: int, bits: int, address: str) -> None:
    network = ipaddress.IPv4Network((number, bits), strict=False)
    destination = str(network)
    expected = ipaddress.IPv4Address(address) in network
    assert _covering([address])(destination) == expected
    if bits == 32:  # `ip -j` writes a host route without its length
        assert _covering([address])(str(network.network_address)) == expected
