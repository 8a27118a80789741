"""Which interface does a SYN to the target really leave by? (root, Linux)

A packet socket (AF_PACKET) sees every packet the machine sends, on every interface, and
names the interface. We open one with a small BPF filter (TCP to target:port), send one
SYN through the kernel's normal TCP stack (so routing, policy rules and netfilter all
apply), and report the interface the SYN was captured on. No scapy needed.
"""

from __future__ import annotations

import ctypes
import errno
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from wirecheck.model import Deadline
from wirecheck.system import SocketFactory

ETH_P_IP = 0x0800
# Outgoing packets reach only ETH_P_ALL taps (dev_queue_xmit_nit), not per-protocol ones.
ETH_P_ALL = 0x0003
SKF_AD_PROTOCOL = 0xFFFFF000  # SKF_AD_OFF + SKF_AD_PROTOCOL: the packet's ethertype
SO_ATTACH_FILTER = 26
PACKET_OUTGOING = 4
# How long a SYN may take to appear on the wire after connect(): it is queued at once,
# so this only matters on a loaded machine.
CAPTURE_WAIT_S = 1.0

# Classic BPF opcodes (linux/filter.h).
_LD_B_ABS, _LD_H_ABS, _LD_W_ABS = 0x30, 0x28, 0x20
_LDX_B_MSH, _LD_H_IND = 0xB1, 0x48
_JEQ_K, _JSET_K, _RET_K = 0x15, 0x45, 0x06


@dataclass(frozen=True)
class Captured:
    interface: str
    source: str
    sport: int


@dataclass(frozen=True)
class CaptureResult:
    captured: Captured | None
    local_address: str | None  # the probe socket's ip:port, as the kernel bound it
    detail: str  # what happened, for the evidence


def bpf_tcp_to(target: str, port: int) -> list[tuple[int, int, int, int]]:
    """cBPF for a cooked (network-header first) packet socket: IPv4 TCP to target:port,
    first fragments only. Returns (code, jt, jf, k) instructions; jumps are relative."""
    dst = struct.unpack("!I", socket.inet_aton(target))[0]
    return [
        (_LD_H_ABS, 0, 0, SKF_AD_PROTOCOL),  # 0: ethertype
        (_JEQ_K, 0, 10, ETH_P_IP),  # 1: IPv4? else drop (1 + 1 + 10 -> 12)
        (_LD_B_ABS, 0, 0, 9),  # 2: protocol
        (_JEQ_K, 0, 8, socket.IPPROTO_TCP),  # 3: TCP? else drop
        (_LD_W_ABS, 0, 0, 16),  # 4: destination address
        (_JEQ_K, 0, 6, dst),  # 5: the target? else drop
        (_LD_H_ABS, 0, 0, 6),  # 6: flags + fragment offset
        (_JSET_K, 4, 0, 0x1FFF),  # 7: a later fragment has no TCP header: drop
        (_LDX_B_MSH, 0, 0, 0),  # 8: x = IP header length
        (_LD_H_IND, 0, 0, 2),  # 9: TCP destination port
        (_JEQ_K, 0, 1, port),  # 10: our port? else drop
        (_RET_K, 0, 0, 0xFFFF),  # 11: accept
        (_RET_K, 0, 0, 0),  # 12: drop
    ]


def parse_outgoing_syn(data: bytes) -> tuple[str, str, int, int] | None:
    """(source, destination, sport, dport) of an IPv4 TCP SYN without ACK; else None."""
    if len(data) < 20 or data[0] >> 4 != 4 or data[9] != socket.IPPROTO_TCP:
        return None
    header = (data[0] & 0x0F) * 4
    if len(data) < header + 14:
        return None
    sport, dport = struct.unpack_from("!HH", data, header)
    flags = data[header + 13]
    if not flags & 0x02 or flags & 0x10:
        return None
    return socket.inet_ntoa(data[12:16]), socket.inet_ntoa(data[16:20]), sport, dport


def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    raw = b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(raw)
    fprog = struct.pack("@HP", len(program), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def capture_syn(
    target: str,
    port: int,
    deadline: Deadline,
    socket_factory: SocketFactory = socket.socket,
    packet_socket: Callable[[], socket.socket] | None = None,
) -> CaptureResult:
    """Send one SYN to target:port through the kernel and capture the interface it left by."""
    opener = packet_socket or (
        lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    )
    try:
        sniffer = opener()
    except OSError as exc:
        return CaptureResult(None, None, f"could not open a packet socket: {exc.strerror}")
    probe: socket.socket | None = None
    try:
        _attach(sniffer, bpf_tcp_to(target, port))
        sniffer.setblocking(False)
        _drain(sniffer)  # packets that passed before the filter was attached
        probe = socket_factory(socket.AF_INET, socket.SOCK_STREAM)
        probe.setblocking(False)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        code = probe.connect_ex((target, port))
        if code not in (0, errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK):
            name = errno.errorcode.get(code, str(code))
            return CaptureResult(
                None, None, f"the kernel did not send the SYN: connect failed with {name}"
            )
        local_ip, local_port = probe.getsockname()[:2]
        local = f"{local_ip}:{local_port}"
        full_wait = time.monotonic() + CAPTURE_WAIT_S
        until = min(deadline.at, full_wait)
        while (left := until - time.monotonic()) > 0:
            readable, _, _ = select.select([sniffer], [], [], left)
            if not readable:
                break
            found = _read_syn(sniffer, target, port, local_port)
            if found is not None:
                return CaptureResult(
                    found, local, f"SYN from {local} captured on {found.interface}"
                )
        if until < full_wait:  # the run's deadline cut the wait short: no conclusion
            return CaptureResult(
                None, local, f"the run's deadline came before the SYN from {local} was seen"
            )
        return CaptureResult(
            None,
            local,
            f"no SYN from {local} to {target}:{port} was seen leaving any interface: the "
            "kernel dropped it before it left (a local firewall rule in OUTPUT/POSTROUTING)",
        )
    except OSError as exc:
        return CaptureResult(None, None, f"capture failed: {exc.strerror or exc}")
    finally:
        if probe is not None:
            probe.close()
        sniffer.close()


def _read_syn(sniffer: socket.socket, target: str, port: int, sport: int) -> Captured | None:
    while True:
        try:
            data, address = sniffer.recvfrom(256)
        except (BlockingIOError, InterruptedError):
            return None
        interface, ethertype, pkttype = address[0], address[1], address[2]
        if pkttype != PACKET_OUTGOING or ethertype != ETH_P_IP:
            continue
        syn = parse_outgoing_syn(data)
        if syn is not None and syn[1] == target and syn[2] == sport and syn[3] == port:
            return Captured(str(interface), syn[0], sport)


def _drain(sock: socket.socket) -> None:
    while True:
        try:
            sock.recv(256)
        except (BlockingIOError, InterruptedError):
            return
