"""The commands that build a scenario's namespaces, as plain data (no I/O here).

Shape (the appliance only in scenarios that ask for it):

    vm ns                          [app ns]                      host ns
    eth0 10.1.0.4/24 ---- vm-eth0 10.1.0.1/24                     lo 168.63.129.16/32
                          to-host 10.2.0.1/30 ---- to-app 10.2.0.2/30   169.254.169.254/32
    eth1 10.1.1.5/24 ---------------------------- vm-eth1 10.1.1.1/24

Without the appliance, eth0's peer `vm-eth0` (10.1.0.1) is in the host namespace, so the
target is one hop away. Every link is a veth pair created *inside* lab namespaces
(`ip -n A link add ... peer ... netns B`): no interface of the lab ever exists in the
machine's own namespace, not even for a moment, and no lab namespace has a default route
out of the lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wirecheck.lab.bulk import Bulk, ip_batch_text, iptables_restore_text, lease_history
from wirecheck.lab.names import (
    APPLIANCE_IP,
    DNS_SUFFIX,
    HOST_TRANSIT_IP,
    PLATFORM_ADDRESSES,
    PREFIX_LEN,
    PRIMARY_GATEWAY,
    PRIMARY_METRIC,
    PRIMARY_SUBNET,
    SECONDARY_GATEWAY,
    SECONDARY_METRIC,
    SECONDARY_SUBNET,
    TRANSIT_PREFIX_LEN,
    VM_PRIMARY_IP,
    VM_PRIMARY_MAC,
    VM_PUBLIC_IP,
    VM_SECONDARY_IP,
    VM_SECONDARY_MAC,
    LabNames,
    vm_fqdn,
)
from wirecheck.lab.scenarios import Scenario, Where
from wirecheck.model import PLATFORM_ADDRESS

Argv = tuple[str, ...]
# The guest agent's configuration and state: the VM has only what its scenario gives it,
# never the machine's (were it an Azure VM), so the agent's rows are the lab's to decide.
AGENT_ETC = ("waagent.conf",)
AGENT_VAR_LIB = ("waagent",)
# A /32 to the platform via eth1 that wins over eth0's (lower metric), as when a
# secondary NIC's DHCP client also installs the platform routes.
SECONDARY_PLATFORM_METRIC = 50


@dataclass(frozen=True)
class Plan:
    namespaces: tuple[str, ...]  # in creation order
    commands: tuple[Argv, ...]  # run in order; each names the lab namespace it acts in
    vm_etc: Mapping[str, str]  # file name -> text, in /etc/netns/<vm ns>/
    vm_etc_layer: Mapping[str, str]  # file name -> text, seen in the VM's /etc (overlay)
    vm_var_lib: Mapping[str, str]  # relative path -> text, seen under the VM's /var/lib
    # The machine's files the VM must not see (whiteouts in the layers), by layer.
    vm_etc_hidden: tuple[str, ...] = ()
    vm_var_lib_hidden: tuple[str, ...] = ()
    # Generated state (a big node's rules and routes): file name -> text, written to the
    # lab's state directory before the commands run, and the commands among `commands`
    # that load it (they get longer than the others: 100k routes take seconds).
    state_files: Mapping[str, str] = field(default_factory=dict)
    slow_commands: tuple[Argv, ...] = ()


def _in(ns: str, *argv: str) -> Argv:
    """A command run inside namespace `ns` (for tools without a `-n` option)."""
    return ("ip", "netns", "exec", ns, *argv)


def plan(names: LabNames, scenario: Scenario, hostname: str) -> Plan:
    vm, host, app = names.vm, names.host, names.appliance
    gateway_ns = app if scenario.appliance else host
    namespaces = (vm, host, app) if scenario.appliance else (vm, host)
    cmds: list[Argv] = []
    for ns in namespaces:
        cmds.append(("ip", "netns", "add", ns))
    for ns in namespaces:
        cmds.append(("ip", "-n", ns, "link", "set", "lo", "up"))
        # Only the appliance routes; the host must never pass packets on.
        forward = "1" if ns == app else "0"
        cmds.append(_in(ns, "sysctl", "-qw", f"net.ipv4.ip_forward={forward}"))

    def veth(ns: str, name: str, peer_ns: str, peer: str, mac: str | None = None) -> None:
        address = ("address", mac) if mac else ()
        cmds.append(
            (
                *("ip", "-n", ns, "link", "add", name, *address),
                *("type", "veth", "peer", "name", peer, "netns", peer_ns),
            )
        )

    def addr(ns: str, cidr: str, dev: str) -> None:
        cmds.append(("ip", "-n", ns, "addr", "add", cidr, "dev", dev))

    def up(ns: str, dev: str) -> None:
        cmds.append(("ip", "-n", ns, "link", "set", dev, "up"))

    def route(ns: str, *spec: str) -> None:
        cmds.append(("ip", "-n", ns, "route", "add", *spec))

    veth(vm, "eth0", gateway_ns, "vm-eth0", VM_PRIMARY_MAC)
    veth(vm, "eth1", host, "vm-eth1", VM_SECONDARY_MAC)
    if scenario.appliance:
        veth(app, "to-host", host, "to-app")
    addr(vm, f"{VM_PRIMARY_IP}/{PREFIX_LEN}", "eth0")
    addr(vm, f"{VM_SECONDARY_IP}/{PREFIX_LEN}", "eth1")
    addr(gateway_ns, f"{PRIMARY_GATEWAY}/{PREFIX_LEN}", "vm-eth0")
    addr(host, f"{SECONDARY_GATEWAY}/{PREFIX_LEN}", "vm-eth1")
    for address in PLATFORM_ADDRESSES:
        addr(host, f"{address}/32", "lo")
    if scenario.appliance:
        addr(app, f"{APPLIANCE_IP}/{TRANSIT_PREFIX_LEN}", "to-host")
        addr(host, f"{HOST_TRANSIT_IP}/{TRANSIT_PREFIX_LEN}", "to-app")
    for ns, dev in ((vm, "eth0"), (vm, "eth1"), (gateway_ns, "vm-eth0"), (host, "vm-eth1")):
        up(ns, dev)
    if scenario.appliance:
        up(app, "to-host")
        up(host, "to-app")

    # The VM's routes, as Azure's DHCP sets them: a default route per NIC (the primary's
    # preferred) and /32 routes to the platform addresses via the primary's gateway.
    primary = ("via", PRIMARY_GATEWAY, "dev", "eth0", "metric", str(PRIMARY_METRIC))
    route(vm, "default", *primary)
    route(vm, "default", "via", SECONDARY_GATEWAY, "dev", "eth1", "metric", str(SECONDARY_METRIC))
    for address in PLATFORM_ADDRESSES:
        route(vm, f"{address}/32", *primary)
    if scenario.platform_via_secondary:
        route(
            vm,
            f"{PLATFORM_ADDRESS}/32",
            *("via", SECONDARY_GATEWAY, "dev", "eth1", "metric", str(SECONDARY_PLATFORM_METRIC)),
        )
    if scenario.appliance:
        for address in PLATFORM_ADDRESSES:
            route(app, f"{address}/32", "via", HOST_TRANSIT_IP, "dev", "to-host")
        route(host, PRIMARY_SUBNET, "via", APPLIANCE_IP, "dev", "to-app")

    # The host answers only what comes from the primary subnet (it ignores eth1's).
    for address in PLATFORM_ADDRESSES:
        cmds.append(
            _in(
                host,
                *("iptables", "-w", "-A", "INPUT", "-d", f"{address}/32"),
                *("!", "-s", PRIMARY_SUBNET, "-j", "DROP"),
            )
        )
    for rule in scenario.rules:
        cmds.append(_in(vm if rule.where is Where.VM else host, *rule.argv()))
    state_files, slow = bulk_plan(names, scenario.bulk, scenario.bulk_filter_rules)
    cmds += slow
    etc = vm_etc_files(hostname)
    return Plan(
        namespaces,
        tuple(cmds),
        etc,
        {**etc, **scenario.etc_files},
        vm_var_lib_files(scenario.lease_endpoint, scenario.bulk.lease_blocks),
        tuple(name for name in AGENT_ETC if name not in scenario.etc_files),
        AGENT_VAR_LIB,
        state_files,
        tuple(slow),
    )


BULK_RULES_FILE = "bulk-iptables.rules"
BULK_ROUTES_FILE = "bulk-routes.batch"


def bulk_plan(
    names: LabNames, bulk: Bulk, extra_filter: tuple[str, ...] = ()
) -> tuple[dict[str, str], list[Argv]]:
    """The generated state's files (in the state directory) and the commands that load
    them into the VM namespace: `iptables-restore --noflush` (the scenario's own rules
    stay) and `ip -batch`."""
    files: dict[str, str] = {}
    cmds: list[Argv] = []
    if bulk.rules or extra_filter:
        files[BULK_RULES_FILE] = iptables_restore_text(bulk.rules, extra_filter)
        path = str(names.state_dir / BULK_RULES_FILE)
        cmds.append(_in(names.vm, "iptables-restore", "-w", "--noflush", path))
    if bulk.routes:
        files[BULK_ROUTES_FILE] = ip_batch_text(bulk.routes, PRIMARY_GATEWAY, "eth0")
        cmds.append(("ip", "-n", names.vm, "-batch", str(names.state_dir / BULK_ROUTES_FILE)))
    return files, cmds


def vm_etc_files(hostname: str) -> dict[str, str]:
    """The VM's resolv.conf and hosts, so tools inside it resolve through the lab only."""
    fqdn = vm_fqdn(hostname)
    return {
        "resolv.conf": (
            "# wirecheck lab: the platform resolver, as Azure's DHCP configures it\n"
            f"nameserver {PLATFORM_ADDRESS}\n"
            f"search {DNS_SUFFIX}\n"
        ),
        "hosts": (
            "# wirecheck lab: the VM's own hosts file (the machine's is not used here)\n"
            "127.0.0.1 localhost\n"
            "::1 localhost ip6-localhost ip6-loopback\n"
            f"{VM_PRIMARY_IP} {fqdn} {fqdn.split('.', 1)[0]}\n"
        ),
    }


def vm_var_lib_files(endpoint: str = PLATFORM_ADDRESS, history: int = 0) -> dict[str, str]:
    """eth0's dhclient lease as Azure's DHCP gives it: option 245 names WireServer
    (`endpoint`; a scenario may name another address there). `history`: that many expired
    blocks before it (in total, the file then holds `history` blocks, the current last)."""
    octets = ":".join(f"{int(part):02x}" for part in endpoint.split("."))
    routes = ",".join(
        f"32,{address.replace('.', ',')},{PRIMARY_GATEWAY.replace('.', ',')}"
        for address in PLATFORM_ADDRESSES
    )
    gateway = PRIMARY_GATEWAY.replace(".", ",")
    expiry = "5 2151/11/03 08:14:09"  # the far future, as for Azure's infinite leases
    lease = f"""\
lease {{
  interface "eth0";
  fixed-address {VM_PRIMARY_IP};
  server-name "RD0WIRECHECKLAB";
  option subnet-mask 255.255.255.0;
  option routers {PRIMARY_GATEWAY};
  option dhcp-lease-time 4294967295;
  option dhcp-message-type 5;
  option domain-name-servers {PLATFORM_ADDRESS};
  option dhcp-server-identifier {PLATFORM_ADDRESS};
  option rfc3442-classless-static-routes 0,{gateway},{routes};
  option unknown-245 {octets};
  option domain-name "{DNS_SUFFIX}";
  renew {expiry};
  rebind {expiry};
  expire {expiry};
}}
"""
    old = lease_history(history - 1, "eth0", VM_PRIMARY_IP) if history > 1 else ""
    return {"dhcp/dhclient.eth0.leases": old + lease}


def dns_records(hostname: str, ptr: str | None) -> dict[str, dict[str, str]]:
    """The lab resolver's records: the VM's FQDN and its reverse, and an optional platform PTR."""
    fqdn = vm_fqdn(hostname)
    ptrs = {_reverse_name(VM_PRIMARY_IP): f"{fqdn}."}
    if ptr:
        ptrs[_reverse_name(PLATFORM_ADDRESS)] = f"{ptr.rstrip('.')}."
    return {"a": {f"{fqdn}.": VM_PRIMARY_IP}, "ptr": ptrs}


def _reverse_name(ipv4: str) -> str:
    return ".".join(reversed(ipv4.split("."))) + ".in-addr.arpa."


def imds_network() -> dict[str, Any]:
    """IMDS `/metadata/instance/network` for the lab VM (format of imds-network.json)."""

    def nic(mac: str, ip: str, public: str, subnet: str) -> dict[str, Any]:
        network, prefix = subnet.split("/")
        return {
            "ipv4": {
                "ipAddress": [{"privateIpAddress": ip, "publicIpAddress": public}],
                "subnet": [{"address": network, "prefix": prefix}],
            },
            "ipv6": {"ipAddress": []},
            "macAddress": mac.replace(":", "").upper(),
        }

    return {
        "interface": [
            nic(VM_PRIMARY_MAC, VM_PRIMARY_IP, VM_PUBLIC_IP, PRIMARY_SUBNET),
            nic(VM_SECONDARY_MAC, VM_SECONDARY_IP, "", SECONDARY_SUBNET),
        ]
    }
