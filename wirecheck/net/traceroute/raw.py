"""The raw engine (root, Linux): half-open SYN probes built and dissected with scapy.

Probes leave by a raw IP socket bound to the interface and source address that the
kernel's route lookup chose, so policy routing is honoured (scapy's own routing table is
never asked). Answers come from raw ICMP and TCP sockets: time exceeded and unreachable
quote the probe's ports and sequence number; a SYN-ACK or RST acknowledges seq + 1. Each
probe's source port is held by a bound (never listening) TCP socket, so no local
connection can collide with it, and the kernel resets the SYN-ACK a probe draws: no
connection is left open on the target.

scapy is imported here and only here (`import_scapy`): it costs about half a second.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

from wirecheck.model import Deadline
from wirecheck.net.traceroute import RAW, EngineUnavailable, TraceRequest, TraceRun, drive
from wirecheck.net.traceroute.hops import ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, Reply, ReplyKind
from wirecheck.net.traceroute.schedule import ProbeBook, SentProbe

SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
IPPROTO_ICMP, IPPROTO_TCP = 1, 6
# The SYN's options, as `traceroute -T` sends them: 40-byte TCP header, 60-byte packet.
_WSCALE = 7
_MSS = 1460
MAX_DRAIN = 512  # packets read from one socket per poll


def import_scapy() -> Any:
    """scapy's IP layer module (not `scapy.all`, which costs a second more)."""
    from scapy.layers import inet

    return inet


@dataclass(frozen=True)
class IcmpFields:
    src: str
    icmp_type: int
    icmp_code: int
    quoted_dst: str
    sport: int
    dport: int
    seq: int


@dataclass(frozen=True)
class TcpFields:
    src: str
    sport: int
    dport: int
    ack: int
    syn: bool
    rst: bool
    has_ack: bool


def dissect(inet: Any, data: bytes) -> IcmpFields | TcpFields | None:
    """The fields of an ICMP error quoting a TCP packet, or of a TCP segment; else None."""
    packet = inet.IP(data)
    if packet.haslayer(inet.ICMP) and packet.haslayer(inet.TCPerror):
        icmp = packet[inet.ICMP]
        quoted_ip = packet[inet.IPerror]
        quoted = packet[inet.TCPerror]
        return IcmpFields(
            packet.src,
            int(icmp.type),
            int(icmp.code),
            quoted_ip.dst,
            int(quoted.sport),
            int(quoted.dport),
            int(quoted.seq),
        )
    if packet.haslayer(inet.TCP) and not packet.haslayer(inet.ICMP):
        tcp = packet[inet.TCP]
        flags = int(tcp.flags)
        return TcpFields(
            packet.src,
            int(tcp.sport),
            int(tcp.dport),
            int(tcp.ack),
            bool(flags & 0x02),
            bool(flags & 0x04),
            bool(flags & 0x10),
        )
    return None


def match(book: ProbeBook, fields: IcmpFields | TcpFields, arrived: float) -> Reply | None:
    """The reply these fields make, if they answer one of our probes."""
    if isinstance(fields, IcmpFields):
        if fields.icmp_type not in (ICMP_TIME_EXCEEDED, ICMP_DEST_UNREACH):
            return None
        probe = book.match_icmp(fields.quoted_dst, fields.sport, fields.dport, fields.seq)
        if probe is None:
            return None
        kind = (
            ReplyKind.TIME_EXCEEDED
            if fields.icmp_type == ICMP_TIME_EXCEEDED
            else ReplyKind.UNREACHABLE
        )
        code = fields.icmp_code if kind is ReplyKind.UNREACHABLE else None
        return Reply(probe.ttl, probe.attempt, fields.src, _rtt(probe, arrived), kind, code)
    found = book.match_tcp(
        fields.src, fields.sport, fields.dport, fields.ack, fields.syn, fields.rst, fields.has_ack
    )
    if found is None:
        return None
    probe, kind = found
    return Reply(probe.ttl, probe.attempt, fields.src, _rtt(probe, arrived), kind)


def _rtt(probe: SentProbe, arrived: float) -> float:
    return max(0.0, (arrived - probe.sent_at) * 1000)


def quick_filter(data: bytes, target: bytes, port: int) -> bool:
    """Cheap pre-check before scapy dissects: is this possibly about our probes?

    The raw sockets see every ICMP and TCP packet the machine receives; only those from
    the target's port, or ICMP errors quoting a packet to the target, are worth parsing.
    """
    if len(data) < 20:
        return False
    header = (data[0] & 0x0F) * 4
    if data[9] == IPPROTO_TCP:
        return data[12:16] == target and data[header : header + 2] == port.to_bytes(2, "big")
    if data[9] == IPPROTO_ICMP:
        quoted = header + 8
        return len(data) >= quoted + 20 and data[quoted + 16 : quoted + 20] == target
    return False


class RawProber:
    def __init__(self, request: TraceRequest, inet: Any) -> None:
        if not request.interface or not request.source:
            raise EngineUnavailable(
                "the raw engine needs the interface and source address of the route to "
                f"{request.target}; `ip route get {request.target}` gave none"
            )
        self.request = request
        self.inet = inet
        self.book = ProbeBook(request.target, request.port)
        self.target_bytes = socket.inet_aton(request.target)
        self.holds: list[socket.socket] = []
        self.sockets: list[socket.socket] = []
        try:
            self.out = self._socket(socket.IPPROTO_RAW)
            self.out.setsockopt(
                socket.SOL_SOCKET, socket.SO_BINDTODEVICE, request.interface.encode()
            )
            self.out.bind((request.source, 0))
            self.icmp = self._socket(IPPROTO_ICMP)
            self.tcp = self._socket(IPPROTO_TCP)
            for sock in (self.icmp, self.tcp):
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.setblocking(False)
        except OSError as exc:
            self.close()
            raise EngineUnavailable(
                f"raw sockets on {request.interface} could not be opened: {exc.strerror} "
                "(the raw engine needs root with CAP_NET_RAW)"
            ) from exc

    def _socket(self, proto: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
        self.sockets.append(sock)
        return sock

    def _reserve_port(self) -> int:
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.holds.append(hold)
        hold.bind((self.request.source or "0.0.0.0", 0))
        return int(hold.getsockname()[1])

    def send(self, ttl: int, attempt: int) -> None:
        inet = self.inet
        sport = self._reserve_port()
        seq = random.getrandbits(32)
        options = [
            ("MSS", _MSS),
            ("SAckOK", b""),
            ("Timestamp", (int(time.time() * 1000) & 0xFFFFFFFF, 0)),
            ("NOP", None),
            ("WScale", _WSCALE),
        ]
        packet = inet.IP(
            src=self.request.source,
            dst=self.request.target,
            ttl=ttl,
            id=random.getrandbits(16),
        ) / inet.TCP(
            sport=sport, dport=self.request.port, flags="S", seq=seq, window=64240, options=options
        )
        data = bytes(packet)
        sent_at = time.time()
        self.out.sendto(data, (self.request.target, 0))
        self.book.add(SentProbe(ttl, attempt, sport, seq, sent_at))

    def poll(self, timeout_s: float) -> list[Reply]:
        replies: list[Reply] = []
        readable, _, _ = select.select([self.icmp, self.tcp], [], [], max(0.0, timeout_s))
        for sock in readable:
            # The raw TCP socket sees every TCP segment the machine receives: on a busy
            # server it might never run dry, so read a bounded batch and let the caller,
            # which watches the deadline, poll again.
            for _ in range(MAX_DRAIN):
                try:
                    data, ancillary, _, _ = sock.recvmsg(2048, 256)
                except (BlockingIOError, InterruptedError):
                    break
                if not quick_filter(data, self.target_bytes, self.request.port):
                    continue
                fields = dissect(self.inet, data)
                if fields is None:
                    continue
                reply = match(self.book, fields, _arrival(ancillary))
                if reply is not None:
                    replies.append(reply)
        return replies

    def close(self) -> None:
        for sock in self.sockets + self.holds:
            sock.close()
        self.sockets.clear()
        self.holds.clear()


def _arrival(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            seconds, nanos = struct.unpack("=qq", data[:16])
            return float(seconds + nanos / 1e9)
    return time.time()


class RawEngine:
    name = RAW

    def __init__(self, inet: Any | None = None) -> None:
        self.inet = inet  # scapy.layers.inet, when the caller already imported it

    def trace(self, request: TraceRequest, deadline: Deadline) -> TraceRun:
        inet = self.inet if self.inet is not None else import_scapy()
        return drive(RawProber(request, inet), self.name, request, deadline)
