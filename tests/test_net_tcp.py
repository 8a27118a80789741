"""net.tcp.connect: every outcome told apart, on loopback and through a fake socket factory."""

from __future__ import annotations

import errno
import socket
from typing import Any, cast

import pytest

from tests.bounds import AMPLE_S, finishes
from tests.servers import HOST, BlackholePort, ErrnoSocket, FakeHttpServer, refusing_port
from wirecheck.model import Deadline
from wirecheck.net import tcp
from wirecheck.net.errors import NetOutcome
from wirecheck.system import SocketFactory


def test_connected_gives_latency_local_address_and_the_socket() -> None:
    deadline = Deadline(AMPLE_S)
    with FakeHttpServer() as server:
        result, sock = tcp.connect(HOST, server.port, deadline.remaining())
        assert sock is not None
        try:
            assert result.connected
            assert result.outcome is NetOutcome.CONNECTED
            assert result.local_address is not None
            assert result.local_address == sock.getsockname()
            assert result.local_address[0] == HOST
            assert result.latency_s >= 0 and not deadline.expired  # measured, not waited out
            assert result.errno_name is None
        finally:
            sock.close()


def test_refused() -> None:
    result, sock = tcp.connect(HOST, refusing_port(), 2.0)
    assert sock is None
    assert result.outcome is NetOutcome.REFUSED
    assert result.errno_name == "ECONNREFUSED (Connection refused)"
    assert result.local_address is None


def test_blackhole_times_out_at_the_timeout() -> None:
    deadline = Deadline(0.3)
    with BlackholePort() as blackhole:
        # Unbounded, the kernel would retry the SYN for about two minutes: `finishes`
        # catches that; the timeout passed in is what ends it.
        result, sock = finishes(lambda: tcp.connect(HOST, blackhole.port, deadline.remaining()))
    assert sock is None
    assert result.outcome is NetOutcome.TIMEOUT
    assert result.errno_name == "ETIMEDOUT"
    assert deadline.expired  # it waited the whole timeout, not less


def test_zero_time_left_is_a_timeout_not_a_hang() -> None:
    with BlackholePort() as blackhole:
        result, _ = finishes(lambda: tcp.connect(HOST, blackhole.port, 0.0))
    assert result.outcome is NetOutcome.TIMEOUT


@pytest.mark.parametrize("immediate", [True, False], ids=["at-once", "in-progress"])
@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (errno.EPERM, NetOutcome.BLOCKED),
        (errno.EACCES, NetOutcome.BLOCKED),
        (errno.ENETUNREACH, NetOutcome.UNREACHABLE),
        (errno.EHOSTUNREACH, NetOutcome.UNREACHABLE),
        (errno.ECONNREFUSED, NetOutcome.REFUSED),
        (errno.ETIMEDOUT, NetOutcome.TIMEOUT),
        (errno.EINVAL, NetOutcome.ERROR),
    ],
)
def test_errno_outcomes_through_the_socket_factory(
    code: int, outcome: NetOutcome, immediate: bool
) -> None:
    made: list[ErrnoSocket] = []

    def factory(family: int, kind: int) -> ErrnoSocket:
        assert (family, kind) == (socket.AF_INET, socket.SOCK_STREAM)
        made.append(ErrnoSocket(code, immediate))
        return made[-1]

    result, sock = tcp.connect("198.51.100.7", 80, 1.0, cast(SocketFactory, factory))
    assert sock is None
    assert result.outcome is outcome
    assert result.errno_name is not None
    assert result.errno_name.startswith(errno.errorcode[code])
    assert made[0].closed  # a failed connect never leaks its socket


def test_oserror_from_connect_ex_is_classified_and_closes() -> None:
    class Raising(ErrnoSocket):
        def connect_ex(self, address: Any) -> int:
            raise PermissionError(errno.EPERM, "Operation not permitted")

    made = Raising(0, True)
    result, sock = tcp.connect("198.51.100.7", 80, 1.0, cast(SocketFactory, lambda f, k: made))
    assert sock is None
    assert result.outcome is NetOutcome.BLOCKED
    assert made.closed
