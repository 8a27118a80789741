"""egress-nic's source-address verdict: packets to the platform must come from the primary
NIC's primary private IP. Recorded with `ip` in a namespace where 10.1.0.5 was added to eth0
before 10.1.0.4 (so 10.1.0.4 became `secondary`), the platform /32 route with a `src` hint,
the IMDS one without; the IMDS answer is a two-IP NIC's."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, ok
from wirecheck.checks.egress import run_egress
from wirecheck.checks.egress.judge import EgressFacts, Observation, judge
from wirecheck.checks.egress.primary_nic import Signals, choose_primary
from wirecheck.checks.egress.source import SourceSeen, judge_source, primary_ip
from wirecheck.model import Status
from wirecheck.platform.imds import parse_network
from wirecheck.platform.leases import Lease
from wirecheck.platform.routes import (
    KernelRoute,
    Nic,
    Route,
    parse_ip_addr_json,
    parse_ip_route_get,
)

WS, IMDS = "168.63.129.16", "169.254.169.254"
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
PRIMARY, SECOND = "10.1.0.4", "10.1.0.5"
MAC = "000D3A4B5C6D"


def _ip_route_lines(text: str) -> list[Route]:
    """`ip route` text lines as Routes (the recorded sample is the text form)."""
    routes = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        values = {words[i]: words[i + 1] for i in range(1, len(words) - 1, 1)}
        destination = "0.0.0.0/0" if words[0] == "default" else words[0]
        if "/" not in destination:
            destination += "/32"
        routes.append(
            Route(
                destination,
                values.get("dev"),
                values.get("via"),
                int(values.get("metric", 0)),
                source=values.get("src"),
                protocol=values.get("proto"),
            )
        )
    return routes


def _ip_addr_text(text: str) -> list[Nic]:
    """`ip addr` text: eth0's IPv4 addresses in the kernel's order."""
    addresses = tuple(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", text))
    return [Nic("eth0", MAC, addresses)]


STATIC_FIRST_ROUTES = _ip_route_lines(fixture_text("ip-route-static-first.txt"))
STATIC_FIRST_NICS = _ip_addr_text(fixture_text("ip-addr-static-first.txt"))
WIRE_SRC_HINT = parse_ip_route_get(fixture_text("ip-j-route-get-wire-src-hint.json"))
IMDS_NO_SRC = parse_ip_route_get(fixture_text("ip-j-route-get-imds-no-src.json"))
TWO_IPS = parse_network(fixture_text("imds-network-multi-ip.json"))
LEASE = Lease("eth0", PRIMARY, WS, None, ("10.1.0.1",), (), None, "dhclient.eth0.leases")


def test_the_recorded_samples_say_what_the_kernel_did() -> None:
    assert STATIC_FIRST_NICS[0].addresses == (SECOND, PRIMARY)  # 10.1.0.4 is secondary
    assert (WIRE_SRC_HINT.source, IMDS_NO_SRC.source) == (PRIMARY, SECOND)
    secondary_listed_after = parse_ip_addr_json(fixture_text("ip-j-addr-secondary.json"))
    assert secondary_listed_after[0].addresses == (PRIMARY, SECOND)


def test_the_primary_ip_comes_from_the_lease_then_imds_then_the_first_address() -> None:
    azure = {"eth0": MAC}
    by_lease = primary_ip("eth0", STATIC_FIRST_NICS, TWO_IPS, azure, [LEASE])
    assert by_lease is not None and (by_lease.address, by_lease.by) == (PRIMARY, "DHCP lease")
    by_imds = primary_ip("eth0", STATIC_FIRST_NICS, TWO_IPS, azure, [])
    assert by_imds is not None and (by_imds.address, by_imds.by) == (PRIMARY, "IMDS")
    by_order = primary_ip("eth0", STATIC_FIRST_NICS, None, {}, None)
    assert by_order is not None and (by_order.address, by_order.by) == (SECOND, "first address")
    other = Lease("eth0", "10.1.0.9", WS, None, (), (), None, "x")
    disagree = primary_ip("eth0", STATIC_FIRST_NICS, TWO_IPS, azure, [other])
    assert (
        disagree is not None and disagree.detail == "eth0's DHCP lease; IMDS lists 10.1.0.4 first"
    )


def test_imds_without_src_takes_the_secondary_configured_first() -> None:
    primary = primary_ip("eth0", STATIC_FIRST_NICS, TWO_IPS, {"eth0": MAC}, [LEASE])
    seen = [
        SourceSeen(WS, "kernel route", "eth0", WIRE_SRC_HINT.source or ""),
        SourceSeen(IMDS, "kernel route", "eth0", IMDS_NO_SRC.source or ""),
    ]
    problem = judge_source(
        primary,
        "eth0",
        seen,
        STATIC_FIRST_NICS,
        STATIC_FIRST_ROUTES,
        [WIRE_SRC_HINT, IMDS_NO_SRC],
        windows=False,
    )
    assert problem is not None
    assert [s.destination for s in problem.wrong] == [IMDS]  # the /32 with src is fine
    assert problem.why == (
        f"the route `{IMDS}/32 via 10.1.0.1 dev eth0 metric 100` has no `src`; so the kernel "
        f"takes eth0's first address, {SECOND}: it was configured before {PRIMARY}, which is "
        "listed after it (`secondary`)"
    )
    assert problem.fix.startswith(
        f"Send it from {PRIMARY}: `ip route replace {IMDS}/32 via 10.1.0.1 dev eth0 src {PRIMARY}`;"
    )


def test_a_src_hint_naming_the_secondary_is_the_reason() -> None:
    routes = [Route(f"{WS}/32", "eth0", "10.1.0.1", 100, source=SECOND, protocol="static")]
    nics = [Nic("eth0", MAC, (PRIMARY, SECOND))]
    problem = judge_source(
        primary_ip("eth0", nics, None, {}, [LEASE]),
        "eth0",
        [SourceSeen(WS, "captured SYN", "eth0", SECOND)],
        nics,
        routes,
        [],
        windows=False,
    )
    assert problem is not None
    assert problem.why == (
        f"the route `{WS}/32 via 10.1.0.1 dev eth0 proto static src {SECOND} metric 100` has "
        f"`src {SECOND}`"
    )


def test_windows_lowest_address_and_skip_as_source() -> None:
    nics = [Nic("Ethernet", MAC, (SECOND, PRIMARY))]
    primary = primary_ip("Ethernet", nics, TWO_IPS, {"Ethernet": MAC}, None)
    problem = judge_source(
        primary,
        "Ethernet",
        [SourceSeen(WS, "tcp-80 socket", "Ethernet", "10.1.0.3")],
        [Nic("Ethernet", MAC, ("10.1.0.3", PRIMARY))],
        [],
        [],
        windows=True,
    )
    assert problem is not None
    assert problem.why.startswith("Windows uses the numerically lowest address, 10.1.0.3")
    assert "`Set-NetIPAddress -IPAddress 10.1.0.3 -SkipAsSource $true`" in problem.fix
    assert f"`Set-NetIPAddress -IPAddress {PRIMARY} -SkipAsSource $false`" in problem.fix


def test_egress_fails_on_the_wrong_source_and_passes_on_the_right_one() -> None:
    signals = Signals(STATIC_FIRST_ROUTES, [LEASE], TWO_IPS, STATIC_FIRST_NICS)
    choice = choose_primary(signals)
    kernel = KernelRoute(WS, "eth0", SECOND, "10.1.0.1", "168.63.129.16 via 10.1.0.1 dev eth0")
    routes = [r for r in STATIC_FIRST_ROUTES if r.destination != f"{WS}/32"]
    routes.append(Route(f"{WS}/32", "eth0", "10.1.0.1", 100))
    facts = EgressFacts(
        WS,
        False,
        choice,
        tuple(routes),
        "test",
        kernel,
        observations=(
            Observation("kernel route", "eth0", SECOND),
            Observation("captured SYN", "eth0", SECOND),
        ),
        nics=tuple(STATIC_FIRST_NICS),
        primary_ip=primary_ip("eth0", STATIC_FIRST_NICS, TWO_IPS, choice.azure_nics, [LEASE]),
        sources=(
            SourceSeen(WS, "kernel route", "eth0", SECOND),
            SourceSeen(WS, "captured SYN", "eth0", SECOND),
        ),
    )
    outcome = judge(facts)
    assert outcome.status is Status.FAIL
    assert outcome.finding.startswith(
        f"packets to {WS} leave eth0 with source {SECOND}, not the primary NIC's primary private "
        f"IP {PRIMARY} (eth0's DHCP lease) (kernel route to {WS}: {SECOND}, captured SYN to {WS}: "
        f"{SECOND}): the route `{WS}/32 via 10.1.0.1 dev eth0 metric 100` has no `src`"
    )
    assert outcome.evidence["source_problem"]["primary_ip"] == PRIMARY
    right = EgressFacts(
        WS,
        False,
        choice,
        tuple(routes),
        "test",
        kernel,
        observations=(Observation("kernel route", "eth0", PRIMARY),),
        nics=tuple(STATIC_FIRST_NICS),
        primary_ip=facts.primary_ip,
        sources=(SourceSeen(WS, "kernel route", "eth0", PRIMARY),),
    )
    assert judge(right).status is Status.OK


def test_the_linux_collector_looks_up_the_imds_route_and_fails_on_its_source() -> None:
    addr = json.loads(fixture_text("ip-j-addr-secondary.json"))
    info = addr[0]["addr_info"]
    info[0], info[1] = info[1], info[0]  # 10.1.0.5 configured first, as recorded in text
    table = [
        {"dst": "default", "gateway": "10.1.0.1", "dev": "eth0"},
        {"dst": "10.1.0.0/24", "dev": "eth0", "protocol": "kernel", "prefsrc": SECOND},
        {"dst": WS, "gateway": "10.1.0.1", "dev": "eth0", "protocol": "dhcp", "prefsrc": PRIMARY},
        {"dst": IMDS, "gateway": "10.1.0.1", "dev": "eth0", "metric": 100},
    ]
    machine = FakeMachine(
        root=False,
        commands={
            ("ip", "-j", "route", "get", WS): ok(fixture_text("ip-j-route-get-wire-src-hint.json")),
            ("ip", "-j", "route", "get", IMDS): ok(fixture_text("ip-j-route-get-imds-no-src.json")),
            ("ip", "-j", "route", "show", "table", "all"): ok(json.dumps(table)),
            ("ip", "-j", "addr", "show"): ok(json.dumps(addr)),
        },
        files={"/var/lib/dhcp/dhclient.eth0.leases": fixture_text("dhclient.leases")},
        dirs={"/var/lib/dhcp": ["dhclient.eth0.leases"]},
    )
    outcome = run_egress(context(machine, planned=["egress-nic"]), now=lambda: NOW)
    assert outcome.status is Status.FAIL, outcome.finding
    assert outcome.finding.startswith(
        f"packets to {IMDS} leave eth0 with source {SECOND}, not the primary NIC's primary "
        f"private IP {PRIMARY} (eth0's DHCP lease)"
    )
    assert outcome.fix and f"`ip route replace {IMDS}/32 via 10.1.0.1 dev eth0 src {PRIMARY}`" in (
        outcome.fix
    )
