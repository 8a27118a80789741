"""imds: the Instance Metadata Service: reachable, the NICs, the public IP outbound uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wirecheck import advice
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, ProbeFacts, Traffic
from wirecheck.checks.fetch import Fetch, proxy_agent_refusal
from wirecheck.errors import ParseError
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Status
from wirecheck.net import http
from wirecheck.net.errors import MEANING, NetOutcome
from wirecheck.platform.imds import (
    NETWORK_PATH,
    ImdsNic,
    nic_evidence,
    outbound_public_ip,
    parse_network,
)
from wirecheck.platform.machine import ROUTES
from wirecheck.platform.proxy_agent import ProxyAgentRefusal
from wirecheck.platform.routes import default_routes

# IMDS is one link-local hop away and answers in milliseconds: a second is generous, and
# a dropping IMDS (a context row) must not hold the whole run's verdict for its deadline.
BUDGET_S = 1.0


@dataclass(frozen=True)
class ImdsFacts(ProbeFacts):
    fetch: Fetch
    nics: tuple[ImdsNic, ...] | None = None  # None: no NIC list came back
    outbound_public_ip: str | None = None
    outbound_public_ip_why: str = ""
    body: str | None = None  # an answer that was not IMDS's, for the evidence
    proxy_agent_refusal: ProxyAgentRefusal | None = None  # the GuestProxyAgent answered

    @property
    def net_outcome(self) -> NetOutcome:
        return self.fetch.outcome

    def evidence(self) -> dict[str, Any]:
        evidence = self.fetch.evidence()
        if not self.fetch.connected and self.fetch.errno:
            evidence["errno"] = self.fetch.errno
        if self.fetch.detail:
            evidence["detail"] = self.fetch.detail
        if self.fetch.http_status is not None:
            evidence["http_status"] = self.fetch.http_status
        if self.fetch.proxy_agent_header:
            evidence["guest_proxy_agent_header"] = True
        if self.proxy_agent_refusal is not None:
            evidence["guest_proxy_agent_refusal"] = self.proxy_agent_refusal.describe()
        if self.body is not None:
            evidence["body"] = self.body
        if self.nics is not None:
            evidence.update(
                nics=[nic_evidence(n) for n in self.nics],
                outbound_public_ip=self.outbound_public_ip,
                outbound_public_ip_why=self.outbound_public_ip_why,
            )
        return evidence


def default_route_mac(ctx: CheckContext) -> str | None:
    """The MAC of the interface holding the lowest-metric default route (Linux)."""
    table = ctx.fact(ROUTES).value
    defaults = default_routes(table.routes) if table is not None else []
    if not defaults or not defaults[0].interface:
        return None
    try:
        return ctx.system.read_text(f"/sys/class/net/{defaults[0].interface}/address").strip()
    except OSError:
        return None


def run_imds(ctx: CheckContext) -> Outcome:
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
    fetch = Fetch.of(address, port, NETWORK_PATH, reply)
    if not fetch.connected:
        return Outcome(
            Status.WARN,
            f"IMDS is not reachable: {MEANING[reply.connect.outcome]}",
            ImdsFacts(fetch),
            fix=_unreachable_fix(reply.connect.outcome, address),
        )
    if fetch.http_status is None:
        return Outcome(
            Status.WARN,
            f"IMDS accepted the connection but gave no complete answer ({fetch.detail})",
            ImdsFacts(fetch),
            fix=f"Something other than IMDS may answer at {address} (a proxy or local "
            "listener); retry, then check the guest-agent row for the GuestProxyAgent.",
        )
    refusal = proxy_agent_refusal(ctx, fetch, "IMDS")
    if refusal is not None:
        return Outcome(
            Status.WARN,
            f"{refusal.describe()}; the request did not reach IMDS",
            ImdsFacts(fetch, proxy_agent_refusal=refusal),
            fix=refusal.fix(),
        )
    if reply.status != 200:
        return Outcome(
            Status.WARN,
            f"IMDS answered HTTP {reply.status} {reply.reason}".rstrip(),
            ImdsFacts(fetch),
            fix="IMDS refuses requests with a proxy header (X-Forwarded-For) or without "
            "`Metadata: true`; if a proxy or appliance is in the way, bypass it for "
            f"{address}. A 429 means too many requests: retry later.",
        )
    try:
        nics = parse_network(reply.body)
    except ParseError as exc:
        body = reply.body[:2048].decode("utf-8", errors="replace")
        return Outcome(
            Status.WARN,
            str(exc),
            ImdsFacts(fetch, body=body),
            fix=f"Something other than IMDS answers at {address}.",
        )
    mac = None if ctx.system.windows else default_route_mac(ctx)
    public, why = outbound_public_ip(nics, mac)
    facts = ImdsFacts(fetch, tuple(nics), public, why)
    listed = "; ".join(
        f"{n.mac} {', '.join(n.private_ipv4) or 'no private IP'}"
        + (f" (public {', '.join(n.public_ipv4)})" if n.public_ipv4 else "")
        for n in nics
    )
    outbound = f"outbound public IP {public}" if public else "no instance-level public IP"
    return Outcome(
        Status.OK,
        f"answered in {reply.elapsed_s * 1000:.0f} ms: {len(nics)} NIC(s): {listed}; {outbound}",
        facts,
    )


def _unreachable_fix(outcome: NetOutcome, address: str) -> str:
    if outcome in (NetOutcome.REFUSED, NetOutcome.BLOCKED):
        return (
            f"A local rule rejects traffic to {address}: {advice.find_rule(address)} name it "
            "(the firewall row too). Off Azure this is expected."
        )
    if outcome is NetOutcome.UNREACHABLE:
        return f"No route to {address}: {advice.restore_route(address)}"
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
header `Metadata: true`, never through a proxy, within 1 s of its own (IMDS is one
link-local hop away; a dropping IMDS must not hold the verdict). Lists the NICs
Azure knows (MAC, private and public IPs; IMDS gives them in no particular order) for the
primary-NIC choice of egress-nic, and the instance-level public IP of the NIC that holds
the default route: the address outbound traffic leaves with (when there is none, outbound
uses a NAT gateway, a load balancer rule or default SNAT).
- ok: HTTP 200 with a network document.
- warn: unreachable (refused or blocked: a local rule; timed out: dropped, or not an
  Azure VM), an HTTP error, or an answer that is not IMDS's.
- skip: the run's target is not 168.63.129.16 (IMDS is asked only alongside it).
Fix: let TCP 80 to 169.254.169.254 leave by the primary NIC, directly (no proxy, no rule).""",
    facts=ImdsFacts,
    context=True,
    traffic=(Traffic("imds", "tcp", "imds"),),
    budget_s=BUDGET_S,
    cause_weight=20,
)

SPECS = (IMDS,)
