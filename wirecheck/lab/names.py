"""What a lab is called on the machine, and the lab's fixed addressing plan.

Every namespace is prefixed `wcl-<lab name>-` so two labs, or the user's own namespaces,
never collide; interfaces are created inside the lab namespaces, so their names
(`eth0`, `eth1` as on an Azure VM) cannot clash with the machine's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wirecheck.errors import UsageError
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS

NAMESPACE_PREFIX = "wcl-"
DEFAULT_LAB = "lab"
DEFAULT_SCENARIO = "healthy"
STATE_ROOT = Path("/run/wirecheck-lab")  # tmpfs: gone after a reboot, like the namespaces
NETNS_ETC = Path("/etc/netns")  # `ip netns exec` bind-mounts NETNS_ETC/<ns>/* over /etc/*
_LAB_NAME = re.compile(r"[a-z0-9]{1,10}")

# The VM: eth0 is the primary NIC (default route, DHCP's /32 routes), eth1 a secondary one.
VM_PRIMARY_IP, PRIMARY_GATEWAY, PRIMARY_SUBNET = "10.1.0.4", "10.1.0.1", "10.1.0.0/24"
VM_SECONDARY_IP, SECONDARY_GATEWAY, SECONDARY_SUBNET = "10.1.1.5", "10.1.1.1", "10.1.1.0/24"
PREFIX_LEN = 24
# A second private IP of the primary NIC (an IP configuration Azure lists after the primary).
VM_PRIMARY_SECOND_IP = "10.1.0.5"
# Azure's MAC prefix; the same MACs and private IPs as tests/fixtures/imds-network.json.
VM_PRIMARY_MAC, VM_SECONDARY_MAC = "00:0d:3a:4b:5c:6d", "00:0d:3a:4b:5c:7e"
VM_PUBLIC_IP = "203.0.113.10"  # documentation range: it only appears in the IMDS answer
PRIMARY_METRIC, SECONDARY_METRIC = 100, 200
# The appliance sits between eth0's gateway and the host on this transit link.
APPLIANCE_IP, HOST_TRANSIT_IP, TRANSIT_PREFIX_LEN = "10.2.0.1", "10.2.0.2", 30
DNS_SUFFIX = "lab.wirecheck.internal.cloudapp.net"
# Containers behind the VM: a bridge in the VM (as CNI plugins make) and a pod namespace.
POD_BRIDGE, POD_BRIDGE_IP, POD_IP, POD_SUBNET = "cni0", "10.244.0.1", "10.244.0.2", "10.244.0.0/24"
# A custom DNS server the VM may be set up with (documentation range), in the host namespace.
CUSTOM_DNS_IP = "192.0.2.53"
PLATFORM_ADDRESSES = (PLATFORM_ADDRESS, IMDS_ADDRESS)


@dataclass(frozen=True)
class LabNames:
    lab: str

    @property
    def vm(self) -> str:
        return f"{NAMESPACE_PREFIX}{self.lab}-vm"

    @property
    def host(self) -> str:
        return f"{NAMESPACE_PREFIX}{self.lab}-host"

    @property
    def appliance(self) -> str:
        return f"{NAMESPACE_PREFIX}{self.lab}-app"

    @property
    def pod(self) -> str:
        return f"{NAMESPACE_PREFIX}{self.lab}-pod"

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (self.vm, self.host, self.appliance, self.pod)

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / self.lab

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def report_dir(self) -> Path:
        return self.state_dir / "report"

    @property
    def vm_var_lib(self) -> Path:
        """Files the VM sees in /var/lib on top of the machine's (its DHCP lease)."""
        return self.state_dir / "vm-var-lib"

    @property
    def open_dir(self) -> Path:
        """An empty directory (mode 755) that user-namespace scenarios lay over closed ones."""
        return self.state_dir / "open"

    @property
    def vm_var_log(self) -> Path:
        """Files the VM sees in /var/log on top of the machine's (a scenario's status files)."""
        return self.state_dir / "vm-var-log"

    @property
    def vm_etc_layer(self) -> Path:
        """Files the VM sees in /etc on top of the machine's: its resolv.conf and hosts, and
        a scenario's own (waagent.conf). Not under /etc: overlayfs refuses a layer that
        lies inside another layer of the same mount."""
        return self.state_dir / "vm-etc"

    @property
    def vm_run_layer(self) -> Path:
        """Files the VM sees in /run, in scenarios that give it its own (its DHCP clients'
        state): copied into a tmpfs at `vm_run_mount` inside the VM's mount namespace, so
        the layer is on another filesystem than the /run it covers."""
        return self.state_dir / "vm-run"

    @property
    def vm_run_mount(self) -> Path:
        return self.state_dir / "vm-run-mount"

    @property
    def vm_setup(self) -> Path:
        """The scenario's own mounts in the VM (its /run layer, a noexec or full filesystem),
        a shell script the VM's entry sources; absent when there are none."""
        return self.state_dir / "vm-setup.sh"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def vm_etc(self) -> Path:
        return NETNS_ETC / self.vm


def lab_names(lab: str = DEFAULT_LAB) -> LabNames:
    """The names of lab `lab`; refuses names that could escape the prefix or the state dir."""
    if not _LAB_NAME.fullmatch(lab):
        raise UsageError(
            f"lab name {lab!r} is not allowed: use 1 to 10 lowercase letters or digits "
            f"(default {DEFAULT_LAB!r})"
        )
    return LabNames(lab)


def vm_fqdn(hostname: str) -> str:
    """The VM's FQDN as the platform resolver knows it: short hostname + the DNS suffix.

    wirecheck asks for `<short hostname>.<search suffix>`; `ip netns exec` keeps the
    machine's UTS namespace, so the short hostname is the machine's own.
    """
    short = hostname.split(".", 1)[0].lower() or "vm"
    return f"{short}.{DNS_SUFFIX}"
