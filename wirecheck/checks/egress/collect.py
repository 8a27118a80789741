"""egress-nic's evidence, collected per operating system: routes, NICs, leases, the
tcp-80 socket, IMDS's NIC list and, as root on Linux, a captured SYN."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from wirecheck.checks.base import CheckContext
from wirecheck.checks.egress.judge import EgressFacts, Observation
from wirecheck.checks.egress.primary_nic import Signals, choose_primary
from wirecheck.checks.egress.source import SourceSeen, primary_ip
from wirecheck.checks.imds import ImdsFacts
from wirecheck.checks.tcp import ConnectFacts
from wirecheck.model import Deadline
from wirecheck.net.parallel import gather
from wirecheck.platform.imds import ImdsNic
from wirecheck.platform.leases import Lease, LeaseScan
from wirecheck.platform.machine import KERNEL_ROUTE, LEASES, NICS, ROUTES
from wirecheck.platform.routes import (
    KernelRoute,
    Nic,
    Route,
    RouteTable,
    kernel_route,
    lookup,
    name_windows_routes,
    normalize_mac,
    parse_route_print,
)
from wirecheck.platform.sources import Got
from wirecheck.system import System

FACTS_BUDGET_S = 1.5  # Windows: `route print` gets this much of the deadline at most


CaptureFn = Callable[[str, int, Deadline, System], "CaptureOutcome"]


IMDS_ROUTE_S = 1.0  # `ip route get` for IMDS, at most


@dataclass(frozen=True)
class CaptureOutcome:
    interface: str | None
    source: str | None
    detail: str


def capture_with_packet_socket(
    target: str, port: int, deadline: Deadline, system: System
) -> CaptureOutcome:
    from wirecheck.net.traceroute.capture import capture_syn

    result = capture_syn(target, port, deadline, system.socket_factory)
    if result.captured is None:
        return CaptureOutcome(None, None, result.detail)
    return CaptureOutcome(result.captured.interface, result.captured.source, result.detail)


def _tcp80_observation(ctx: CheckContext, nics: Sequence[Nic]) -> tuple[Observation | None, str]:
    tcp80, why = ctx.facts_of("tcp-80", ConnectFacts)
    if tcp80 is None:
        return None, f"tcp-80 socket: {why}"
    if tcp80.local_address is None:
        result = ctx.board.get("tcp-80")
        said = f"{result.status.value}: {result.finding}" if result else tcp80.outcome.value
        return None, f"tcp-80 socket: did not connect ({said})"
    address, port = tcp80.local_address
    interface = tcp80.interface or next((n.name for n in nics if address in n.addresses), None)
    if interface is None:
        return None, f"tcp-80 socket: local address {address}:{port} is on no known interface"
    return Observation("tcp-80 socket", interface, address), ""


def _imds(ctx: CheckContext) -> tuple[list[ImdsNic] | None, str]:
    imds, why = ctx.facts_of("imds", ImdsFacts)
    if imds is None:
        return None, f"imds: {why}"
    if imds.nics is None:
        result = ctx.board.get("imds")
        said = f"{result.status.value}: {result.finding}" if result else "no answer"
        return None, f"imds: no NIC list ({said})"
    return list(imds.nics), ""


def collect_linux(ctx: CheckContext, capture: CaptureFn, now: datetime, port: int) -> EgressFacts:
    target, system = ctx.config.target, ctx.system
    root = system.is_root()
    # Shared with the other checks, each read once per run within its own budget.
    ctx.start_facts(KERNEL_ROUTE, ROUTES, NICS, LEASES)
    calls: dict[str, Callable[[], object]] = {
        "route": lambda: ctx.fact(KERNEL_ROUTE),
        # IMDS's own route (the source it would leave with): only egress-nic asks.
        "imds_route": lambda: kernel_route(
            system, ctx.config.imds_address, min(IMDS_ROUTE_S, ctx.deadline.remaining())
        ),
        "table": lambda: ctx.fact(ROUTES),
        "nics": lambda: ctx.fact(NICS),
        "leases": lambda: ctx.fact(LEASES, now),
    }
    if root:
        calls["capture"] = lambda: capture(target, port, ctx.deadline, system)
    failed: dict[str, Exception] = {}
    got = gather(calls, ctx.deadline, failed)
    notes = [f"{key} failed: {type(exc).__name__}: {exc}" for key, exc in failed.items()]
    route = _value(got.get("route"), notes)
    kernel = route if isinstance(route, KernelRoute) else None
    if isinstance(route, str):
        notes.append(route)
    table = _value(got.get("table"), notes)
    routes: list[Route] = []
    routes_from = "route table not read"
    if isinstance(table, RouteTable):
        routes, routes_from = list(table.routes), table.source
        if not table.complete:
            notes.append(f"route table incomplete: {table.note}")
    nics_value = _value(got.get("nics"), notes)
    nics: list[Nic] = nics_value if isinstance(nics_value, list) else []
    scan = _value(got.get("leases"), notes)
    leases: list[Lease] | None = list(scan.leases) if isinstance(scan, LeaseScan) else None
    leases_incomplete = scan.incomplete if isinstance(scan, LeaseScan) else ()

    observations: list[Observation] = []
    if kernel is not None and kernel.interface:
        observations.append(Observation("kernel route", kernel.interface, kernel.source))
    tcp80, why = _tcp80_observation(ctx, nics)
    if tcp80 is not None:
        observations.append(tcp80)
    elif why:
        notes.append(why)
    if root:
        captured = got.get("capture")
        if isinstance(captured, CaptureOutcome) and captured.interface:
            observations.append(Observation("captured SYN", captured.interface, captured.source))
        else:
            detail = captured.detail if isinstance(captured, CaptureOutcome) else "no result"
            notes.append(f"captured SYN: {detail}")
    else:
        notes.append("captured SYN: skipped, capturing needs root")
    imds, imds_why = _imds(ctx)
    if imds_why:
        notes.append(imds_why)
    incomplete = table.note if isinstance(table, RouteTable) and not table.complete else ""
    signals = Signals(
        routes, leases, imds, nics, leases_incomplete=leases_incomplete, routes_note=incomplete
    )
    choice = choose_primary(signals)
    imds_route = got.get("imds_route")
    imds_kernel = imds_route if isinstance(imds_route, KernelRoute) else None
    sources = _sources(target, observations)
    if imds_kernel is not None and imds_kernel.interface and imds_kernel.source:
        sources.append(
            SourceSeen(
                ctx.config.imds_address, "kernel route", imds_kernel.interface, imds_kernel.source
            )
        )
    return EgressFacts(
        target,
        False,
        choice,
        tuple(routes),
        routes_from,
        kernel,
        tuple(notes),
        tuple(observations),
        tuple(nics),
        primary_ip=primary_ip(choice.interface, nics, imds, choice.azure_nics, leases),
        sources=tuple(sources),
        imds_kernel=imds_kernel,
    )


def _sources(target: str, observations: Sequence[Observation]) -> list[SourceSeen]:
    """The source address each piece of evidence shows for packets to the target."""
    return [
        SourceSeen(target, seen.how, seen.interface, seen.source)
        for seen in observations
        if seen.source
    ]


def _value(got: object, notes: list[str]) -> object:
    """A shared fact's value; its absence (and why) goes to the notes."""
    if not isinstance(got, Got):
        return None  # the gather's own deadline passed first
    if got.value is None:
        notes.append(got.why)
    return got.value


def psutil_nics() -> list[Nic]:
    """Adapters by name with MAC and IPv4 addresses (Windows: names are aliases); empty
    where psutil is missing (the single-file build)."""
    try:
        import psutil
    except ImportError:
        return []

    nics: list[Nic] = []
    for name, addrs in psutil.net_if_addrs().items():
        mac = next((a.address for a in addrs if a.family == psutil.AF_LINK), None)
        ipv4 = tuple(a.address for a in addrs if a.family == socket.AF_INET)
        nics.append(Nic(name, normalize_mac(mac), ipv4))
    return nics


def collect_windows(
    ctx: CheckContext, adapters: Callable[[], list[Nic]] = psutil_nics
) -> EgressFacts:
    target, system = ctx.config.target, ctx.system
    budget = min(FACTS_BUDGET_S, ctx.deadline.remaining())
    done = system.run_command(["route", "print", "-4"], budget)
    nics = adapters() or [
        Nic(name, addresses=addresses) for name, addresses in system.interface_addresses().items()
    ]
    notes = ["captured SYN: not available on Windows in this version"]
    routes: list[Route] = []
    kernel: KernelRoute | None = None
    if done.ok:
        printed = parse_route_print(done.stdout)
        best = lookup(printed.routes, target)
        routes = name_windows_routes(printed.routes, nics)
        if best is not None:
            named = name_windows_routes([best], nics)[0]
            kernel = KernelRoute(
                target, named.interface, best.interface, best.gateway, _route_print_line(best)
            )
    else:
        notes.append(f"`route print -4` failed: {done.why}")
    observations: list[Observation] = []
    if kernel is not None and kernel.interface:
        observations.append(Observation("kernel route", kernel.interface, kernel.source))
    tcp80, why = _tcp80_observation(ctx, nics)
    if tcp80 is not None:
        observations.append(tcp80)
    elif why:
        notes.append(why)
    imds, imds_why = _imds(ctx)
    if imds_why:
        notes.append(imds_why)
    signals = Signals(routes, None, imds, nics)
    choice = choose_primary(signals)
    return EgressFacts(
        target,
        True,
        choice,
        tuple(routes),
        "route print -4",
        kernel,
        tuple(notes),
        tuple(observations),
        tuple(nics),
        # On Windows only the connected socket tells the source; the lowest address is not
        # the primary by any signal of its own, so IMDS alone names it.
        primary_ip=primary_ip(choice.interface, (), imds, choice.azure_nics, None),
        sources=tuple(s for s in _sources(target, observations) if s.how == "tcp-80 socket"),
    )


def _route_print_line(route: Route) -> str:
    network = route.network
    return (
        f"{network.network_address} mask {network.netmask} "
        f"{route.gateway or 'On-link'} if {route.interface} metric {route.metric}"
    )
