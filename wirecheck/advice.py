"""Advice that several checks and the diagnosis give, written once."""

from __future__ import annotations


def find_rule(*words: object) -> str:
    """The commands that list the local firewall rules mentioning `words` (an address, a
    port, "'dport 53'"), with their counters."""
    pattern = " ".join(f"-e {w}" for w in words) if len(words) > 1 else str(words[0])
    return f"`iptables-save -c | grep {pattern}` and `nft list ruleset`"


RUN_AS_ROOT = "Run as root: `sudo wirecheck`."
RUN_AS_REAL_ROOT = (
    "Run as root outside the user namespace (on the VM itself, not in a rootless container "
    "or under `unshare --user`): `sudo wirecheck`."
)


def agent_firewall_drops_non_root(target: str) -> str:
    return f"the Azure guest agent's firewall drops TCP to {target} from non-root users"


# What Azure documents about the platform address, said once. Every text that says what
# can block or divert traffic to it uses these, so none sends an admin to a route table or
# a network security group that cannot be involved.
#  - 168.63.129.16 is a virtual IP of the host node: user-defined routes do not apply to it.
#  - TCP 80 and 32526 to it are not subject to network security groups; DNS and IMDS are,
#    but only through a rule that names the AzurePlatformDNS or AzurePlatformIMDS tag.
#  - The platform answers traffic from the primary NIC's primary private IP only.
NO_UDR = "user-defined routes do not apply to the platform address"
NO_NSG_WIRE = "network security groups do not apply to TCP 80 and 32526 to the platform address"
PRIMARY_IP_ONLY = "the platform answers only traffic from the primary NIC's primary private IP"
SERVICE_TAGS = {"dns": "AzurePlatformDNS", "imds": "AzurePlatformIMDS"}
# An extra hop, or a path that loses the packets, is the guest's own doing.
GUEST_DIVERSION = (
    "a guest route or policy rule, a tunnel or VPN client, or an appliance the guest routes through"
)


def nsg_rule(service: str) -> str:
    """The only NSG rule that can block `service` ("dns" or "imds") to the platform."""
    return (
        f"an NSG rule that names the {SERVICE_TAGS[service]} service tag (the only kind of NSG "
        "rule that applies to it)"
    )


def beyond_the_guest(port: int | str) -> str:
    """What outside the guest can block TCP `port` (80 or 32526) to the platform: nothing
    the VNet configures, so the guest's own path comes first."""
    return (
        f"no NSG and no UDR applies to TCP {port} to the platform address, so look at the "
        f"guest's path ({GUEST_DIVERSION}) and the source address ({PRIMARY_IP_ONLY})"
    )


def guest_route_fix(target: str) -> str:
    """How to put the platform address back on the primary NIC's path."""
    return (
        f"`ip route get {target}` must leave by the primary NIC's gateway with the primary "
        f"private IP as source: remove the guest route, policy rule (`ip rule`) or tunnel that "
        f"sends {target} elsewhere, and add `ip route replace {target}/32 via <primary "
        "gateway> dev <primary NIC> src <primary IP>`"
    )


SUPPORT_CASE = "if the path is direct, open a support case with `wirecheck bundle`"


def windows_local_block(target: str, ports: str = "80 and 32526") -> str:
    """What to do when Windows refused a connection to the platform (WSAEACCES)."""
    return (
        "Find what blocks it: `netsh advfirewall show allprofiles` (a Firewall Policy of "
        "...,BlockOutbound needs an allow rule), `netsh advfirewall firewall show rule name=all "
        f"dir=out` (block rules), `netsh wfp show filters dir=OUT remoteaddr={target}` (filters "
        "of a VPN client, an EDR or security product); then allow TCP "
        f'{ports} to {target} outbound (`netsh advfirewall firewall add rule name="Azure '
        f'platform" dir=out action=allow protocol=TCP remoteip={target} '
        "remoteport=80,32526`), or remove the filter through the software that owns it."
    )


def restore_route(address: str) -> str:
    """What to do when there is no usable route to a platform address."""
    return (
        f"`ip route get {address}` must leave by the primary NIC's gateway: renew DHCP on the "
        "primary NIC (it gives the /32 routes to the platform addresses) or restore the route."
    )
