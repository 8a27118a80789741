"""The traceroute engines on loopback (the target answers at hop 1), their decoders on
made-up bytes, and the shared driver with a scripted prober.

Hops past the first need routers: tests/test_traceroute_netns.py covers those in lab
namespaces.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import pytest

from tests.bounds import AMPLE_S, FakeClock, finishes
from tests.servers import HOST, BlackholePort, FakeHttpServer, refusing_port
from wirecheck.model import Deadline
from wirecheck.net.traceroute import (
    KERNEL,
    RAW,
    EngineUnavailable,
    TraceRequest,
    choose_engine,
    drive,
)
from wirecheck.net.traceroute import capture as cap
from wirecheck.net.traceroute.hops import Reply, ReplyKind
from wirecheck.net.traceroute.kernel import (
    IP_RECVERR,
    SCM_TIMESTAMPNS,
    SO_EE_ORIGIN_ICMP,
    KernelEngine,
    parse_errqueue,
    reply_from_errqueue,
)
from wirecheck.net.traceroute.schedule import ProbeBook, SentProbe, TracePlan

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
FAST = TracePlan(max_hops=3, wave=3, wait_s=0.3)


def test_engine_choice_per_platform() -> None:
    assert choose_engine(True, "linux")[0] == KERNEL  # auto: scapy only where it is needed
    assert choose_engine(True, "linux", proxy_agent=True)[0] == RAW
    assert choose_engine(True, "linux", "raw")[0] == RAW
    assert choose_engine(True, "linux", "kernel", proxy_agent=True)[0] == KERNEL
    assert choose_engine(False, "linux")[0] == KERNEL
    assert choose_engine(False, "linux", "raw") == (
        KERNEL,
        "not root: unprivileged probes (one TCP socket per TTL, IP_RECVERR); "
        "the raw engine needs root",
    )
    engine, why = choose_engine(True, "win32")
    assert engine is None and "Windows" in why and "Npcap" in why
    assert choose_engine(False, "darwin")[0] is None


# ---------------------------------------------------------------------------------------
# Kernel engine


def test_kernel_engine_target_answers_at_hop_1_with_syn_ack() -> None:
    deadline = Deadline(AMPLE_S)
    with FakeHttpServer() as server:
        run = KernelEngine().trace(TraceRequest(HOST, server.port, FAST), deadline)
    assert run.engine == KERNEL
    assert [h.kind for h in run.hops] == ["target"]
    assert [c.address for c in run.hops[0].cells] == [HOST] * 3
    # Each round trip was measured, in milliseconds, within the trace's own time.
    assert all(
        c.rtt_ms is not None and 0 <= c.rtt_ms <= run.duration_s * 1000 for c in run.hops[0].cells
    )
    # The answers ended the trace, not the deadline.
    assert not run.deadline_hit and not deadline.expired
    assert run.probes_sent == 5  # the wave (3 TTLs) + 2 more attempts at hop 1 only


def test_kernel_engine_refused_port_is_the_target_answering() -> None:
    run = KernelEngine().trace(TraceRequest(HOST, refusing_port(), FAST), Deadline(3))
    assert [h.kind for h in run.hops] == ["target"]
    assert run.hops[0].final


def test_kernel_engine_blackhole_gives_stars_and_stops_at_the_deadline() -> None:
    # A minute's wait per probe: only the deadline can end this trace before `finishes`
    # calls it a hang.
    plan = TracePlan(max_hops=2, wave=2, wait_s=60.0)
    deadline = Deadline(0.4)
    with BlackholePort() as blackhole:
        request = TraceRequest(HOST, blackhole.port, plan)
        run = finishes(lambda: KernelEngine().trace(request, deadline))
    assert run.deadline_hit
    assert [h.kind for h in run.hops] == ["none", "none"]
    assert deadline.expired


def _errqueue(icmp_type: int, code: int, offender: str, at: float) -> list[tuple[int, int, bytes]]:
    err = struct.pack("=IBBBBII", 113, SO_EE_ORIGIN_ICMP, icmp_type, code, 0, 0, 0)
    sockaddr = struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton(offender))
    seconds = int(at)
    stamp = struct.pack("=qq", seconds, int((at - seconds) * 1e9))
    return [
        (socket.SOL_SOCKET, SCM_TIMESTAMPNS, stamp),
        (socket.SOL_IP, IP_RECVERR, err + sockaddr),
    ]


def test_error_queue_time_exceeded_names_the_router() -> None:
    entry = parse_errqueue(_errqueue(11, 0, "10.1.0.254", 1000.25))
    assert entry is not None
    assert (entry.icmp_type, entry.icmp_code, entry.offender) == (11, 0, "10.1.0.254")
    assert entry.arrived_at == pytest.approx(1000.25)
    reply = reply_from_errqueue(entry, 1, 0, 0.5)
    assert reply == Reply(1, 0, "10.1.0.254", 0.5, ReplyKind.TIME_EXCEEDED)


def test_error_queue_unreachable_keeps_the_code() -> None:
    entry = parse_errqueue(_errqueue(3, 13, "10.1.0.1", 5.0))
    assert entry is not None
    reply = reply_from_errqueue(entry, 2, 1, 0.2)
    assert reply is not None and reply.kind is ReplyKind.UNREACHABLE and reply.flag == "!X"


def test_error_queue_without_icmp_origin_is_not_a_hop() -> None:
    local = struct.pack("=IBBBBII", 90, 1, 0, 0, 0, 0, 0)  # SO_EE_ORIGIN_LOCAL (EMSGSIZE)
    entry = parse_errqueue([(socket.SOL_IP, IP_RECVERR, local)])
    assert entry is not None and entry.offender is None
    assert reply_from_errqueue(entry, 1, 0, 0.1) is None
    assert parse_errqueue([]) is None


# ---------------------------------------------------------------------------------------
# The driver


class ScriptedProber:
    """Answers each probe from a table: (ttl) -> (address, kind) or None for silence.

    Waiting for silence moves its clock (give the driver the same one) on, never sleeps.
    """

    def __init__(
        self,
        answers: dict[int, tuple[str, ReplyKind] | None],
        fail: int = 0,
        clock: FakeClock | None = None,
    ) -> None:
        self.answers = answers
        self.fail = fail
        self.clock = clock or FakeClock()
        self.queue: list[Reply] = []
        self.sent: list[tuple[int, int]] = []
        self.closed = False

    def send(self, ttl: int, attempt: int) -> None:
        if self.fail:
            raise OSError(self.fail, os.strerror(self.fail))
        self.sent.append((ttl, attempt))
        answer = self.answers.get(ttl)
        if answer is not None:
            self.queue.append(Reply(ttl, attempt, answer[0], 0.2, answer[1]))

    def poll(self, timeout_s: float) -> list[Reply]:
        if not self.queue:
            self.clock.advance(timeout_s)
        replies, self.queue = self.queue, []
        return replies

    def close(self) -> None:
        self.closed = True


def test_drive_stops_when_the_target_and_lower_hops_are_accounted_for() -> None:
    target = "168.63.129.16"
    clock = FakeClock()
    prober = ScriptedProber(
        {1: ("10.1.0.254", ReplyKind.TIME_EXCEEDED), 2: (target, ReplyKind.SYN_ACK)}
        | {t: (target, ReplyKind.SYN_ACK) for t in range(3, 9)},
        clock=clock,
    )
    run = drive(prober, "raw", TraceRequest(target, 80), Deadline(2, clock), clock)
    assert [h.kind for h in run.hops] == ["router", "target"]
    # On a clock that moves only while the prober waits for silence: it never had to.
    assert run.duration_s == 0.0 and not run.deadline_hit and prober.closed
    assert sorted(set(prober.sent)) == sorted(
        [(t, 0) for t in range(1, 5)] + [(1, 1), (1, 2), (2, 1), (2, 2)]
    )


def test_drive_send_failure_stops_the_trace_with_the_errno() -> None:
    run = drive(ScriptedProber({}, fail=1), "raw", TraceRequest("168.63.129.16", 80), Deadline(2))
    assert run.stopped_reason and "EPERM" in run.stopped_reason
    assert run.hops == ()


# ---------------------------------------------------------------------------------------
# Raw engine: decoding real packet layouts built with scapy


@pytest.fixture(scope="module")
def inet() -> Any:
    from wirecheck.net.traceroute.raw import import_scapy

    return import_scapy()


def _probe_bytes(inet: Any, ttl: int, sport: int, seq: int) -> Any:
    return inet.IP(src="10.1.0.4", dst="168.63.129.16", ttl=ttl) / inet.TCP(
        sport=sport, dport=80, flags="S", seq=seq
    )


def test_raw_decodes_and_matches_time_exceeded(inet: Any) -> None:
    from wirecheck.net.traceroute.raw import dissect, match, quick_filter

    book = ProbeBook("168.63.129.16", 80)
    book.add(SentProbe(1, 0, 40001, 777, 100.0))
    probe = _probe_bytes(inet, 1, 40001, 777)
    icmp = bytes(
        inet.IP(src="10.1.0.254", dst="10.1.0.4") / inet.ICMP(type=11, code=0) / bytes(probe)[:28]
    )
    assert quick_filter(icmp, socket.inet_aton("168.63.129.16"), 80)
    fields = dissect(inet, icmp)
    reply = match(book, fields, 100.0005) if fields else None
    assert reply is not None
    assert (reply.ttl, reply.address, reply.kind) == (1, "10.1.0.254", ReplyKind.TIME_EXCEEDED)
    assert reply.rtt_ms == pytest.approx(0.5)


def test_raw_decodes_and_matches_syn_ack_and_ignores_strangers(inet: Any) -> None:
    from wirecheck.net.traceroute.raw import dissect, match, quick_filter

    book = ProbeBook("168.63.129.16", 80)
    book.add(SentProbe(2, 1, 40002, 5000, 10.0))
    synack = bytes(
        inet.IP(src="168.63.129.16", dst="10.1.0.4")
        / inet.TCP(sport=80, dport=40002, flags="SA", seq=1, ack=5001)
    )
    fields = dissect(inet, synack)
    reply = match(book, fields, 10.001) if fields else None
    assert reply is not None and (reply.ttl, reply.attempt, reply.kind) == (
        2,
        1,
        ReplyKind.SYN_ACK,
    )
    stranger = bytes(
        inet.IP(src="10.9.9.9", dst="10.1.0.4") / inet.TCP(sport=80, dport=40002, flags="SA")
    )
    assert not quick_filter(stranger, socket.inet_aton("168.63.129.16"), 80)


@pytest.mark.skipif(not ROOT, reason="raw sockets need root")
def test_raw_engine_on_loopback(inet: Any) -> None:
    from wirecheck.net.traceroute.raw import RawEngine

    request = TraceRequest(HOST, refusing_port(), FAST, interface="lo", source=HOST)
    run = RawEngine(inet).trace(request, Deadline(3))
    assert run.engine == RAW
    assert [h.kind for h in run.hops] == ["target"]
    assert len([c for c in run.hops[0].cells if c.address == HOST]) == 3


def test_raw_engine_needs_the_route() -> None:
    from wirecheck.net.traceroute.raw import RawProber

    with pytest.raises(EngineUnavailable, match="ip route get"):
        RawProber(TraceRequest(HOST, 80), inet=None)


# ---------------------------------------------------------------------------------------
# Egress capture


def test_bpf_program_jumps_land_inside_the_program() -> None:
    program = cap.bpf_tcp_to("168.63.129.16", 80)
    for at, (code, jt, jf, _) in enumerate(program):
        if code & 0x07 == 0x05:  # a jump
            assert at + 1 + jt < len(program) and at + 1 + jf < len(program)
    assert program[-1] == (0x06, 0, 0, 0) and program[-2][3] == 0xFFFF
    assert program[5][3] == 0xA83F8110  # 168.63.129.16


def test_outgoing_syn_parsing() -> None:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, b"\x0a\x01\x00\x04",
                         socket.inet_aton("168.63.129.16"))  # fmt: skip
    syn = header + struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x02, 0, 0, 0)
    assert cap.parse_outgoing_syn(syn) == ("10.1.0.4", "168.63.129.16", 40000, 80)
    synack = header + struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x12, 0, 0, 0)
    assert cap.parse_outgoing_syn(synack) is None
    assert cap.parse_outgoing_syn(b"\x60" + bytes(40)) is None  # IPv6


@pytest.mark.skipif(not ROOT, reason="packet capture needs root")
def test_capture_sees_the_syn_leave_by_loopback() -> None:
    result = cap.capture_syn(HOST, refusing_port(), Deadline(2))
    assert result.captured is not None, result.detail
    assert (result.captured.interface, result.captured.source) == ("lo", HOST)
    assert result.local_address and result.local_address.startswith(f"{HOST}:")


@pytest.mark.skipif(not ROOT, reason="packet capture needs root")
def test_capture_cut_short_by_the_deadline_blames_no_firewall() -> None:
    result = cap.capture_syn(HOST, refusing_port(), Deadline(0))
    assert result.captured is None
    assert "deadline" in result.detail and "firewall" not in result.detail


def test_capture_without_a_packet_socket_says_why() -> None:
    def denied() -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    result = cap.capture_syn(HOST, 80, Deadline(1), packet_socket=denied)
    assert result.captured is None and "packet socket" in result.detail
