"""A bounded HTTP/1.1 GET for the platform endpoints.

Why not a general HTTP client: we must (1) never use a proxy, whatever the environment
says, (2) bound the *whole* exchange by the run's deadline, including a server that
trickles one byte at a time, and (3) cap the body. http.client on a socket we connected
ourselves gives all three, and connect errors keep their errno meaning.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from wirecheck.model import Deadline
from wirecheck.net import tcp
from wirecheck.net.errors import TIMEOUT_ERRORS, NetOutcome, describe
from wirecheck.safe_text import printable
from wirecheck.system import SocketFactory

DEFAULT_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class HttpResult:
    connect: tcp.ConnectResult
    outcome: NetOutcome  # CONNECTED when a full response arrived
    status: int | None = None
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False  # the body was longer than the cap
    detail: str = ""
    elapsed_s: float = 0.0


def get(
    host: str,
    port: int,
    path: str,
    deadline: Deadline,
    *,
    headers: Mapping[str, str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    socket_factory: SocketFactory = socket.socket,
    # Tests pass one whose read1 behaves as another CPython release's does.
    response_class: type[http.client.HTTPResponse] = http.client.HTTPResponse,
) -> HttpResult:
    started = time.monotonic()
    connected, sock = tcp.connect(host, port, deadline.remaining(), socket_factory)
    if sock is None:
        return HttpResult(connected, connected.outcome, elapsed_s=time.monotonic() - started)
    conn = http.client.HTTPConnection(host, port)
    conn.response_class = response_class
    conn.sock = sock
    sock.setblocking(True)
    cut = threading.Event()  # set when the deadline shut the socket down mid-exchange
    try:
        with _shutdown_at(sock, deadline, cut):
            sock.settimeout(max(deadline.remaining(), 0.001))
            conn.request("GET", path, headers={"Connection": "close", **(headers or {})})
            response = conn.getresponse()
            body, truncated = _read_capped(response, sock, deadline, max_body)
        if cut.is_set():
            # The shutdown looks like the end of the body to read1: a trickled body was
            # cut short, not complete.
            raise TimeoutError("the deadline passed mid-response")
    except (OSError, http.client.HTTPException) as exc:  # OSError: timeouts too
        late = cut.is_set() or deadline.expired
        return HttpResult(
            connected,
            NetOutcome.TIMEOUT if late else _outcome_of(exc),
            detail="the deadline passed mid-response" if late else describe(exc),
            elapsed_s=time.monotonic() - started,
        )
    finally:
        conn.close()
    return HttpResult(
        connected,
        NetOutcome.CONNECTED,
        status=response.status,
        reason=printable(response.reason),  # the server's words, shown to a person
        headers={k.lower(): v for k, v in response.getheaders()},
        body=body,
        truncated=truncated,
        elapsed_s=time.monotonic() - started,
    )


def _read_capped(
    response: http.client.HTTPResponse, sock: socket.socket, deadline: Deadline, cap: int
) -> tuple[bytes, bool]:
    """Read at most `cap` bytes; read1 returns what has arrived, so a trickle cannot stall us."""
    body = bytearray()
    # Since CPython gh-113199 (3.13, and later 3.11/3.12 releases) read1 closes the connection
    # with the body's last byte, and the socket with it (we asked for `Connection: close`):
    # setting its timeout then fails with EBADF. Older releases leave it open until a read1
    # returns b"". Stopping at isclosed() is right either way.
    while len(body) <= cap and not response.isclosed():
        sock.settimeout(max(deadline.remaining(), 0.001))
        chunk = response.read1(cap + 1 - len(body))
        if not chunk:
            break
        body += chunk
    truncated = len(body) > cap
    if not truncated and response.length:
        # read1 ends quietly when the peer closes early; Content-Length says more was due.
        raise http.client.IncompleteRead(bytes(body), response.length)
    return bytes(body[:cap]), truncated


@contextlib.contextmanager
def _shutdown_at(sock: socket.socket, deadline: Deadline, cut: threading.Event) -> Iterator[None]:
    """Shut the socket down when the deadline passes (and set `cut`): wakes any blocked read.

    Socket timeouts bound each read; this bounds the sum (slow headers byte by byte).
    """

    def _shutdown() -> None:
        cut.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(deadline.remaining(), _shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _outcome_of(exc: BaseException) -> NetOutcome:
    if isinstance(exc, http.client.HTTPException):
        return NetOutcome.BAD_RESPONSE
    if isinstance(exc, TIMEOUT_ERRORS):
        return NetOutcome.TIMEOUT
    if isinstance(exc, ConnectionResetError):
        return NetOutcome.REFUSED
    return NetOutcome.ERROR
