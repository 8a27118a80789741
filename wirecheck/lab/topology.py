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

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wirecheck.lab.bulk import Bulk, ip_batch_text, iptables_restore_text, lease_history
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
from wirecheck.lab.scenarios import LeaseStore, Scenario, VmMount, Where
from wirecheck.model import PLATFORM_ADDRESS

Argv = tuple[str, ...]
# The guest agent's configuration and state: the VM has only what its scenario gives it,
# never the machine's (were it an Azure VM), so the agent's rows are the lab's to decide.
AGENT_ETC = ("waagent.conf",)
AGENT_VAR_LIB = ("waagent",)
# Likewise the address configuration and the DHCP clients' leases: the machine's (a CI
# runner's netplan, its networkd lease of its own eth0) would answer for the VM's.
NETCONFIG_ETC = (
    "netplan",
    "sysconfig/network-scripts",
    "sysconfig/network",
    "NetworkManager/system-connections",
    "systemd/network",
    "network/interfaces",
    "network/interfaces.d",
)
LEASES_VAR_LIB = ("dhcp", "dhclient", "NetworkManager", "wicked", "dhcpcd", "dhcpcd5")
# /run holds live DHCP and network state; it is laid over only in scenarios that need it.
LEASES_RUN = (
    "systemd/netif/leases",
    "systemd/network",
    "NetworkManager",
    "netplan",
    "dhclient.lease",
    "dhcpcd",
)
IFINDEX = "{ifindex:eth0}"  # in a /run path: eth0's interface index, known once it exists
NM_CONNECTION = "0f8fad5b-d9cb-469f-a165-70867728950e"
# A /32 to the platform via eth1 that wins over eth0's (lower metric), as when a
# secondary NIC's DHCP client also installs the platform routes.
SECONDARY_PLATFORM_METRIC = 50


@dataclass(frozen=True)
class Layer:
    """What the VM sees of one directory tree over the machine's: files, the machine's paths
    it must not see (whiteouts), and directories that show the lab's content only (opaque)."""

    files: Mapping[str, str | bytes] = field(default_factory=dict)  # relative path -> content
    hidden: tuple[str, ...] = ()
    opaque: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()  # empty directories it must have (mount points)


@dataclass(frozen=True)
class Plan:
    namespaces: tuple[str, ...]  # in creation order
    commands: tuple[Argv, ...]  # run in order; each names the lab namespace it acts in
    vm_etc: Mapping[str, str]  # file name -> text, in /etc/netns/<vm ns>/
    vm_etc_layer: Mapping[str, str]  # file name -> text, seen in the VM's /etc (overlay)
    vm_var_lib: Mapping[str, str | bytes]  # relative path -> content, under the VM's /var/lib
    # The machine's files the VM must not see (whiteouts in the layers), by layer.
    vm_etc_hidden: tuple[str, ...] = ()
    vm_var_lib_hidden: tuple[str, ...] = ()
    vm_etc_opaque: tuple[str, ...] = ()
    vm_var_lib_opaque: tuple[str, ...] = ()
    vm_var_lib_dirs: tuple[str, ...] = ()
    # The VM's own /run layer (None: the VM sees the machine's /run) and its mounts.
    vm_run: Layer | None = None
    vm_mounts: tuple[VmMount, ...] = ()
    vm_var_log: Mapping[str, str] = field(default_factory=dict)  # seen under the VM's /var/log
    # Generated state (a big node's rules and routes): file name -> text, written to the
    # lab's state directory before the commands run, and the commands among `commands`
    # that load it (they get longer than the others: 100k routes take seconds).
    state_files: Mapping[str, str] = field(default_factory=dict)
    slow_commands: tuple[Argv, ...] = ()


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
    if scenario.platform_routes:
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
    state_files, slow = bulk_plan(names, scenario.bulk, scenario.bulk_filter_rules)
    cmds += slow
    etc = vm_etc_files(hostname, CUSTOM_DNS_IP if scenario.custom_dns else PLATFORM_ADDRESS)
    etc_layer = {**etc, **scenario.etc_files}
    var_lib = vm_var_lib_files(
        scenario.lease_endpoint, scenario.lease_store, scenario.bulk.lease_blocks
    )
    mount_dirs = tuple(m.path.removeprefix("/var/lib/") for m in scenario.vm_mounts)
    etc_hidden, etc_opaque = _hide((*AGENT_ETC, *NETCONFIG_ETC), etc_layer)
    var_lib_hidden, var_lib_opaque = _hide(
        (*AGENT_VAR_LIB, *LEASES_VAR_LIB), {**var_lib, **dict.fromkeys(mount_dirs, "")}
    )
    run_files = vm_run_files(scenario.lease_endpoint, scenario.lease_store)
    run_layer = None
    if run_files or scenario.lease_store is not LeaseStore.DHCLIENT:
        run_hidden, run_opaque = _hide(LEASES_RUN, run_files)
        run_layer = Layer(run_files, run_hidden, run_opaque)
    return Plan(
        namespaces,
        tuple(cmds),
        etc,
        etc_layer,
        var_lib,
        etc_hidden,
        tuple(p for p in var_lib_hidden if p not in mount_dirs),
        etc_opaque,
        var_lib_opaque,
        mount_dirs,
        run_layer,
        scenario.vm_mounts,
        dict(scenario.var_log_files),
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


def _hide(
    candidates: tuple[str, ...], given: Mapping[str, str | bytes]
) -> tuple[tuple[str, ...], ...]:
    """(hidden, opaque): a candidate the scenario gives nothing under is hidden; one it
    gives files under shows the scenario's files only; a file it gives is its own."""
    hidden: list[str] = []
    opaque: list[str] = []
    for path in candidates:
        if path in given:
            continue
        if any(name.startswith(path + "/") for name in given):
            opaque.append(path)
        else:
            hidden.append(path)
    return tuple(hidden), tuple(opaque)


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


def vm_var_lib_files(
    endpoint: str = PLATFORM_ADDRESS, store: LeaseStore = LeaseStore.DHCLIENT, history: int = 0
) -> dict[str, str | bytes]:
    """eth0's lease as Azure's DHCP gives it, where the scenario's DHCP client keeps it:
    option 245 names WireServer (`endpoint`; a scenario may name another address there).
    `history` (dhclient): that many blocks in the file in all, the expired ones first, the
    current one last."""
    if store is LeaseStore.WICKED:
        return {"wicked/lease-eth0-dhcp-ipv4.xml": wicked_lease(endpoint)}
    if store is LeaseStore.NM_INTERNAL:
        name = f"NetworkManager/internal-{NM_CONNECTION}-eth0.lease"
        return {name: f"# This is private data. Do not parse.\nADDRESS={VM_PRIMARY_IP}\n"}
    if store is LeaseStore.DHCPCD:
        return {"dhcpcd/eth0.lease": dhcp_message(endpoint)}
    if store in (LeaseStore.NONE, LeaseStore.CLOUD_INIT):
        return {}
    old = lease_history(history - 1, "eth0", VM_PRIMARY_IP) if history > 1 else ""
    return {"dhcp/dhclient.eth0.leases": old + dhclient_lease(endpoint)}


def vm_run_files(endpoint: str, store: LeaseStore) -> dict[str, str | bytes]:
    """What the scenario's DHCP client keeps in /run: NetworkManager's device state, or
    cloud-init's ephemeral dhclient lease."""
    if store is LeaseStore.CLOUD_INIT:
        return {"dhclient.lease": dhclient_lease(endpoint)}
    if store is not LeaseStore.NM_INTERNAL:
        return {}
    octets = ":".join(f"{int(part):02x}" for part in endpoint.split("."))
    routes = " ".join(f"{address}/32 {PRIMARY_GATEWAY}" for address in PLATFORM_ADDRESSES)
    state = f"""\
[device]
managed=true
connection-uuid={NM_CONNECTION}

[dhcp4]
dhcp4.dhcp_lease_time=4294967295
dhcp4.dhcp_server_identifier={PLATFORM_ADDRESS}
dhcp4.domain_name={DNS_SUFFIX}
dhcp4.domain_name_servers={PLATFORM_ADDRESS}
dhcp4.expiry=6290445695
dhcp4.ip_address={VM_PRIMARY_IP}
dhcp4.private_245={octets}
dhcp4.rfc3442_classless_static_routes=0.0.0.0/0 {PRIMARY_GATEWAY} {routes}
dhcp4.routers={PRIMARY_GATEWAY}
dhcp4.subnet_mask=255.255.255.0
"""
    return {f"NetworkManager/devices/{IFINDEX}": state}


def wicked_lease(endpoint: str) -> str:
    """eth0's lease as wicked keeps it (its undeclared `ipv4:` prefix included)."""
    octets = ":".join(f"{int(part):02x}" for part in endpoint.split("."))
    routes = "".join(
        f"      <route>\n        <destination>{address}/32</destination>\n"
        f"        <nexthop>\n          <gateway>{PRIMARY_GATEWAY}</gateway>\n"
        "        </nexthop>\n      </route>\n"
        for address in PLATFORM_ADDRESSES
    )
    return f"""\
<lease>
  <family>ipv4</family>
  <type>dhcp</type>
  <uuid>{NM_CONNECTION}</uuid>
  <state>granted</state>
  <acquired>1791013255</acquired>
  <ipv4:dhcp>
    <server-id>{PLATFORM_ADDRESS}</server-id>
    <lease-time>4294967295</lease-time>
    <address>{VM_PRIMARY_IP}</address>
    <netmask>255.255.255.0</netmask>
    <routes>
      <route>
        <nexthop>
          <gateway>{PRIMARY_GATEWAY}</gateway>
        </nexthop>
      </route>
{routes}    </routes>
    <dns>
      <domain>{DNS_SUFFIX}</domain>
      <server>{PLATFORM_ADDRESS}</server>
    </dns>
    <options>
      <unknown-245>
        <code>245</code>
        <data>{octets}</data>
      </unknown-245>
    </options>
  </ipv4:dhcp>
</lease>
"""


def dhcp_message(endpoint: str) -> bytes:
    """eth0's DHCPACK as dhcpcd keeps it: the BOOTP header, the magic cookie, then the
    options (option 245 among them)."""

    def ip(text: str) -> bytes:
        return bytes(int(part) for part in text.split("."))

    def option(code: int, value: bytes) -> bytes:
        return bytes((code, len(value))) + value

    header = bytearray(236)
    header[0:4] = bytes((2, 1, 6, 0))  # BOOTREPLY, Ethernet, 6-byte address, no hops
    header[4:8] = bytes.fromhex("3903f326")  # transaction id
    header[16:20] = ip(VM_PRIMARY_IP)  # yiaddr
    header[28:34] = bytes.fromhex(VM_PRIMARY_MAC.replace(":", ""))  # chaddr
    routes = b"".join(bytes((32,)) + ip(a) + ip(PRIMARY_GATEWAY) for a in PLATFORM_ADDRESSES)
    options = b"".join(
        [
            option(53, b"\x05"),  # DHCPACK
            option(54, ip(PLATFORM_ADDRESS)),
            option(51, b"\xff\xff\xff\xff"),  # an infinite lease, as Azure's
            option(1, ip("255.255.255.0")),
            option(3, ip(PRIMARY_GATEWAY)),
            option(6, ip(PLATFORM_ADDRESS)),
            option(15, DNS_SUFFIX.encode()),
            option(121, bytes((0,)) + ip(PRIMARY_GATEWAY) + routes),
            option(245, ip(endpoint)),
        ]
    )
    return bytes(header) + bytes((99, 130, 83, 99)) + options + b"\xff"


def dhclient_lease(endpoint: str) -> str:
    """eth0's dhclient lease block."""
    octets = ":".join(f"{int(part):02x}" for part in endpoint.split("."))
    routes = ",".join(
        f"32,{address.replace('.', ',')},{PRIMARY_GATEWAY.replace('.', ',')}"
        for address in PLATFORM_ADDRESSES
    )
    gateway = PRIMARY_GATEWAY.replace(".", ",")
    expiry = "5 2151/11/03 08:14:09"  # the far future, as for Azure's infinite leases
    return f"""\
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


def vm_setup(names: LabNames, built: Plan) -> str | None:
    """The script the VM's entry sources after laying /etc and /var/lib over the machine's:
    the scenario's /run layer and its mounts, all inside the VM command's own mount
    namespace (gone with it). None when the scenario has neither.

    The /run layer cannot lie inside the /run it covers (overlayfs refuses nested layers),
    so it is copied into a tmpfs first; the lab's state directory, covered too, is bound
    back from the shell's working directory so reports still land in the real one."""
    lines: list[str] = []
    if built.vm_run is not None:
        state, layer, mount = (
            shlex.quote(str(p)) for p in (names.state_dir, names.vm_run_layer, names.vm_run_mount)
        )
        lines += [
            f"if cd {state} && mount -t tmpfs -o size=4m,mode=0755 wirecheck-lab {mount} && "
            f"cp -a {layer}/. {mount}/ && "
            f"mount -t overlay wirecheck-lab -o ro,lowerdir={mount}:/run /run && "
            f'mount -c --bind . {state}; then :; else echo "wirecheck lab: could not lay '
            "the lab's files over /run; the VM sees the machine's DHCP state\" >&2; fi",
            "cd /",
        ]
    for item in built.vm_mounts:
        path = shlex.quote(item.path)
        lines.append(
            f"mount -t tmpfs -o {shlex.quote(item.options)} wirecheck-lab {path} || echo "
            f'"wirecheck lab: could not mount the scenario\'s tmpfs on {item.path}" >&2'
        )
        if item.fill:
            lines.append(f"cat /dev/zero > {path}/.fill 2>/dev/null; true  # until it is full")
    if not lines:
        return None
    header = "# wirecheck lab: this scenario's own mounts in the VM, sourced by its entry\n"
    return header + "\n".join(lines) + "\n"
