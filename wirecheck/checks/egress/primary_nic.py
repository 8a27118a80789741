"""Which NIC is the primary one? Pure: signals in, a choice with its reasons out.

Signals:
- default-route: the interface of the lowest-metric default route (what the Linux guest
  agent uses);
- dhcp-lease: the interface whose current DHCP lease carries option 245 (the WireServer
  endpoint) and the /32 routes to the platform addresses;
- imds: the NICs IMDS lists, matched to local interfaces by MAC. IMDS does not promise an
  order, so it never names the primary by position: it names which local interfaces are
  this VM's Azure NICs, and decides only when exactly one matches. Accelerated-networking
  VFs share the synthetic NIC's MAC and are skipped (the synthetic one is `hv_netvsc`).

Each signal gives a set of candidates (empty: no opinion). The primary is the one
interface all opinions agree on; when they disagree, the signals are ranked
default-route > dhcp-lease > imds (the agent's own rule first) and the disagreement is
reported as a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS
from wirecheck.platform.imds import ImdsNic
from wirecheck.platform.leases import Lease
from wirecheck.platform.routes import Nic, Route, default_routes, normalize_mac

DEFAULT_ROUTE, DHCP_LEASE, IMDS = "default-route", "dhcp-lease", "imds"
SYNTHETIC_DRIVER = "hv_netvsc"
SYNTHETIC_DESCRIPTION = "Microsoft Hyper-V Network Adapter"  # Windows' synthetic NIC


@dataclass(frozen=True)
class Signals:
    routes: Sequence[Route] = ()
    leases: Sequence[Lease] | None = None  # None: leases were not read
    imds: Sequence[ImdsNic] | None = None  # None: IMDS not consulted in this run
    nics: Sequence[Nic] = ()
    platform_addresses: tuple[str, ...] = (PLATFORM_ADDRESS, IMDS_ADDRESS)
    leases_incomplete: tuple[str, ...] = ()  # what the lease reader could not read
    # Why the route table was not read in full (empty: it was): then a default route that
    # was not seen may still exist.
    routes_note: str = ""


@dataclass(frozen=True)
class Vote:
    signal: str
    interfaces: tuple[str, ...]  # empty: this signal has no opinion here
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"signal": self.signal, "interfaces": list(self.interfaces), "detail": self.detail}


@dataclass(frozen=True)
class PrimaryChoice:
    interface: str | None
    votes: tuple[Vote, ...]
    conflicts: tuple[str, ...] = ()
    azure_nics: dict[str, str] = field(default_factory=dict)  # local name -> IMDS MAC

    @property
    def used(self) -> tuple[str, ...]:
        """The signals that had an opinion."""
        return tuple(v.signal for v in self.votes if v.interfaces)

    def vote(self, signal: str) -> Vote | None:
        return next((v for v in self.votes if v.signal == signal), None)

    def describe(self) -> str:
        if self.interface is None:
            return "undetermined"
        backing = [v.signal for v in self.votes if self.interface in v.interfaces]
        return f"{self.interface} (by {', '.join(backing) or 'precedence'})"


def choose_primary(signals: Signals) -> PrimaryChoice:
    votes = (
        default_route_vote(signals.routes, signals.routes_note),
        lease_vote(signals.leases, signals.platform_addresses, signals.leases_incomplete),
        imds_vote(signals.imds, signals.nics),
    )
    azure = imds_matches(signals.imds or (), signals.nics)
    opinions = [v for v in votes if v.interfaces]
    chosen = _pick(opinions)
    conflicts = list(_conflicts(opinions, chosen))
    conflicts += _imds_inconsistencies(chosen, signals, azure)
    return PrimaryChoice(chosen, votes, tuple(conflicts), azure)


def _pick(opinions: Sequence[Vote]) -> str | None:
    """The interface every opinion allows, else the best-ranked signal's first."""
    imds = next((set(v.interfaces) for v in opinions if v.signal == IMDS), None)
    # IMDS knows which interfaces are Azure NICs: a VPN or container interface with a
    # default route cannot be the primary NIC while an Azure NIC is there.
    sets = [
        [i for i in v.interfaces if imds is None or v.signal == IMDS or i in imds] for v in opinions
    ]
    sets = [s for s in sets if s]
    if not sets:
        return opinions[0].interfaces[0] if opinions else None
    common = set(sets[0]).intersection(*sets[1:])
    if common:
        return next(i for i in sets[0] if i in common)  # ranked order breaks a tie
    return sets[0][0]


def default_route_vote(routes: Iterable[Route], incomplete: str = "") -> Vote:
    defaults = default_routes(routes)
    if not defaults and incomplete:
        return Vote(DEFAULT_ROUTE, (), f"no default route among the routes read ({incomplete})")
    if not defaults:
        return Vote(DEFAULT_ROUTE, (), "no IPv4 default route in the main table")
    lowest = defaults[0].metric
    best = [r for r in defaults if r.metric == lowest and r.interface]
    names = tuple(dict.fromkeys(r.interface for r in best if r.interface))
    lines = "; ".join(r.ip_line() for r in best)
    if len(names) > 1:
        return Vote(DEFAULT_ROUTE, names, f"several default routes share metric {lowest}: {lines}")
    return Vote(DEFAULT_ROUTE, names, f"lowest-metric default route: {lines}")


def lease_vote(
    leases: Sequence[Lease] | None, platform: tuple[str, ...], incomplete: Sequence[str] = ()
) -> Vote:
    if leases is None:
        return Vote(DHCP_LEASE, (), "DHCP leases were not read")
    with_245 = [lease for lease in leases if lease.option_245 and lease.interface]
    if not with_245 and incomplete:
        return Vote(
            DHCP_LEASE,
            (),
            f"no DHCP lease read has option 245 ({len(leases)} read), but not every lease "
            f"could be read: {'; '.join(incomplete)}",
        )
    if not with_245:
        return Vote(DHCP_LEASE, (), f"no current DHCP lease has option 245 ({len(leases)} read)")
    full = [lease for lease in with_245 if _platform_routes(lease, platform)]
    chosen = full or with_245
    names = tuple(dict.fromkeys(lease.interface for lease in chosen if lease.interface))
    parts = []
    for lease in chosen:
        routes = _platform_routes(lease, platform)
        got = f" and /32 routes to {', '.join(routes)}" if routes else " but no /32 platform routes"
        parts.append(f"{lease.interface}: option 245 = {lease.option_245}{got} ({lease.source})")
    return Vote(DHCP_LEASE, names, "; ".join(parts))


def _platform_routes(lease: Lease, platform: tuple[str, ...]) -> list[str]:
    return [dest for dest, _ in lease.static_routes if dest in {f"{p}/32" for p in platform}]


def imds_matches(imds: Sequence[ImdsNic], nics: Sequence[Nic]) -> dict[str, str]:
    """Local interface -> IMDS MAC, skipping VFs that share a synthetic NIC's MAC."""
    wanted = {normalize_mac(n.mac) for n in imds} - {None}
    by_mac: dict[str, list[Nic]] = {}
    for nic in nics:
        if nic.mac in wanted and nic.mac is not None:
            by_mac.setdefault(nic.mac, []).append(nic)
    matches: dict[str, str] = {}
    for mac, sharing in by_mac.items():
        for nic in primary_of_mac(sharing):
            matches[nic.name] = mac
    return dict(sorted(matches.items()))


def primary_of_mac(sharing: Sequence[Nic]) -> list[Nic]:
    """Of the interfaces sharing one MAC, the synthetic NIC (not its accelerated VF)."""
    if len(sharing) == 1:
        return list(sharing)
    synthetic = [n for n in sharing if is_synthetic(n)]
    if synthetic:
        return synthetic
    # Without driver facts (Windows via psutil): the VF holds no IP and is enslaved.
    addressed = [n for n in sharing if n.addresses and n.master is None]
    if addressed:
        return addressed
    not_enslaved = [n for n in sharing if n.master is None]
    return not_enslaved or list(sharing)


def is_synthetic(nic: Nic) -> bool:
    return nic.driver == SYNTHETIC_DRIVER or (nic.description or "").startswith(
        SYNTHETIC_DESCRIPTION
    )


def imds_vote(imds: Sequence[ImdsNic] | None, nics: Sequence[Nic]) -> Vote:
    if imds is None:
        return Vote(IMDS, (), "IMDS was not consulted in this run")
    matches = imds_matches(imds, nics)
    if not matches:
        return Vote(IMDS, (), f"none of the {len(imds)} NIC(s) IMDS lists has a local MAC match")
    listed = ", ".join(f"{name} ({mac})" for name, mac in matches.items())
    if len(matches) == 1:
        return Vote(IMDS, tuple(matches), f"the only local NIC IMDS knows: {listed}")
    return Vote(
        IMDS,
        tuple(matches),
        f"IMDS knows {listed} by MAC; it does not say which is primary",
    )


def _conflicts(opinions: Sequence[Vote], chosen: str | None) -> Iterable[str]:
    if chosen is None:
        return
    for vote in opinions:
        if chosen not in vote.interfaces:
            yield (
                f"{vote.signal} points at {', '.join(vote.interfaces)}, not {chosen}: {vote.detail}"
            )
        elif len(vote.interfaces) > 1 and vote.signal == DEFAULT_ROUTE:
            yield f"{vote.signal} is ambiguous ({', '.join(vote.interfaces)}): {vote.detail}"


def _imds_inconsistencies(chosen: str | None, signals: Signals, azure: dict[str, str]) -> list[str]:
    """The chosen NIC should be an Azure NIC, holding the private IP IMDS gives its MAC."""
    if chosen is None or signals.imds is None or not azure:
        return []
    if chosen not in azure:
        count = len(signals.imds)
        return [f"{chosen} is not one of this VM's Azure NICs by MAC (IMDS lists {count})"]
    mac = azure[chosen]
    nic = next((n for n in signals.nics if n.name == chosen), None)
    listed = next((n for n in signals.imds if normalize_mac(n.mac) == mac), None)
    if nic is None or listed is None or not listed.private_ipv4:
        return []
    if not set(listed.private_ipv4) & set(nic.addresses):
        return [
            f"{chosen} holds {', '.join(nic.addresses) or 'no IPv4 address'}, but IMDS gives its "
            f"MAC {mac} the private IP {', '.join(listed.private_ipv4)}"
        ]
    return []
