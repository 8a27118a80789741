"""Fake network endpoints on 127.0.0.1 for in-process tests.

Every server binds port 0 (the kernel picks a free port), serves from daemon threads and
stops cleanly at the end of its `with` block: sockets are shut down so blocked reads wake
at once, and threads are joined. Point a check at one by changing only
`RunConfig.target` (to `HOST`) and `RunConfig.ports`, so the check runs its real code path.

    with FakeHttpServer(HttpMode.VERSIONS) as http, FakeDnsServer(DnsMode.ANSWER) as dns:
        ports = Ports(http=http.port, host_plugin=http.port, dns=dns.port)

What is here:
- `FakeHttpServer(mode, body=...)`: versions / 500 / garbage body / huge body (complete, or
  stalling after 128 KiB) / slow trickle / entity bomb / non-HTTP bytes / silent / short body;
  `.requests` holds the raw requests it read.
- `FakeDnsServer(mode, records=..., ptr_name=...)`: UDP and TCP on the *same* port number
  (the checks use one DNS port for both); answer / nxdomain / servfail / ptr / garbage /
  wrong id / silent; `.questions` holds what was asked, per transport.
- `refusing_port()`: a free port nothing listens on (connects are refused).
- `BlackholePort()`: a port whose SYNs are dropped (connects time out), made on loopback by
  filling a listen(0) socket's accept queue; it verifies the drop before it is handed out.
- `ErrnoSocket`: a socket for `System.socket_factory` whose connect fails with a chosen
  errno (EPERM from a local firewall, ENETUNREACH, ...), which loopback cannot produce.
- `fake_system(...)`: a `System` with a made-up hostname, resolv.conf, interface addresses
  and system-resolver PTR answer, so no check test touches the real resolver or machine.
- Bodies: `VERSIONS_XML` (the fixture), `ENTITY_BOMB`, `XXE`; `CORE_IDS`: the six core checks.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from wirecheck.checks.catalogue import load_all
from wirecheck.net.errors import TIMEOUT_ERRORS
from wirecheck.platform.resolv import RESOLV_CONF
from wirecheck.strenum import StrEnum
from wirecheck.system import CommandResult, System

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self is new in 3.11

HOST = "127.0.0.1"
# The probes a test can point at servers on 127.0.0.1 (a trace needs a lab).
CORE_IDS = tuple(spec.id for spec in load_all() if spec.probe and spec.probe != "trace")
_POLL_S = 0.05  # how often idle loops look at the stop flag
# HUGE_STALLS sends this much of its body, twice what net.http keeps, then nothing more.
STALL_AFTER = 128 * 1024
_JOIN_S = 2.0

VERSIONS_XML = (Path(__file__).resolve().parent / "fixtures" / "versions.xml").read_bytes()

# The "billion laughs": ten levels of ten references, 10**9 copies of "lol" if expanded.
ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Versions [\n  <!ENTITY lol "lol">\n'
    + b"".join(
        b'  <!ENTITY lol%d "%s">\n' % (level, (b"&lol%d;" % (level - 1)) * 10)
        for level in range(1, 10)
    ).replace(b"&lol0;", b"&lol;")
    + b"]>\n<Versions><Preferred><Version>&lol9;</Version></Preferred></Versions>\n"
)

# An external entity that would read a local file if a parser resolved it.
XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Versions [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n'
    b"<Versions><Preferred><Version>&xxe;</Version></Preferred></Versions>\n"
)

GARBAGE_BODY = bytes(range(256)) * 4  # binary, not XML, not text
NOT_HTTP = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not an HTTP status line\r\n\r\n"


class _Threads:
    """Daemon threads and sockets that `stop()` shuts down and joins."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def own(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(_JOIN_S)
        for sock in sockets:
            sock.close()
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"fake server threads did not stop within {_JOIN_S} s: {alive}")


def _accept_loop(threads: _Threads, listener: socket.socket, handle: Callable[..., None]) -> None:
    """Accept until stopped; each connection is served by `handle(conn)` in its own thread."""
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while not threads.stopping.is_set():
            if not selector.select(_POLL_S):
                continue
            try:
                conn, _peer = listener.accept()
            except OSError:
                return  # shut down under us: stopping
            threads.own(conn)
            threads.start(handle, conn)


def _recv_until(conn: socket.socket, marker: bytes, stopping: threading.Event) -> bytes:
    """Bytes up to and including `marker`, or what came before the peer closed or we stop."""
    data = b""
    conn.settimeout(_POLL_S)
    while marker not in data and not stopping.is_set() and len(data) < 65536:
        try:
            chunk = conn.recv(4096)
        except TIMEOUT_ERRORS:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def _recv_exact(conn: socket.socket, size: int, stopping: threading.Event) -> bytes | None:
    data = b""
    conn.settimeout(_POLL_S)
    while len(data) < size and not stopping.is_set():
        try:
            chunk = conn.recv(size - len(data))
        except TIMEOUT_ERRORS:
            continue
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data if len(data) == size else None


class HttpMode(StrEnum):
    VERSIONS = "versions"  # 200 with `body` (default: the versions.xml fixture)
    HTTP_500 = "http-500"  # 500 Internal Server Error with a small XML error body
    GARBAGE = "garbage"  # 200 with a binary body that is not XML
    HUGE = "huge"  # 200 with a `huge_size` body (default 1 MiB)
    # 200 promising a `huge_size` body; sends STALL_AFTER bytes of it, then holds the
    # connection open: only a client that stops reading at its cap ever returns with it.
    HUGE_STALLS = "huge-stalls"
    TRICKLE = "trickle"  # headers at once (or not: `trickle_head`), body one byte per `trickle_s`
    ENTITY_BOMB = "entity-bomb"  # 200 with a billion-laughs document
    NOT_HTTP = "not-http"  # bytes that are not an HTTP response, then close
    SILENT = "silent"  # reads the request, never answers
    SHORT_BODY = "short-body"  # Content-Length promises more than is sent, then closes
    RAW = "raw"  # `body` is the whole response (a recorded one), sent as it is


class FakeHttpServer:
    """An HTTP/1.1 server with one behaviour; see `HttpMode`."""

    def __init__(
        self,
        mode: HttpMode = HttpMode.VERSIONS,
        *,
        body: bytes | None = None,
        huge_size: int = 1024 * 1024,
        trickle_s: float = 0.2,
        trickle_head: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        reason: str = "Internal Server Error",
    ) -> None:
        self.mode = mode
        self.body = body
        self.reason = reason  # HTTP_500's reason phrase
        self.huge_size = huge_size
        self.trickle_s = trickle_s
        self.trickle_head = trickle_head  # TRICKLE: the status line and headers trickle too
        self.extra_headers = dict(extra_headers or {})
        self.requests: list[bytes] = []  # raw request heads, in arrival order
        self.port = 0
        self._threads = _Threads()

    def __enter__(self) -> Self:
        listener = self._threads.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._threads.start(_accept_loop, self._threads, listener, self._serve)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._threads.stop()

    def _serve(self, conn: socket.socket) -> None:
        stopping = self._threads.stopping
        request = _recv_until(conn, b"\r\n\r\n", stopping)
        self.requests.append(request)
        with contextlib.suppress(OSError):
            if self.mode is HttpMode.SILENT:
                stopping.wait()
            elif self.mode is HttpMode.NOT_HTTP:
                conn.sendall(NOT_HTTP)
            elif self.mode is HttpMode.RAW:
                conn.sendall(self.body or b"")
            elif self.mode is HttpMode.SHORT_BODY:
                body = self.body if self.body is not None else VERSIONS_XML
                conn.sendall(self._head(200, "OK", len(body)) + body[: len(body) // 2])
            elif self.mode is HttpMode.HUGE_STALLS:
                body = self._huge_body()
                conn.sendall(self._head(200, "OK", len(body)) + body[:STALL_AFTER])
                stopping.wait()
            elif self.mode is HttpMode.TRICKLE:
                body = self.body if self.body is not None else VERSIONS_XML
                head = self._head(200, "OK", len(body))
                slow = head + body if self.trickle_head else body
                if not self.trickle_head:
                    conn.sendall(head)
                for index in range(len(slow)):
                    if stopping.wait(self.trickle_s):
                        break
                    conn.sendall(slow[index : index + 1])
            else:
                status, reason, body = self._answer()
                conn.sendall(self._head(status, reason, len(body)) + body)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)

    def _answer(self) -> tuple[int, str, bytes]:
        if self.mode is HttpMode.HTTP_500:
            return 500, self.reason, b"<Error><Code>InternalError</Code></Error>"
        if self.mode is HttpMode.GARBAGE:
            return 200, "OK", GARBAGE_BODY
        if self.mode is HttpMode.HUGE:
            return 200, "OK", self._huge_body()
        if self.mode is HttpMode.ENTITY_BOMB:
            return 200, "OK", ENTITY_BOMB
        return 200, "OK", self.body if self.body is not None else VERSIONS_XML

    def _huge_body(self) -> bytes:
        line = b"<Version>2012-11-30</Version>\n"
        return (line * (self.huge_size // len(line) + 1))[: self.huge_size]

    def _head(self, status: int, reason: str, length: int) -> bytes:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "Content-Length": str(length),
            "Connection": "close",
            **self.extra_headers,
        }
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class DnsMode(StrEnum):
    ANSWER = "answer"  # A from `records` (or `default_address`); other questions: NXDOMAIN
    NXDOMAIN = "nxdomain"  # NXDOMAIN for every question
    SERVFAIL = "servfail"  # SERVFAIL for every question
    PTR = "ptr"  # every PTR question gets `ptr_name`; A questions as for ANSWER
    GARBAGE = "garbage"  # bytes that are not a DNS message
    WRONG_ID = "wrong-id"  # a well-formed NXDOMAIN whose id is not the query's
    SILENT = "silent"  # reads the question, never answers


@dataclass(frozen=True)
class Question:
    transport: str  # "udp" or "tcp"
    name: str  # absolute, with the trailing dot
    rdtype: str


class FakeDnsServer:
    """A DNS server on UDP and TCP, same port number; see `DnsMode`.

    GARBAGE replies with `garbage`: bytes, or a function of the query's wire bytes (to
    build near-valid replies with the right id). It may be changed between queries, e.g.
    by a hypothesis test. Over TCP it goes with a correct length prefix, so the client's
    parser, not its framing, sees it.
    """

    def __init__(
        self,
        mode: DnsMode = DnsMode.ANSWER,
        *,
        records: Mapping[str, str] | None = None,
        default_address: str | None = None,
        ptr_name: str = "wire.example.net.",
        garbage: bytes | Callable[[bytes], bytes] = b"\x00\x01 this is not a DNS message \xff\xfe",
    ) -> None:
        self.mode = mode
        self.records = {_absolute(k): v for k, v in (records or {}).items()}
        self.default_address = default_address
        self.ptr_name = ptr_name
        self.garbage = garbage
        self.questions: list[Question] = []
        self.port = 0
        self._threads = _Threads()

    def __enter__(self) -> Self:
        udp, tcp = self._bind_same_port()
        self._threads.start(self._serve_udp, udp)
        self._threads.start(_accept_loop, self._threads, tcp, self._serve_tcp)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._threads.stop()

    def _bind_same_port(self) -> tuple[socket.socket, socket.socket]:
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((HOST, 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind((HOST, port))
            except OSError as exc:
                udp.close()
                tcp.close()
                if exc.errno == errno.EADDRINUSE:
                    continue
                raise
            tcp.listen(16)
            self.port = port
            return self._threads.own(udp), self._threads.own(tcp)
        raise RuntimeError("no free port number for both UDP and TCP on 127.0.0.1 in 50 tries")

    def _serve_udp(self, udp: socket.socket) -> None:
        udp.settimeout(_POLL_S)
        while not self._threads.stopping.is_set():
            try:
                wire, peer = udp.recvfrom(65535)
            except TIMEOUT_ERRORS:
                continue
            except OSError:
                return
            reply = self._reply(wire, "udp")
            if reply is not None:
                with contextlib.suppress(OSError):
                    udp.sendto(reply, peer)

    def _serve_tcp(self, conn: socket.socket) -> None:
        stopping = self._threads.stopping
        while not stopping.is_set():
            prefix = _recv_exact(conn, 2, stopping)
            if prefix is None:
                return
            wire = _recv_exact(conn, struct.unpack("!H", prefix)[0], stopping)
            if wire is None:
                return
            reply = self._reply(wire, "tcp")
            if reply is None:
                stopping.wait()
                return
            with contextlib.suppress(OSError):
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def _reply(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.questions.append(Question(transport, question.name.to_text(), rdtype))
        if self.mode is DnsMode.SILENT:
            return None
        if self.mode is DnsMode.GARBAGE:
            return self.garbage(wire) if callable(self.garbage) else self.garbage
        response = dns.message.make_response(query)
        if self.mode is DnsMode.WRONG_ID:
            response.id = (query.id + 1) & 0xFFFF
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif self.mode is DnsMode.NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif self.mode is DnsMode.SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            value = self._lookup(question.name.to_text(), rdtype)
            if value is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, rdtype, value)
                )
        return response.to_wire()

    def _lookup(self, name: str, rdtype: str) -> str | None:
        if rdtype == "PTR":
            return self.ptr_name if self.mode is DnsMode.PTR else None
        if rdtype == "A":
            return self.records.get(name, self.default_address)
        return None


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


def refusing_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: a connect gets ECONNREFUSED.

    Bound and closed at once; another process could take it in between, which on a test
    machine's ephemeral range is vanishingly rare.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


class BlackholePort:
    """A port on 127.0.0.1 where a TCP connect times out (its SYNs are dropped).

    Linux drops a SYN when the listener's accept queue is full. A listen(0) socket that
    never accepts holds one connection; we fill it, and check that one more connect does
    not complete within `probe_s` before handing the port out.
    """

    def __init__(self, probe_s: float = 0.1) -> None:
        self.probe_s = probe_s
        self.port = 0
        self._sockets: list[socket.socket] = []

    def __enter__(self) -> Self:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sockets.append(listener)
        listener.bind((HOST, 0))
        listener.listen(0)
        self.port = listener.getsockname()[1]
        for _ in range(8):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if not _connects_within(filler, self.port, self.probe_s):
                filler.close()  # dropped: the queue is full, the port is a blackhole
                return self
            self._sockets.append(filler)
        self.__exit__(None, None, None)
        raise RuntimeError(f"127.0.0.1:{self.port} still accepts after 8 connects; no blackhole")

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()


def _connects_within(sock: socket.socket, port: int, timeout_s: float) -> bool:
    sock.setblocking(False)
    sock.connect_ex((HOST, port))
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        ready = selector.select(timeout_s)
    return bool(ready) and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


class ErrnoSocket:
    """Stands in for a socket whose connect the kernel answers with `code`.

    `immediate`: connect_ex returns the code itself (a local EPERM); otherwise it returns
    EINPROGRESS and the code arrives later in SO_ERROR (an ICMP error from a router). A real
    socketpair end gives the selector something writable to wait on.
    """

    def __init__(self, code: int, immediate: bool) -> None:
        self.code = code
        self.immediate = immediate
        self.closed = False
        self._pair = socket.socketpair()

    def setblocking(self, flag: bool) -> None:
        pass

    def connect_ex(self, address: Any) -> int:
        return self.code if self.immediate else errno.EINPROGRESS

    def fileno(self) -> int:
        return self._pair[0].fileno()

    def getsockopt(self, level: int, option: int) -> int:
        assert (level, option) == (socket.SOL_SOCKET, socket.SO_ERROR)
        return self.code

    def close(self) -> None:
        self.closed = True
        for end in self._pair:
            end.close()


def fake_system(
    *,
    hostname: str = "vm1",
    resolv_conf: str | None = "nameserver 168.63.129.16\nsearch abc.internal.cloudapp.net\n",
    addresses: Mapping[str, tuple[str, ...]] | None = None,
    reverse: Callable[[str], str | None] | None = None,
    root: bool = True,
    socket_factory: Callable[[int, int], Any] = socket.socket,
    files: Mapping[str, str] | None = None,
) -> System:
    """A `System` that answers from these values; nothing reaches the real machine.

    `resolv_conf=None`: /etc/resolv.conf cannot be read. `reverse`: the system resolver's
    PTR answer (default: no name). `files`: other readable files by path. Commands are not
    expected in these checks: one fails the test loudly rather than running on the host.
    """
    interfaces = dict(addresses or {"lo": ("127.0.0.1",), "eth0": ("10.0.0.4",)})

    def read_text(path: str) -> str:
        if path == RESOLV_CONF and resolv_conf is not None:
            return resolv_conf
        if files and path in files:
            return files[path]
        raise FileNotFoundError(2, "No such file or directory (fake system)", path)

    def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult:
        raise AssertionError(f"a check ran a command on the test host: {list(argv)}")

    return System(
        read_text=read_text,
        run_command=run_command,
        hostname=lambda: hostname,
        is_root=lambda: root,
        interface_addresses=lambda: interfaces,
        socket_factory=socket_factory,
        reverse_lookup=reverse or (lambda _address: None),
        environ={},
    )
