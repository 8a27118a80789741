"""tcp-80 and tcp-32526: can we open a TCP connection to the platform's ports?"""

from __future__ import annotations

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Status
from wirecheck.net import tcp
from wirecheck.net.errors import MEANING, NetOutcome


def _probe(ctx: CheckContext, port: int, service: str) -> Outcome:
    target = ctx.config.target
    result, sock = tcp.connect(target, port, ctx.deadline.remaining(), ctx.system.socket_factory)
    if sock is not None:
        sock.close()
    evidence: dict[str, object] = {
        "target": f"{target}:{port}",
        "outcome": result.outcome.value,
        "latency_ms": round(result.latency_s * 1000, 2),
    }
    if result.errno_name:
        evidence["errno"] = result.errno_name
    if result.local_address:
        local_ip, local_port = result.local_address
        evidence["local_address"] = f"{local_ip}:{local_port}"
        evidence["interface"] = ctx.system.interface_of(local_ip)
        where = f" from {local_ip}" + (
            f" on {evidence['interface']}" if evidence["interface"] else ""
        )
        return Outcome(
            Status.OK,
            f"connected to {service} in {result.latency_s * 1000:.1f} ms{where}",
            evidence,
        )
    return Outcome(
        Status.FAIL,
        f"{service} {MEANING[result.outcome]}",
        evidence,
        fix=connect_fix(result.outcome, target, port, ctx.system.is_root()),
    )


def connect_fix(outcome: NetOutcome, target: str, port: int, root: bool) -> str:
    """The first thing to try for a failed connect to target:port."""
    if outcome is NetOutcome.TIMEOUT and not root:
        return (
            "Run wirecheck as root: the Azure guest agent's firewall drops TCP to "
            f"{target} from non-root users (a timeout, as seen here)."
        )
    if outcome is NetOutcome.TIMEOUT:
        return (
            f"Look for a rule that drops port {port} to {target}: "
            f"`iptables-save -c | grep -e {target} -e {port}` and `nft list ruleset`; "
            "then an NSG, a route to an appliance, or a host-side block."
        )
    if outcome is NetOutcome.REFUSED:
        return (
            f"Something rejects port {port} to {target}: look for a REJECT rule "
            f"(`iptables-save -c | grep {port}`) or a proxy/appliance in the path."
        )
    if outcome is NetOutcome.BLOCKED:
        return (
            f"A local firewall rule forbids sending to {target}:{port}: "
            f"`iptables-save -c | grep {target}` and `nft list ruleset` name it; remove it."
        )
    if outcome is NetOutcome.UNREACHABLE:
        return (
            f"There is no usable route to {target}: `ip route get {target}` must leave by the "
            "primary NIC's gateway; renew DHCP on the primary NIC or restore the route."
        )
    return f"Retry; if it persists, collect `wirecheck bundle` for support ({target}:{port})."


def run_tcp_80(ctx: CheckContext) -> Outcome:
    return _probe(ctx, ctx.config.ports.http, "WireServer (TCP 80)")


def run_tcp_32526(ctx: CheckContext) -> Outcome:
    return _probe(ctx, ctx.config.ports.host_plugin, "the host agent plugin (TCP 32526)")


TCP_80 = CheckSpec(
    "tcp-80",
    "TCP 80 to the platform (WireServer)",
    run_tcp_80,
    explain="""\
Opens a TCP connection to the target's port 80, where WireServer (the guest agent's
control channel) listens. Records the latency, the local address and the interface.
- ok: connected.
- fail, timed out: packets are dropped silently; as non-root on Linux this is the guest
  agent's own firewall (run as root); as root, look for a DROP rule, an NSG or an appliance.
- fail, refused: a reset or port-unreachable came back: a REJECT rule or an appliance.
- fail, blocked locally: the kernel refused to send (EPERM): a local firewall rule.
- fail, unreachable: no route to the target; check `ip route get 168.63.129.16`.""",
)

TCP_32526 = CheckSpec(
    "tcp-32526",
    "TCP 32526 to the platform (host agent plugin)",
    run_tcp_32526,
    explain="""\
Opens a TCP connection to the target's port 32526, the host agent plugin that serves
extension artifacts and status. It does not answer casual HTTP, so a connect is the test.
Outcomes and fixes are as for tcp-80.""",
)
