"""DHCP lease formats, parsed without I/O: text or bytes in, `Lease` out.

Every DHCP client a Linux VM on Azure may run keeps its lease differently:

- ISC dhclient (Debian/Ubuntu, RHEL, NetworkManager's dhclient plugin, cloud-init's
  ephemeral /run/dhclient.lease): `lease { ... }` blocks, appended, so the newest is last;
  `DhclientTail` finds them from the end of a file fed to it backwards;
- systemd-networkd (and NetworkManager's internal client up to 1.20): KEY=VALUE lines;
- NetworkManager's internal client since 1.22 writes only ADDRESS= to its lease file; the
  options, option 245 among them, are in its device state file
  (/run/NetworkManager/devices/<ifindex>, `dhcp4.private_245=`) and in `nmcli -f DHCP4
  device show`;
- wicked (SUSE): an XML lease with an undeclared `ipv4:` prefix, unknown options kept as
  `<unknown-245><code>245</code><data>a8:3f:81:10</data></unknown-245>`;
- dhcpcd: the raw DHCP message the server sent (options after the magic cookie).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from wirecheck.addresses import is_ipv4
from wirecheck.errors import ParseError
from wirecheck.platform.safe_xml import Element, parse_tree

# Option 245 is a vendor option (no name); option 121 is RFC 3442, 249 Microsoft's copy of it.
_ROUTE_OPTIONS = ("rfc3442-classless-static-routes", "ms-classless-static-routes")
_ROUTE_OPTIONS_UNNAMED = ("unknown-121", "unknown-249")
INFINITE_LEASE = 0xFFFFFFFF  # a lease time that never runs out (Azure's)


@dataclass(frozen=True)
class Lease:
    interface: str | None
    address: str | None
    option_245: str | None  # the WireServer endpoint, dotted IPv4
    domain_name: str | None
    routers: tuple[str, ...]
    static_routes: tuple[tuple[str, str], ...]  # (destination CIDR, gateway)
    expires: datetime | None  # UTC; None: the lease does not say, or never expires
    source: str  # the file (or command) it came from


# ---------------------------------------------------------------------------------------
# dhclient


def parse_dhclient_leases(text: str, source: str) -> list[Lease]:
    """Every complete IPv4 `lease { ... }` block, in file order (the last is the newest).

    A block without its closing brace (the file was cut, or is being written) is not a
    lease."""
    leases: list[Lease] = []
    tokens = _tokens(text)
    for token in tokens:
        if token == "lease":
            opening = next(tokens, None)
            if opening == "{":
                statements, closed = _statements(tokens)
                if closed:
                    leases.append(_dhclient_lease(statements, source))
        elif token == "{":  # lease6 and other blocks we do not read
            _skip_block(tokens)
    return leases


def parse_dhclient_block(text: str, source: str) -> Lease | None:
    """One block as `DhclientTail` cuts it (`lease {` up to the next block); None when its
    closing brace is missing."""
    tokens = _tokens(text)
    if next(tokens, None) != "lease" or next(tokens, None) != "{":
        return None
    statements, closed = _statements(tokens)
    return _dhclient_lease(statements, source) if closed else None


_BLOCK_START = re.compile(rb"\n[ \t]*lease[ \t]*\{")
_INTERFACE = re.compile(rb'\n[ \t]*interface[ \t]+"((?:[^"\\\n]|\\.)*)"')


class DhclientTail:
    """The `lease {` blocks of a dhclient lease file, newest first, from bytes fed to it
    backwards (each chunk is the part of the file just before what was fed so far).

    dhclient writes each block from a line of its own, `lease {` to `}`; what lies between
    blocks (`default-duid`, `lease6 { ... }`) is passed over. A block is the bytes from its
    `lease {` line to the next block's, so its closing brace may be missing (a cut-off
    block): `parse_dhclient_block` says so.
    """

    def __init__(self) -> None:
        self._carry = b""  # the part fed so far that precedes the last block found

    @property
    def pending(self) -> int:
        """Bytes fed but not yet part of a block (they precede every block found)."""
        return len(self._carry)

    def feed(self, chunk: bytes, at_start: bool) -> list[bytes]:
        """The blocks that begin in `chunk` or in what was pending, newest first.

        at_start: `chunk` begins the file (its first line may be a block's first line).
        """
        data = (b"\n" if at_start else b"") + chunk + self._carry
        starts = [m.start() for m in _BLOCK_START.finditer(data)]
        blocks: list[bytes] = []
        end = len(data)
        for start in reversed(starts):
            blocks.append(data[start + 1 : end])
            end = start
        self._carry = b"" if at_start else data[:end]
        return blocks


def block_interface(block: bytes) -> str | None:
    """The `interface "eth0";` of a block, found without parsing the whole block."""
    found = _INTERFACE.search(block)
    return _unquote(f'"{found.group(1).decode("latin-1")}"') if found else None


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
    except (ValueError, IndexError, OverflowError, OSError):
        pass
    return None  # "never", or a form we cannot read: treat as not expired


def decode_option_245(value: str) -> str | None:
    """Option 245 as clients write it: hex octets (`a8:3f:81:10`, dhclient drops leading
    zeros), a dotted address (when dhclient.conf declares the option), a quoted 4-byte
    string, or 8 hex digits (networkd)."""
    value = value.strip()
    if is_ipv4(value):
        return value
    if len(value) >= 2 and value[0] == value[-1] == '"':
        raw = _unescape(value[1:-1])
        return ".".join(str(b) for b in raw) if len(raw) == 4 else None
    parts = value.split(":")
    if len(parts) == 4 and all(re.fullmatch(r"[0-9a-fA-F]{1,2}", p) for p in parts):
        return ".".join(str(int(p, 16)) for p in parts)
    if re.fullmatch(r"[0-9a-fA-F]{8}", value):
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


def _statements(tokens: Iterator[str]) -> tuple[list[list[str]], bool]:
    """Statements up to the closing brace (nested blocks skipped), and whether it came."""
    statements: list[list[str]] = []
    words: list[str] = []
    closed = False
    for token in tokens:
        if token == "}":
            closed = True
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
    return [_unquote_keys(s) for s in statements], closed


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
# systemd-networkd (and NetworkManager's internal client up to 1.20, same keys)


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
# NetworkManager's live DHCP options: its device state file and nmcli


def nm_device_dhcp4(text: str) -> dict[str, str]:
    """The `[dhcp4]` options of /run/NetworkManager/devices/<ifindex> (keys without the
    `dhcp4.` prefix); empty when the device holds no DHCPv4 lease."""
    options: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section == "dhcp4" and "=" in line:
            key, _, value = line.partition("=")
            options[key.strip().removeprefix("dhcp4.")] = value.strip()
    return options


_NMCLI_OPTION = re.compile(r"^DHCP4\.OPTION\[\d+\]:\s*([\w-]+)\s*=\s*(.*?)\s*$")


def nmcli_dhcp4(text: str) -> dict[str, str]:
    """`nmcli -f DHCP4 device show IFACE` (plain or `-t`): option name -> value."""
    options: dict[str, str] = {}
    for raw in text.splitlines():
        found = _NMCLI_OPTION.match(raw.strip())
        if found:
            options[found.group(1)] = found.group(2)
    return options


def lease_from_nm_options(
    options: Mapping[str, str], source: str, interface: str | None
) -> Lease | None:
    """A lease from NetworkManager's DHCPv4 option names (`ip_address`, `private_245`,
    `rfc3442_classless_static_routes`, `expiry`, ...); None without an address."""
    address = options.get("ip_address")
    if not address:
        return None
    option = options.get("private_245")
    routes: list[tuple[str, str]] = []
    for key in ("rfc3442_classless_static_routes", "ms_classless_static_routes"):
        words = options.get(key, "").split()
        for dest, gateway in zip(words[0::2], words[1::2]):
            if _is_network(dest) and is_ipv4(gateway):
                routes.append((str(ipaddress.IPv4Network(dest, strict=False)), gateway))
        if routes:
            break
    expiry = options.get("expiry", "")
    expires = None
    if expiry.isdigit():
        try:
            expires = datetime.fromtimestamp(int(expiry), timezone.utc)
        except (OverflowError, OSError, ValueError):
            expires = None
    domain = options.get("domain_name", "").split()
    return Lease(
        interface=interface,
        address=address,
        option_245=decode_option_245(option) if option else None,
        domain_name=domain[0] if domain else None,
        routers=tuple(r for r in options.get("routers", "").split() if is_ipv4(r)),
        static_routes=tuple(dict.fromkeys(routes)),
        expires=expires,
        source=source,
    )


# ---------------------------------------------------------------------------------------
# wicked


def parse_wicked_lease(data: bytes, source: str, interface: str | None) -> Lease | None:
    """A wicked lease file (/var/lib/wicked/lease-IFACE-dhcp-ipv4.xml); None when it holds
    no granted IPv4 DHCP lease. Raises ParseError for what is not such a file."""
    root = parse_tree(data)
    if root.tag != "lease":
        raise ParseError(f"the root element is <{root.tag}>, not <lease>")
    if (root.child_text("family") or "ipv4") != "ipv4" or (root.child_text("type") or "dhcp") != (
        "dhcp"
    ):
        return None
    if (root.child_text("state") or "granted") != "granted":
        return None
    dhcp = next((c for c in root.children if c.tag.endswith("dhcp")), None)
    if dhcp is None:
        return None
    routes: list[tuple[str, str]] = []
    routers: list[str] = []
    for route in dhcp.iter("route"):
        gateway = (route.find("nexthop", "gateway") or Element("")).text
        destination = route.child_text("destination") or "0.0.0.0/0"
        if not is_ipv4(gateway) or not _is_network(destination):
            continue
        network = str(ipaddress.IPv4Network(destination, strict=False))
        if network == "0.0.0.0/0":
            routers.append(gateway)
        routes.append((network, gateway))
    option = None
    options = dhcp.child("options")
    for item in options.children if options is not None else ():
        if item.tag == "unknown-245" or item.child_text("code") == "245":
            option = decode_option_245(item.child_text("data") or "")
    return Lease(
        interface=interface,
        address=dhcp.child_text("address") or None,
        option_245=option,
        domain_name=(dhcp.find("dns", "domain") or Element("")).text or None,
        routers=tuple(dict.fromkeys(routers)),
        static_routes=tuple(dict.fromkeys(routes)),
        expires=_wicked_expiry(root.child_text("acquired"), dhcp.child_text("lease-time")),
        source=source,
    )


def _wicked_expiry(acquired: str | None, lease_time: str | None) -> datetime | None:
    try:
        seconds = int(lease_time or "")
        since = int(acquired or "")
    except ValueError:
        return None
    if seconds >= INFINITE_LEASE or since <= 0:
        return None
    try:
        return datetime.fromtimestamp(since, timezone.utc) + timedelta(seconds=seconds)
    except (OverflowError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------
# dhcpcd: the DHCP message itself

_MAGIC_COOKIE = bytes((99, 130, 83, 99))
_OPTIONS_AT = 240  # 236 bytes of BOOTP header, then the 4-byte magic cookie


def dhcp_options(message: bytes) -> dict[int, bytes]:
    """The options of a DHCP message (code -> value; a repeated code's parts joined, as
    RFC 3396 says). Raises ParseError when it is not a DHCP message."""
    if len(message) < _OPTIONS_AT or message[_OPTIONS_AT - 4 : _OPTIONS_AT] != _MAGIC_COOKIE:
        raise ParseError("not a DHCP message (no magic cookie at byte 236)")
    options: dict[int, bytes] = {}
    i = _OPTIONS_AT
    while i < len(message):
        code = message[i]
        if code == 0:  # pad
            i += 1
            continue
        if code == 255 or i + 1 >= len(message):  # end
            break
        length = message[i + 1]
        value = message[i + 2 : i + 2 + length]
        if len(value) < length:
            break  # truncated: keep what came whole
        options[code] = options.get(code, b"") + value
        i += 2 + length
    return options


def parse_dhcp_message(
    message: bytes, source: str, interface: str | None, acquired: datetime | None = None
) -> Lease:
    """A lease from the DHCP message dhcpcd keeps (`acquired`: when it was written, for the
    expiry). Raises ParseError when it is not a DHCP message."""
    options = dhcp_options(message)
    yiaddr = message[16:20]
    address = ".".join(map(str, yiaddr)) if any(yiaddr) else None
    option = options.get(245, b"")
    routers = options.get(3, b"")
    domain = options.get(15, b"").split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
    routes = options.get(121) or options.get(249) or b""
    lease_time = options.get(51, b"")
    expires = None
    if acquired is not None and len(lease_time) == 4:
        seconds = int.from_bytes(lease_time, "big")
        if seconds < INFINITE_LEASE:
            expires = acquired + timedelta(seconds=seconds)
    return Lease(
        interface=interface,
        address=address,
        option_245=".".join(map(str, option)) if len(option) == 4 else None,
        domain_name=domain or None,
        routers=tuple(
            ".".join(map(str, routers[i : i + 4])) for i in range(0, len(routers) - 3, 4)
        ),
        static_routes=decode_classless_routes(list(routes)),
        expires=expires,
        source=source,
    )


def _is_network(text: str) -> bool:
    try:
        ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return False
    return True
