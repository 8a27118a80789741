"""Which DNS servers the VM really asks, from the files and tools that say so. Pure parsers.

Linux: /etc/resolv.conf; when it names systemd-resolved's stub (127.0.0.53), the upstream
servers are in /run/systemd/resolve/resolv.conf and in `resolvectl dns` / `resolvectl
status` (and the older `systemd-resolve --status`). Windows: `ipconfig /all` ("DNS
Servers", continuation lines indented).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from wirecheck.addresses import is_ipv4

RESOLV_CONF = "/etc/resolv.conf"
RESOLVED_UPSTREAM_CONF = "/run/systemd/resolve/resolv.conf"
# systemd-resolved's stub listeners: the one resolv.conf names, and the proxy-only one.
STUB_ADDRESSES = ("127.0.0.53", "127.0.0.54")


@dataclass(frozen=True)
class Upstream:
    """A DNS server the VM asks, and where that was read."""

    address: str
    source: str  # "/etc/resolv.conf", "resolvectl dns (eth0)", "ipconfig /all (Ethernet)"


def unique(servers: Iterable[Upstream]) -> tuple[Upstream, ...]:
    """One entry per address, the first source kept, IPv4 only (the platform is IPv4)."""
    seen: dict[str, Upstream] = {}
    for server in servers:
        if is_ipv4(server.address) and server.address not in seen:
            seen[server.address] = server
    return tuple(seen.values())


def is_stub(address: str) -> bool:
    return address in STUB_ADDRESSES


def parse_resolvectl_dns(text: str) -> list[Upstream]:
    """`resolvectl dns`: `Global: a b` and `Link 2 (eth0): a b` lines."""
    found = []
    for line in text.splitlines():
        head, sep, servers = line.partition(":")
        if not sep or not (head.startswith("Link ") or head.strip() == "Global"):
            continue
        link = re.search(r"\((.+)\)", head)
        where = f"resolvectl dns ({link.group(1) if link else 'global'})"
        # A server may carry a port or an interface (`192.0.2.53:53`, `...%eth0#name`).
        found += [Upstream(_bare(s), where) for s in servers.split()]
    return found


def parse_resolvectl_status(text: str) -> list[Upstream]:
    """`resolvectl status` or `systemd-resolve --status`: each link's `DNS Servers:` (the
    values continue on indented lines without a key)."""
    found: list[Upstream] = []
    where = "resolvectl status (global)"
    collecting = False
    for line in text.splitlines():
        link = re.match(r"Link \d+ \((.+)\)", line.strip())
        if link:
            where, collecting = f"resolvectl status ({link.group(1)})", False
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() and not re.fullmatch(r"[\d.]+", key.strip()):
            collecting = key.strip() == "DNS Servers"
            if collecting:
                found += [Upstream(_bare(v), where) for v in value.split()]
            continue
        if collecting and line.strip():
            found += [Upstream(_bare(v), where) for v in line.split()]
    return found


def parse_ipconfig_dns(text: str) -> tuple[list[Upstream], list[str]]:
    """`ipconfig /all`: every adapter's DNS servers, and the DNS suffixes (the search list
    and each adapter's connection-specific suffix)."""
    servers: list[Upstream] = []
    suffixes: list[str] = []
    adapter = ""
    key = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line and not line.startswith(" ") and line.endswith(":"):
            adapter, key = line[:-1].split(" adapter ", 1)[-1], ""
            continue
        found = re.match(r"\s+([^.:][^:]*?)[ .]*:\s*(.*)$", line)
        if found and ". ." in line.split(":", 1)[0]:  # a key, with its dot leaders
            key, value = found.group(1).strip(), found.group(2).strip()
        elif line.strip() and key:
            value = line.strip()  # a continuation line of the last key
        else:
            key = ""
            continue
        if key == "DNS Servers" and value:
            servers.append(Upstream(_bare(value), f"ipconfig /all ({adapter})"))
        elif key in ("DNS Suffix Search List", "Connection-specific DNS Suffix") and value:
            suffixes.append(value.rstrip("."))
    return servers, list(dict.fromkeys(suffixes))


def _bare(server: str) -> str:
    """`192.0.2.53:53`, `192.0.2.53%eth0#dns.example` or `192.0.2.53(Preferred)` -> the address."""
    return re.split(r"[%#(]", server, maxsplit=1)[0].rsplit(":", 1)[0] if "." in server else server
