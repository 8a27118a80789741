"""How each interface is told to get its IPv4 address: by DHCP, or statically.

A VM whose primary NIC is configured statically gets no DHCP lease, so no option 245 and
none of the DHCP routes to 168.63.129.16 and 169.254.169.254; the Linux guest agent then
sends its own DHCP request to find WireServer, which goes unanswered, and stays Not Ready.
The configuration tools Azure images use, each parsed from its own files:

- netplan (Ubuntu): `dhcp4: false` (or absent) with `addresses:`;
- ifcfg, RHEL family (/etc/sysconfig/network-scripts): BOOTPROTO none/static/empty with
  an IPADDR; dhcp/bootp is DHCP;
- ifcfg, SUSE (/etc/sysconfig/network): BOOTPROTO static, or empty, is static; none is no
  IPv4 configuration; dhcp, dhcp4, dhcp+autoip are DHCP;
- NetworkManager keyfiles: `[ipv4] method=manual` (auto is DHCP);
- systemd-networkd .network files: Address= without DHCP=yes/ipv4;
- ifupdown (Debian): `iface eth0 inet static`.

Parsers take text; `read_netconfig` reads the machine through `System` within a deadline.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wirecheck.model import Deadline
from wirecheck.system import System

STATIC, DHCP, NONE = "static", "dhcp", "none"
NETPLAN_DIRS = ("/etc/netplan", "/run/netplan")
IFCFG_RHEL_DIR = "/etc/sysconfig/network-scripts"
IFCFG_SUSE_DIR = "/etc/sysconfig/network"
NM_KEYFILE_DIRS = (
    "/etc/NetworkManager/system-connections",
    "/run/NetworkManager/system-connections",
)
NETWORKD_DIRS = ("/etc/systemd/network", "/run/systemd/network")
IFUPDOWN_FILE = "/etc/network/interfaces"
IFUPDOWN_DIR = "/etc/network/interfaces.d"
SYS_CLASS_NET = "/sys/class/net"
MAX_FILES = 200  # per directory: configuration directories hold a handful
LOOPBACK = "lo"


@dataclass(frozen=True)
class InterfaceConfig:
    """One tool's IPv4 configuration of one interface."""

    interface: str  # its name (or the pattern/MAC it is matched by, when not resolved)
    method: str  # STATIC, DHCP or NONE
    source: str  # the file that says so
    tool: str  # netplan, ifcfg, NetworkManager, systemd-networkd, ifupdown
    addresses: tuple[str, ...] = ()
    mac: str | None = None  # the MAC it is matched by, if any

    def describe(self) -> str:
        what = {STATIC: "static", DHCP: "DHCP", NONE: "no IPv4"}[self.method]
        addresses = f" {', '.join(self.addresses)}" if self.addresses else ""
        return f"{self.interface}: {what}{addresses} ({self.tool} {self.source})"


@dataclass(frozen=True)
class NetConfig:
    configs: tuple[InterfaceConfig, ...] = ()
    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()  # what was not read (the deadline), so unknown

    def static_only(self) -> list[InterfaceConfig]:
        """Static configurations of interfaces no tool configures by DHCP."""
        dhcp = {c.interface for c in self.configs if c.method == DHCP}
        return [c for c in self.configs if c.method == STATIC and c.interface not in dhcp]

    def dhcp_interfaces(self) -> list[str]:
        return list(dict.fromkeys(c.interface for c in self.configs if c.method == DHCP))


# ---------------------------------------------------------------------------------------
# Parsers (pure)


def parse_netplan(text: str, source: str) -> list[InterfaceConfig]:
    document = parse_yaml_subset(text)
    network = document.get("network") if isinstance(document, dict) else None
    if not isinstance(network, dict):
        return []
    found: list[InterfaceConfig] = []
    for kind in ("ethernets", "bonds", "vlans", "bridges"):
        devices = network.get(kind)
        if not isinstance(devices, dict):
            continue
        for key, settings in devices.items():
            if not isinstance(settings, dict):
                continue
            addresses = settings.get("addresses")
            listed = tuple(str(a) for a in addresses) if isinstance(addresses, list) else ()
            ipv4 = tuple(a for a in listed if ":" not in a)
            dhcp = _truthy(settings.get("dhcp4"))
            if not dhcp and not ipv4:
                continue  # a match-only entry, or IPv6 only
            match = settings.get("match")
            mac = match.get("macaddress") if isinstance(match, dict) else None
            name = settings.get("set-name") or key
            found.append(
                InterfaceConfig(
                    str(name),
                    DHCP if dhcp else STATIC,
                    source,
                    "netplan",
                    ipv4,
                    _mac(mac),
                )
            )
    return found


def parse_ifcfg(text: str, source: str, suse: bool) -> InterfaceConfig | None:
    values = _shell_values(text)
    name = values.get("DEVICE") or _ifcfg_name(source)
    if not name or name == LOOPBACK:
        return None
    bootproto = values.get("BOOTPROTO", "").strip().lower()
    addresses = tuple(v for k, v in sorted(values.items()) if re.fullmatch(r"IPADDR\d*(_\w+)?", k))
    addresses = tuple(a for a in addresses if a and ":" not in a)
    tool = "ifcfg (SUSE)" if suse else "ifcfg"
    mac = _mac(values.get("HWADDR") or values.get("LLADDR"))
    if bootproto in ("dhcp", "dhcp4", "bootp", "dhcp+autoip"):
        return InterfaceConfig(name, DHCP, source, tool, addresses, mac)
    if suse:
        if bootproto in ("static", ""):
            return InterfaceConfig(name, STATIC, source, tool, addresses, mac)
        return InterfaceConfig(name, NONE, source, tool, (), mac)
    if bootproto in ("none", "static", "") and addresses:
        return InterfaceConfig(name, STATIC, source, tool, addresses, mac)
    return None


def parse_nm_keyfile(text: str, source: str) -> InterfaceConfig | None:
    sections = _ini(text)
    connection = sections.get("connection", {})
    ipv4 = sections.get("ipv4", {})
    method = ipv4.get("method", "auto").lower()
    ethernet = sections.get("ethernet", {})
    mac = _mac(ethernet.get("mac-address"))
    name = connection.get("interface-name") or (f"MAC {mac}" if mac else None)
    if not name or connection.get("type", "ethernet") not in ("ethernet", "802-3-ethernet"):
        return None
    addresses = tuple(
        v.split(",")[0].strip()
        for k, v in sorted(ipv4.items())
        if re.fullmatch(r"address\d*", k) and v.strip()
    )
    if method == "auto":
        return InterfaceConfig(name, DHCP, source, "NetworkManager", addresses, mac)
    if method == "manual":
        return InterfaceConfig(name, STATIC, source, "NetworkManager", addresses, mac)
    return InterfaceConfig(name, NONE, source, "NetworkManager", (), mac)


def parse_networkd(text: str, source: str) -> InterfaceConfig | None:
    sections = _ini(text, multi=True)
    match = sections.get("Match", {})
    network = sections.get("Network", {})
    name = match.get("Name", "").split()
    mac = _mac((match.get("MACAddress") or match.get("PermanentMACAddress") or "").split(" ")[0])
    interface = " ".join(name) or (f"MAC {mac}" if mac else None)
    if interface is None:
        return None
    addresses = [a for a in network.get("Address", "").split() if ":" not in a]
    addresses += [a for a in sections.get("Address", {}).get("Address", "").split() if ":" not in a]
    dhcp = network.get("DHCP", "no").strip().lower()
    if dhcp in ("yes", "true", "ipv4", "both", "1", "on"):
        return InterfaceConfig(interface, DHCP, source, "systemd-networkd", tuple(addresses), mac)
    if addresses:
        return InterfaceConfig(interface, STATIC, source, "systemd-networkd", tuple(addresses), mac)
    return None


def parse_ifupdown(text: str, source: str) -> list[InterfaceConfig]:
    found: list[InterfaceConfig] = []
    current: list[str] | None = None  # [name, method]
    addresses: list[str] = []

    def close() -> None:
        if current is None:
            return
        name, method = current
        kind = {"static": STATIC, "dhcp": DHCP}.get(method)
        if kind and name != LOOPBACK:
            found.append(InterfaceConfig(name, kind, source, "ifupdown", tuple(addresses)))

    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if not words:
            continue
        if words[0] == "iface" and len(words) >= 4:
            close()
            current = [words[1], words[3]] if words[2] == "inet" else None
            addresses = []
        elif words[0] in ("auto", "allow-hotplug", "source", "source-directory", "mapping"):
            close()
            current = None
        elif current is not None and words[0] == "address" and len(words) >= 2:
            addresses.append(words[1])
    close()
    return found


# A YAML subset, enough for netplan: block mappings and sequences, flow sequences and
# mappings of scalars, comments, quoted scalars. Anchors, tags and multi-line scalars,
# which netplan files do not use, are read as plain text.


def parse_yaml_subset(text: str) -> Any:
    lines: list[tuple[int, str]] = []
    for raw in text.splitlines():
        content = _strip_comment(raw).rstrip()
        if content.strip() and content.strip() not in ("---", "..."):
            lines.append((len(content) - len(content.lstrip(" ")), content.strip()))
    value, _ = _block(lines, 0, lines[0][0] if lines else 0)
    return value


def _block(lines: Sequence[tuple[int, str]], at: int, indent: int) -> tuple[Any, int]:
    if at >= len(lines):
        return None, at
    if lines[at][1].startswith("- ") or lines[at][1] == "-":
        items: list[Any] = []
        while at < len(lines) and lines[at][0] == indent and lines[at][1].startswith("-"):
            rest = lines[at][1][1:].strip()
            if not rest:
                value, at = _block(lines, at + 1, lines[at + 1][0] if at + 1 < len(lines) else 0)
                items.append(value)
                continue
            if _is_key(rest):
                # `- key: value` opens a mapping whose other keys sit under `key`
                shifted = [(indent + 2, rest), *lines[at + 1 :]]
                value, used = _mapping(shifted, 0, indent + 2)
                items.append(value)
                at += used
            else:
                items.append(_scalar(rest))
                at += 1
        return items, at
    mapping, used = _mapping(lines[at:], 0, indent)
    return mapping, at + used


def _mapping(lines: Sequence[tuple[int, str]], at: int, indent: int) -> tuple[dict[str, Any], int]:
    found: dict[str, Any] = {}
    while at < len(lines) and lines[at][0] == indent and _is_key(lines[at][1]):
        key, _, rest = lines[at][1].partition(":")
        key = _scalar(key.strip())
        rest = rest.strip()
        at += 1
        if rest:
            found[str(key)] = _scalar(rest)
        elif at < len(lines) and (
            lines[at][0] > indent or (lines[at][0] == indent and lines[at][1].startswith("-"))
        ):
            found[str(key)], at = _block(lines, at, lines[at][0])
        else:
            found[str(key)] = None
    return found, at


def _is_key(text: str) -> bool:
    return bool(re.match(r"""^(?:"[^"]*"|'[^']*'|[^\s:"'\[{][^:]*?)\s*:(?:\s|$)""", text))


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(p) for p in _split_flow(text[1:-1])]
    if text.startswith("{") and text.endswith("}"):
        pairs = [p.partition(":") for p in _split_flow(text[1:-1])]
        return {str(_scalar(k)): _scalar(v) for k, _, v in pairs}
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    return text


def _split_flow(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _strip_comment(line: str) -> str:
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "on"))


def _shell_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            words = [value.strip("'\"")]
        values[key.strip()] = words[0] if words else ""
    return values


def _ini(text: str, multi: bool = False) -> dict[str, dict[str, str]]:
    """Sections of an INI-style file; with `multi`, repeated keys are joined by spaces."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
            continue
        if current is not None and "=" in line:
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if multi and current.get(key):
                current[key] = f"{current[key]} {value}" if value else ""
            else:
                current[key] = value
    return sections


def _ifcfg_name(path: str) -> str | None:
    found = re.search(r"ifcfg-([^/]+)$", path)
    return found.group(1) if found else None


def _mac(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", value)
    if len(hexdigits) != 12:
        return None
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2)).lower()


def resolve(
    configs: Iterable[InterfaceConfig], local: Mapping[str, str | None]
) -> list[InterfaceConfig]:
    """Configurations named by local interface where a MAC or a name pattern says which
    (`local`: interface name -> MAC); the loopback left out."""
    found: list[InterfaceConfig] = []
    for config in configs:
        names: list[str] = []
        if config.mac:
            names = [name for name, mac in local.items() if mac == config.mac]
        if not names and any(c in config.interface for c in "*?["):
            patterns = config.interface.split()
            names = [n for n in local if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if not names:
            names = [config.interface]
        found += [replace(config, interface=n) for n in names if n != LOOPBACK]
    return found


# ---------------------------------------------------------------------------------------
# The machine


def read_netconfig(system: System, deadline: Deadline) -> NetConfig:
    """Every tool's configuration files, read until the deadline."""
    configs: list[InterfaceConfig] = []
    files: list[str] = []
    problems: list[str] = []
    unread: list[str] = []

    def each(directory: str, keep: Any) -> Iterable[tuple[str, str]]:
        for name in _listing(system, directory)[:MAX_FILES]:
            if not keep(name):
                continue
            path = f"{directory}/{name}"
            if deadline.expired:
                unread.append(path)
                continue
            try:
                text = system.read_text(path)
            except OSError as exc:
                if not isinstance(exc, (IsADirectoryError, FileNotFoundError)):
                    problems.append(f"{path}: {exc.strerror or exc}")
                continue
            files.append(path)
            yield path, text

    for directory in NETPLAN_DIRS:
        for path, text in each(directory, lambda n: n.endswith((".yaml", ".yml"))):
            configs += parse_netplan(text, path)
    for path, text in each(IFCFG_RHEL_DIR, lambda n: n.startswith("ifcfg-")):
        found = parse_ifcfg(text, path, suse=False)
        configs += [found] if found else []
    for path, text in each(IFCFG_SUSE_DIR, lambda n: n.startswith("ifcfg-")):
        found = parse_ifcfg(text, path, suse=True)
        configs += [found] if found else []
    for directory in NM_KEYFILE_DIRS:
        for path, text in each(directory, lambda n: n.endswith(".nmconnection")):
            found = parse_nm_keyfile(text, path)
            configs += [found] if found else []
    for directory in NETWORKD_DIRS:
        for path, text in each(directory, lambda n: n.endswith(".network")):
            found = parse_networkd(text, path)
            configs += [found] if found else []
    interfaces_files = [(IFUPDOWN_FILE.rsplit("/", 1)[0], IFUPDOWN_FILE.rsplit("/", 1)[1])]
    for directory, name in interfaces_files:
        for path, text in each(directory, lambda n, wanted=name: n == wanted):
            configs += parse_ifupdown(text, path)
    for path, text in each(IFUPDOWN_DIR, lambda n: not n.startswith(".")):
        configs += parse_ifupdown(text, path)
    incomplete = (
        (f"not read before the time budget ran out: {', '.join(unread)}",) if unread else ()
    )
    return NetConfig(
        tuple(resolve(configs, local_interfaces(system))),
        tuple(files),
        tuple(problems),
        incomplete,
    )


def local_interfaces(system: System) -> dict[str, str | None]:
    """Interface name -> MAC, from sysfs."""
    found: dict[str, str | None] = {}
    for name in _listing(system, SYS_CLASS_NET):
        try:
            found[name] = _mac(system.read_text(f"{SYS_CLASS_NET}/{name}/address").strip())
        except OSError:
            found[name] = None
    return found


def _listing(system: System, directory: str) -> list[str]:
    try:
        return system.list_dir(directory)
    except OSError:
        return []
