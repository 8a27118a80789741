"""imds: the Instance Metadata Service: reachable, the NICs, the public IP outbound uses."""

from __future__ import annotations

import sys

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.errors import ParseError
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Status
from wirecheck.net import http
from wirecheck.net.errors import MEANING, NetOutcome
from wirecheck.platform.imds import NETWORK_PATH, nic_evidence, outbound_public_ip, parse_network
from wirecheck.platform.routes import default_routes, parse_proc_net_route

PROXY_AGENT_HEADER = "x-ms-azure-host-authorization"


def default_route_mac(ctx: CheckContext) -> str | None:
    """The MAC of the interface holding the lowest-metric default route (Linux)."""
    try:
        routes = parse_proc_net_route(ctx.system.read_text("/proc/net/route"))
        defaults = default_routes(routes)
        if not defaults or not defaults[0].interface:
            return None
        return ctx.system.read_text(f"/sys/class/net/{defaults[0].interface}/address").strip()
    except (OSError, ParseError):
        return None


def run_imds(ctx: CheckContext, platform_name: str = sys.platform) -> Outcome:
    config = ctx.config
    address, port = config.imds_address, config.ports.imds
    if address == IMDS_ADDRESS and config.target != PLATFORM_ADDRESS:
        # A run against a test or lab address must not reach the real IMDS by the back door.
        return Outcome(
            Status.SKIP,
            f"IMDS ({IMDS_ADDRESS}) is asked only when the target is {PLATFORM_ADDRESS}; "
            f"this run targets {config.target}",
        )
    reply = http.get(
        address,
        port,
        NETWORK_PATH,
        ctx.deadline,
        headers={"Metadata": "true"},
        socket_factory=ctx.system.socket_factory,
    )
    evidence = http.reply_evidence(address, port, NETWORK_PATH, reply)
    if not reply.connect.connected:
        if reply.connect.errno_name:
            evidence["errno"] = reply.connect.errno_name
        return Outcome(
            Status.WARN,
            f"IMDS is not reachable: {MEANING[reply.connect.outcome]}",
            evidence,
            fix=_unreachable_fix(reply.connect.outcome, address),
        )
    if reply.outcome is not NetOutcome.CONNECTED:
        evidence["detail"] = reply.detail
        return Outcome(
            Status.WARN,
            f"IMDS accepted the connection but gave no complete answer ({reply.detail})",
            evidence,
            fix=f"Something other than IMDS may answer at {address} (a proxy or local "
            "listener); retry, then check the guest-agent row for the GuestProxyAgent.",
        )
    evidence["http_status"] = reply.status
    if PROXY_AGENT_HEADER in reply.headers:
        evidence["guest_proxy_agent_header"] = True
    if reply.status != 200:
        return Outcome(
            Status.WARN,
            f"IMDS answered HTTP {reply.status} {reply.reason}".rstrip(),
            evidence,
            fix="IMDS refuses requests with a proxy header (X-Forwarded-For) or without "
            "`Metadata: true`; if a proxy or appliance is in the way, bypass it for "
            f"{address}. A 429 means too many requests: retry later.",
        )
    try:
        nics = parse_network(reply.body)
    except ParseError as exc:
        evidence["body"] = reply.body[:2048].decode("utf-8", errors="replace")
        return Outcome(
            Status.WARN, str(exc), evidence, fix=f"Something other than IMDS answers at {address}."
        )
    mac = default_route_mac(ctx) if platform_name != "win32" else None
    public, why = outbound_public_ip(nics, mac)
    evidence.update(
        nics=[nic_evidence(n) for n in nics],
        outbound_public_ip=public,
        outbound_public_ip_why=why,
    )
    listed = "; ".join(
        f"{n.mac} {', '.join(n.private_ipv4) or 'no private IP'}"
        + (f" (public {', '.join(n.public_ipv4)})" if n.public_ipv4 else "")
        for n in nics
    )
    outbound = f"outbound public IP {public}" if public else "no instance-level public IP"
    return Outcome(
        Status.OK,
        f"answered in {reply.elapsed_s * 1000:.0f} ms: {len(nics)} NIC(s): {listed}; {outbound}",
        evidence,
    )


def _unreachable_fix(outcome: NetOutcome, address: str) -> str:
    if outcome in (NetOutcome.REFUSED, NetOutcome.BLOCKED):
        return (
            f"A local rule rejects traffic to {address}: `iptables-save -c | grep {address}` "
            "and `nft list ruleset` name it (the firewall row too). Off Azure this is expected."
        )
    if outcome is NetOutcome.UNREACHABLE:
        return (
            f"No route to {address}: it must leave by the primary NIC (`ip route get {address}`); "
            "renew DHCP on the primary NIC to restore the /32 route."
        )
    return (
        f"Packets to {address} are dropped: IMDS answers only inside an Azure VM and only via "
        f"the primary NIC; check `ip route get {address}`, a proxy, and local rules."
    )


IMDS = CheckSpec(
    "imds",
    "Instance Metadata Service (IMDS)",
    run_imds,
    explain="""\
GET http://169.254.169.254/metadata/instance/network?api-version=2021-02-01 with the
header `Metadata: true`, never through a proxy, within the run's deadline. Lists the NICs
Azure knows (MAC, private and public IPs; IMDS gives them in no particular order) for the
primary-NIC choice of egress-nic, and the instance-level public IP of the NIC that holds
the default route: the address outbound traffic leaves with (when there is none, outbound
uses a NAT gateway, a load balancer rule or default SNAT).
- ok: HTTP 200 with a network document.
- warn: unreachable (refused or blocked: a local rule; timed out: dropped, or not an
  Azure VM), an HTTP error, or an answer that is not IMDS's.
- skip: the run's target is not 168.63.129.16 (IMDS is asked only alongside it).
Fix: let TCP 80 to 169.254.169.254 leave by the primary NIC, directly (no proxy, no rule).""",
    context=True,
)
