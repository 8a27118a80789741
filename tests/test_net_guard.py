"""Tests cannot send to anything but loopback: the guards in conftest.py, proven in-process.

192.0.2.1 is TEST-NET-1 (documentation only); the platform addresses are guarded the same.
"""

from __future__ import annotations

import errno
import socket

import pytest
from pytest_socket import SocketConnectBlockedError

from tests.conftest import NonLoopbackTrafficBlocked
from tests.servers import HOST, refusing_port
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS
from wirecheck.net import dns as dnsq
from wirecheck.net import tcp

# pytest-socket warns as well as raising; the raise is what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore:A test tried to use socket")

OUTSIDE = ("192.0.2.1", PLATFORM_ADDRESS, IMDS_ADDRESS)


@pytest.mark.parametrize("address", OUTSIDE)
def test_connect_is_refused(address: str) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(SocketConnectBlockedError),
    ):
        sock.connect((address, 80))


@pytest.mark.parametrize("address", OUTSIDE)
def test_connect_ex_is_refused(address: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        with pytest.raises(NonLoopbackTrafficBlocked, match=address):
            sock.connect_ex((address, 80))


@pytest.mark.parametrize("address", OUTSIDE)
def test_sendto_and_sendmsg_are_refused(address: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(NonLoopbackTrafficBlocked):
            sock.sendto(b"x", (address, 53))
        with pytest.raises(NonLoopbackTrafficBlocked):
            sock.sendto(b"x", 0, (address, 53))
        with pytest.raises(NonLoopbackTrafficBlocked):
            sock.sendmsg([b"x"], [], 0, (address, 53))


def test_wirecheck_tcp_connect_cannot_leave() -> None:
    with pytest.raises(NonLoopbackTrafficBlocked):
        tcp.connect("192.0.2.1", 80, 0.5)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_wirecheck_dns_query_cannot_leave(transport: str) -> None:
    with pytest.raises((NonLoopbackTrafficBlocked, SocketConnectBlockedError)):
        dnsq.query("example.com", "A", "192.0.2.1", 53, transport, 0.5)


def test_loopback_still_works() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex((HOST, refusing_port())) == errno.ECONNREFUSED
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert sock.sendto(b"x", (HOST, refusing_port())) == 1
