"""Routes and network adapters as the OS reports them, parsed from text.

Linux: /proc/net/route, `ip -j route show table all`, `ip route get` (JSON or text),
`ip -j addr show`. Windows: `route print -4`, `Get-NetRoute`, `Get-NetIPAddress` and
`Get-NetAdapter` tables. Parsers take text so every format is tested anywhere;
`kernel_route` and `linux_nics` are the only functions that ask the machine, through
`System`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from wirecheck.errors import ParseError
from wirecheck.model import Deadline
from wirecheck.platform.budget import OutOfTime, checked
from wirecheck.system import System

MAIN_TABLE = "main"
DEFAULT = "0.0.0.0/0"
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


@dataclass(frozen=True)
class Route:
    destination: str  # CIDR, "0.0.0.0/0" for default
    interface: str | None
    gateway: str | None = None
    metric: int = 0
    table: str = MAIN_TABLE
    source: str | None = None  # prefsrc
    type: str = "unicast"
    protocol: str | None = None
    scope: str | None = None
    interface_index: int | None = None  # Windows: ifIndex

    @cached_property
    def network(self) -> ipaddress.IPv4Network:
        # Cached: lookups over big tables ask each route for it several times.
        return ipaddress.IPv4Network(self.destination, strict=False)

    @property
    def is_default(self) -> bool:
        return self.network.prefixlen == 0

    def covers(self, address: str) -> bool:
        return ipaddress.IPv4Address(address) in self.network

    def ip_line(self) -> str:
        """The route as `ip route` prints it (a /32 keeps its prefix, so it can be pasted
        into `ip route del`)."""
        kind = [] if self.type == "unicast" else [self.type]
        return " ".join(
            kind + self._words("via", "dev", "table", "proto", "scope", "src", "metric")
        )

    def selector(self) -> str:
        """The words that name exactly this route for `ip route del`."""
        return " ".join(self._words("via", "dev", "table", "metric"))

    def _words(self, *keywords: str) -> list[str]:
        """The destination, then `keyword value` for each keyword this route has a value for,
        in `ip route`'s order."""
        values = {
            "via": self.gateway,
            "dev": self.interface,
            "table": None if self.table == MAIN_TABLE else self.table,
            "proto": self.protocol,
            "scope": self.scope,
            "src": self.source,
            "metric": str(self.metric) if self.metric else None,
        }
        words = ["default" if self.is_default else self.destination]
        for keyword in keywords:
            if values[keyword]:
                words += [keyword, str(values[keyword])]
        return words


@dataclass(frozen=True)
class KernelRoute:
    """The kernel's answer to "how would you send to X" (`ip route get X`)."""

    destination: str
    interface: str | None
    source: str | None
    gateway: str | None
    text: str  # the answer as the tool printed it, for the evidence

    def describe(self) -> str:
        parts = [f"dev {self.interface}" if self.interface else "no interface"]
        if self.source:
            parts.append(f"src {self.source}")
        parts.append(f"via {self.gateway}" if self.gateway else "on-link")
        return ", ".join(parts)


@dataclass(frozen=True)
class Nic:
    name: str
    mac: str | None = None  # 12 upper-case hex digits, no separators (the IMDS form)
    addresses: tuple[str, ...] = ()
    master: str | None = None  # the device it is enslaved to (an accelerated-networking VF)
    driver: str | None = None
    index: int | None = None
    description: str | None = None


def normalize_mac(text: str | None) -> str | None:
    """`00:0d:3a:4b:5c:6d`, `00-0D-3A-4B-5C-6D`, `00 0d 3a ...` or IMDS `000D3A4B5C6D` ->
    `000D3A4B5C6D`; None for anything that is not a 6-byte MAC (or is all zeros)."""
    if not text:
        return None
    digits = re.sub(r"[\s:.-]", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{12}", digits) or digits == "0" * 12:
        return None
    return digits


# ---------------------------------------------------------------------------------------
# Linux


def _hex_le_ipv4(text: str) -> str:
    return socket.inet_ntoa(int(text, 16).to_bytes(4, "little"))


def parse_proc_net_route(text: str) -> list[Route]:
    """/proc/net/route: the main table, addresses as little-endian hex."""
    return list(iter_proc_net_route(text.splitlines()))


def iter_proc_net_route(lines: Iterable[str], until: Deadline | None = None) -> Iterator[Route]:
    """/proc/net/route's routes one line at a time (the file is not read whole: 100k
    routes are 13 MB); raises OutOfTime when `until` expires before the end."""
    for number, line in enumerate(checked(lines, until)):
        words = line.split()
        if number == 0 or len(words) < 8:
            continue  # the header, or a short line
        try:
            flags = int(words[3], 16)
            if not flags & 0x1:  # RTF_UP
                continue
            destination = _hex_le_ipv4(words[1])
            gateway = _hex_le_ipv4(words[2])
            mask = _hex_le_ipv4(words[7])
            network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
            metric = int(words[6])
        except (ValueError, OverflowError) as exc:
            raise ParseError(f"/proc/net/route line {number + 1} is malformed: {line!r}") from exc
        yield Route(
            str(network),
            words[0],
            gateway if flags & 0x2 and gateway != "0.0.0.0" else None,  # RTF_GATEWAY
            metric,
            type="unreachable" if flags & 0x200 else "unicast",  # RTF_REJECT
        )


def parse_ip_route_json(text: str) -> list[Route]:
    """`ip -j route show table all` (or any `ip -j route show`): IPv4 routes only."""
    return [route for route in iter_ip_route_json(text) if route is not None]


def iter_ip_route_json(
    text: str, until: Deadline | None = None, keep: Callable[[str], bool] | None = None
) -> Iterator[Route | None]:
    """`ip -j route show` decoded one route object at a time: a table of 100k routes
    never becomes 100k dicts at once. Yields each IPv4 route whose destination `keep`
    accepts, and None for every other route object (so callers can count them); raises
    ParseError when the text is not a JSON list, OutOfTime when `until` expires first."""
    for item in checked(_json_items(text, "ip -j route"), until):
        yield _route_of(item, keep)


def _route_of(item: object, keep: Callable[[str], bool] | None) -> Route | None:
    """One `ip -j route` object as a Route; None for IPv6, a non-route or one not kept."""
    if not isinstance(item, dict):
        return None
    destination = str(item.get("dst", ""))
    if ":" in destination or not destination:
        return None  # IPv6, or not a route
    if destination == "default":
        destination = DEFAULT
    if keep is not None and not keep(destination):
        return None
    try:
        network = ipaddress.IPv4Network(destination, strict=False)
    except ValueError:
        return None
    return Route(
        str(network),
        _str(item.get("dev")),
        _str(item.get("gateway")),
        int(item.get("metric", 0) or 0),
        str(item.get("table", MAIN_TABLE)),
        _str(item.get("prefsrc")),
        str(item.get("type", "unicast")),
        _str(item.get("protocol")),
        _str(item.get("scope")),
    )


_BETWEEN_ITEMS = re.compile(r"[\s,]*")


def _json_items(text: str, what: str) -> Iterator[object]:
    """The items of a JSON list, decoded one at a time (json.loads would build them all)."""
    decoder = json.JSONDecoder()
    start = _BETWEEN_ITEMS.match(text, 0).end()  # type: ignore[union-attr]  # always matches
    if not text.startswith("[", start):
        raise ParseError(f"`{what}` output is not a JSON list")
    index = start + 1
    while True:
        index = _BETWEEN_ITEMS.match(text, index).end()  # type: ignore[union-attr]
        if index >= len(text):
            raise ParseError(f"`{what}` output is not JSON: the list is not closed")
        if text[index] == "]":
            return
        try:
            item, index = decoder.raw_decode(text, index)
        except ValueError as exc:
            raise ParseError(f"`{what}` output is not JSON: {exc}") from exc
        yield item


def parse_ip_route_get(text: str) -> KernelRoute:
    """`ip -j route get X` or plain `ip route get X`."""
    stripped = text.strip()
    if stripped.startswith("["):
        items = _json_list(stripped, "ip -j route get")
        if not items:
            raise ParseError("`ip -j route get` printed an empty list")
        item = items[0]
        shown = " ".join(
            f"{k} {item[k]}" for k in ("dst", "gateway", "dev", "prefsrc") if item.get(k)
        )
        return KernelRoute(
            str(item.get("dst", "")),
            _str(item.get("dev")),
            _str(item.get("prefsrc")),
            _str(item.get("gateway")),
            shown,
        )
    first = stripped.splitlines()[0] if stripped else ""
    words = first.split()
    if not words:
        raise ParseError("`ip route get` printed nothing")
    if words[0] in ("local", "broadcast", "unreachable", "prohibit", "blackhole"):
        words = words[1:]
    values = {words[i]: words[i + 1] for i in range(1, len(words) - 1) if words[i] in _GET_KEYS}
    return KernelRoute(words[0], values.get("dev"), values.get("src"), values.get("via"), first)


_GET_KEYS = ("dev", "src", "via", "table", "uid")


def parse_ip_addr_json(text: str) -> list[Nic]:
    """`ip -j addr show`: name, MAC, IPv4 addresses and master of every interface."""
    nics: list[Nic] = []
    for item in _json_list(text, "ip -j addr"):
        name = _str(item.get("ifname"))
        if not name:
            continue
        addresses = tuple(
            str(a["local"])
            for a in item.get("addr_info", [])
            if isinstance(a, dict) and a.get("family") == "inet" and a.get("local")
        )
        index = item.get("ifindex")
        nics.append(
            Nic(
                name,
                normalize_mac(_str(item.get("address"))),
                addresses,
                _str(item.get("master")),
                index=index if isinstance(index, int) else None,
            )
        )
    return nics


def parse_uevent_driver(text: str) -> str | None:
    """DRIVER= from /sys/class/net/<nic>/device/uevent (hv_netvsc, mlx5_core, ...)."""
    for line in text.splitlines():
        if line.startswith("DRIVER="):
            return line.partition("=")[2].strip() or None
    return None


def _json_list(text: str, what: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"`{what}` output is not JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ParseError(f"`{what}` output is not a JSON list")
    return [item for item in data if isinstance(item, dict)]


def _str(value: object) -> str | None:
    return str(value) if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------------------
# Route selection (what the kernel or Windows would pick, without policy routing)


def lookup(routes: Iterable[Route], address: str, table: str | None = MAIN_TABLE) -> Route | None:
    """The route to `address`: the longest prefix, then the lowest metric (Linux main table
    and Windows alike). `table=None` considers all tables."""
    candidates = [
        r
        for r in routes
        if (table is None or r.table == table)
        and r.type in ("unicast", "unreachable", "blackhole", "prohibit")
        and r.covers(address)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (-r.network.prefixlen, r.metric))


def routes_to(routes: Iterable[Route], address: str) -> list[Route]:
    """Every unicast route (any table) that covers `address`, most specific first."""
    found = [r for r in routes if r.type == "unicast" and r.covers(address)]
    return sorted(found, key=lambda r: (-r.network.prefixlen, r.metric, r.table))


def default_routes(routes: Iterable[Route]) -> list[Route]:
    """The main table's IPv4 default routes, lowest metric first."""
    found = [r for r in routes if r.is_default and r.table == MAIN_TABLE and r.type == "unicast"]
    return sorted(found, key=lambda r: r.metric)


# ---------------------------------------------------------------------------------------
# The machine (Linux)


def kernel_route(system: System, target: str, timeout_s: float) -> KernelRoute | str:
    """The kernel's route to `target` (`ip route get`, policy routing included), or why not."""
    done = system.run_command(["ip", "-j", "route", "get", target], timeout_s)
    if not done.ok:
        why = done.why
        return f"`ip route get {target}` failed: {why}"
    try:
        return parse_ip_route_get(done.stdout)
    except ParseError as exc:
        return str(exc)


@dataclass(frozen=True)
class RouteTable:
    """The routes read, or those of them that matter to some addresses, and whether the
    table was read in full (when not, no route's absence may be stated)."""

    routes: tuple[Route, ...]
    source: str  # the command or file read, or why none could be
    total: int = 0  # IPv4 routes read, kept or not
    complete: bool = True
    note: str = ""  # what is missing and why, when not complete

    @property
    def readable(self) -> bool:
        return self.source not in (NO_TABLE, "")


NO_TABLE = "no route table could be read"
_STOPPED = "the read stopped at its time budget"
IP_ROUTE_ALL = ("ip", "-j", "route", "show", "table", "all")


def read_route_table(
    system: System, until: Deadline, addresses: Sequence[str] | None = None
) -> RouteTable:
    """Every table's IPv4 routes (`ip -j route show table all`; the main table from
    /proc/net/route when `ip` is missing), within `until`.

    `addresses`: keep only the routes that can carry traffic to one of them (default
    routes, and every route whose destination covers one), counting the rest: a node with
    100k routes keeps a handful. A read cut short by `until` keeps what it had and says
    the table is incomplete.
    """
    keep = None if addresses is None else _covering(addresses)
    done = system.run_command(list(IP_ROUTE_ALL), until.remaining())
    source = " ".join(IP_ROUTE_ALL)
    if done.ok:
        try:
            if keep is None:
                return _collect(iter_ip_route_json(done.stdout, until), source)
            try:
                kept, total = pick_ip_routes(done.stdout, keep, until)
            except OutOfTime:
                return RouteTable((), source, complete=False, note=_STOPPED)
            return RouteTable(tuple(kept), source, total)
        except ParseError:
            pass
    elif done.timed_out:
        # `ip` ran out of time: the table is not known, and /proc would not be quicker.
        return RouteTable((), NO_TABLE, complete=False, note=done.error or "")
    try:
        lines = system.read_lines("/proc/net/route")
        chosen = (
            r if keep is None or keep(r.destination) else None
            for r in iter_proc_net_route(lines, until)
        )
        return _collect(chosen, "/proc/net/route")
    except (OSError, ParseError) as exc:
        return RouteTable((), NO_TABLE, complete=False, note=str(exc))


def _collect(routes: Iterator[Route | None], source: str) -> RouteTable:
    kept: list[Route] = []
    total = 0
    try:
        for route in routes:
            total += 1
            if route is not None:
                kept.append(route)
    except OutOfTime:
        note = f"{_STOPPED} after {total:,} routes"
        return RouteTable(tuple(kept), source, total, complete=False, note=note)
    return RouteTable(tuple(kept), source, total)


def _covering(addresses: Sequence[str]) -> Callable[[str], bool]:
    """A test for destinations ("a.b.c.d/n", or a bare address): a default route, or a
    network that holds one of `addresses`. Every such network, written as `ip` and
    /proc/net/route give it, is in one set: a big table costs a lookup per route."""
    wanted: set[str] = set()
    for address in addresses:
        value = int.from_bytes(socket.inet_aton(address), "big")
        wanted.add(address)  # `ip -j` writes a /32 without its length
        for bits in range(33):
            network = value & ((0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
            wanted.add(f"{socket.inet_ntoa(network.to_bytes(4, 'big'))}/{bits}")
    return wanted.__contains__


# A route object's destination, as `ip -j route` writes it: first (after "type", when not
# unicast), before any nested object. The routes that matter are decoded, not the others.
_ROUTE_DST = re.compile(r'[{,]\s*"dst"\s*:\s*"([^"\\]*)"')


def pick_ip_routes(
    text: str, keep: Callable[[str], bool], until: Deadline | None = None
) -> tuple[list[Route], int]:
    """From `ip -j route show` output: the routes whose destination `keep` accepts, and
    how many routes there were. Only those route objects are decoded: 100k routes cost two
    regular-expression scans and a few decodes, not 100k objects."""
    destinations = _ROUTE_DST.findall(text)
    if not destinations:  # no route, or a layout this scan does not know: decode it all
        decoded = list(iter_ip_route_json(text, until, keep))
        return [r for r in decoded if r is not None], len(decoded)
    wanted = {d for d in destinations if ":" not in d and keep(DEFAULT if d == "default" else d)}
    if until is not None and until.expired:
        raise OutOfTime("out of time")
    kept: list[Route] = []
    if wanted:
        decoder = json.JSONDecoder()
        pattern = "|".join(re.escape(d) for d in sorted(wanted))
        for match in re.finditer(rf'[{{,]\s*"dst"\s*:\s*"(?:{pattern})"', text):
            start = text.rfind("{", 0, match.start() + 1)
            try:
                item, _ = decoder.raw_decode(text, start)
            except ValueError as exc:
                raise ParseError(f"`ip -j route` output is not JSON: {exc}") from exc
            route = _route_of(item, keep)
            if route is not None:
                kept.append(route)
    return kept, len(destinations)


def linux_nics(system: System, timeout_s: float, until: Deadline | None = None) -> list[Nic]:
    """Every interface with its MAC, IPv4 addresses, master and driver; `until` bounds the
    per-interface reads (a node may have thousands of veths); OutOfTime past it."""
    done = system.run_command(["ip", "-j", "addr", "show"], timeout_s)
    nics: list[Nic] = []
    if done.ok:
        try:
            nics = parse_ip_addr_json(done.stdout)
        except ParseError:
            nics = []
    if not nics:
        nics = [Nic(name, addresses=addrs) for name, addrs in system.interface_addresses().items()]
    out: list[Nic] = []
    for nic in checked(nics, until, every=64):
        try:
            driver = parse_uevent_driver(
                system.read_text(f"/sys/class/net/{nic.name}/device/uevent")
            )
        except OSError:
            driver = None  # virtual devices (lo, veth, bridges) have no device
        out.append(
            Nic(nic.name, nic.mac, nic.addresses, nic.master, driver, nic.index, nic.description)
        )
    return out


# ---------------------------------------------------------------------------------------
# Windows


@dataclass(frozen=True)
class WindowsRoutePrint:
    interfaces: tuple[Nic, ...]  # from the Interface List: index, MAC, description
    routes: tuple[Route, ...]  # active routes; `interface` is the interface's address
    persistent: tuple[Route, ...]  # `route -p` routes (re-added at boot)


def parse_route_print(text: str) -> WindowsRoutePrint:
    """`route print -4` (any Windows since Vista). The Active Routes' Interface column is
    the local address of the interface, "On-link" gateways have no next hop, and the
    Metric column already adds the interface metric."""
    interfaces: list[Nic] = []
    active: list[Route] = []
    persistent: list[Route] = []
    section = None
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("Interface List"):
            section = "interfaces"
            continue
        if stripped.startswith("Active Routes"):
            section = "active"
            continue
        if stripped.startswith("Persistent Routes"):
            section = "persistent"
            continue
        if stripped.startswith("IPv6 Route Table"):
            section = None
            continue
        if not stripped or stripped.startswith("=") or section is None:
            continue
        if section == "interfaces":
            nic = _route_print_interface(stripped)
            if nic is not None:
                interfaces.append(nic)
        elif section == "active":
            route = _route_print_route(stripped.split(), persistent=False)
            if route is not None:
                active.append(route)
        elif section == "persistent":
            route = _route_print_route(stripped.split(), persistent=True)
            if route is not None:
                persistent.append(route)
    if not interfaces and not active:
        raise ParseError("no Interface List and no Active Routes: not `route print` output")
    return WindowsRoutePrint(tuple(interfaces), tuple(active), tuple(persistent))


_ROUTE_PRINT_IFACE = re.compile(r"^(\d+)\.\.\.((?:[0-9a-fA-F]{2} ){5}[0-9a-fA-F]{2}|)\s*\.+(.*)$")


def _route_print_interface(line: str) -> Nic | None:
    match = _ROUTE_PRINT_IFACE.match(line)
    if not match:
        return None
    index, mac, description = match.groups()
    return Nic(
        name=f"if{index}",
        mac=normalize_mac(mac),
        index=int(index),
        description=description.strip() or None,
    )


def _route_print_route(words: list[str], persistent: bool) -> Route | None:
    # Active: destination netmask gateway interface metric; persistent: dest mask gw metric.
    wanted = 4 if persistent else 5
    if len(words) != wanted or not _IPV4.fullmatch(words[0]) or not _IPV4.fullmatch(words[1]):
        return None
    try:
        network = ipaddress.IPv4Network(f"{words[0]}/{words[1]}", strict=False)
        metric = int(words[-1])
    except ValueError:
        return None
    gateway = None if words[2].lower() == "on-link" else words[2]
    interface = None if persistent else words[3]
    return Route(str(network), interface, gateway, metric)


def parse_get_netroute(text: str) -> list[Route]:
    """`Get-NetRoute -AddressFamily IPv4` default table: ifIndex, DestinationPrefix,
    NextHop, RouteMetric, ifMetric, PolicyStore. The metric Windows compares is
    RouteMetric + ifMetric; `interface` is `if<ifIndex>`."""
    routes: list[Route] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 5 or not words[0].isdigit() or "/" not in words[1]:
            continue
        try:
            network = ipaddress.IPv4Network(words[1], strict=False)
            route_metric, if_metric = int(words[3]), int(words[4])
        except ValueError:
            continue
        gateway = None if words[2] == "0.0.0.0" else words[2]
        index = int(words[0])
        store = words[5] if len(words) > 5 else None
        routes.append(
            Route(
                str(network),
                f"if{index}",
                gateway,
                route_metric + if_metric,
                protocol=store,
                interface_index=index,
            )
        )
    return routes


def parse_get_netipaddress(text: str) -> dict[int, tuple[str, ...]]:
    """`Get-NetIPAddress -AddressFamily IPv4 | Format-Table ifIndex,InterfaceAlias,IPAddress,
    PrefixLength`: IPv4 addresses by ifIndex."""
    found: dict[int, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or not words[0].isdigit():
            continue
        address = next((w for w in words[1:] if _IPV4.fullmatch(w)), None)
        if address:
            found.setdefault(int(words[0]), []).append(address)
    return {index: tuple(addrs) for index, addrs in found.items()}


def parse_get_netadapter(text: str) -> list[Nic]:
    """`Get-NetAdapter` default table: Name, InterfaceDescription, ifIndex, Status,
    MacAddress, LinkSpeed. Columns are found from the header's positions, since names
    and descriptions contain spaces."""
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("Name")), None)
    if header_at is None:
        raise ParseError("no `Name ... ifIndex ... MacAddress` header: not Get-NetAdapter output")
    header = lines[header_at]
    starts = {name: header.index(name) for name in ("Name", "InterfaceDescription", "ifIndex")}
    nics: list[Nic] = []
    for line in lines[header_at + 2 :]:
        if not line.strip():
            continue
        name = line[: starts["InterfaceDescription"]].strip()
        description = line[starts["InterfaceDescription"] : starts["ifIndex"]].strip()
        rest = line[starts["ifIndex"] :].split()
        if not rest or not rest[0].isdigit():
            continue
        mac = next((w for w in rest if normalize_mac(w)), None)
        nics.append(
            Nic(
                name,
                normalize_mac(mac),
                index=int(rest[0]),
                description=description.removesuffix("...").rstrip("…").strip() or None,
            )
        )
    return nics


def windows_nics(adapters: Sequence[Nic], addresses: dict[int, tuple[str, ...]]) -> list[Nic]:
    """Adapters (named by alias, e.g. `Ethernet 2`) with their IPv4 addresses."""
    return [
        Nic(
            a.name,
            a.mac,
            addresses.get(a.index or -1, ()),
            a.master,
            a.driver,
            a.index,
            a.description,
        )
        for a in adapters
    ]


def name_windows_routes(routes: Iterable[Route], nics: Sequence[Nic]) -> list[Route]:
    """Give routes the adapter's alias: from `if<ifIndex>` (Get-NetRoute) or from the
    interface address (route print)."""
    by_index = {f"if{n.index}": n.name for n in nics if n.index is not None}
    by_address = {a: n.name for n in nics for a in n.addresses}
    named: list[Route] = []
    for route in routes:
        interface = route.interface
        if interface is not None:
            interface = by_index.get(interface) or by_address.get(interface) or interface
        named.append(
            Route(
                route.destination,
                interface,
                route.gateway,
                route.metric,
                route.table,
                route.source,
                route.type,
                route.protocol,
                route.scope,
                route.interface_index,
            )
        )
    return named
