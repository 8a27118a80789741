"""The commands that build a scenario's namespaces, as plain data (no I/O here).

Shape (the appliance only in scenarios that ask for it):

    vm ns                          [app ns]                      host ns
    eth0 10.1.0.4/24 ---- vm-eth0 10.1.0.1/24                     lo 168.63.129.16/32
                          to-host 10.2.0.1/30 ---- to-app 10.2.0.2/30   169.254.169.254/32
    eth1 10.1.1.5/24 ---------------------------- vm-eth1 10.1.1.1/24

Without the appliance, eth0's peer `vm-eth0` (10.1.0.1) is in the host namespace, so the
target is one hop away. Scenarios with a pod add a bridge `cni0` 10.244.0.1/24 in the VM
and a pod namespace on it (eth0 10.244.0.2, its default route via the bridge); the VM
forwards and masquerades for it. Every link is a veth pair created *inside* lab namespaces
(`ip -n A link add ... peer ... netns B`), the bridge inside the VM's: no interface of the
lab ever exists in the machine's own namespace, not even for a moment, and no lab namespace
has a default route out of the lab.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wirecheck.lab.names import (
    APPLIANCE_IP,
    CUSTOM_DNS_IP,
    DNS_SUFFIX,
    HOST_TRANSIT_IP,
    PLATFORM_ADDRESSES,
    POD_BRIDGE,
    POD_BRIDGE_IP,
    POD_IP,
    POD_SUBNET,
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
    VM_PRIMARY_SECOND_IP,
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
    vm_var_log: Mapping[str, str] = field(default_factory=dict)  # seen under the VM's /var/log


def _in(ns: str, *argv: str) -> Argv:
    """A command run inside namespace `ns` (for tools without a `-n` option)."""
    return ("ip", "netns", "exec", ns, *argv)


def plan(names: LabNames, scenario: Scenario, hostname: str) -> Plan:
    vm, host, app, pod = names.vm, names.host, names.appliance, names.pod
    gateway_ns = app if scenario.appliance else host
    namespaces: tuple[str, ...] = (vm, host, app) if scenario.appliance else (vm, host)
    if scenario.pod:
        namespaces += (pod,)
    cmds: list[Argv] = []
    for ns in namespaces:
        cmds.append(("ip", "netns", "add", ns))
    for ns in namespaces:
        cmds.append(("ip", "-n", ns, "link", "set", "lo", "up"))
        # Only the appliance routes, and the VM for its pod; the host must never pass
        # packets on.
        forward = "1" if ns == app or (ns == vm and scenario.pod) else "0"
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
    if scenario.second_ip_first:
        addr(vm, f"{VM_PRIMARY_SECOND_IP}/{PREFIX_LEN}", "eth0")
    addr(vm, f"{VM_PRIMARY_IP}/{PREFIX_LEN}", "eth0")
    addr(vm, f"{VM_SECONDARY_IP}/{PREFIX_LEN}", "eth1")
    addr(gateway_ns, f"{PRIMARY_GATEWAY}/{PREFIX_LEN}", "vm-eth0")
    addr(host, f"{SECONDARY_GATEWAY}/{PREFIX_LEN}", "vm-eth1")
    for address in PLATFORM_ADDRESSES:
        addr(host, f"{address}/32", "lo")
    if scenario.custom_dns is not None:
        addr(host, f"{CUSTOM_DNS_IP}/32", "lo")
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

    if scenario.pod:
        # A CNI-style bridge in the VM, the pod's veth on it, the pod's default route via
        # the bridge, and the VM masquerading the pod's traffic out of eth0.
        cmds.append(("ip", "-n", vm, "link", "add", POD_BRIDGE, "type", "bridge"))
        veth(pod, "eth0", vm, "vethpod0")
        cmds.append(("ip", "-n", vm, "link", "set", "vethpod0", "master", POD_BRIDGE))
        addr(vm, f"{POD_BRIDGE_IP}/{PREFIX_LEN}", POD_BRIDGE)
        addr(pod, f"{POD_IP}/{PREFIX_LEN}", "eth0")
        for ns, dev in ((vm, POD_BRIDGE), (vm, "vethpod0"), (pod, "eth0")):
            up(ns, dev)
        route(pod, "default", "via", POD_BRIDGE_IP, "dev", "eth0")
        masquerade = ("-s", POD_SUBNET, "-o", "eth0", "-j", "MASQUERADE")
        cmds.append(_in(vm, "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", *masquerade))

    # The host answers only what comes from the primary subnet (it ignores eth1's).
    for address in PLATFORM_ADDRESSES:
        cmds.append(
            _in(
                host,
                *("iptables", "-w", "-A", "INPUT", "-d", f"{address}/32"),
                *("!", "-s", PRIMARY_SUBNET, "-j", "DROP"),
            )
        )
    if scenario.custom_dns is not None:
        # The custom DNS server stands for one in the VNet: it may ask the platform
        # resolver, from the host's own loopback, ahead of the primary-subnet-only rule.
        cmds.append(_in(host, "iptables", "-w", "-I", "INPUT", "-i", "lo", "-j", "ACCEPT"))
    for rule in scenario.rules:
        cmds.append(_in(vm if rule.where is Where.VM else host, *rule.argv()))
    etc = vm_etc_files(hostname, CUSTOM_DNS_IP if scenario.custom_dns else PLATFORM_ADDRESS)
    return Plan(
        namespaces,
        tuple(cmds),
        etc,
        {**etc, **scenario.etc_files},
        vm_var_lib_files(scenario.lease_endpoint),
        tuple(name for name in AGENT_ETC if name not in scenario.etc_files),
        AGENT_VAR_LIB,
        dict(scenario.var_log_files),
    )


def vm_etc_files(hostname: str, nameserver: str = PLATFORM_ADDRESS) -> dict[str, str]:
    """The VM's resolv.conf and hosts, so tools inside it resolve through the lab only.

    `nameserver`: the platform resolver, as Azure's DHCP configures it, or a custom DNS
    server set in the VM (the DHCP domain stays Azure's)."""
    fqdn = vm_fqdn(hostname)
    which = "the platform resolver" if nameserver == PLATFORM_ADDRESS else "a custom DNS server"
    return {
        "resolv.conf": (
            f"# wirecheck lab: {which}\nnameserver {nameserver}\nsearch {DNS_SUFFIX}\n"
        ),
        "hosts": (
            "# wirecheck lab: the VM's own hosts file (the machine's is not used here)\n"
            "127.0.0.1 localhost\n"
            "::1 localhost ip6-localhost ip6-loopback\n"
            f"{VM_PRIMARY_IP} {fqdn} {fqdn.split('.', 1)[0]}\n"
        ),
    }


def vm_var_lib_files(endpoint: str = PLATFORM_ADDRESS) -> dict[str, str]:
    """eth0's dhclient lease as Azure's DHCP gives it: option 245 names WireServer
    (`endpoint`; a scenario may name another address there)."""
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
    return {"dhcp/dhclient.eth0.leases": lease}


def dns_records(hostname: str, ptr: str | None) -> dict[str, dict[str, str]]:
    """The lab resolver's records: the VM's FQDN and its reverse, and an optional platform PTR."""
    fqdn = vm_fqdn(hostname)
    ptrs = {_reverse_name(VM_PRIMARY_IP): f"{fqdn}."}
    if ptr:
        ptrs[_reverse_name(PLATFORM_ADDRESS)] = f"{ptr.rstrip('.')}."
    return {"a": {f"{fqdn}.": VM_PRIMARY_IP}, "ptr": ptrs}


def _reverse_name(ipv4: str) -> str:
    return ".".join(reversed(ipv4.split("."))) + ".in-addr.arpa."


def imds_network(second_ip: bool = False) -> dict[str, Any]:
    """IMDS `/metadata/instance/network` for the lab VM (format of imds-network.json);
    `second_ip`: the primary NIC has a second IP configuration, listed after the primary."""

    def nic(mac: str, ip: str, public: str, subnet: str, *more: str) -> dict[str, Any]:
        network, prefix = subnet.split("/")
        addresses = [{"privateIpAddress": ip, "publicIpAddress": public}]
        addresses += [{"privateIpAddress": other, "publicIpAddress": ""} for other in more]
        return {
            "ipv4": {
                "ipAddress": addresses,
                "subnet": [{"address": network, "prefix": prefix}],
            },
            "ipv6": {"ipAddress": []},
            "macAddress": mac.replace(":", "").upper(),
        }

    return {
        "interface": [
            nic(
                VM_PRIMARY_MAC,
                VM_PRIMARY_IP,
                VM_PUBLIC_IP,
                PRIMARY_SUBNET,
                *((VM_PRIMARY_SECOND_IP,) if second_ip else ()),
            ),
            nic(VM_SECONDARY_MAC, VM_SECONDARY_IP, "", SECONDARY_SUBNET),
        ]
    }
