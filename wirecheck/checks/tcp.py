"""tcp-80 and tcp-32526: can we open a TCP connection to the platform's ports?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wirecheck import advice
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, ProbeFacts, Traffic
from wirecheck.model import Status
from wirecheck.net import tcp
from wirecheck.net.errors import MEANING, NetOutcome


@dataclass(frozen=True)
class ConnectFacts(ProbeFacts):
    """One TCP connect to the target."""

    target: str
    port: int
    outcome: NetOutcome
    latency_ms: float
    errno: str | None = None  # the errno name and text, when it failed
    local_address: tuple[str, int] | None = None  # when connected
    interface: str | None = None  # the interface holding the local address

    @property
    def connected(self) -> bool:
        return self.local_address is not None

    @property
    def net_outcome(self) -> NetOutcome:
        return self.outcome

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "target": f"{self.target}:{self.port}",
            "outcome": self.outcome.value,
            "latency_ms": self.latency_ms,
        }
        if self.errno:
            evidence["errno"] = self.errno
        if self.local_address:
            evidence["local_address"] = f"{self.local_address[0]}:{self.local_address[1]}"
            evidence["interface"] = self.interface
        return evidence


def _probe(ctx: CheckContext, port: int, service: str) -> Outcome:
    target = ctx.config.target
    result, sock = tcp.connect(target, port, ctx.deadline.remaining(), ctx.system.socket_factory)
    if sock is not None:
        sock.close()
    local = result.local_address
    facts = ConnectFacts(
        target,
        port,
        result.outcome,
        round(result.latency_s * 1000, 2),
        result.errno_name,
        local,
        ctx.system.interface_of(local[0]) if local else None,
    )
    if local:
        where = f" from {local[0]}" + (f" on {facts.interface}" if facts.interface else "")
        return Outcome(
            Status.OK,
            f"connected to {service} in {result.latency_s * 1000:.1f} ms{where}",
            facts,
        )
    fix = connect_fix(result.outcome, target, port, ctx.system.is_root())
    if result.outcome is NetOutcome.BLOCKED and ctx.system.windows:
        fix = advice.windows_local_block(target, str(port))  # WSAEACCES: Windows said no
    return Outcome(Status.FAIL, f"{service} {MEANING[result.outcome]}", facts, fix=fix)


def connect_fix(outcome: NetOutcome, target: str, port: int, root: bool) -> str:
    """The first thing to try for a failed connect to target:port."""
    if outcome is NetOutcome.TIMEOUT and not root:
        return (
            f"Run wirecheck as root: {advice.agent_firewall_drops_non_root(target)} (a "
            "timeout, as seen here)."
        )
    if outcome is NetOutcome.TIMEOUT:
        return (
            f"Look for a rule that drops port {port} to {target}: "
            f"{advice.find_rule(target, port)}; then, as {advice.beyond_the_guest(port)}, "
            f"the egress-nic and trace rows; {advice.SUPPORT_CASE}."
        )
    if outcome is NetOutcome.REFUSED:
        return (
            f"Something rejects port {port} to {target}: look for a REJECT rule "
            f"(`iptables-save -c | grep {port}`), or a proxy or appliance the guest routes "
            "through (the trace rows)."
        )
    if outcome is NetOutcome.BLOCKED:
        return (
            f"A local firewall rule forbids sending to {target}:{port}: "
            f"{advice.find_rule(target)} name it; remove it."
        )
    if outcome is NetOutcome.UNREACHABLE:
        return f"There is no usable route to {target}: {advice.restore_route(target)}"
    return f"Retry; if it persists, collect `wirecheck bundle` for support ({target}:{port})."


def run_tcp_80(ctx: CheckContext) -> Outcome:
    return _probe(ctx, ctx.config.ports.http, "WireServer (TCP 80)")


def run_tcp_32526(ctx: CheckContext) -> Outcome:
    return _probe(ctx, ctx.config.ports.host_plugin, "the host agent plugin (TCP 32526)")


TCP_80 = CheckSpec(
    "tcp-80",
    "TCP 80 to the platform (WireServer)",
    run_tcp_80,
    explain=f"""\
Opens a TCP connection to the target's port 80, where WireServer (the guest agent's
control channel) listens. Records the latency, the local address and the interface.
- ok: connected.
- fail, timed out: packets are dropped silently; as non-root on Linux this is the guest
  agent's own firewall (run as root); as root, look for a DROP rule (the firewall row),
  then the guest's path and source address (egress-nic, the trace rows):
  {advice.NO_NSG_WIRE}, and {advice.NO_UDR}.
- fail, refused: a reset or port-unreachable came back: a REJECT rule, or a proxy or
  appliance the guest routes through.
- fail, blocked locally: the kernel refused to send (EPERM): a local firewall rule.
- fail, unreachable: no route to the target; check `ip route get 168.63.129.16`.""",
    facts=ConnectFacts,
    probe="connect",
    traffic=(Traffic("target", "tcp", "http"),),
)

TCP_32526 = CheckSpec(
    "tcp-32526",
    "TCP 32526 to the platform (host agent plugin)",
    run_tcp_32526,
    explain="""\
Opens a TCP connection to the target's port 32526, the host agent plugin that serves
extension artifacts and status. It does not answer casual HTTP, so a connect is the test.
- ok: connected.
- fail: timed out, refused, blocked locally or unreachable, with the causes and fixes
  given for tcp-80.""",
    facts=ConnectFacts,
    probe="connect",
    traffic=(Traffic("target", "tcp", "host_plugin"),),
)

SPECS = (TCP_80, TCP_32526)
