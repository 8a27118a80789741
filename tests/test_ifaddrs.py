"""IPv4 addresses per interface from SIOCGIFCONF: the record decoding on built buffers, and
the real ioctl against what psutil reads from the same kernel (nothing is sent)."""

from __future__ import annotations

import socket
import struct
import sys

import psutil
import pytest

from wirecheck.platform import ifaddrs
from wirecheck.platform.ifaddrs import IFNAMSIZ, _ifreq_size, ipv4_by_interface, parse_ifconf

SIZE = _ifreq_size()


def _ifreq(label: str, address: str, family: int = socket.AF_INET) -> bytes:
    name = label.encode("ascii").ljust(IFNAMSIZ, b"\0")
    sockaddr = struct.pack("H", family) + b"\0\0" + socket.inet_aton(address)
    return (name + sockaddr).ljust(SIZE, b"\0")


def test_ifreq_size_is_the_kernels_on_64_bit_linux() -> None:
    if struct.calcsize("L") == 8:
        assert SIZE == 40  # sizeof(struct ifreq) on x86_64 and aarch64


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], {}),
        ([("lo", "127.0.0.1")], {"lo": ("127.0.0.1",)}),
        (
            [("eth0", "10.0.0.4"), ("eth0:1", "10.0.0.5"), ("eth1", "10.0.1.4")],
            {"eth0": ("10.0.0.4", "10.0.0.5"), "eth1": ("10.0.1.4",)},  # labels fold in
        ),
    ],
)
def test_parse_ifconf(records: list[tuple[str, str]], expected: dict[str, tuple[str, ...]]) -> None:
    data = b"".join(_ifreq(label, address) for label, address in records)
    assert parse_ifconf(data, SIZE) == expected


def test_parse_ifconf_skips_other_families_nameless_and_partial_records() -> None:
    data = (
        _ifreq("eth0", "10.0.0.4", family=socket.AF_INET6)
        + _ifreq("", "10.0.0.9")
        + _ifreq("eth1", "10.0.1.4")
        + b"\x01" * (SIZE - 1)  # a truncated record at the end is ignored
    )
    assert parse_ifconf(data, SIZE) == {"eth1": ("10.0.1.4",)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCGIFCONF is Linux's")
def test_the_real_ioctl_agrees_with_psutil() -> None:
    by_psutil = {
        name: tuple(a.address for a in addrs if a.family == socket.AF_INET)
        for name, addrs in psutil.net_if_addrs().items()
    }
    assert ipv4_by_interface() == {name: addrs for name, addrs in by_psutil.items() if addrs}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCGIFCONF is Linux's")
def test_the_buffer_grows_until_every_address_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    full = ipv4_by_interface()
    if sum(len(addresses) for addresses in full.values()) < 2:
        pytest.skip("needs two addresses on this machine")
    monkeypatch.setattr(ifaddrs, "MAX_ENTRIES", 1)  # room for one record at first
    assert ipv4_by_interface() == full
