"""DHCP leases: where the guest agent finds the WireServer endpoint (option 245) and the
platform routes (option 121), in every lease format a Linux VM may keep.

Parsers take text; `current_leases` is the only function that touches the machine, and it
does so through `System` (files and directory listings), so it is tested with fakes.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from wirecheck.addresses import is_ipv4
from wirecheck.system import System

# Where dhclient, NetworkManager and systemd-networkd keep leases on the distributions Azure
# ships (Debian/Ubuntu, RHEL/CentOS/Oracle, Mariner/Azure Linux). Not read yet: wicked's
# XML leases (SUSE's default), dhcpcd's, cloud-init's in /run.
DHCLIENT_DIRS = ("/var/lib/dhcp", "/var/lib/dhclient")
NETWORKMANAGER_DIR = "/var/lib/NetworkManager"
NETWORKD_DIR = "/run/systemd/netif/leases"
SYS_CLASS_NET = "/sys/class/net"
# Option 245 is a vendor option (no name); option 121 is RFC 3442, 249 Microsoft's copy of it.
_ROUTE_OPTIONS = ("rfc3442-classless-static-routes", "ms-classless-static-routes")
_ROUTE_OPTIONS_UNNAMED = ("unknown-121", "unknown-249")
# NetworkManager names its lease files <client>-<connection uuid>-<interface>.lease.
_NM_NAME = re.compile(
    r"^(?:dhclient|internal)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-(.+)\.lease$"
)


@dataclass(frozen=True)
class Lease:
    interface: str | None
    address: str | None
    option_245: str | None  # the WireServer endpoint, dotted IPv4
    domain_name: str | None
    routers: tuple[str, ...]
    static_routes: tuple[tuple[str, str], ...]  # (destination CIDR, gateway)
    expires: datetime | None  # UTC; None: the lease does not say (networkd) or never expires
    source: str  # the file it came from


@dataclass(frozen=True)
class LeaseScan:
    """What `scan_leases` found: the current leases and what it read to find them."""

    leases: tuple[Lease, ...]
    files: tuple[str, ...] = ()  # every lease file read
    expired: tuple[Lease, ...] = ()  # parsed, but expired before `now`
    problems: tuple[str, ...] = field(default=())  # files that could not be read or parsed


# ---------------------------------------------------------------------------------------
# dhclient


def parse_dhclient_leases(text: str, source: str) -> list[Lease]:
    """Every IPv4 `lease { ... }` block, in file order (dhclient appends: the last is newest)."""
    leases: list[Lease] = []
    tokens = _tokens(text)
    for token in tokens:
        if token == "lease":
            opening = next(tokens, None)
            if opening == "{":
                leases.append(_dhclient_lease(_statements(tokens), source))
        elif token == "{":  # lease6 and other blocks we do not read
            _skip_block(tokens)
    return leases


def _dhclient_lease(statements: list[list[str]], source: str) -> Lease:
    interface = address = option_245 = domain = None
    routers: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()
    expires: datetime | None = None
    for words in statements:
        key, args = words[0], words[1:]
        if key == "interface" and args:
            interface = args[0]
        elif key == "fixed-address" and args:
            address = args[0]
        elif key == "expire":
            expires = _dhclient_time(args)
        elif key == "option" and len(args) >= 2:
            name, value = args[0], " ".join(args[1:])
            if name == "unknown-245":
                option_245 = decode_option_245(value)
            elif name == "routers":
                routers = tuple(r for r in re.split(r"[,\s]+", value) if is_ipv4(r))
            elif name == "domain-name":
                domain = value.split()[0] if value.split() else None
            elif name in _ROUTE_OPTIONS and not routes:
                routes = decode_classless_routes(_ints(value, ",", 10))
            elif name in _ROUTE_OPTIONS_UNNAMED and not routes:
                routes = decode_classless_routes(_ints(value, ":", 16))
    return Lease(interface, address, option_245, domain, routers, routes, expires, source)


def _dhclient_time(args: list[str]) -> datetime | None:
    """`5 2151/11/03 08:14:09` (UTC), `epoch 1757000000`, or `never`."""
    try:
        if args[:1] == ["epoch"]:
            return datetime.fromtimestamp(int(args[1]), timezone.utc)
        if len(args) >= 3:
            return datetime.strptime(f"{args[1]} {args[2]}", "%Y/%m/%d %H:%M:%S").replace(
                tzinfo=timezone.utc
            )
    except (ValueError, IndexError, OverflowError):
        pass
    return None  # "never", or a form we cannot read: treat as not expired


def decode_option_245(value: str) -> str | None:
    """Option 245 as dhclient writes it: hex octets (`a8:3f:81:10`, leading zeros dropped),
    a dotted address (when dhclient.conf declares the option), or a quoted 4-byte string."""
    value = value.strip()
    if is_ipv4(value):
        return value
    if len(value) >= 2 and value[0] == value[-1] == '"':
        raw = _unescape(value[1:-1])
        return ".".join(str(b) for b in raw) if len(raw) == 4 else None
    parts = value.split(":")
    if len(parts) == 4 and all(re.fullmatch(r"[0-9a-fA-F]{1,2}", p) for p in parts):
        return ".".join(str(int(p, 16)) for p in parts)
    if re.fullmatch(r"[0-9a-fA-F]{8}", value):  # networkd's form
        return ".".join(str(int(value[i : i + 2], 16)) for i in range(0, 8, 2))
    return None


def decode_classless_routes(values: list[int] | None) -> tuple[tuple[str, str], ...]:
    """RFC 3442 option 121: (width, significant destination octets, 4 gateway octets)*."""
    if not values:
        return ()
    routes: list[tuple[str, str]] = []
    i = 0
    while i < len(values):
        width = values[i]
        octets = math.ceil(width / 8)
        end = i + 1 + octets + 4
        if width > 32 or end > len(values) or any(not 0 <= v <= 255 for v in values[i:end]):
            break  # malformed tail: keep what decoded cleanly
        dest = values[i + 1 : i + 1 + octets] + [0] * (4 - octets)
        gateway = values[i + 1 + octets : end]
        network = ipaddress.IPv4Network((bytes(dest), width), strict=False)
        routes.append((str(network), ".".join(map(str, gateway))))
        i = end
    return tuple(routes)


def _ints(value: str, sep: str, base: int) -> list[int] | None:
    try:
        return [int(part, base) for part in value.replace(" ", "").split(sep) if part]
    except ValueError:
        return None


def _tokens(text: str) -> Iterator[str]:
    """dhclient.leases tokens: words, quoted strings (kept quoted), `{`, `}`, `;`."""
    for match in re.finditer(r'"(?:\\.|[^"\\])*"|#[^\n]*|[{};]|[^\s{};"#]+', text):
        token = match.group(0)
        if not token.startswith("#"):
            yield token


def _statements(tokens: Iterator[str]) -> list[list[str]]:
    """Statements up to the closing brace; nested blocks are skipped."""
    statements: list[list[str]] = []
    words: list[str] = []
    for token in tokens:
        if token == "}":
            break
        if token == "{":
            _skip_block(tokens)
            words = []
        elif token == ";":
            if words:
                statements.append(words)
            words = []
        else:
            words.append(token)
    return [_unquote_keys(s) for s in statements]


def _unquote_keys(words: list[str]) -> list[str]:
    # Keep the quotes of an option's value (option 245 may be a quoted byte string), strip
    # them everywhere else (`interface "eth0"`, `domain-name "x"`).
    if words[:1] == ["option"] and len(words) >= 3 and words[1] == "unknown-245":
        return words
    return [_unquote(w) for w in words]


def _skip_block(tokens: Iterator[str]) -> None:
    depth = 1
    for token in tokens:
        depth += {"{": 1, "}": -1}.get(token, 0)
        if depth == 0:
            return


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return _unescape(word[1:-1]).decode("latin-1")
    return word


def _unescape(body: str) -> bytes:
    r"""dhclient string escapes: `\ooo` octal, `\"`, `\\`."""
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            octal = re.match(r"[0-7]{1,3}", body[i + 1 :])
            if octal:
                out.append(int(octal.group(0), 8) & 0xFF)
                i += 1 + len(octal.group(0))
                continue
            out += body[i + 1].encode("latin-1", errors="replace")
            i += 2
            continue
        out += char.encode("latin-1", errors="replace")
        i += 1
    return bytes(out)


# ---------------------------------------------------------------------------------------
# systemd-networkd (and NetworkManager's internal client, which writes the same keys)


def parse_networkd_lease(text: str, source: str, interface: str | None) -> Lease:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    routes: list[tuple[str, str]] = []
    # Older systemd writes ROUTES; newer splits CLASSLESS_ROUTES and STATIC_ROUTES.
    for key in ("ROUTES", "CLASSLESS_ROUTES", "STATIC_ROUTES"):
        for item in values.get(key, "").split():
            dest, _, gateway = item.partition(",")
            if _is_network(dest) and is_ipv4(gateway):
                routes.append((str(ipaddress.IPv4Network(dest, strict=False)), gateway))
    option = values.get("OPTION_245")
    return Lease(
        interface=interface,
        address=values.get("ADDRESS") or None,
        option_245=decode_option_245(option) if option else None,
        domain_name=values.get("DOMAINNAME") or None,
        routers=tuple(r for r in values.get("ROUTER", "").split() if is_ipv4(r)),
        static_routes=tuple(dict.fromkeys(routes)),
        expires=None,  # networkd keeps the file only while the lease is held
        source=source,
    )


# ---------------------------------------------------------------------------------------
# The machine


def current_leases(system: System, now: datetime, timeout_s: float = 1.0) -> list[Lease]:
    """The unexpired leases in every known location, the latest per interface."""
    return list(scan_leases(system, now, timeout_s).leases)


def scan_leases(system: System, now: datetime, timeout_s: float = 1.0) -> LeaseScan:
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    found: list[Lease] = []
    files: list[str] = []
    problems: list[str] = []

    def read(path: str) -> str | None:
        try:
            text = system.read_text(path)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            return None
        files.append(path)
        return text

    for directory in DHCLIENT_DIRS:
        for name in _listing(system, directory):
            if directory == "/var/lib/dhcp" and not (
                name.startswith("dhclient") and name.endswith(".leases")
            ):
                continue
            if "dhclient6" in name or name.endswith(".pid"):
                continue
            path = f"{directory}/{name}"
            text = read(path)
            if text is not None:
                found += _with_interface(parse_dhclient_leases(text, path), _dhclient_iface(name))
    for name in _listing(system, NETWORKMANAGER_DIR):
        match = _NM_NAME.match(name)
        if not match or name.startswith("dhclient6"):
            continue
        path = f"{NETWORKMANAGER_DIR}/{name}"
        text = read(path)
        if text is None:
            continue
        if re.search(r"^\s*lease\s*\{", text, re.MULTILINE):
            found += _with_interface(parse_dhclient_leases(text, path), match.group(1))
        else:
            found.append(parse_networkd_lease(text, path, match.group(1)))
    networkd = _listing(system, NETWORKD_DIR)
    if networkd:
        names = interface_indexes(system, timeout_s)
        for name in networkd:
            path = f"{NETWORKD_DIR}/{name}"
            text = read(path)
            if text is not None:
                index = int(name) if name.isdigit() else None
                found.append(parse_networkd_lease(text, path, names.get(index or -1)))

    current = [lease for lease in found if lease.expires is None or lease.expires > now]
    expired = tuple(lease for lease in found if lease not in current)
    return LeaseScan(_latest_per_interface(current), tuple(files), expired, tuple(problems))


def _latest_per_interface(leases: list[Lease]) -> tuple[Lease, ...]:
    """The lease that expires last per interface; on a tie the one read last (newest)."""
    best: dict[str, tuple[float, int, Lease]] = {}
    for order, lease in enumerate(leases):
        key = lease.interface or f"?{lease.source}"
        expiry = lease.expires.timestamp() if lease.expires else math.inf
        if key not in best or (expiry, order) >= best[key][:2]:
            best[key] = (expiry, order, lease)
    return tuple(best[key][2] for key in sorted(best))


def _with_interface(leases: list[Lease], fallback: str | None) -> list[Lease]:
    if fallback is None:
        return leases
    return [
        lease
        if lease.interface
        else Lease(
            fallback,
            lease.address,
            lease.option_245,
            lease.domain_name,
            lease.routers,
            lease.static_routes,
            lease.expires,
            lease.source,
        )
        for lease in leases
    ]


def _dhclient_iface(name: str) -> str | None:
    """The interface a dhclient lease file is named after, if any.

    `dhclient.eth0.leases` (Debian), `dhclient-eth0.leases` and `dhclient--eth0.lease` (RHEL),
    `dhclient-<uuid>-eth0.lease` (NetworkManager).
    """
    match = _NM_NAME.match(name)
    if match:
        return match.group(1)
    match = re.fullmatch(r"dhclient[.-]+([^.]+)\.leases?", name)
    return match.group(1) if match else None


def _listing(system: System, directory: str) -> list[str]:
    try:
        return system.list_dir(directory)
    except OSError:
        return []  # that DHCP client is not used here


def interface_indexes(system: System, timeout_s: float = 1.0) -> dict[int, str]:
    """Interface index -> name, from sysfs, else from `ip -j link`."""
    names: dict[int, str] = {}
    for name in _listing(system, SYS_CLASS_NET):
        try:
            names[int(system.read_text(f"{SYS_CLASS_NET}/{name}/ifindex").strip())] = name
        except (OSError, ValueError):
            continue
    if names:
        return names
    done = system.run_command(["ip", "-j", "link"], timeout_s)
    if not done.ok:
        return {}
    try:
        links = json.loads(done.stdout)
    except ValueError:
        return {}
    return {
        link["ifindex"]: link["ifname"]
        for link in links
        if isinstance(link, dict)
        and isinstance(link.get("ifindex"), int)
        and isinstance(link.get("ifname"), str)
    }


def _is_network(text: str) -> bool:
    try:
        ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return False
    return True
