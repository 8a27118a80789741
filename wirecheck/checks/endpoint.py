"""endpoint: where the guest agent would look for WireServer, versus the target; and how
the VM gets its address (a static configuration gets no DHCP routes and no option 245).

The Linux agent takes 168.63.129.16 when a /32 route to it exists, else option 245 from a
DHCP lease it can read (or its cache /var/lib/waagent/WireServerEndpoint), else it sends a
DHCP request of its own, which a statically configured VM never answers; with
`Protocol.EndpointDiscovery=static` (agent 2.14 and later) it uses 168.63.129.16 at once.
The Windows agent always uses 168.63.129.16; what matters there is that the primary
adapter gets its address, and the platform routes, by DHCP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Deadline, Facts, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.leases import STORES, LeaseScan
from wirecheck.platform.machine import LEASES, ROUTES
from wirecheck.platform.netconfig import InterfaceConfig, NetConfig, read_netconfig
from wirecheck.platform.routes import Route, RouteTable, default_routes, parse_route_print
from wirecheck.platform.waagent import WAAGENT_CONF, WIRESERVER_ENDPOINT_FILE, parse_conf
from wirecheck.system import CommandResult

if TYPE_CHECKING:
    from wirecheck.platform.windows_nics import Adapter

# The address-configuration reads (and on Windows `ipconfig` and `route print`) may use this
# share of the time left (the leases and routes are shared sources with budgets of their own).
FACTS_SHARE = 0.8
FACTS_MIN_S = 1.0
STATIC_DISCOVERY = "static"
AGENT_STATIC_DISCOVERY = "2.14"  # the first agent that reads Protocol.EndpointDiscovery
# Its own budget: the leases and routes it reads are shared with egress-nic (each has its
# budget); the row must not hold the verdict for the whole deadline.
BUDGET_S = 2.5


def _now() -> datetime:
    return datetime.now(timezone.utc)


class DiscoveryFacts(Facts):
    """How the VM finds the platform (Linux or Windows)."""


@dataclass(frozen=True)
class EndpointFacts(DiscoveryFacts):
    target: str
    scan: LeaseScan
    cached: str | None  # /var/lib/waagent/WireServerEndpoint
    host_routes: tuple[Route, ...]  # /32 routes to the target
    netconfig: NetConfig | None = None  # None: not read
    discovery: str = "dhcp"  # the agent's Protocol.EndpointDiscovery

    @property
    def announced(self) -> list[tuple[str, str]]:
        """(interface, endpoint) of each current lease with option 245."""
        return [(ls.interface or "?", ls.option_245) for ls in self.scan.leases if ls.option_245]

    @property
    def agent_would_use(self) -> str:
        """The agent's order: its cache, then a lease's option 245, then the fixed address."""
        announced = self.announced
        return self.cached or (announced[0][1] if announced else None) or PLATFORM_ADDRESS

    @property
    def found(self) -> bool:
        """Whether the agent finds an endpoint without sending a DHCP request of its own."""
        return bool(
            self.cached or self.announced or self.host_routes or self.discovery == STATIC_DISCOVERY
        )

    @property
    def static(self) -> list[InterfaceConfig]:
        """Interfaces configured statically (no tool configures them by DHCP)."""
        return self.netconfig.static_only() if self.netconfig else []

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
        if self.scan.incomplete:
            evidence["leases_incomplete"] = list(self.scan.incomplete)
        if self.netconfig is not None:
            evidence["address_configuration"] = [c.describe() for c in self.netconfig.configs]
            if self.netconfig.incomplete:
                evidence["address_configuration_incomplete"] = list(self.netconfig.incomplete)
        if self.discovery != "dhcp":
            evidence["endpoint_discovery"] = self.discovery
        evidence["agent_would_use"] = self.agent_would_use
        return evidence


@dataclass(frozen=True)
class WindowsNicFacts(DiscoveryFacts):
    adapters: tuple[Adapter, ...]
    primary: str | None  # the primary adapter's name
    platform_routes: tuple[str, ...] = ()  # /32 routes to the platform addresses
    link_local: tuple[str, ...] = ()  # adapters whose 169.254/16 route can take IMDS traffic
    notes: tuple[str, ...] = field(default=())

    def adapter(self, name: str | None) -> Adapter | None:
        return next((a for a in self.adapters if a.name == name), None)

    def evidence(self) -> dict[str, Any]:
        return {
            "primary_adapter": self.primary,
            "adapters": [
                {
                    "name": a.name,
                    "description": a.description,
                    "dhcp": a.dhcp,
                    "ipv4": list(a.ipv4),
                    "autoconfigured": list(a.autoconfigured),
                    "gateways": list(a.gateways),
                }
                for a in self.adapters
            ],
            "platform_routes": list(self.platform_routes),
            "link_local_catchers": list(self.link_local),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


# ---------------------------------------------------------------------------------------
# Linux


def judge_endpoint(
    target: str,
    scan: LeaseScan,
    cached: str | None,
    host_routes: list[Route],
    netconfig: NetConfig | None = None,
    discovery: str = "dhcp",
) -> Outcome:
    """The verdict from the leases, the agent's cache and settings, the routes and the
    address configuration. Pure."""
    facts = EndpointFacts(target, scan, cached, tuple(host_routes), netconfig, discovery)
    announced = facts.announced
    where = ", ".join(
        f"option 245 on {ls.interface or '?'} = {ls.option_245} in {ls.source}"
        for ls in scan.leases
        if ls.option_245
    )
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
            facts,
            fix=_differs_fix(target, differing, announced, cached),
        )
    route_text = ""
    if host_routes:
        route_text = "; /32 route: " + ", ".join(r.ip_line() for r in host_routes)
    if where:
        return Outcome(
            Status.OK,
            f"WireServer endpoint {target}, as the agent would find it ({where}){route_text}",
            facts,
        )
    if discovery == STATIC_DISCOVERY:
        return Outcome(
            Status.OK,
            f"the agent is set to Protocol.EndpointDiscovery=static ({WAAGENT_CONF}): it uses "
            f"{PLATFORM_ADDRESS} without asking DHCP{route_text}",
            facts,
        )
    if host_routes and target == PLATFORM_ADDRESS:
        return Outcome(
            Status.OK,
            f"no DHCP lease records option 245, but the /32 route to {target} is how the agent "
            f"finds WireServer: it uses {target} without asking DHCP{route_text}",
            facts,
        )
    static = facts.static
    if static:
        return Outcome(Status.WARN, _static_finding(target, static), facts, _static_fix(static))
    unknown = scan.incomplete + (netconfig.incomplete if netconfig else ())
    if unknown:
        return Outcome(
            Status.WARN,
            f"no WireServer endpoint found in what could be read, but not everything was read "
            f"({unknown[0]}{'; more in the evidence' if len(unknown) > 1 else ''})",
            facts,
            fix="Run again with a longer --timeout if the time budget ran out; otherwise read "
            "the named store yourself (`nmcli -f DHCP4 device show eth0`) for option 245.",
        )
    return Outcome(
        Status.WARN,
        f"no WireServer endpoint found (no current lease with option 245, no "
        f"{WIRESERVER_ENDPOINT_FILE}): the agent falls back to {PLATFORM_ADDRESS}{route_text}",
        facts,
        fix="If this is an Azure VM, renew DHCP on the primary NIC (`dhclient -r eth0 && "
        "dhclient eth0`, or `networkctl renew eth0`) so option 245 is recorded; a custom "
        "DHCP client configuration may be dropping it.",
    )


def _static_finding(target: str, static: list[InterfaceConfig]) -> str:
    named = "; ".join(c.describe() for c in static)
    return (
        f"the guest agent cannot find WireServer: no DHCP lease with option 245, no "
        f"{WIRESERVER_ENDPOINT_FILE}, no /32 route to {target}, and the address is configured "
        f"statically ({named}): the agent's own DHCP request goes unanswered, so it stays "
        "Not Ready"
    )


def _static_fix(static: list[InterfaceConfig]) -> str:
    first = static[0]
    how = {
        "netplan": f"`dhcp4: true` for {first.interface} in {first.source}, then `netplan apply`",
        "ifcfg": f"BOOTPROTO=dhcp in {first.source}",
        "ifcfg (SUSE)": f"BOOTPROTO='dhcp' in {first.source}",
        "NetworkManager": (
            f"`nmcli connection modify <connection> ipv4.method auto` ({first.source})"
        ),
        "systemd-networkd": f"DHCP=ipv4 in {first.source}",
        "ifupdown": f"`iface {first.interface} inet dhcp` in {first.source}",
    }.get(first.tool, f"DHCP in {first.source}")
    return (
        f"Configure {first.interface} by DHCP ({how}): Azure's DHCP keeps the VM's private IP "
        "and gives option 245 and the routes to the platform. Or keep the static address and "
        f"set `Protocol.EndpointDiscovery=static` in {WAAGENT_CONF} (guest agent "
        f"{AGENT_STATIC_DISCOVERY} or later), then restart the agent: it then uses "
        f"{PLATFORM_ADDRESS} without DHCP."
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


def run_linux(ctx: CheckContext, now: datetime) -> Outcome:
    system, target = ctx.system, ctx.config.target
    remaining = ctx.deadline.remaining()
    budget = Deadline(min(remaining, max(FACTS_MIN_S, remaining * FACTS_SHARE)))
    ctx.start_facts(LEASES, ROUTES)
    failed: dict[str, Exception] = {}
    got = gather({"netconfig": lambda: read_netconfig(system, budget)}, budget, failed)
    if "netconfig" in failed:
        raise failed["netconfig"]  # a bug: the runner makes it an error row that says so
    leases, table = ctx.fact(LEASES, now), ctx.fact(ROUTES)
    scan = leases.value
    if scan is None:
        # The reader checks its deadline between reads: a read that hangs (a file on a dead
        # network filesystem) or a bug in it is the only way here. Say so, claim nothing.
        return Outcome(
            Status.ERROR,
            f"could not read the DHCP lease files: {leases.why}",
            fix="Run again with a longer --timeout; if it persists, report a wirecheck bug "
            "with the size of the lease files (/var/lib/dhcp, /var/lib/dhclient).",
        )
    routes = table.value.routes if isinstance(table.value, RouteTable) else ()
    host_routes = [r for r in routes if r.destination == f"{target}/32" and r.type == "unicast"]
    netconfig = got["netconfig"]
    try:
        cached = system.read_text(WIRESERVER_ENDPOINT_FILE).strip() or None
    except OSError:
        cached = None
    try:
        discovery = parse_conf(system.read_text(WAAGENT_CONF)).get(
            "Protocol.EndpointDiscovery", "dhcp"
        )
    except OSError:
        discovery = "dhcp"
    return judge_endpoint(
        target,
        scan,
        cached,
        host_routes,
        netconfig if isinstance(netconfig, NetConfig) else None,
        discovery.strip().lower() or "dhcp",
    )


# ---------------------------------------------------------------------------------------
# Windows


def judge_windows(facts: WindowsNicFacts) -> Outcome:
    """The verdict on the primary adapter's addressing and IMDS's route. Pure."""
    primary = facts.adapter(facts.primary)
    agent = f"the Windows guest agent uses {PLATFORM_ADDRESS}"
    catchers = [a for a in facts.adapters if a.name in facts.link_local]
    if primary is None:
        return Outcome(
            Status.SKIP,
            f"{agent}; which adapter is primary could not be told "
            f"({'; '.join(facts.notes) or 'no default route'})",
            facts,
        )
    notes: list[str] = []
    fixes: list[str] = []
    gateway = primary.gateways[0] if primary.gateways else "<gateway>"
    if catchers:
        names = ", ".join(
            f"{a.name} ({', '.join(a.autoconfigured or a.ipv4)}/16)" for a in catchers
        )
        notes.append(
            f"{names} has an automatic 169.254.x.y address and an on-link route to "
            f"169.254.0.0/16, and no 169.254.169.254/32 route exists: IMDS traffic can go there "
            f"instead of {primary.name}"
        )
        fixes.append(
            f"Route IMDS by the primary adapter: `route -p add {IMDS_ADDRESS} mask "
            f"255.255.255.255 {gateway} metric 1`"
            + (
                " (or remove the Npcap loopback adapter)"
                if any(a.npcap_loopback for a in catchers)
                else ""
            )
            + "."
        )
    if primary.dhcp is False:
        routes = (
            f"the routes to the platform it has: {', '.join(facts.platform_routes)}"
            if facts.platform_routes
            else f"it has no DHCP routes to {PLATFORM_ADDRESS} and {IMDS_ADDRESS}"
        )
        finding = (
            f"the primary adapter {primary.name} has DHCP disabled (static "
            f"{', '.join(primary.ipv4) or 'address'}): {routes}, and a static address other than "
            "the private IP Azure assigned cuts the VM off the platform"
        )
        fix = (
            f"Set {primary.name} back to DHCP: `Set-NetIPInterface -InterfaceAlias "
            f'"{primary.name}" -Dhcp Enabled` and `Set-DnsClientServerAddress -InterfaceAlias '
            f'"{primary.name}" -ResetServerAddresses`; Azure\'s DHCP gives the VM its private IP. '
            "To keep an address, make it static on the NIC in Azure (its IP configuration), not "
            "in Windows."
        )
        return Outcome(Status.WARN, "; ".join([finding, *notes]), facts, " ".join([fix, *fixes]))
    if notes:
        return Outcome(Status.WARN, "; ".join(notes), facts, " ".join(fixes))
    how = "by DHCP" if primary.dhcp else "(DHCP state not shown)"
    routes = f", with {', '.join(facts.platform_routes)}" if facts.platform_routes else ""
    return Outcome(
        Status.OK,
        f"{agent}; the primary adapter {primary.name} "
        f"({', '.join(primary.ipv4) or 'no IPv4'}) gets its address {how}{routes}",
        facts,
    )


def collect_windows(ctx: CheckContext) -> WindowsNicFacts | Outcome:
    from wirecheck.platform.windows_nics import (  # Windows only
        link_local_catchers,
        parse_ipconfig_all,
        primary_adapter,
    )

    remaining = ctx.deadline.remaining()
    budget = Deadline(min(remaining, max(FACTS_MIN_S, remaining * FACTS_SHARE)))
    got = gather(
        {
            "ipconfig": lambda: ctx.system.run_command(["ipconfig", "/all"], budget.remaining()),
            "routes": lambda: ctx.system.run_command(["route", "print", "-4"], budget.remaining()),
        },
        budget,
    )
    ipconfig, printed = got["ipconfig"], got["routes"]
    if not isinstance(ipconfig, CommandResult) or not ipconfig.ok:
        why = (
            ipconfig.error or ipconfig.stderr.strip() if isinstance(ipconfig, CommandResult) else ""
        )
        return Outcome(
            Status.SKIP, f"`ipconfig /all` could not be read: {why or 'it did not finish'}"
        )
    adapters = parse_ipconfig_all(ipconfig.stdout)
    notes: list[str] = []
    routes: list[Route] = []
    if isinstance(printed, CommandResult) and printed.ok:
        routes = list(parse_route_print(printed.stdout).routes)
    else:
        notes.append("`route print -4` could not be read")
    primary = primary_adapter(adapters, routes)
    if primary is None and not default_routes(routes):
        notes.append("no default route")
    platform = [
        f"{r.destination} via {r.gateway or 'on-link'}"
        for r in routes
        if r.destination in (f"{PLATFORM_ADDRESS}/32", f"{IMDS_ADDRESS}/32")
    ]
    catchers = (
        link_local_catchers([a for a in adapters if a is not primary], routes) if routes else []
    )
    return WindowsNicFacts(
        tuple(adapters),
        primary.name if primary else None,
        tuple(platform),
        tuple(a.name for a in catchers),
        tuple(notes),
    )


def run_endpoint(ctx: CheckContext, now: Callable[[], datetime] = _now) -> Outcome:
    if ctx.system.windows:
        collected = collect_windows(ctx)
        return collected if isinstance(collected, Outcome) else judge_windows(collected)
    return run_linux(ctx, now())


ENDPOINT = CheckSpec(
    "endpoint",
    "WireServer endpoint the guest agent would use",
    run_endpoint,
    explain=f"""\
Finds the WireServer endpoint the way the Linux guest agent does: the /32 route to the
target, DHCP option 245 in the current leases of every DHCP client ({", ".join(STORES)};
NetworkManager's internal client through its device state or nmcli), the agent's cache
/var/lib/waagent/WireServerEndpoint and its Protocol.EndpointDiscovery setting; and how
each interface gets its address (netplan, ifcfg, NetworkManager keyfiles, networkd,
ifupdown). Lease files are read from their end, newest first, within the run's deadline;
what could not be read is named. On Windows: whether the primary adapter uses DHCP
(`ipconfig /all`) and whether an adapter with a 169.254.x.y address (the Npcap loopback
adapter, a cluster adapter) can take IMDS traffic (`route print`).
- ok: the endpoint found is the target, or the agent finds it by the /32 route or its
  static discovery setting; on Windows the primary adapter uses DHCP.
- warn: a lease or the cache names another address (a foreign DHCP server, a stale cache:
  the agent talks there, not to the target); no endpoint is found and an interface is
  configured statically (the agent cannot find WireServer: Not Ready); nothing is found or
  not everything could be read; on Windows a static primary adapter or a 169.254/16
  adapter that can take IMDS traffic.
- skip: Windows, when `ipconfig /all` cannot be read or no adapter holds the default
  route.
Fix: configure the primary NIC by DHCP, or set Protocol.EndpointDiscovery=static (agent
2.14+); delete a stale WireServerEndpoint and restart the agent; find the DHCP server
that hands out a wrong option 245; on Windows re-enable DHCP or add the IMDS /32 route.""",
    facts=DiscoveryFacts,
    context=True,
    budget_s=BUDGET_S,
)

SPECS = (ENDPOINT,)
