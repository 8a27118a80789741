"""DHCP leases on this machine: where the guest agent finds the WireServer endpoint (option
245) and the platform routes (option 121), in every store a Linux VM may keep them.

`scan_leases` is the only function here that touches the machine, through `System` (files,
directory listings, one command) and within a deadline; the formats are parsed by the pure
functions of `lease_parsers`. Nothing is capped silently: where the reader stops early (its
deadline, a size cap) or cannot see a fact (NetworkManager keeps option 245 in memory), the
scan's `incomplete` says what is unknown because of it.

Stores, in the order they are read:
- dhclient: /var/lib/dhcp, /var/lib/dhclient, NetworkManager's dhclient-*.lease, and
  cloud-init's ephemeral /run/dhclient.lease. These files grow (dhclient appends), so they
  are read from the end, newest block first, and reading stops once the newest complete
  block of the file's interface is found;
- NetworkManager's internal client (internal-*.lease: ADDRESS only), its device state
  files (/run/NetworkManager/devices/<ifindex>) and, for a device without one, nmcli;
- wicked (/var/lib/wicked), dhcpcd (/var/lib/dhcpcd), systemd-networkd
  (/run/systemd/netif/leases).
Per interface the newest current lease wins (the newest file, then the newest block).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import BinaryIO

from wirecheck.errors import ParseError
from wirecheck.model import Deadline
from wirecheck.platform.lease_parsers import (
    DhclientTail,
    Lease,
    block_interface,
    decode_classless_routes,
    decode_option_245,
    lease_from_nm_options,
    nm_device_dhcp4,
    nmcli_dhcp4,
    parse_dhclient_block,
    parse_dhclient_leases,
    parse_dhcp_message,
    parse_networkd_lease,
    parse_wicked_lease,
)
from wirecheck.system import System

__all__ = [
    "Lease",
    "LeaseScan",
    "current_leases",
    "decode_classless_routes",
    "decode_option_245",
    "interface_indexes",
    "parse_dhclient_leases",
    "parse_networkd_lease",
    "scan_leases",
]

DHCLIENT_DIRS = ("/var/lib/dhcp", "/var/lib/dhclient")
NETWORKMANAGER_DIR = "/var/lib/NetworkManager"
NM_DEVICES_DIR = "/run/NetworkManager/devices"
WICKED_DIR = "/var/lib/wicked"
DHCPCD_DIRS = ("/var/lib/dhcpcd", "/var/lib/dhcpcd5")
CLOUD_INIT_LEASE = "/run/dhclient.lease"
NETWORKD_DIR = "/run/systemd/netif/leases"
SYS_CLASS_NET = "/sys/class/net"
# Every store's place, for the explain text and the evidence.
STORES = (
    *DHCLIENT_DIRS,
    NETWORKMANAGER_DIR,
    NM_DEVICES_DIR,
    WICKED_DIR,
    DHCPCD_DIRS[0],
    CLOUD_INIT_LEASE,
    NETWORKD_DIR,
)
# A dhclient file is read backwards in chunks; past this many bytes from its end the
# older blocks are left unread (and the scan says so).
TAIL_CHUNK = 256 * 1024
MAX_TAIL_BYTES = 64 * 1024 * 1024
# Whole-file formats (networkd, wicked, NetworkManager, dhcpcd) are small; a bigger file
# is not one of them, and is named as cut.
MAX_SMALL_FILE = 1024 * 1024
NMCLI_TIMEOUT_S = 2.0
# NetworkManager names its lease files <client>-<connection uuid>-<interface>.lease.
_NM_NAME = re.compile(
    r"^(dhclient|internal)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-(.+)\.lease$"
)
_WICKED_NAME = re.compile(r"^lease-(.+)-dhcp-ipv4\.xml$")
_DHCPCD_NAME = re.compile(r"^(?:dhcpcd-)?([^.]+)\.lease$")


@dataclass(frozen=True)
class LeaseScan:
    """What `scan_leases` found: the current leases and what it read to find them."""

    leases: tuple[Lease, ...]
    files: tuple[str, ...] = ()  # every lease file (and command) read
    expired: tuple[Lease, ...] = ()  # an interface's newest lease in a store, expired
    problems: tuple[str, ...] = field(default=())  # files that could not be read or parsed
    # What was not read in full, and what is unknown because of it (empty: nothing).
    incomplete: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.incomplete


@dataclass(frozen=True)
class _Found:
    lease: Lease
    mtime: float | None  # of the file it came from, when known
    order: int  # read order: later is newer when mtimes are unknown
    store: str  # "dhclient", "nm-internal", "nm-device", "nmcli", "wicked", ...


class _Scan:
    """The reading of one scan: what was found, read, noted; and its deadline."""

    def __init__(self, system: System, deadline: Deadline) -> None:
        self.system = system
        self.deadline = deadline
        self.found: list[_Found] = []
        self.files: list[str] = []
        self.problems: list[str] = []
        self.incomplete: list[str] = []
        self.unread: list[str] = []  # files skipped because the deadline passed

    def add(self, lease: Lease, mtime: float | None, store: str) -> None:
        self.found.append(_Found(lease, mtime, len(self.found), store))

    def out_of_time(self, path: str) -> bool:
        if self.deadline.expired:
            self.unread.append(path)
            return True
        return False

    def open(self, path: str, missing_ok: bool = False) -> tuple[BinaryIO, float | None] | None:
        try:
            handle = self.system.open_file(path)
        except FileNotFoundError:
            if not missing_ok:
                self.problems.append(f"{path}: no such file")
            return None
        except OSError as exc:
            self.problems.append(f"{path}: {exc.strerror or exc}")
            return None
        self.files.append(path)
        return handle, _mtime(handle)

    def read_small(self, path: str) -> tuple[bytes, float | None] | None:
        """A whole small file; a bigger one is cut at MAX_SMALL_FILE and named."""
        opened = self.open(path)
        if opened is None:
            return None
        handle, mtime = opened
        with handle:
            try:
                data = handle.read(MAX_SMALL_FILE + 1)
            except OSError as exc:
                self.problems.append(f"{path}: {exc.strerror or exc}")
                return None
        if len(data) > MAX_SMALL_FILE:
            self.incomplete.append(
                f"{path}: larger than {MAX_SMALL_FILE // 1024} KiB, not a lease file of its "
                "kind: only its beginning was read"
            )
            data = data[:MAX_SMALL_FILE]
        return data, mtime


def current_leases(system: System, now: datetime, budget: Deadline | float = 1.0) -> list[Lease]:
    """The current leases in every known store, the newest per interface."""
    return list(scan_leases(system, now, budget).leases)


def scan_leases(system: System, now: datetime, budget: Deadline | float = 1.0) -> LeaseScan:
    """Every store, read within `budget` (a deadline, or seconds from now)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    deadline = budget if isinstance(budget, Deadline) else Deadline(budget)
    scan = _Scan(system, deadline)
    for directory in DHCLIENT_DIRS:
        for name in _listing(system, directory):
            if directory == "/var/lib/dhcp" and not (
                name.startswith("dhclient") and name.endswith(".leases")
            ):
                continue
            if "dhclient6" in name or name.endswith(".pid"):
                continue
            _read_dhclient(scan, f"{directory}/{name}", _dhclient_iface(name))
    internal: dict[str, str] = {}  # interface -> NetworkManager internal lease file
    for name in _listing(system, NETWORKMANAGER_DIR):
        match = _NM_NAME.match(name)
        if not match or name.startswith("dhclient6"):
            continue
        path, iface = f"{NETWORKMANAGER_DIR}/{name}", match.group(2)
        if match.group(1) == "dhclient":
            _read_dhclient(scan, path, iface)
        elif not scan.out_of_time(path):
            got = scan.read_small(path)
            if got is not None:
                text = got[0].decode("utf-8", errors="replace")
                if re.search(r"^\s*lease\s*\{", text, re.MULTILINE):
                    for lease in parse_dhclient_leases(text, path)[-1:]:
                        scan.add(_with_interface(lease, iface), got[1], "dhclient")
                else:
                    scan.add(parse_networkd_lease(text, path, iface), got[1], "nm-internal")
                    internal[iface] = path
    for name in _listing(system, WICKED_DIR):
        match = _WICKED_NAME.match(name)
        path = f"{WICKED_DIR}/{name}"
        if match and not scan.out_of_time(path):
            got = scan.read_small(path)
            if got is not None:
                try:
                    wicked = parse_wicked_lease(got[0], path, match.group(1))
                except ParseError as exc:
                    scan.problems.append(f"{path}: {exc}")
                    continue
                if wicked is not None:
                    scan.add(wicked, got[1], "wicked")
    for directory in DHCPCD_DIRS:
        for name in _listing(system, directory):
            match = _DHCPCD_NAME.match(name)
            path = f"{directory}/{name}"
            if match and not scan.out_of_time(path):
                got = scan.read_small(path)
                if got is not None:
                    acquired = _utc(got[1])
                    try:
                        message = parse_dhcp_message(got[0], path, match.group(1), acquired)
                    except ParseError as exc:
                        scan.problems.append(f"{path}: {exc}")
                        continue
                    scan.add(message, got[1], "dhcpcd")
    _read_dhclient(scan, CLOUD_INIT_LEASE, None, missing_ok=True)  # cloud-init's, while it runs
    indexes: dict[int, str] | None = None
    networkd = _listing(system, NETWORKD_DIR)
    nm_devices = _listing(system, NM_DEVICES_DIR)
    if networkd or nm_devices:
        indexes = interface_indexes(system, max(deadline.remaining(), 0.1))
    for name in networkd:
        path = f"{NETWORKD_DIR}/{name}"
        if not scan.out_of_time(path):
            got = scan.read_small(path)
            if got is not None:
                iface = (indexes or {}).get(int(name)) if name.isdigit() else None
                text = got[0].decode("utf-8", errors="replace")
                scan.add(parse_networkd_lease(text, path, iface), got[1], "networkd")
    live: set[str] = set()  # interfaces whose DHCP options NetworkManager told us
    for name in nm_devices:
        path = f"{NM_DEVICES_DIR}/{name}"
        if not name.isdigit() or scan.out_of_time(path):
            continue
        got = scan.read_small(path)
        if got is None:
            continue
        iface = (indexes or {}).get(int(name))
        options = nm_device_dhcp4(got[0].decode("utf-8", errors="replace"))
        device = lease_from_nm_options(options, path, iface)
        if device is not None and iface is not None:
            scan.add(device, got[1], "nm-device")
            live.add(iface)
    for iface, path in internal.items():
        if iface not in live:
            _ask_nmcli(scan, iface, path, live)
    if scan.unread:
        scan.incomplete.append(
            f"not read before the time budget ran out: {', '.join(scan.unread)}: the leases "
            "they hold are unknown"
        )
    return _choose(scan, now, live)


def _ask_nmcli(scan: _Scan, iface: str, internal_path: str, live: set[str]) -> None:
    """NetworkManager's internal client keeps option 245 only in memory: ask nmcli."""
    why = "the time budget ran out"
    if not scan.deadline.expired:
        argv = ["nmcli", "-f", "DHCP4", "device", "show", iface]
        done = scan.system.run_command(argv, min(NMCLI_TIMEOUT_S, scan.deadline.remaining()))
        if done.ok:
            scan.files.append(" ".join(argv))
            lease = lease_from_nm_options(nmcli_dhcp4(done.stdout), " ".join(argv), iface)
            if lease is not None:
                scan.add(lease, None, "nmcli")
                live.add(iface)
                return
            why = "nmcli shows no DHCPv4 lease for it"
        else:
            why = done.why
    scan.incomplete.append(
        f"{internal_path}: NetworkManager's internal DHCP client stores only the address "
        f"there, and its options (option 245 among them) could not be had ({why}): whether "
        f"{iface}'s lease carries option 245 is unknown"
    )


def _choose(scan: _Scan, now: datetime, live: set[str]) -> LeaseScan:
    # A device state file or nmcli tells the same lease as the internal client's file,
    # with its options: the file's ADDRESS-only lease is not another candidate.
    found = [f for f in scan.found if not (f.store == "nm-internal" and f.lease.interface in live)]
    current = [f for f in found if f.lease.expires is None or f.lease.expires > now]
    expired = tuple(f.lease for f in found if f not in current)
    best: dict[str, _Found] = {}
    for item in current:
        key = item.lease.interface or f"?{item.lease.source}"
        if key not in best or _newer(item, best[key]):
            best[key] = item
    return LeaseScan(
        tuple(best[key].lease for key in sorted(best)),
        tuple(scan.files),
        expired,
        tuple(scan.problems),
        tuple(scan.incomplete),
    )


def _newer(item: _Found, than: _Found) -> bool:
    if item.mtime is not None and than.mtime is not None and item.mtime != than.mtime:
        return item.mtime > than.mtime
    return item.order > than.order


# ---------------------------------------------------------------------------------------
# dhclient files, from their end


@dataclass
class TailRead:
    """What reading one dhclient file from its end gave."""

    leases: list[Lease]  # the newest complete block per interface
    blocks: int = 0  # blocks seen
    bytes_read: int = 0
    size: int = 0
    stopped: str | None = None  # why it stopped before the file's start, if not done
    # (interface, note) of each interface's newest block that was cut off (no closing brace)
    cut: list[tuple[str | None, str]] = field(default_factory=list)


def read_dhclient_tail(
    read_at: Callable[[int, int], bytes],
    size: int,
    source: str,
    hint: str | None,
    deadline: Deadline,
    chunk: int = TAIL_CHUNK,
    max_bytes: int = MAX_TAIL_BYTES,
) -> TailRead:
    """The newest complete block of each interface in a dhclient lease file, reading it
    backwards with `read_at(offset, length)`. With `hint` (the file's own interface), it
    stops at that interface's newest complete block; otherwise at the file's start, the
    deadline or `max_bytes`, whichever comes first."""
    result = TailRead([], size=size)
    tail = DhclientTail()
    done: set[str] = set()
    position = size
    while position > 0:
        if deadline.expired:
            result.stopped = "the time budget ran out"
            break
        if result.bytes_read >= max_bytes:
            result.stopped = f"the {max_bytes // (1024 * 1024)} MiB cap"
            break
        start = max(0, position - chunk)
        data = read_at(start, position - start)
        result.bytes_read += len(data)
        position = start
        for block in tail.feed(data, at_start=position == 0):
            result.blocks += 1
            iface = block_interface(block) or hint
            key = iface or "?"
            if key in done:
                continue
            lease = parse_dhclient_block(block.decode("latin-1"), source)
            if lease is None:
                if not any(i == iface for i, _ in result.cut):
                    result.cut.append(
                        (
                            iface,
                            f"{source}: the newest lease block{f' of {iface}' if iface else ''} "
                            "has no closing brace (cut off, or being written): not a lease",
                        )
                    )
                continue
            result.leases.append(_with_interface(lease, iface))
            done.add(key)
            if hint is not None and key == hint:
                return result
    return result


def _read_dhclient(scan: _Scan, path: str, hint: str | None, missing_ok: bool = False) -> None:
    opened = scan.open(path, missing_ok)  # cheap: the reading is what the deadline bounds
    if opened is None:
        return
    handle, mtime = opened
    with handle:
        if scan.out_of_time(path):
            scan.files.remove(path)
            return
        try:
            size = handle.seek(0, os.SEEK_END)

            def read_at(offset: int, length: int) -> bytes:
                handle.seek(offset)
                return handle.read(length)

            read = read_dhclient_tail(
                read_at, size, path, hint, scan.deadline, TAIL_CHUNK, MAX_TAIL_BYTES
            )
        except OSError as exc:
            scan.problems.append(f"{path}: {exc.strerror or exc}")
            return
    for lease in read.leases:
        scan.add(lease, mtime, "dhclient")
    # A cut-off newest block with a complete older one behind it: the older one stands (a
    # problem worth a line); with none behind it, that interface's lease is unknown.
    named = {lease.interface for lease in read.leases}
    for iface, note in read.cut:
        if iface in named:
            scan.problems.append(f"{note}; the block before it was used")
        else:
            scan.incomplete.append(note)
    if read.stopped is not None and not (hint is not None and hint in named):
        share = f"{read.bytes_read / 2**20:.1f} of {read.size / 2**20:.1f} MiB"
        missing = (
            f"no complete lease of {hint} was found in that part"
            if hint
            else "an interface whose newest lease is older than that part is not known"
        )
        scan.incomplete.append(
            f"{path}: read {share} from its end ({read.blocks} lease blocks) before "
            f"{read.stopped}: the older blocks were not read; {missing}"
        )


# ---------------------------------------------------------------------------------------
# Helpers


def _with_interface(lease: Lease, fallback: str | None) -> Lease:
    if lease.interface or fallback is None:
        return lease
    return replace(lease, interface=fallback)


def _dhclient_iface(name: str) -> str | None:
    """The interface a dhclient lease file is named after, if any.

    `dhclient.eth0.leases` (Debian), `dhclient-eth0.leases` and `dhclient--eth0.lease` (RHEL),
    `dhclient-<uuid>-eth0.lease` (NetworkManager).
    """
    match = _NM_NAME.match(name)
    if match:
        return match.group(2)
    match = re.fullmatch(r"dhclient[.-]+([^.]+)\.leases?", name)
    return match.group(1) if match else None


def _listing(system: System, directory: str) -> list[str]:
    try:
        return system.list_dir(directory)
    except OSError:
        return []  # that DHCP client is not used here


def _mtime(handle: BinaryIO) -> float | None:
    try:
        return os.fstat(handle.fileno()).st_mtime
    except (OSError, ValueError, AttributeError):
        return None  # not a real file (a test's), or gone


def _utc(timestamp: float | None) -> datetime | None:
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


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
