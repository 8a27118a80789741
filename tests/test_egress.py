"""egress-nic: the verdict on tables of facts, and the Linux and Windows collectors fed
recorded command output through a fake System (nothing here touches the machine)."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import BinaryIO

import pytest

from tests.bounds import AMPLE_S, HANG_S, RecordingBoard, finishes
from tests.conftest import fixture_text
from wirecheck.checks.base import CheckContext, CheckSpec, ResultBoard
from wirecheck.checks.catalogue import load_all
from wirecheck.checks.egress import run_egress
from wirecheck.checks.egress.collect import CaptureOutcome
from wirecheck.checks.egress.judge import EgressFacts, Observation, judge
from wirecheck.checks.egress.primary_nic import Signals, choose_primary
from wirecheck.checks.fetch import Fetch
from wirecheck.checks.imds import ImdsFacts
from wirecheck.checks.tcp import ConnectFacts
from wirecheck.model import CheckResult, Deadline, RunConfig, Status
from wirecheck.net.errors import NetOutcome
from wirecheck.platform.imds import ImdsNic, parse_network
from wirecheck.platform.routes import (
    KernelRoute,
    Nic,
    Route,
    parse_proc_net_route,
)
from wirecheck.system import CommandResult, System

TARGET = "168.63.129.16"
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
ETH0 = Nic("eth0", "000D3A4B5C6D", ("10.1.0.4",))
ETH1 = Nic("eth1", "000D3A4B5C7E", ("10.1.1.5",))
ROUTE_ETH0 = KernelRoute(TARGET, "eth0", "10.1.0.4", "10.1.0.1", "via eth0")
ROUTE_ETH1 = KernelRoute(TARGET, "eth1", "10.1.1.5", "10.1.1.1", "via eth1")


def _facts(
    routes: Sequence[Route],
    observations: Sequence[Observation],
    *,
    kernel: KernelRoute | None = ROUTE_ETH0,
    windows: bool = False,
    signals: Signals | None = None,
) -> EgressFacts:
    choice = choose_primary(signals or Signals(routes, None, None, [ETH0, ETH1]))
    return EgressFacts(
        TARGET, windows, choice, tuple(routes), "test", kernel, (), tuple(observations)
    )


TWO_NICS = parse_proc_net_route(fixture_text("proc-net-route-two-nics"))
ONE_NIC = parse_proc_net_route(fixture_text("proc-net-route"))


def test_ok_when_every_piece_names_the_primary() -> None:
    outcome = judge(
        _facts(
            ONE_NIC,
            [
                Observation("kernel route", "eth0", "10.1.0.4"),
                Observation("tcp-80 socket", "eth0", "10.1.0.4"),
                Observation("captured SYN", "eth0", "10.1.0.4"),
            ],
        )
    )
    assert outcome.status is Status.OK
    assert outcome.finding == (
        "packets to 168.63.129.16 leave by eth0 (source 10.1.0.4, via 10.1.0.1), "
        "the primary NIC (by default-route)"
    )
    ev = outcome.evidence
    assert (ev["primary_nic"], ev["leaves_by"], ev["captured_interface"]) == ("eth0",) * 3
    assert ev["kernel_route"] == {
        "interface": "eth0",
        "source": "10.1.0.4",
        "gateway": "10.1.0.1",
        "text": "via eth0",
    }
    assert ev["tcp_80_local_address"] == "10.1.0.4"


def test_fail_names_the_route_at_fault_and_the_commands() -> None:
    outcome = judge(
        _facts(
            TWO_NICS,
            [Observation("kernel route", "eth1", "10.1.1.5")],
            kernel=ROUTE_ETH1,
        )
    )
    assert outcome.status is Status.FAIL
    assert "leave by eth1 (source 10.1.1.5, via 10.1.1.1), not by the primary NIC eth0" in (
        outcome.finding
    )
    assert outcome.evidence["route_lines_at_fault"] == [
        "168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50"
    ]
    assert outcome.fix is not None
    assert "`ip route del 168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50`" in outcome.fix
    # eth0 has no /32 of its own in this table: put one back via its gateway.
    assert "`ip route replace 168.63.129.16/32 via 10.1.0.1 dev eth0`" in outcome.fix


def test_fail_when_the_capture_contradicts_the_route() -> None:
    outcome = judge(
        _facts(
            ONE_NIC,
            [
                Observation("kernel route", "eth0", "10.1.0.4"),
                Observation("captured SYN", "eth1", "10.1.1.5"),
            ],
        )
    )
    assert outcome.status is Status.FAIL
    assert "kernel route: eth0, captured SYN: eth1" in outcome.finding


def test_a_secondary_default_route_with_a_lower_metric_is_fixed_by_a_host_route() -> None:
    routes = [
        Route("0.0.0.0/0", "eth1", "10.1.1.1", 50),
        Route("0.0.0.0/0", "eth0", "10.1.0.1", 100),
    ]
    # The lease says eth0 and IMDS says both; the default route alone says eth1.
    lease_signals = Signals(
        routes,
        [_lease("eth0")],
        [ImdsNic("000D3A4B5C6D"), ImdsNic("000D3A4B5C7E")],
        [ETH0, ETH1],
    )
    outcome = judge(
        _facts(
            routes,
            [Observation("kernel route", "eth1", "10.1.1.5")],
            kernel=ROUTE_ETH1,
            signals=lease_signals,
        )
    )
    # The default route ranks first, so eth1 counts as primary: a warning, not a failure.
    assert outcome.status is Status.WARN
    assert "the signals disagree" in outcome.finding and "dhcp-lease points at eth0" in (
        outcome.finding
    )


def test_warn_when_the_primary_cannot_be_determined() -> None:
    outcome = judge(_facts([], [Observation("kernel route", "eth0", "10.1.0.4")]))
    assert outcome.status is Status.WARN
    assert "could not be determined" in outcome.finding


def test_skip_without_any_evidence() -> None:
    facts = EgressFacts(
        TARGET,
        False,
        choose_primary(Signals(ONE_NIC)),
        notes=("`ip route get 168.63.129.16` failed: ip is not installed",),
    )
    outcome = judge(facts)
    assert outcome.status is Status.SKIP
    assert outcome.fix and "ip is not installed" in outcome.fix


def test_windows_fix_uses_route_commands() -> None:
    routes = [
        Route("0.0.0.0/0", "Ethernet", "10.1.0.1", 10),
        Route("168.63.129.16/32", "Ethernet 2", "10.1.1.1", 6),
        Route("168.63.129.16/32", "Ethernet", "10.1.0.1", 11),
    ]
    nics = [Nic("Ethernet", None, ("10.1.0.4",)), Nic("Ethernet 2", None, ("10.1.1.5",))]
    outcome = judge(
        _facts(
            routes,
            [Observation("kernel route", "Ethernet 2", "10.1.1.5")],
            windows=True,
            signals=Signals(routes, None, None, nics),
        )
    )
    assert outcome.status is Status.FAIL
    assert outcome.fix is not None
    assert "`route delete 168.63.129.16 mask 255.255.255.255 10.1.1.1`" in outcome.fix
    assert "route -p add" not in outcome.fix  # Ethernet's own /32 is already there


def _lease(interface: str) -> object:
    from wirecheck.platform.leases import Lease

    return Lease(
        interface,
        None,
        "168.63.129.16",
        None,
        (),
        (("168.63.129.16/32", "10.1.0.1"),),
        None,
        "test",
    )


# ---------------------------------------------------------------------------------------
# Collectors with a fake machine


def _ok(stdout: str) -> CommandResult:
    return CommandResult((), 0, stdout)


def fake_machine(
    commands: Mapping[tuple[str, ...], CommandResult],
    files: Mapping[str, str],
    dirs: Mapping[str, list[str]],
    root: bool,
) -> System:
    def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult:
        assert timeout_s > 0
        return commands.get(tuple(argv), CommandResult(tuple(argv), None, error="not recorded"))

    def read_text(path: str) -> str:
        if path in files:
            return files[path]
        raise FileNotFoundError(2, "No such file (fake)", path)

    def list_dir(path: str) -> list[str]:
        if path in dirs:
            return dirs[path]
        raise FileNotFoundError(2, "No such directory (fake)", path)

    def open_file(path: str) -> BinaryIO:
        return io.BytesIO(read_text(path).encode("utf-8"))

    def read_lines(path: str) -> Iterator[str]:
        return iter(read_text(path).splitlines(keepends=True))

    return System(
        read_lines=read_lines,
        read_text=read_text,
        run_command=run_command,
        hostname=lambda: "vm1",
        is_root=lambda: root,
        interface_addresses=lambda: {"eth0": ("10.1.0.4",), "eth1": ("10.1.1.5",)},
        reverse_lookup=lambda _a: None,
        environ={},
        list_dir=list_dir,
        open_file=open_file,
    )


def _linux(wrong_route: bool, root: bool) -> System:
    table = json.loads(fixture_text("ip-route-table-all-two-nics.json"))
    if not wrong_route:
        table = [r for r in table if not (r.get("dst") == TARGET and r.get("dev") == "eth1")]
    get = "ip-route-get-two-nics.json"
    route_get = fixture_text(get) if wrong_route else fixture_text(get).replace(
        "10.1.1.1", "10.1.0.1").replace("eth1", "eth0").replace("10.1.1.5", "10.1.0.4")  # fmt: skip
    return fake_machine(
        {
            ("ip", "-j", "route", "get", TARGET): _ok(route_get),
            ("ip", "-j", "route", "show", "table", "all"): _ok(json.dumps(table)),
            ("ip", "-j", "addr", "show"): _ok(fixture_text("ip-addr-two-nics.json")),
        },
        {
            "/var/lib/dhcp/dhclient.eth0.leases": fixture_text("dhclient.leases"),
            "/sys/class/net/eth0/device/uevent": "DRIVER=hv_netvsc\n",
            "/sys/class/net/eth1/device/uevent": "DRIVER=hv_netvsc\n",
        },
        {"/var/lib/dhcp": ["dhclient.eth0.leases"]},
        root,
    )


def _connected(local: str) -> CheckResult:
    address, port = local.rsplit(":", 1)
    facts = ConnectFacts(TARGET, 80, NetOutcome.CONNECTED, 0.4, local_address=(address, int(port)))
    return CheckResult("tcp-80", "TCP 80", Status.OK, "connected", facts=facts)


def _specs(ids: frozenset[str]) -> dict[str, CheckSpec]:
    return {spec.id: spec for spec in load_all(ids)}


def _context(
    system: System,
    tcp80_local: str | None,
    planned: frozenset[str],
    imds: Sequence[ImdsNic] | None = None,
) -> CheckContext:
    board = ResultBoard()
    if tcp80_local is not None:
        board.post(_connected(tcp80_local))
    if imds is not None:
        fetch = Fetch("http://169.254.169.254/", NetOutcome.CONNECTED, 1.0, True, http_status=200)
        facts = ImdsFacts(fetch, tuple(imds))
        board.post(CheckResult("imds", "IMDS", Status.OK, "reachable", facts=facts))
    return CheckContext(
        RunConfig(timeout_s=3), Deadline(3), system, board, _specs(planned | {"egress-nic"})
    )


def _capture(interface: str | None):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def capture(target: str, port: int, deadline: Deadline, system: System) -> CaptureOutcome:
        calls.append(f"{target}:{port}")
        if interface is None:
            return CaptureOutcome(None, None, "no SYN seen leaving")
        return CaptureOutcome(interface, "10.1.0.4" if interface == "eth0" else "10.1.1.5", "ok")

    capture.calls = calls  # type: ignore[attr-defined]
    return capture


def test_linux_collector_healthy_as_root_uses_all_signals_and_evidence() -> None:
    ctx = _context(
        _linux(wrong_route=False, root=True),
        "10.1.0.4:50000",
        frozenset({"tcp-80", "imds"}),
        parse_network(fixture_text("imds-network.json")),
    )
    capture = _capture("eth0")
    outcome = run_egress(ctx, capture=capture, now=lambda: NOW)
    assert outcome.status is Status.OK, outcome.finding
    assert outcome.evidence["primary_signals_used"] == ["default-route", "dhcp-lease", "imds"]
    assert outcome.evidence["azure_nics"] == {"eth0": "000D3A4B5C6D", "eth1": "000D3A4B5C7E"}
    assert (
        outcome.evidence["route_interface"],
        outcome.evidence["tcp_80_interface"],
        outcome.evidence["captured_interface"],
    ) == ("eth0", "eth0", "eth0")
    assert capture.calls == [f"{TARGET}:80"]  # type: ignore[attr-defined]


def test_linux_collector_wrong_route_fails_with_the_fault() -> None:
    ctx = _context(_linux(wrong_route=True, root=True), "10.1.1.5:50000", frozenset({"tcp-80"}))
    outcome = run_egress(ctx, capture=_capture("eth1"), now=lambda: NOW)
    assert outcome.status is Status.FAIL
    assert outcome.evidence["route_lines_at_fault"] == [
        "168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50"
    ]
    assert outcome.evidence["primary_nic"] == "eth0"
    assert "imds: not in this run" in outcome.evidence["notes"]  # type: ignore[operator]


def test_linux_collector_not_root_skips_the_capture_only() -> None:
    ctx = _context(_linux(wrong_route=False, root=False), "10.1.0.4:50000", frozenset({"tcp-80"}))
    capture = _capture("eth0")
    outcome = run_egress(ctx, capture=capture, now=lambda: NOW)
    assert outcome.status is Status.OK
    assert capture.calls == []  # type: ignore[attr-defined]
    assert "captured SYN: skipped, capturing needs root" in outcome.evidence["notes"]  # type: ignore[operator]
    assert "captured_interface" not in outcome.evidence


def test_a_failing_fact_reader_is_named_not_taken_for_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> object:
        raise ValueError("unexpected ip output")

    monkeypatch.setattr("wirecheck.platform.machine.kernel_route", broken)
    ctx = _context(_linux(wrong_route=False, root=False), "10.1.0.4:50000", frozenset({"tcp-80"}))
    outcome = run_egress(ctx, capture=_capture("eth0"), now=lambda: NOW)
    notes = outcome.evidence["notes"]
    assert (
        "the kernel's route to the target: ValueError: unexpected ip output" in notes  # type: ignore[operator]
    )
    assert "kernel route lookup did not finish" not in notes  # type: ignore[operator]


def test_egress_waits_on_tcp80_not_on_the_clock() -> None:
    system = _linux(wrong_route=False, root=False)
    board = RecordingBoard()
    deadline = Deadline(AMPLE_S)
    ctx = CheckContext(
        RunConfig(timeout_s=AMPLE_S), deadline, system, board, _specs(frozenset({"tcp-80"}))
    )

    def post_once_waited_for() -> None:
        # tcp-80 finishes only once egress waits for it: egress cannot have it any other way.
        if board.waited_for("tcp-80").wait(HANG_S):
            board.post(_connected("10.1.0.4:1"))

    threading.Thread(target=post_once_waited_for, daemon=True).start()
    outcome = finishes(lambda: run_egress(ctx, capture=_capture(None), now=lambda: NOW))
    assert outcome.evidence["tcp_80_interface"] == "eth0"
    assert not deadline.expired  # it had tcp-80's result when posted, not at the deadline


def test_tcp80_that_did_not_connect_is_noted() -> None:
    system = _linux(wrong_route=False, root=False)
    board = ResultBoard()
    timed_out = ConnectFacts(TARGET, 80, NetOutcome.TIMEOUT, 3000.0)
    board.post(CheckResult("tcp-80", "TCP 80", Status.FAIL, "timed out", facts=timed_out))
    ctx = CheckContext(RunConfig(), Deadline(3), system, board, _specs(frozenset({"tcp-80"})))
    outcome = run_egress(ctx, capture=_capture(None), now=lambda: NOW)
    assert outcome.status is Status.OK  # the route lookup alone names eth0
    assert any("did not connect" in n for n in outcome.evidence["notes"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sample", "status", "leaves_by"),
    [
        ("windows-route-print.txt", Status.OK, "Ethernet"),
        ("windows-route-print-two-nics.txt", Status.FAIL, "Ethernet 2"),
    ],
)
def test_windows_collector_on_recorded_route_print(
    sample: str, status: Status, leaves_by: str
) -> None:
    system = fake_machine({("route", "print", "-4"): _ok(fixture_text(sample))}, {}, {}, root=True)
    adapters = [
        Nic("Ethernet", "000D3A4B5C6D", ("10.1.0.4",)),
        Nic("Ethernet 2", "000D3A4B5C7E", ("10.1.1.5",)),
        Nic("Ethernet 3", "000D3A4B5C6D", ()),  # the accelerated-networking VF
    ]
    ctx = _context(system, None, frozenset())
    ctx = dataclasses.replace(ctx, system=dataclasses.replace(system, platform="win32"))
    outcome = run_egress(ctx, adapters=lambda: adapters)
    assert outcome.status is status, outcome.finding
    assert outcome.evidence["leaves_by"] == leaves_by
    assert outcome.evidence["primary_nic"] == "Ethernet"
    if status is Status.FAIL:
        assert outcome.fix and "route delete 168.63.129.16 mask 255.255.255.255 10.1.1.1" in (
            outcome.fix
        )
        assert outcome.evidence["route_lines_at_fault"] == [
            "168.63.129.16/32 via 10.1.1.1 dev Ethernet 2 metric 6"
        ]


def test_other_platforms_skip() -> None:
    system = dataclasses.replace(fake_machine({}, {}, {}, root=False), platform="darwin")
    outcome = run_egress(_context(system, None, frozenset()))
    assert outcome.status is Status.SKIP


def test_proc_net_route_fallback_when_ip_is_missing() -> None:
    system = fake_machine(
        {},
        {"/proc/net/route": fixture_text("proc-net-route-two-nics")},
        {},
        root=False,
    )
    ctx = _context(system, "10.1.1.5:4000", frozenset({"tcp-80"}))
    outcome = run_egress(ctx, capture=_capture(None), now=lambda: NOW)
    assert outcome.status is Status.FAIL
    assert outcome.evidence["routes_from"] == "/proc/net/route"
    assert outcome.evidence["tcp_80_interface"] == "eth1"
