"""Windows network adapters as `ipconfig /all` prints them (English), parsed anywhere.

What they tell about reaching the platform: whether an adapter gets its address by DHCP
(a static one misses the DHCP routes to 168.63.129.16 and 169.254.169.254, and a static
IP that differs from the one Azure assigned breaks all traffic), and whether an adapter
with an automatic private address (169.254.x.y/16: the Npcap loopback adapter, a failover
cluster's NetFT adapter) has an on-link route that can take IMDS traffic.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wirecheck.model import IMDS_ADDRESS
from wirecheck.platform.routes import Route, default_routes

_SECTION = re.compile(r"^(?P<kind>.*?)\s*adapter\s+(?P<name>.+?)\s*:\s*$")
# "   IPv4 Address. . . . . . . . . . . : 10.1.0.4(Preferred)": a key (no colon in it), dots,
# a colon; values that go on (DNS servers, a gateway after an IPv6 one) on lines indented
# deeper, with no key.
_FIELD = re.compile(r"^ {1,8}(?P<key>[A-Za-z][^:]*?)[ .]*:(?: (?P<value>.*))?$")
_ADDRESS = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3})\b")
LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")


@dataclass(frozen=True)
class Adapter:
    name: str  # the alias: "Ethernet", "Npcap Loopback Adapter"
    description: str = ""
    mac: str | None = None
    dhcp: bool | None = None  # None: ipconfig did not say
    ipv4: tuple[str, ...] = ()  # configured addresses, in the order shown
    autoconfigured: tuple[str, ...] = ()  # 169.254.x.y addresses Windows gave itself
    gateways: tuple[str, ...] = ()
    dhcp_server: str | None = None
    connected: bool = True

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.ipv4 + self.autoconfigured

    @property
    def npcap_loopback(self) -> bool:
        return "npcap loopback" in self.description.lower() or "npcap loopback" in (
            self.name.lower()
        )


def parse_ipconfig_all(text: str) -> list[Adapter]:
    adapters: list[Adapter] = []
    current: dict[str, list[str]] | None = None
    name = ""
    key = ""

    def close() -> None:
        if current is not None:
            adapters.append(_adapter(name, current))

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            continue
        section = _SECTION.match(line) if not line.startswith(" ") else None
        if section:
            close()
            current, name, key = {}, section.group("name"), ""
            continue
        if not line.startswith(" "):  # "Windows IP Configuration" and other headers
            close()
            current = None
            continue
        if current is None:
            continue
        found = _FIELD.match(line)
        if found:
            key = found.group("key").strip().lower()
            current.setdefault(key, []).append((found.group("value") or "").strip())
        elif key:  # a continuation line (DNS Servers, Default Gateway)
            current.setdefault(key, []).append(line.strip())
    close()
    return adapters


def _adapter(name: str, fields: dict[str, list[str]]) -> Adapter:
    def first(key: str) -> str:
        values = [v for v in fields.get(key, []) if v]
        return values[0] if values else ""

    def ipv4(key: str) -> tuple[str, ...]:
        found: list[str] = []
        for value in fields.get(key, []):
            match = _ADDRESS.match(value)
            if match:
                found.append(match.group(1))
        return tuple(found)

    dhcp = first("dhcp enabled").lower()
    mac = first("physical address").replace("-", ":").lower() or None
    return Adapter(
        name=name,
        description=first("description"),
        mac=mac,
        dhcp={"yes": True, "no": False}.get(dhcp),
        ipv4=ipv4("ipv4 address") + ipv4("ip address"),
        autoconfigured=ipv4("autoconfiguration ipv4 address"),
        gateways=ipv4("default gateway"),
        dhcp_server=(ipv4("dhcp server") or (None,))[0],
        connected="disconnected" not in first("media state").lower(),
    )


def primary_adapter(adapters: Sequence[Adapter], routes: Iterable[Route]) -> Adapter | None:
    """The adapter that holds the local address of the lowest-metric default route (the
    Interface column of `route print`); else the only connected adapter with a gateway."""
    for route in default_routes(routes):
        holder = next((a for a in adapters if route.interface in a.addresses), None)
        if holder is not None:
            return holder
    with_gateway = [a for a in adapters if a.connected and a.gateways]
    return with_gateway[0] if len(with_gateway) == 1 else None


def link_local_catchers(adapters: Sequence[Adapter], routes: Sequence[Route]) -> list[Adapter]:
    """Adapters with an automatic 169.254.x.y address whose on-link 169.254.0.0/16 route
    can carry IMDS traffic: only while no more specific route to IMDS exists."""
    imds = ipaddress.IPv4Address(IMDS_ADDRESS)
    if any(r.network.prefixlen == 32 and imds in r.network for r in routes):
        return []
    return [
        a
        for a in adapters
        if a.connected
        and any(ipaddress.IPv4Address(x) in LINK_LOCAL for x in a.autoconfigured or a.ipv4)
    ]
