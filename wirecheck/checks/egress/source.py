"""The source address of packets to the platform against the primary NIC's primary private
IP, and why they differ. Pure: facts in, a verdict with its reason and fix out.

The platform answers only the primary NIC's primary private IP. Linux picks a source by
`bind()`, else the route's `src` hint, else the first address of the outgoing interface in
the destination's network; an address added before the DHCP one (a static secondary from
netplan or cloud-init, applied before the lease arrives) is the first, and the real primary
becomes `secondary`. Windows uses the numerically lowest address unless it is marked
SkipAsSource.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wirecheck.platform.imds import ImdsNic
from wirecheck.platform.leases import Lease
from wirecheck.platform.routes import MAIN_TABLE, KernelRoute, Nic, Route, lookup, normalize_mac


@dataclass(frozen=True)
class PrimaryIp:
    """The primary NIC's primary private IP, and what says so."""

    address: str
    by: str  # "IMDS", "DHCP lease", "first address"
    detail: str

    def describe(self) -> str:
        return f"{self.address} ({self.detail})"


@dataclass(frozen=True)
class SourceSeen:
    """The source address one piece of evidence shows for packets to one destination."""

    destination: str
    how: str  # "kernel route", "tcp-80 socket", "captured SYN"
    interface: str
    address: str


@dataclass(frozen=True)
class SourceProblem:
    """Packets to the platform leave the primary NIC with another of its addresses."""

    primary: PrimaryIp
    wrong: tuple[SourceSeen, ...]
    why: str
    fix: str

    @property
    def address(self) -> str:
        return self.wrong[-1].address

    def finding(self, interface: str) -> str:
        destinations = ", ".join(dict.fromkeys(s.destination for s in self.wrong))
        shown = ", ".join(f"{s.how} to {s.destination}: {s.address}" for s in self.wrong)
        return (
            f"packets to {destinations} leave {interface} with source {self.address}, not the "
            f"primary NIC's primary private IP {self.primary.describe()} ({shown}): {self.why}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "primary_ip": self.primary.address,
            "primary_ip_by": self.primary.detail,
            "wrong_source": [
                {"to": s.destination, "how": s.how, "source": s.address} for s in self.wrong
            ],
            "why": self.why,
        }


def primary_ip(
    interface: str | None,
    nics: Sequence[Nic],
    imds: Sequence[ImdsNic] | None,
    azure_nics: dict[str, str],
    leases: Sequence[Lease] | None,
) -> PrimaryIp | None:
    """The address the primary NIC's DHCP lease gave (Azure's DHCP hands out the primary IP
    configuration's address), else IMDS's first private IP of its MAC (IMDS promises no
    order, but lists the primary first in practice, as cloud-init assumes), else its first
    address (the weakest: a secondary configured first is first)."""
    if interface is None:
        return None
    mac = azure_nics.get(interface)
    listed = next((n for n in imds or () if mac and normalize_mac(n.mac) == mac), None)
    first_listed = listed.private_ipv4[0] if listed is not None and listed.private_ipv4 else None
    lease = next((x for x in leases or () if x.interface == interface and x.address), None)
    if lease is not None and lease.address:
        agrees = (
            "" if first_listed in (None, lease.address) else f"; IMDS lists {first_listed} first"
        )
        return PrimaryIp(lease.address, "DHCP lease", f"{interface}'s DHCP lease{agrees}")
    if first_listed is not None:
        return PrimaryIp(first_listed, "IMDS", f"IMDS: the first private IP of {interface}'s MAC")
    nic = next((n for n in nics if n.name == interface), None)
    if nic is not None and nic.addresses:
        return PrimaryIp(nic.addresses[0], "first address", f"{interface}'s first address")
    return None


def judge_source(
    primary: PrimaryIp | None,
    interface: str | None,
    seen: Sequence[SourceSeen],
    nics: Sequence[Nic],
    routes: Sequence[Route],
    kernels: Sequence[KernelRoute],
    windows: bool,
) -> SourceProblem | None:
    """A problem when packets leave the primary NIC with another of its addresses."""
    if primary is None or interface is None:
        return None
    wrong = tuple(s for s in seen if s.interface == interface and s.address != primary.address)
    if not wrong:
        return None
    nic = next((n for n in nics if n.name == interface), None)
    addresses = nic.addresses if nic else ()
    source = wrong[-1].address
    if windows:
        return SourceProblem(
            primary,
            wrong,
            _windows_why(source, primary.address, addresses),
            _windows_fix(source, primary.address),
        )
    reasons, routes_to_fix = [], []
    for destination in dict.fromkeys(s.destination for s in wrong):
        route = lookup(routes, destination, MAIN_TABLE)
        kernel = next((k for k in kernels if k.destination == destination), None)
        gateway = (kernel.gateway if kernel else None) or (route.gateway if route else None)
        routes_to_fix.append((destination, gateway))
        if route is not None and route.source and route.source != primary.address:
            reasons.append(f"the route `{route.ip_line()}` has `src {route.source}`")
        elif route is not None and not route.source:
            reasons.append(f"the route `{route.ip_line()}` has no `src`")
    if addresses and addresses[0] == source and primary.address in addresses:
        reasons.append(
            f"so the kernel takes {interface}'s first address, {source}: it was configured "
            f"before {primary.address}, which is listed after it (`secondary`)"
        )
    elif addresses and addresses[0] == source:
        reasons.append(f"so the kernel takes {interface}'s first address, {source}")
    why = "; ".join(reasons) or f"the kernel picks {source}"
    return SourceProblem(
        primary, wrong, why, _linux_fix(routes_to_fix, interface, primary.address, source)
    )


def _linux_fix(
    routes: Sequence[tuple[str, str | None]], interface: str, primary: str, source: str
) -> str:
    steps = [
        f"`ip route replace {destination}/32 via {gateway} dev {interface} src {primary}`"
        if gateway
        else f"`ip route replace {destination}/32 dev {interface} src {primary}`"
        for destination, gateway in routes
    ]
    return (
        f"Send it from {primary}: {'; '.join(steps)}; then make {primary} {interface}'s first "
        f"address where the network is configured (the DHCP address before static ones such "
        f"as {source}: netplan or cloud-init apply `addresses:` before the lease), or give the "
        "platform routes a `src` there, so it holds after a reboot."
    )


def _windows_why(source: str, primary: str, addresses: Sequence[str]) -> str:
    lowest = min(addresses, key=_numeric) if addresses else source
    if lowest == source:
        return (
            f"Windows uses the numerically lowest address, {source}, unless it is marked "
            "SkipAsSource"
        )
    return f"Windows picks {source} (the primary {primary} may be marked SkipAsSource)"


def _windows_fix(source: str, primary: str) -> str:
    return (
        f"Run `Set-NetIPAddress -IPAddress {source} -SkipAsSource $true` (and so for every "
        f"secondary address) and `Set-NetIPAddress -IPAddress {primary} -SkipAsSource $false`."
    )


def _numeric(address: str) -> int:
    try:
        return int(ipaddress.IPv4Address(address))
    except ValueError:
        return 1 << 32
