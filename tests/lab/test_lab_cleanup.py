"""The lab leaves nothing behind (also when its runner is interrupted or killed), cannot
reach anything outside itself, and refuses to run without root in one line."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab.labenv import fresh_lab, lab_command, run, unique_names
from wirecheck.lab.lab import Lab
from wirecheck.lab.names import LabNames
from wirecheck.lab.run import as_user
from wirecheck.lab.scenarios import NOBODY_UID, scenario

pytestmark = pytest.mark.lab

OUTSIDE = "192.0.2.1"  # TEST-NET-1: stands for any address outside the lab


@pytest.fixture
def names() -> Iterator[LabNames]:
    yield from fresh_lab("c", machine_unchanged=True)


def _json(*argv: str) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(run(*argv) or "[]")
    return loaded


def _start_lab_run(names: LabNames) -> subprocess.Popen[bytes]:
    """`wirecheck lab run` of a scenario that keeps wirecheck busy until the deadline."""
    return subprocess.Popen(
        lab_command(
            "run", "--name", names.lab, "-s", "wire-slow", "--", "--timeout", "60", "--no-report"
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # signals below go to the runner only, as `kill PID` would
    )


def _wait_for_wirecheck_in_vm(names: LabNames, runner: subprocess.Popen[bytes]) -> None:
    until = time.monotonic() + 30
    while time.monotonic() < until:
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
        # wirecheck itself, not a command the lab's build runs in the namespace (sysctl)
        pids = run("ip", "netns", "pids", names.vm).split() if Lab(names).is_up() else []
        if any(b"wirecheck\0run" in _cmdline(pid) for pid in pids):
            time.sleep(0.5)  # let it open its probes
            return
        time.sleep(0.1)
    raise AssertionError("wirecheck never started inside the lab's VM namespace")


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""  # gone meanwhile


def test_down_removes_everything_it_built(names: LabNames) -> None:
    lab = Lab(names)
    lab.up(scenario("appliance-hop"))
    built = lab.leftovers()
    made = (names.vm, names.host, names.appliance)  # appliance-hop has no pod namespace
    assert {f"namespace {ns}" for ns in made} <= set(built)
    assert f"directory {names.vm_etc}" in built
    assert sum(item.startswith("process ") for item in built) == 2  # the two simulators
    removed = lab.down()
    assert len(removed) == 5  # processes, three namespaces, /etc/netns/<vm>
    assert lab.leftovers() == []
    assert (names.logs_dir / "wireserver.log").exists()  # logs stay for reading
    assert lab.down() == []  # and down is idempotent


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_tears_down(names: LabNames, signum: int, code: int) -> None:
    runner = _start_lab_run(names)
    try:
        _wait_for_wirecheck_in_vm(names, runner)
        runner.send_signal(signum)
        assert runner.wait(timeout=20) == code
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert Lab(names).leftovers() == []


@pytest.mark.parametrize("cleaner", ["down", "up"])
def test_a_killed_runner_is_cleaned_up_by_the_next_command(names: LabNames, cleaner: str) -> None:
    runner = _start_lab_run(names)
    try:
        _wait_for_wirecheck_in_vm(names, runner)
        runner.kill()  # SIGKILL: no handler runs, everything stays behind
        runner.wait(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    left = Lab(names).leftovers()
    assert f"namespace {names.vm}" in left
    assert sum(item.startswith("process ") for item in left) >= 3  # simulators + wirecheck
    done = subprocess.run(
        lab_command(cleaner, "--name", names.lab), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    if cleaner == "up":
        assert "removed leftovers first" in done.stderr
        assert f"namespace {names.vm}" in done.stderr
        assert Lab(names).is_up()
        Lab(names).down()
    else:
        assert f"namespace {names.vm}" in done.stdout
    assert Lab(names).leftovers() == []


def test_no_lab_namespace_can_reach_outside_the_lab(names: LabNames) -> None:
    lab = Lab(names)
    lab.up(scenario("appliance-hop"))  # the scenario with the most namespaces and links
    lab_namespaces = set(lab.present_namespaces())
    veths: dict[tuple[str, int], tuple[str, int]] = {}
    for ns in lab_namespaces:
        ids = {
            entry["nsid"]: entry.get("name")
            for entry in _json("ip", "-n", ns, "-j", "netns", "list-id")
        }
        for link in _json("ip", "-n", ns, "-j", "-d", "link", "show"):
            kind = link.get("linkinfo", {}).get("info_kind")
            if link["ifname"] == "lo":
                continue
            assert kind == "veth", f"{ns}: {link['ifname']} is {kind}, not a lab veth"
            # A veth's peer lives in the namespace its link_netnsid names: it must be a lab one.
            peer_ns = ids.get(link["link_netnsid"])
            assert peer_ns in lab_namespaces, f"{ns}: {link['ifname']}'s peer is in {peer_ns}"
            veths[(ns, int(link["ifindex"]))] = (str(peer_ns), int(link["link_index"]))
    # Every veth's peer is a veth of the lab that points back: pairs, all inside the lab.
    assert veths and all(veths.get(peer) == end for end, peer in veths.items())
    # Route lookups send no packet: neither the host nor the appliance knows a way out ...
    for ns in (names.host, names.appliance):
        lookup = subprocess.run(
            ["ip", "-n", ns, "route", "get", OUTSIDE], capture_output=True, text=True
        )
        assert lookup.returncode != 0 and "unreachable" in lookup.stderr.lower(), lookup
    # ... the VM's default route leads into the lab only, and the host does not forward.
    vm_route = run("ip", "-n", names.vm, "route", "get", OUTSIDE)
    assert "via 10.1.0.1 dev eth0" in vm_route
    forwarding = run("ip", "netns", "exec", names.host, "sysctl", "-n", "net.ipv4.ip_forward")
    assert forwarding.strip() == "0"


def test_without_root_the_lab_says_so_in_one_line_and_exits_3() -> None:
    done = subprocess.run(
        [*as_user(NOBODY_UID), *lab_command("up")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode == 3
    assert done.stderr.startswith("wirecheck lab: the lab needs root")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_two_labs_coexist() -> None:
    first, second = unique_names("p"), unique_names("q")
    labs = [Lab(first), Lab(second)]
    try:
        for lab in labs:
            lab.up(scenario("healthy"))
        assert all(lab.is_up() for lab in labs)
        labs[0].down()
        assert not labs[0].is_up() and labs[1].is_up()
    finally:
        for lab in labs:
            lab.down(purge=True)
    assert labs[0].leftovers() == [] and labs[1].leftovers() == []
