"""Both traceroute engines and egress-nic against the real `traceroute -T -n`, in network
namespaces this module builds (root only; marker `lab`).

    client (eth0 10.1.0.4, eth1 10.1.1.5)
      eth0 --- br0 10.1.0.1 [target ns: owns 168.63.129.16, listens on 80 and 32526]
               br0 --- lan 10.1.0.254 [router ns] wan 10.9.0.1 --- 10.9.0.2 [target ns]
      eth1 --- c1 10.1.1.1 [target ns]

The namespaces have no link outside: every veth pair is made inside them, the target has no
default route, and the client's resolver is pointed at nothing (its own hosts file names
the router). Everything is torn down at the end, also when a test fails.

Scenarios: healthy (168.63.129.16/32 via 10.1.0.1 on eth0), extra hop (via the router
10.1.0.254), blackhole (the target drops port 80), secondary NIC (a /32 via eth1 with a
lower metric).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.traceroute_text import parse_traceroute

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parent.parent
TARGET = "168.63.129.16"
ROUTER = "10.1.0.254"
NETNS_ETC = Path("/etc/netns")
NOBODY = 65534
HELD_PORT = 8080


def _missing() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "building namespaces needs root"
    for tool in ("ip", "traceroute", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def sh(*argv: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass
class Lab:
    client: str
    router: str
    target: str
    listener: subprocess.Popen[bytes] | None = None

    def in_client(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.client, *argv, timeout=timeout)

    def route_platform(self, gateway: str, dev: str, metric: int = 100) -> None:
        sh("ip", "-n", self.client, "route", "replace", f"{TARGET}/32", "via", gateway,
           "dev", dev, "metric", str(metric))  # fmt: skip

    def traceroute(self, port: int) -> str:
        return self.in_client(
            "traceroute", "-T", "-n", "-p", str(port), "-m", "8", "-w", "1", TARGET
        ).stdout

    def wirecheck(
        self, checks: str, timeout_s: float, as_nobody: bool = False, http_port: int = 80
    ) -> dict[str, Any]:
        """Run the checks in the client namespace (as root, or as nobody) and return the
        results by id."""
        script = textwrap.dedent(
            f"""
            import json, os, sys
            sys.path.insert(0, {str(REPO)!r})
            from wirecheck.checks.catalogue import select
            from wirecheck.model import Ports, RunConfig
            from wirecheck.runner import run_checks
            import wirecheck.net.traceroute.kernel, wirecheck.net.traceroute.capture
            import selectors, select as _select, subprocess, psutil, encodings.idna
            # Loaded before dropping root: nobody cannot read this machine's interpreter.
            specs = select(frozenset({checks.split(",")!r}), frozenset())
            if {as_nobody!r}:
                os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})
            config = RunConfig(
                target={TARGET!r}, timeout_s={timeout_s}, ports=Ports(http={http_port}),
                trace_engine="raw",  # as root: the raw engine; as nobody it falls back
            )
            results = run_checks(specs, config)
            print(json.dumps({{r.check_id: r.to_dict() for r in results}}))
            """
        )
        done = self.in_client(sys.executable, "-c", script, timeout=timeout_s + 30)
        results: dict[str, Any] = json.loads(done.stdout)
        return results


def _build(lab: Lab) -> None:
    c, r, t = lab.client, lab.router, lab.target
    for ns in (c, r, t):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "eth0", "netns", c, "type", "veth", "peer", "name", "c0", "netns", t)
    sh("ip", "link", "add", "eth1", "netns", c, "type", "veth", "peer", "name", "c1", "netns", t)
    sh("ip", "link", "add", "lan", "netns", r, "type", "veth", "peer", "name", "r0", "netns", t)
    sh("ip", "link", "add", "wan", "netns", r, "type", "veth", "peer", "name", "w0", "netns", t)
    sh("ip", "-n", t, "link", "add", "br0", "type", "bridge")
    for port in ("c0", "r0"):
        sh("ip", "-n", t, "link", "set", port, "master", "br0")
    for dev in ("br0", "c0", "c1", "r0", "w0"):
        sh("ip", "-n", t, "link", "set", dev, "up")
    for address, dev in (("10.1.0.1/24", "br0"), ("10.1.1.1/24", "c1"), ("10.9.0.2/30", "w0"),
                         (f"{TARGET}/32", "lo")):  # fmt: skip
        sh("ip", "-n", t, "addr", "add", address, "dev", dev)
    for address, dev in ((f"{ROUTER}/24", "lan"), ("10.9.0.1/30", "wan")):
        sh("ip", "-n", r, "link", "set", dev, "up")
        sh("ip", "-n", r, "addr", "add", address, "dev", dev)
    sh("ip", "-n", r, "route", "add", f"{TARGET}/32", "via", "10.9.0.2")
    sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for ns in (r, t):  # every probe must get its ICMP answer, however fast the tests run
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
    for dev, mac, address in (("eth0", "00:0d:3a:4b:5c:6d", "10.1.0.4/24"),
                              ("eth1", "00:0d:3a:4b:5c:7e", "10.1.1.5/24")):  # fmt: skip
        sh("ip", "-n", c, "link", "set", dev, "address", mac)
        sh("ip", "-n", c, "link", "set", dev, "up")
        sh("ip", "-n", c, "addr", "add", address, "dev", dev)
    sh("ip", "-n", c, "route", "add", "default", "via", "10.1.0.1", "dev", "eth0", "metric", "100")
    sh("ip", "-n", c, "route", "add", "default", "via", "10.1.1.1", "dev", "eth1", "metric", "200")
    lab.route_platform("10.1.0.1", "eth0")
    etc = NETNS_ETC / c
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n{ROUTER} appliance.lab.internal\n")
    (etc / "resolv.conf").write_text("options timeout:1 attempts:1\n")  # no nameserver at all
    server = textwrap.dedent(
        f"""
        import socket, threading, time
        def serve(port):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(({TARGET!r}, port)); s.listen(64)
            while True:
                conn, _ = s.accept(); conn.close()
        for port in (80, 32526):
            threading.Thread(target=serve, args=(port,), daemon=True).start()
        # A listener that never accepts: any connection a probe completes stays queued.
        held = socket.socket()
        held.bind(({TARGET!r}, {HELD_PORT})); held.listen(64)
        print("ready", flush=True)
        time.sleep(3600)
        """
    )
    lab.listener = subprocess.Popen(
        ["ip", "netns", "exec", t, sys.executable, "-c", server], stdout=subprocess.PIPE
    )
    assert lab.listener.stdout is not None
    assert lab.listener.stdout.readline().strip() == b"ready"


def _teardown(lab: Lab) -> None:
    if lab.listener is not None:
        lab.listener.kill()
        lab.listener.wait(10)
    for ns in (lab.client, lab.router, lab.target):
        sh("ip", "netns", "del", ns, check=False)
    shutil.rmtree(NETNS_ETC / lab.client, ignore_errors=True)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    why = _missing()
    if why:
        pytest.skip(why)
    name = f"wct-{secrets.token_hex(3)}"
    built = Lab(f"{name}-c", f"{name}-r", f"{name}-t")
    try:
        _build(built)
        yield built
    finally:
        _teardown(built)


@pytest.fixture
def healthy(lab: Lab) -> Iterator[Lab]:
    """Every test starts from, and leaves, the healthy path."""
    lab.route_platform("10.1.0.1", "eth0")
    yield lab
    lab.route_platform("10.1.0.1", "eth0")
    sh("ip", "-n", lab.client, "route", "del", f"{TARGET}/32", "dev", "eth1", check=False)
    sh("ip", "netns", "exec", lab.target, "iptables", "-F", "INPUT", check=False)


def _rows(hops: list[dict[str, Any]]) -> list[set[str]]:
    """The addresses seen at each TTL."""
    return [{hop["address"]} - {None} | set(hop.get("addresses", [])) for hop in hops]


def _real_rows(text: str) -> list[set[str]]:
    return [{c.address for c in hop.cells if c.address} for hop in parse_traceroute(text)[2]]


def _same_hops(result: dict[str, Any], real: str) -> None:
    ours = _rows(result["evidence"]["hops"])
    assert ours == _real_rows(real), (result["evidence"]["traceroute_text"], real)


def test_healthy_both_engines_match_traceroute(healthy: Lab) -> None:
    real80, real32526 = healthy.traceroute(80), healthy.traceroute(32526)
    as_root = healthy.wirecheck("trace-80,trace-32526", timeout_s=3)
    as_nobody = healthy.wirecheck("trace-80,trace-32526", timeout_s=3, as_nobody=True)
    for results, engine in ((as_root, "raw"), (as_nobody, "kernel")):
        for check, real in (("trace-80", real80), ("trace-32526", real32526)):
            result = results[check]
            assert result["evidence"]["engine"] == engine
            assert result["status"] == "ok", result["finding"]
            _same_hops(result, real)
            assert not result["evidence"]["ended_at_deadline"]  # the answers ended it
    assert _real_rows(real80) == [{TARGET}]
    text = as_root["trace-80"]["evidence"]["traceroute_text"]
    assert text.splitlines()[1].startswith(" 1  168.63.129.16 (168.63.129.16)  ")


def test_extra_hop_both_engines_match_traceroute_and_warn(healthy: Lab) -> None:
    healthy.route_platform(ROUTER, "eth0")
    real = healthy.traceroute(80)
    assert _real_rows(real) == [{ROUTER}, {TARGET}]
    for as_nobody, engine in ((False, "raw"), (True, "kernel")):
        result = healthy.wirecheck("trace-80", timeout_s=3, as_nobody=as_nobody)["trace-80"]
        assert result["evidence"]["engine"] == engine
        assert result["status"] == "warn"
        assert ROUTER in result["finding"]
        _same_hops(result, real)
        # The default (non -n) form names the router from the client's hosts file.
        assert " 1  appliance.lab.internal (10.1.0.254)  " in result["evidence"]["traceroute_text"]


def test_blackholed_port_both_engines_match_traceroute_and_fail(healthy: Lab) -> None:
    sh("ip", "netns", "exec", healthy.target, "iptables", "-A", "INPUT", "-p", "tcp",
       "--dport", "80", "-j", "DROP")  # fmt: skip
    started = time.monotonic()
    real = healthy.traceroute(80)
    real_s = time.monotonic() - started
    assert _real_rows(real) == [set()] * 8
    for as_nobody, engine in ((False, "raw"), (True, "kernel")):
        # Two waits (about 2.2 s) after start-up (the raw engine imports scapy): a deadline
        # far enough beyond that for a loaded machine, so only a trace that does not end by
        # its own schedule runs into it. The trace ends long before it.
        results = healthy.wirecheck("trace-80,trace-32526", timeout_s=6, as_nobody=as_nobody)
        blackholed, open_port = results["trace-80"], results["trace-32526"]
        assert blackholed["evidence"]["engine"] == engine
        assert blackholed["status"] == "fail" and "nothing answered" in blackholed["finding"]
        _same_hops(blackholed, real)
        # 8 hops of stars in about two waits, like traceroute's own parallel probes (a
        # ratio of two measurements of this test, both mostly waiting: `-w 1` and our 1 s),
        # and inside the deadline: its own schedule ended the trace, not the deadline.
        assert blackholed["evidence"]["trace_ms"] < 1.5 * real_s * 1000
        assert not blackholed["evidence"]["ended_at_deadline"]
        assert open_port["status"] == "ok"  # the other port is untouched


def test_secondary_nic_route_both_engines_and_egress_tell_eth1_from_eth0(healthy: Lab) -> None:
    sh("ip", "-n", healthy.client, "route", "add", f"{TARGET}/32", "via", "10.1.1.1",
       "dev", "eth1", "metric", "50")  # fmt: skip
    real = healthy.traceroute(80)
    as_root = healthy.wirecheck("tcp-80,trace-80,egress-nic", timeout_s=3)
    as_nobody = healthy.wirecheck("tcp-80,trace-80,egress-nic", timeout_s=3, as_nobody=True)
    assert as_root["trace-80"]["evidence"]["interface"] == "eth1"  # raw probes follow the kernel
    assert as_root["trace-80"]["evidence"]["source"] == "10.1.1.5"
    for results in (as_root, as_nobody):
        _same_hops(results["trace-80"], real)
        egress = results["egress-nic"]
        assert egress["status"] == "fail", egress["finding"]
        assert egress["evidence"]["primary_nic"] == "eth0"
        assert egress["evidence"]["leaves_by"] == "eth1"
        assert egress["evidence"]["tcp_80_interface"] == "eth1"
        assert egress["evidence"]["route_lines_at_fault"] == [
            "168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50"
        ]
        assert "ip route del 168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50" in egress["fix"]
    assert as_root["egress-nic"]["evidence"]["captured_interface"] == "eth1"
    assert "captured_interface" not in as_nobody["egress-nic"]["evidence"]


def test_healthy_egress_is_eth0_with_the_captured_syn(healthy: Lab) -> None:
    results = healthy.wirecheck("tcp-80,egress-nic", timeout_s=3)
    egress = results["egress-nic"]
    assert egress["status"] == "ok", egress["finding"]
    evidence = egress["evidence"]
    assert (evidence["route_interface"], evidence["tcp_80_interface"]) == ("eth0", "eth0")
    assert evidence["captured_interface"] == "eth0"
    assert evidence["kernel_route"]["gateway"] == "10.1.0.1"


def test_raw_probes_leave_no_connection_behind(healthy: Lab) -> None:
    result = healthy.wirecheck("trace-80", timeout_s=3, http_port=HELD_PORT)["trace-80"]
    assert result["evidence"]["engine"] == "raw" and result["status"] == "ok"
    assert result["evidence"]["probes_sent"] >= 3
    listening = sh("ip", "netns", "exec", healthy.target, "ss", "-Hltn", f"sport = :{HELD_PORT}")
    queued = int(listening.stdout.split()[1])  # Recv-Q: completed connections waiting
    assert queued == 0, listening.stdout
