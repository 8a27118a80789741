"""TCP connect with every outcome told apart: connected, refused, timeout, unreachable, blocked."""

from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass

from wirecheck.net.errors import NetOutcome, classify_errno, errno_text
from wirecheck.system import SocketFactory


@dataclass(frozen=True)
class ConnectResult:
    outcome: NetOutcome
    latency_s: float
    local_address: tuple[str, int] | None = None
    errno_name: str | None = None

    @property
    def connected(self) -> bool:
        return self.outcome is NetOutcome.CONNECTED


def connect(
    host: str,
    port: int,
    timeout_s: float,
    socket_factory: SocketFactory = socket.socket,
) -> tuple[ConnectResult, socket.socket | None]:
    """Open a TCP connection within `timeout_s`.

    Returns the classified result and, when connected, the socket (the caller owns it
    and must close it). A non-blocking connect lets us read the real errno rather than
    the generic timeout a blocking connect with a timeout would give.
    """
    started = time.monotonic()
    sock = socket_factory(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        started_code = sock.connect_ex((host, port))
        code: int | None = started_code
        if started_code in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            code = _wait_connected(sock, timeout_s)
        latency = time.monotonic() - started
        if code is None:
            sock.close()
            return ConnectResult(NetOutcome.TIMEOUT, latency, errno_name="ETIMEDOUT"), None
        if code != 0:
            sock.close()
            return ConnectResult(classify_errno(code), latency, errno_name=_name(code)), None
        local = sock.getsockname()
        return ConnectResult(NetOutcome.CONNECTED, latency, (local[0], local[1])), sock
    except OSError as exc:
        sock.close()
        return (
            ConnectResult(
                classify_errno(exc.errno), time.monotonic() - started, errno_name=_name(exc.errno)
            ),
            None,
        )


def _wait_connected(sock: socket.socket, timeout_s: float) -> int | None:
    """errno of the finished connect, or None if it did not finish in time."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        if not selector.select(max(timeout_s, 0.0)):
            return None
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def _name(code: int | None) -> str | None:
    return None if code is None else errno_text(code)
