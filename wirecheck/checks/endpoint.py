"""endpoint: where the Linux guest agent would look for WireServer, versus the target.

The agent learns the endpoint from DHCP option 245 and caches it in
/var/lib/waagent/WireServerEndpoint; without either it uses 168.63.129.16.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import PLATFORM_ADDRESS, Facts, Status
from wirecheck.platform.leases import LeaseScan
from wirecheck.platform.machine import LEASES, ROUTES
from wirecheck.platform.routes import Route, RouteTable
from wirecheck.platform.waagent import WIRESERVER_ENDPOINT_FILE

# Its own budget: the leases and routes it reads are shared with egress-nic (each has its
# budget); the row must not hold the verdict for the whole deadline.
BUDGET_S = 2.5


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class EndpointFacts(Facts):
    target: str
    scan: LeaseScan
    cached: str | None  # /var/lib/waagent/WireServerEndpoint
    host_routes: tuple[Route, ...]  # /32 routes to the target

    @property
    def announced(self) -> list[tuple[str, str]]:
        """(interface, endpoint) of each current lease with option 245."""
        return [(ls.interface or "?", ls.option_245) for ls in self.scan.leases if ls.option_245]

    @property
    def agent_would_use(self) -> str:
        """The agent's order: its cache, then a lease's option 245, then the fixed address."""
        announced = self.announced
        return self.cached or (announced[0][1] if announced else None) or PLATFORM_ADDRESS

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "target": self.target,
            "lease_files": list(self.scan.files),
            "leases": [
                {
                    "interface": lease.interface,
                    "option_245": lease.option_245,
                    "address": lease.address,
                    "expires": lease.expires.isoformat() if lease.expires else None,
                    "source": lease.source,
                }
                for lease in self.scan.leases
            ],
            "expired_leases_ignored": len(self.scan.expired),
            "wireserver_endpoint_file": self.cached,
            "host_routes": [r.ip_line() for r in self.host_routes],
        }
        if self.scan.problems:
            evidence["unreadable"] = list(self.scan.problems)
        evidence["agent_would_use"] = self.agent_would_use
        return evidence


def judge_endpoint(
    target: str, scan: LeaseScan, cached: str | None, host_routes: list[Route]
) -> Outcome:
    """The verdict from the leases, the agent's cached endpoint and the routes. Pure."""
    evidence = EndpointFacts(target, scan, cached, tuple(host_routes))
    announced = evidence.announced
    where = ", ".join(f"option 245 on {iface} = {ep}" for iface, ep in announced)
    if cached:
        where = ", ".join(filter(None, [f"{WIRESERVER_ENDPOINT_FILE} = {cached}", where]))
    others = {ep for _, ep in announced if ep and ep != target}
    if cached and cached != target:
        others.add(cached)
    differing = sorted(others)
    if differing:
        return Outcome(
            Status.WARN,
            f"the guest agent would look for WireServer at {', '.join(differing)}, not at the "
            f"target {target} ({where})",
            evidence,
            fix=_differs_fix(target, differing, announced, cached),
        )
    route_text = ""
    if host_routes:
        route_text = "; /32 route: " + ", ".join(r.ip_line() for r in host_routes)
    if not where:
        return Outcome(
            Status.WARN,
            f"no WireServer endpoint found (no current lease with option 245, no "
            f"{WIRESERVER_ENDPOINT_FILE}): the agent falls back to {PLATFORM_ADDRESS}{route_text}",
            evidence,
            fix="If this is an Azure VM, renew DHCP on the primary NIC (`dhclient -r eth0 && "
            "dhclient eth0`, or `networkctl renew eth0`) so option 245 is recorded; a custom "
            "DHCP client configuration may be dropping it.",
        )
    return Outcome(
        Status.OK,
        f"WireServer endpoint {target}, as the agent would find it ({where}){route_text}",
        evidence,
    )


def _differs_fix(
    target: str, differing: list[str], announced: list[tuple[str, str]], cached: str | None
) -> str:
    other = differing[0]
    steps = [f"If {other} is right, the agent talks to it: run `wirecheck --target {other}`."]
    if any(ep == other for _, ep in announced):
        steps.append(
            "If it is wrong, a DHCP server other than Azure's answers on that NIC (a custom "
            "DHCP server, a relay or an appliance in the VNet): find it, then renew the lease "
            "(`dhclient -r IFACE && dhclient IFACE`, or `networkctl renew IFACE`)."
        )
    if cached and cached != target:
        steps.append(
            f"{WIRESERVER_ENDPOINT_FILE} caches {cached}: delete it and restart the agent "
            "(`systemctl restart walinuxagent`) so it rediscovers the endpoint."
        )
    return " ".join(steps)


def run_endpoint(ctx: CheckContext, now: Callable[[], datetime] = _now) -> Outcome:
    if ctx.system.windows:
        return Outcome(
            Status.SKIP,
            "the Windows guest agent does not record option 245 in lease files; it uses "
            f"{PLATFORM_ADDRESS}",
        )
    system, target = ctx.system, ctx.config.target
    ctx.start_facts(LEASES, ROUTES)
    leases, table = ctx.fact(LEASES, now()), ctx.fact(ROUTES)
    scan = leases.value
    if scan is None:
        return Outcome(
            Status.ERROR,
            f"could not read the DHCP lease files: {leases.why}",
            fix="Run again with a longer --timeout; if it persists, report a wirecheck bug "
            "with the size of the lease files (/var/lib/dhcp, /var/lib/dhclient).",
        )
    routes = table.value.routes if isinstance(table.value, RouteTable) else ()
    host_routes = [r for r in routes if r.destination == f"{target}/32" and r.type == "unicast"]
    try:
        cached = system.read_text(WIRESERVER_ENDPOINT_FILE).strip() or None
    except OSError:
        cached = None
    return judge_endpoint(target, scan, cached, host_routes)


ENDPOINT = CheckSpec(
    "endpoint",
    "WireServer endpoint the guest agent would use",
    run_endpoint,
    explain="""\
Finds the WireServer endpoint the way the Linux guest agent does: DHCP option 245 in the
current (unexpired) leases of dhclient (/var/lib/dhcp, /var/lib/dhclient), NetworkManager
(/var/lib/NetworkManager) and systemd-networkd (/run/systemd/netif/leases), the agent's
cache /var/lib/waagent/WireServerEndpoint, and the /32 route to the target.
- ok: the endpoint found is the target.
- warn: a lease or the cache names another address (a foreign DHCP server, a stale cache:
  the agent talks there, not to the target), or no endpoint is recorded at all (the agent
  then falls back to 168.63.129.16).
- skip: Windows (the Windows agent always uses 168.63.129.16).
Fix: renew DHCP on the primary NIC; delete a stale WireServerEndpoint and restart the
agent; find the DHCP server that hands out a wrong option 245.""",
    facts=EndpointFacts,
    context=True,
    budget_s=BUDGET_S,
)

SPECS = (ENDPOINT,)
