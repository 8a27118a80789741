"""net.dns.query over UDP and TCP: answers, rcodes, garbage, wrong ids, silence."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dns.message
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import HOST, DnsMode, FakeDnsServer, refusing_port
from wirecheck.net import dns as dnsq
from wirecheck.net.errors import NetOutcome

TRANSPORTS = ["udp", "tcp"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_answer(transport: str) -> None:
    with FakeDnsServer(DnsMode.ANSWER, records={"vm1.example.net": "10.0.0.4"}) as server:
        reply = dnsq.query("vm1.example.net", "A", HOST, server.port, transport, 2.0)
    assert reply.answered
    assert (reply.rcode, reply.answers) == ("NOERROR", ("10.0.0.4",))
    assert server.questions[0].transport == transport
    assert (server.questions[0].name, server.questions[0].rdtype) == ("vm1.example.net.", "A")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("mode", "rcode"), [(DnsMode.NXDOMAIN, "NXDOMAIN"), (DnsMode.SERVFAIL, "SERVFAIL")]
)
def test_rcodes_are_answers(transport: str, mode: DnsMode, rcode: str) -> None:
    with FakeDnsServer(mode) as server:
        reply = dnsq.query("vm1.example.net", "A", HOST, server.port, transport, 2.0)
    assert reply.outcome is NetOutcome.CONNECTED
    assert (reply.rcode, reply.answers) == (rcode, ())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ptr(transport: str) -> None:
    with FakeDnsServer(DnsMode.PTR, ptr_name="wire.example.net.") as server:
        reply = dnsq.query("16.129.63.168.in-addr.arpa.", "PTR", HOST, server.port, transport, 2.0)
    assert reply.answers == ("wire.example.net.",)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("mode", "detail"),
    [(DnsMode.GARBAGE, ""), (DnsMode.WRONG_ID, "does not respond to the question")],
)
def test_garbage_and_wrong_id_are_bad_responses(transport: str, mode: DnsMode, detail: str) -> None:
    with FakeDnsServer(mode) as server:
        started = time.monotonic()
        reply = dnsq.query("vm1.example.net", "A", HOST, server.port, transport, 2.0)
    assert reply.outcome is NetOutcome.BAD_RESPONSE
    assert detail in reply.detail
    assert reply.detail
    assert time.monotonic() - started < 1.0  # told apart at once, not by waiting


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_silent_times_out_at_the_timeout(transport: str) -> None:
    with FakeDnsServer(DnsMode.SILENT) as server:
        started = time.monotonic()
        reply = dnsq.query("vm1.example.net", "A", HOST, server.port, transport, 0.3)
        elapsed = time.monotonic() - started
    assert reply.outcome is NetOutcome.TIMEOUT
    assert 0.28 <= elapsed < 0.7


def test_tcp_refused() -> None:
    reply = dnsq.query("vm1.example.net", "A", HOST, refusing_port(), "tcp", 1.0)
    assert reply.outcome is NetOutcome.REFUSED


def test_udp_port_unreachable_is_refused_not_a_timeout() -> None:
    # The connected UDP socket gets the ICMP port-unreachable as ECONNREFUSED: at once.
    started = time.monotonic()
    reply = dnsq.query("vm1.example.net", "A", HOST, refusing_port(), "udp", 1.0)
    assert reply.outcome is NetOutcome.REFUSED
    assert "ECONNREFUSED" in reply.detail
    assert time.monotonic() - started < 0.5


def test_no_time_left_does_not_wait_forever() -> None:
    """dnspython waits forever with timeout=None; the query must pass a bound even at 0."""
    with FakeDnsServer(DnsMode.SILENT) as server:
        started = time.monotonic()
        reply = dnsq.query("vm1.example.net", "A", HOST, server.port, "udp", 0.0)
    assert reply.outcome is NetOutcome.TIMEOUT
    assert time.monotonic() - started < 0.3


def test_the_timeout_counts_from_the_call_even_while_dnspython_loads() -> None:
    """Another thread loading dnspython (here: holding its import lock) for longer than the
    query's whole timeout: the query still ends then, not a full timeout later."""
    hold_s, timeout_s = 1.0, 0.5
    held = threading.Event()

    def load_slowly() -> None:
        with dnsq._IMPORT_LOCK:
            held.set()
            time.sleep(hold_s)

    loader = threading.Thread(target=load_slowly)
    with FakeDnsServer(DnsMode.SILENT) as server:
        loader.start()
        held.wait(5)
        started = time.monotonic()
        reply = dnsq.query("vm1.example.net", "A", HOST, server.port, "udp", timeout_s)
        elapsed = time.monotonic() - started
        loader.join()
    assert reply.outcome is NetOutcome.TIMEOUT
    assert elapsed < hold_s + timeout_s - 0.2  # before the old end: lock, then a full timeout


def _valid_reply(query_wire: bytes) -> bytes:
    query = dns.message.from_wire(query_wire)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "10.0.0.4"))
    return response.to_wire()


_MUTATIONS = st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=6)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["random", "our-id", "mutated"]),
    payload=st.binary(max_size=300),
    mutations=_MUTATIONS,
    cut=st.integers(0, 120),
    transport=st.sampled_from(TRANSPORTS),
)
def test_any_reply_is_an_answer_or_a_bad_response(
    dns_garbage_server: FakeDnsServer,
    kind: str,
    payload: bytes,
    mutations: list[tuple[int, int]],
    cut: int,
    transport: str,
) -> None:
    """Whatever comes back, query() returns a classified result and never raises."""

    def reply(query_wire: bytes) -> bytes:
        if kind == "random":
            return payload
        if kind == "our-id":
            return query_wire[:2] + payload
        wire = bytearray(_valid_reply(query_wire))
        for position, value in mutations:
            if position < len(wire):
                wire[position] = value
        return bytes(wire[: len(wire) - cut % len(wire)]) if cut else bytes(wire)

    dns_garbage_server.garbage = reply
    result = dnsq.query("vm1.example.net", "A", HOST, dns_garbage_server.port, transport, 2.0)
    assert result.outcome in (NetOutcome.CONNECTED, NetOutcome.BAD_RESPONSE)
    if result.outcome is NetOutcome.CONNECTED:
        assert isinstance(result.rcode, str)
        assert all(isinstance(answer, str) for answer in result.answers)
    else:
        assert result.detail


@pytest.fixture(scope="module")
def dns_garbage_server() -> Iterator[FakeDnsServer]:
    with FakeDnsServer(DnsMode.GARBAGE) as server:
        yield server
