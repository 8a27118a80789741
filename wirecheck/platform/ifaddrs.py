"""IPv4 addresses per interface, from the kernel, without psutil.

On Linux `System.interface_addresses` uses this: the kernel's SIOCGIFCONF ioctl through
the standard library's `fcntl`, which lists every IPv4 address (secondary ones included)
with its interface, in one call and without loading psutil's C extension (which the
single-file build could not carry anyway). Elsewhere the answer is empty: other
platforms use psutil.
"""

from __future__ import annotations

import socket
import struct
import sys

SIOCGIFCONF = 0x8912
IFNAMSIZ = 16
MAX_ENTRIES = 512  # the first buffer's records; grown while the kernel fills it
MAX_ENTRIES_EVER = 512 * 4**4


def _ifreq_size() -> int:
    """sizeof(struct ifreq): the name plus a union whose largest member is struct ifmap."""
    word = struct.calcsize("L")
    ifmap = struct.calcsize("LLHBBB")
    ifmap += -ifmap % word  # the struct is padded to its widest member
    return IFNAMSIZ + max(16, ifmap)


def parse_ifconf(data: bytes, ifreq_size: int) -> dict[str, tuple[str, ...]]:
    """Decode SIOCGIFCONF's array of `struct ifreq` (name, then a sockaddr_in)."""
    found: dict[str, list[str]] = {}
    for offset in range(0, len(data) - ifreq_size + 1, ifreq_size):
        record = data[offset : offset + ifreq_size]
        label = record[:IFNAMSIZ].split(b"\0", 1)[0].decode("ascii", errors="replace")
        family = struct.unpack_from("H", record, IFNAMSIZ)[0]
        if family != socket.AF_INET or not label:
            continue
        address = socket.inet_ntoa(record[IFNAMSIZ + 4 : IFNAMSIZ + 8])
        name = label.split(":", 1)[0]  # `eth0:1` is an address label on eth0
        found.setdefault(name, []).append(address)
    return {name: tuple(addresses) for name, addresses in found.items()}


def ipv4_by_interface() -> dict[str, tuple[str, ...]]:
    """Every interface's IPv4 addresses; empty where the kernel cannot be asked."""
    if not sys.platform.startswith("linux"):
        return {}
    try:
        return parse_ifconf(*_ifconf())
    except OSError:  # no AF_INET sockets here (a locked-down sandbox): no names, no harm
        return {}


def _ifconf() -> tuple[bytes, int]:
    """SIOCGIFCONF's answer and the record size, with a buffer grown until it fits: the
    kernel fills what fits and says nothing of the rest."""
    import array
    import fcntl

    size = _ifreq_size()
    entries = MAX_ENTRIES
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while True:
            buffer = array.array("B", bytes(size * entries))
            address, _ = buffer.buffer_info()
            request = struct.pack("iL", len(buffer), address)  # struct ifconf {len; buf}
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFCONF, request)
            length = struct.unpack("iL", answer)[0]
            if length + size <= len(buffer) or entries >= MAX_ENTRIES_EVER:
                return buffer.tobytes()[:length], size
            entries *= 4
