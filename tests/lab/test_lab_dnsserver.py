"""The DNS simulator: its answers (pure) and its UDP/TCP servers on loopback."""

from __future__ import annotations

import io

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirecheck.lab.dnsserver import DnsSimulator, Zone, answer, answer_wire
from wirecheck.lab.service import Log
from wirecheck.lab.topology import dns_records
from wirecheck.net import dns as dnsq

FQDN = "vm.lab.wirecheck.internal.cloudapp.net"
PLATFORM_PTR = "16.129.63.168.in-addr.arpa."
ZONE = Zone.from_records(dns_records("vm", None))
ZONE_WITH_PTR = Zone.from_records(dns_records("vm", "dns-proxy.contoso.example"))


def _ask(zone: Zone, name: str, rdtype: str) -> dns.message.Message:
    return answer(dns.message.make_query(name, rdtype), zone)


@pytest.mark.parametrize(
    ("zone", "name", "rdtype", "rcode", "answers"),
    [
        (ZONE, FQDN, "A", "NOERROR", ["10.1.0.4"]),
        (ZONE, FQDN.upper() + ".", "A", "NOERROR", ["10.1.0.4"]),
        (ZONE, FQDN, "AAAA", "NOERROR", []),
        (ZONE, "4.0.1.10.in-addr.arpa", "PTR", "NOERROR", [FQDN + "."]),
        (ZONE, PLATFORM_PTR, "PTR", "NXDOMAIN", []),
        (ZONE_WITH_PTR, PLATFORM_PTR, "PTR", "NOERROR", ["dns-proxy.contoso.example."]),
        (ZONE, "www.microsoft.com", "A", "NXDOMAIN", []),
        (ZONE, "other.lab.wirecheck.internal.cloudapp.net", "A", "NXDOMAIN", []),
    ],
)
def test_answers(zone: Zone, name: str, rdtype: str, rcode: str, answers: list[str]) -> None:
    reply = _ask(zone, name, rdtype)
    assert dns.rcode.to_text(reply.rcode()) == rcode
    assert [r.to_text() for rrset in reply.answer for r in rrset] == answers
    assert reply.flags & dns.flags.RA


def test_other_opcodes_and_classes_are_refused() -> None:
    notify = dns.message.make_query(FQDN, "A")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert answer(notify, ZONE).rcode() == dns.rcode.NOTIMP
    chaos = dns.message.make_query("version.bind", "TXT", "CH")
    assert answer(chaos, ZONE).rcode() == dns.rcode.REFUSED


@given(st.binary(max_size=300))
def test_any_bytes_are_answered_or_dropped_never_raised(data: bytes) -> None:
    reply, line = answer_wire(data, ZONE)
    assert line
    if reply is not None:
        dns.message.from_wire(reply)


def test_servers_answer_wirechecks_own_dns_client_over_udp_and_tcp() -> None:
    log = io.StringIO()
    sim = DnsSimulator("127.0.0.1", ZONE, Log(log, "dns"), udp_port=0, tcp_port=0)
    ports = sim.start()
    try:
        udp = dnsq.query(FQDN, "A", "127.0.0.1", ports["udp"], "udp", 3)
        tcp = dnsq.query(FQDN, "A", "127.0.0.1", ports["tcp"], "tcp", 3)
        ptr = dnsq.query(PLATFORM_PTR, "PTR", "127.0.0.1", ports["tcp"], "tcp", 3)
    finally:
        sim.stop()
    assert (udp.rcode, udp.answers) == ("NOERROR", ("10.1.0.4",))
    assert (tcp.rcode, tcp.answers) == ("NOERROR", ("10.1.0.4",))
    assert ptr.rcode == "NXDOMAIN"
    assert f"{FQDN}. A -> NOERROR" in log.getvalue()


def test_a_forwarding_server_relays_the_platform_resolvers_answers() -> None:
    log = io.StringIO()
    platform = DnsSimulator("127.0.0.1", ZONE, Log(log, "dns"), udp_port=0, tcp_port=0)
    platform_port = platform.start()["udp"]
    empty = Zone.from_records({})
    forwarder = DnsSimulator(
        "127.0.0.1", empty, Log(log, "custom"), 0, 0, forward_to=("127.0.0.1", platform_port)
    )
    alone = DnsSimulator("127.0.0.1", empty, Log(log, "custom"), udp_port=0, tcp_port=0)
    try:
        relayed = dnsq.query(FQDN, "A", "127.0.0.1", forwarder.start()["udp"], "udp", 3)
        unknown = dnsq.query(FQDN, "A", "127.0.0.1", alone.start()["udp"], "udp", 3)
    finally:
        for sim in (platform, forwarder, alone):
            sim.stop()
    assert (relayed.rcode, relayed.answers) == ("NOERROR", ("10.1.0.4",))
    assert unknown.rcode == "NXDOMAIN"  # an empty zone forwards nowhere
