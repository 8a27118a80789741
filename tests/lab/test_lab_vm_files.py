"""The VM sees the lab's files in /etc and /var/lib, never the machine's agent files, and
nothing of it reaches the machine's own mount namespace."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.labenv import fresh_lab
from wirecheck.lab.lab import Lab
from wirecheck.lab.names import LabNames
from wirecheck.lab.run import in_vm
from wirecheck.lab.scenarios import WAAGENT_CONF_FIREWALL_ON, scenario

pytestmark = pytest.mark.lab

# What an Azure VM running the lab would have of its own guest agent.
MACHINE_CONF = "# the machine's own\nOS.EnableFirewall=n\n"
MACHINE_ENDPOINT = "10.9.9.9"
SHOW = (
    "cat /etc/waagent.conf 2>&1; ls /var/lib/waagent 2>&1; "
    "grep unknown-245 /var/lib/dhcp/dhclient.eth0.leases; grep nameserver /etc/resolv.conf"
)


@pytest.fixture
def names() -> Iterator[LabNames]:
    yield from fresh_lab("f")


def _on_a_machine_with_an_agent(tmp_path: Path, names: LabNames) -> str:
    """SHOW run in the lab VM, from a private mount namespace (nothing of it reaches the
    machine's) in which /etc and /var/lib carry a guest agent's files, as on an Azure VM."""
    etc, var_lib = tmp_path / "etc", tmp_path / "var-lib"
    (var_lib / "waagent").mkdir(parents=True)
    etc.mkdir()
    (etc / "waagent.conf").write_text(MACHINE_CONF, encoding="utf-8")
    (var_lib / "waagent" / "WireServerEndpoint").write_text(MACHINE_ENDPOINT, encoding="utf-8")
    script = (
        f"mount -t overlay azure-like -o ro,lowerdir={etc}:/etc /etc && "
        f"mount -t overlay azure-like -o ro,lowerdir={var_lib}:/var/lib /var/lib && "
        "grep -q EnableFirewall=n /etc/waagent.conf && "  # the machine now has an agent
        f"exec {shlex.join(in_vm(names, ['sh', '-c', SHOW]))}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "wirecheck lab:" not in done.stderr  # every lab overlay was mounted
    return done.stdout


def test_the_vm_has_no_agent_files_unless_its_scenario_gives_them(
    names: LabNames, tmp_path: Path
) -> None:
    Lab(names).up(scenario("lease-other-245"))
    shown = _on_a_machine_with_an_agent(tmp_path, names)
    assert "/etc/waagent.conf: No such file or directory" in shown
    assert "cannot access '/var/lib/waagent'" in shown
    assert "option unknown-245 0a:01:00:63;" in shown  # the scenario's lease
    assert "nameserver 168.63.129.16" in shown


def test_a_scenarios_agent_config_replaces_the_machines(names: LabNames, tmp_path: Path) -> None:
    Lab(names).up(scenario("agent-firewall-nonroot"))
    shown = _on_a_machine_with_an_agent(tmp_path, names)
    assert WAAGENT_CONF_FIREWALL_ON in shown and MACHINE_CONF not in shown
    assert MACHINE_ENDPOINT not in shown
    assert "option unknown-245 a8:3f:81:10;" in shown


def test_the_overlays_stay_inside_the_vms_command(names: LabNames) -> None:
    Lab(names).up(scenario("agent-firewall-nonroot"))
    inside = subprocess.run(
        in_vm(names, ["grep", "-c", "wirecheck-lab", "/proc/self/mounts"]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert inside.stdout.strip() == "3"  # /etc, /var/lib and /var/log
    assert "wirecheck-lab" not in Path("/proc/self/mounts").read_text(encoding="utf-8")
    assert not Path("/etc/waagent.conf").exists() or (
        WAAGENT_CONF_FIREWALL_ON not in Path("/etc/waagent.conf").read_text(encoding="utf-8")
    )


def test_a_scenarios_log_files_are_seen_in_var_log(names: LabNames) -> None:
    Lab(names).up(scenario("gpa-refuses"))
    shown = subprocess.run(
        in_vm(
            names, ["cat", "/var/log/azure-proxy-agent/status.json", "/etc/azure/proxy-agent.json"]
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    assert "WireServer Enforce" in shown.stdout and "ebpf_cgroup.o" in shown.stdout
    assert not Path("/var/log/azure-proxy-agent/status.json").exists() or (
        "wirecheck" not in Path("/var/log/azure-proxy-agent/status.json").read_text("utf-8")
    )
