"""trace-80 / trace-32526 as checks: the evidence contract with the text report, engine
choice and fallback, skips, and that scapy is paid for only by a raw trace."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import HOST, FakeHttpServer, fake_system, refusing_port
from tests.traceroute_text import parse_traceroute
from wirecheck.checks.base import CheckContext
from wirecheck.checks.trace import (
    TRACE_80,
    TRACE_32526,
    EngineChoice,
    make_engine,
    run_trace,
)
from wirecheck.model import Deadline, Ports, RunConfig, Status
from wirecheck.net.traceroute import KERNEL, RAW, EngineUnavailable, TraceRequest, TraceRun
from wirecheck.net.traceroute.hops import Hop, ProbeCell
from wirecheck.system import System

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
REPO = Path(__file__).resolve().parent.parent
TARGET = "168.63.129.16"


class CannedEngine:
    """An engine that returns a recorded run, as if it had traced."""

    def __init__(self, name: str, hops: tuple[Hop, ...], **run: object) -> None:
        self.name = name
        self.run = TraceRun(name, hops, 8, **run)  # type: ignore[arg-type]
        self.requests: list[TraceRequest] = []

    def trace(self, request: TraceRequest, deadline: Deadline) -> TraceRun:
        self.requests.append(request)
        return self.run


def _ctx(
    system: System, target: str = TARGET, ports: Ports | None = None, engine: str = "raw"
) -> CheckContext:
    # These tests are about the raw engine as root unless they say otherwise.
    config = RunConfig(target=target, timeout_s=3, ports=ports or Ports(), trace_engine=engine)
    return CheckContext(config, Deadline(3), system)


EXTRA_HOP = (
    Hop(1, (ProbeCell("10.1.0.254", 0.029), ProbeCell("10.1.0.254", 0.01)), "router"),
    Hop(2, (ProbeCell(TARGET, 0.017), ProbeCell(TARGET, 0.011)), "target", final=True),
)


def test_evidence_carries_the_report_contract() -> None:
    engine = CannedEngine(RAW, EXTRA_HOP, duration_s=0.002, probes_sent=8)

    def engines(name: str, ctx: CheckContext, request: TraceRequest) -> EngineChoice:
        assert name == RAW
        return EngineChoice(engine, request, ("kernel route: dst 168.63.129.16 dev eth0",))

    names = {"10.1.0.254": "appliance.lab.internal"}
    system = fake_system(root=True, reverse=names.get)
    outcome = run_trace(_ctx(system), 80, "TCP 80", engines)
    assert outcome.status is Status.WARN
    assert "hop 2" in outcome.finding and "[raw engine]" in outcome.finding
    ev = outcome.evidence
    assert ev["engine"] == "raw" and ev["max_hops"] == 8
    assert ev["hops"] == [
        {"ttl": 1, "address": "10.1.0.254", "rtts_ms": [0.029, 0.01], "kind": "router"},
        {"ttl": 2, "address": TARGET, "rtts_ms": [0.017, 0.011], "kind": "target"},
    ]
    assert ev["traceroute_text"] == (
        "traceroute to 168.63.129.16 (168.63.129.16), 8 hops max, 60 byte packets\n"
        " 1  appliance.lab.internal (10.1.0.254)  0.029 ms  0.010 ms\n"
        " 2  168.63.129.16 (168.63.129.16)  0.017 ms  0.011 ms\n"
    )
    assert ev["notes"] == ["kernel route: dst 168.63.129.16 dev eth0"]
    assert engine.requests[0].port == 80


def test_non_root_silence_says_run_as_root() -> None:
    silent = tuple(Hop(t, (ProbeCell(),) * 3, "none") for t in (1, 2, 3, 4))
    engine = CannedEngine(KERNEL, silent, deadline_hit=True)
    outcome = run_trace(
        _ctx(fake_system(root=False)),
        80,
        "TCP 80",
        lambda name, ctx, request: EngineChoice(engine, request),
    )
    assert outcome.status is Status.FAIL
    assert outcome.fix and outcome.fix.startswith("Run wirecheck as root")
    text = outcome.evidence["traceroute_text"]
    assert isinstance(text, str) and text.count("* * *") == 4


def test_windows_and_hostnames_skip_with_a_fix() -> None:
    outcome = run_trace(_ctx(fake_system(), target="wireserver.example"), 80, "TCP 80")
    assert outcome.status is Status.SKIP and "IPv4 address" in outcome.finding
    windows = dataclasses.replace(fake_system(), platform="win32")
    outcome = run_trace(_ctx(windows), 80, "TCP 80")
    assert outcome.status is Status.SKIP
    assert "Windows" in outcome.finding
    assert outcome.fix and "Test-NetConnection 168.63.129.16 -Port 80" in outcome.fix


def test_kernel_engine_through_the_check_on_loopback() -> None:
    with FakeHttpServer() as server:
        ctx = _ctx(fake_system(root=False), HOST, Ports(http=server.port))
        outcome = TRACE_80.run(ctx)
    assert outcome.status is Status.OK, outcome.finding
    assert outcome.evidence["engine"] == "kernel"
    target, max_hops, hops = parse_traceroute(str(outcome.evidence["traceroute_text"]))
    assert (target, max_hops, [h.kind for h in hops]) == (HOST, 8, ["target"])


@pytest.mark.skipif(not ROOT, reason="the raw engine needs root")
def test_raw_engine_through_the_check_on_loopback() -> None:
    system = dataclasses.replace(fake_system(root=True), run_command=System().run_command)
    ctx = _ctx(system, HOST, Ports(host_plugin=refusing_port()))
    outcome = TRACE_32526.run(ctx)
    assert outcome.status is Status.OK, outcome.finding
    assert outcome.evidence["engine"] == "raw"
    assert (outcome.evidence["interface"], outcome.evidence["source"]) == ("lo", HOST)


def test_raw_falls_back_to_kernel_when_the_route_is_unknown() -> None:
    def run_command(argv: object, timeout_s: float) -> object:
        from wirecheck.system import CommandResult

        return CommandResult(("ip",), None, error="ip is not installed")

    system = dataclasses.replace(fake_system(root=True), run_command=run_command)
    choice = make_engine(RAW, _ctx(system), TraceRequest(TARGET, 80))
    assert choice.engine.name == KERNEL
    assert choice.notes and "ip is not installed" in choice.notes[0]


def test_raw_falls_back_to_kernel_when_raw_sockets_are_refused() -> None:
    from wirecheck.checks.trace import _FallbackEngine

    class Refusing:
        name = RAW

        def trace(self, request: TraceRequest, deadline: Deadline) -> TraceRun:
            raise EngineUnavailable(
                "raw sockets on eth0 could not be opened: Operation not permitted"
            )

    kernel = CannedEngine(KERNEL, EXTRA_HOP)
    engine = _FallbackEngine(Refusing(), kernel)
    run = engine.trace(TraceRequest(TARGET, 80, interface="eth0", source="10.1.0.4"), Deadline(1))
    assert run.engine == KERNEL
    assert engine.note and "Operation not permitted" in engine.note
    assert kernel.requests[0].interface is None  # the kernel engine routes by itself


def _modules_after(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_help_and_runs_without_trace_do_not_import_scapy() -> None:
    probe = "import sys; print(sorted({m.split('.')[0] for m in sys.modules} & {'scapy'}))"
    assert (
        _modules_after(
            "import sys\nfrom typer.testing import CliRunner\nfrom wirecheck.cli import app\n"
            "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n" + probe
        )
        == "[]"
    )
    # A run of the checks minus the traces (tcp-80 and egress-nic on loopback).
    assert (
        _modules_after(
            "from wirecheck.checks.catalogue import select\n"
            "from wirecheck.runner import run_checks\n"
            "from wirecheck.model import RunConfig\n"
            "specs = select(frozenset({'tcp-80', 'egress-nic'}), frozenset())\n"
            "run_checks(specs, RunConfig(target='127.0.0.1', timeout_s=1))\n" + probe
        )
        == "[]"
    )


def test_auto_uses_the_kernel_engine_as_root_without_the_guest_proxy_agent() -> None:
    seen: list[str] = []

    def engines(name: str, ctx: CheckContext, request: TraceRequest) -> EngineChoice:
        seen.append(name)
        return EngineChoice(CannedEngine(name, EXTRA_HOP), request, ())

    outcome = run_trace(_ctx(fake_system(root=True), engine="auto"), 80, "TCP 80", engines)
    assert seen == ["kernel"]
    assert "GuestProxyAgent" in outcome.evidence["engine_reason"]


def test_auto_uses_the_raw_engine_as_root_where_the_guest_proxy_agent_is_installed() -> None:
    seen: list[str] = []

    def engines(name: str, ctx: CheckContext, request: TraceRequest) -> EngineChoice:
        seen.append(name)
        return EngineChoice(CannedEngine(name, EXTRA_HOP), request, ())

    status = "/var/log/azure-proxy-agent/status.json"
    system = fake_system(root=True, files={status: "{}"})
    outcome = run_trace(_ctx(system, engine="auto"), 80, "TCP 80", engines)
    assert seen == [RAW]
    assert "redirect" in outcome.evidence["engine_reason"]
