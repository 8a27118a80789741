"""The kernel engine (Linux; the default, and the only one without root): one
non-blocking TCP connect per probe.

Each probe is a socket with `IP_TTL` set; with `IP_RECVERR` the ICMP error a router sends
back (time exceeded, unreachable) is queued on that socket's error queue, with the
router's address. A connect that succeeds (SYN-ACK) or is refused (RST) means the target
answered. Sockets are closed with an RST (SO_LINGER 0) so no connection lingers.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from dataclasses import dataclass

from wirecheck.model import Deadline
from wirecheck.net.traceroute import KERNEL, TraceRequest, TraceRun, drive
from wirecheck.net.traceroute.hops import ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, Reply, ReplyKind
from wirecheck.system import SocketFactory

# Linux values Python does not export (IP_RECVERR only from 3.14).
IP_RECVERR = 11
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_EE_ORIGIN_ICMP = 2
MSG_ERRQUEUE = 0x2000
# struct sock_extended_err: errno, origin, type, code, pad, info, data; then the offender.
SOCK_EXTENDED_ERR = struct.Struct("=IBBBBII")
SOCKADDR_IN = struct.Struct("=HH4s8x")  # family, port (big-endian bytes), address
TCP_INFO_RTT_OFFSET = 68  # struct tcp_info: 8 bytes of u8 fields, then u32s; rtt is the 16th
_POLL_EVENTS = select.POLLOUT | select.POLLERR | select.POLLHUP


@dataclass(frozen=True)
class ErrQueueEntry:
    """One ICMP error from a socket's error queue."""

    origin: int
    icmp_type: int
    icmp_code: int
    offender: str | None
    arrived_at: float | None  # wall clock, from SCM_TIMESTAMPNS


def parse_errqueue(ancillary: list[tuple[int, int, bytes]]) -> ErrQueueEntry | None:
    """Decode recvmsg(MSG_ERRQUEUE)'s control messages: the extended error, the offender
    (the sockaddr_in right after it) and the arrival time."""
    entry: ErrQueueEntry | None = None
    arrived: float | None = None
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("=qq", data[:16])
            arrived = seconds + nanos / 1e9
        elif level == socket.SOL_IP and kind == IP_RECVERR and len(data) >= SOCK_EXTENDED_ERR.size:
            _, origin, icmp_type, code, _, _, _ = SOCK_EXTENDED_ERR.unpack_from(data)
            offender = None
            tail = data[SOCK_EXTENDED_ERR.size :]
            if len(tail) >= SOCKADDR_IN.size:
                family, _, raw = SOCKADDR_IN.unpack_from(tail)
                if family == socket.AF_INET:
                    offender = socket.inet_ntoa(raw)
            entry = ErrQueueEntry(origin, icmp_type, code, offender, None)
    if entry is None:
        return None
    return ErrQueueEntry(entry.origin, entry.icmp_type, entry.icmp_code, entry.offender, arrived)


def reply_from_errqueue(
    entry: ErrQueueEntry, ttl: int, attempt: int, rtt_ms: float
) -> Reply | None:
    if entry.origin != SO_EE_ORIGIN_ICMP or entry.offender is None:
        return None
    if entry.icmp_type == ICMP_TIME_EXCEEDED:
        return Reply(ttl, attempt, entry.offender, rtt_ms, ReplyKind.TIME_EXCEEDED)
    if entry.icmp_type == ICMP_DEST_UNREACH:
        return Reply(ttl, attempt, entry.offender, rtt_ms, ReplyKind.UNREACHABLE, entry.icmp_code)
    return None


@dataclass
class _Pending:
    sock: socket.socket
    ttl: int
    attempt: int
    sent_wall: float


class KernelProber:
    def __init__(self, request: TraceRequest, socket_factory: SocketFactory) -> None:
        self.request = request
        self.socket_factory = socket_factory
        self.poller = select.poll()
        self.pending: dict[int, _Pending] = {}
        self.ready: list[Reply] = []

    def send(self, ttl: int, attempt: int) -> None:
        sock = self.socket_factory(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_IP, socket.IP_TTL, ttl)
            sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            # Close with an RST: a probe that reached the target must not leave a
            # connection (or a TIME_WAIT) behind.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if self.request.source:
                sock.bind((self.request.source, 0))
            sent_wall = time.time()
            code = sock.connect_ex((self.request.target, self.request.port))
        except OSError:
            sock.close()
            raise
        if code not in (0, errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            if code == errno.ECONNREFUSED:  # refused at once: the target answered
                reply = self._answer(sock, ttl, attempt, sent_wall, code)
                sock.close()
                if reply is not None:
                    self.ready.append(reply)
                return
            sock.close()
            raise OSError(code, errno.errorcode.get(code, str(code)))
        pending = _Pending(sock, ttl, attempt, sent_wall)
        self.pending[sock.fileno()] = pending
        self.poller.register(sock.fileno(), _POLL_EVENTS)

    def poll(self, timeout_s: float) -> list[Reply]:
        replies, self.ready = self.ready, []
        if replies or not self.pending:
            if not replies:
                time.sleep(max(0.0, timeout_s))
            return replies
        for fd, _ in self.poller.poll(max(0, int(timeout_s * 1000 + 0.999))):
            pending = self.pending.pop(fd, None)
            if pending is None:
                continue
            self.poller.unregister(fd)
            reply = self._read(pending)
            pending.sock.close()
            if reply is not None:
                replies.append(reply)
        return replies

    def _read(self, pending: _Pending) -> Reply | None:
        sock = pending.sock
        try:
            _, ancillary, _, _ = sock.recvmsg(256, 1024, MSG_ERRQUEUE)
        except OSError:
            ancillary = []  # no ICMP queued: the target itself answered (or nothing did)
        entry = parse_errqueue(ancillary) if ancillary else None
        if entry is not None:
            arrived = entry.arrived_at or time.time()
            rtt_ms = max(0.0, (arrived - pending.sent_wall) * 1000)
            return reply_from_errqueue(entry, pending.ttl, pending.attempt, rtt_ms)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return self._answer(sock, pending.ttl, pending.attempt, pending.sent_wall, code)

    def _answer(
        self, sock: socket.socket, ttl: int, attempt: int, sent_wall: float, code: int
    ) -> Reply | None:
        rtt_ms = max(0.0, (time.time() - sent_wall) * 1000)
        if code == 0:
            measured = _tcp_info_rtt_ms(sock)
            return Reply(ttl, attempt, self.request.target, measured or rtt_ms, ReplyKind.SYN_ACK)
        if code in (errno.ECONNREFUSED, errno.ECONNRESET):
            return Reply(ttl, attempt, self.request.target, rtt_ms, ReplyKind.RST)
        return None  # an error with no ICMP behind it: nothing we can place on a hop

    def close(self) -> None:
        for pending in self.pending.values():
            pending.sock.close()
        self.pending.clear()


def _tcp_info_rtt_ms(sock: socket.socket) -> float | None:
    """The kernel's own SYN -> SYN-ACK round trip (tcpi_rtt, microseconds), if readable."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except (OSError, AttributeError):
        return None
    if len(info) < TCP_INFO_RTT_OFFSET + 4:
        return None
    (rtt_us,) = struct.unpack_from("=I", info, TCP_INFO_RTT_OFFSET)
    return rtt_us / 1000 if rtt_us else None


class KernelEngine:
    name = KERNEL

    def __init__(self, socket_factory: SocketFactory = socket.socket) -> None:
        self.socket_factory = socket_factory

    def trace(self, request: TraceRequest, deadline: Deadline) -> TraceRun:
        return drive(KernelProber(request, self.socket_factory), self.name, request, deadline)
