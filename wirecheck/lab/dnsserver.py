"""The platform resolver simulator: DNS on 53/udp and 53/tcp in the lab's host namespace.

It knows the VM's own FQDN (-> the VM's IP) and its reverse, optionally a PTR record for
the platform address (the ptr-present scenario); every other name is NXDOMAIN, as the
lab has no internet to recurse into. `answer` is the pure part.

The same program is a scenario's custom DNS server on another address: one with an empty
zone (NXDOMAIN for every name: it forwards nowhere), or one that forwards every question to
the platform resolver (`--forward-to`).
"""

from __future__ import annotations

import argparse
import json
import socketserver
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from wirecheck.lab.service import Log, serve_until_signalled, write_ready

TTL = 10
TCP_IDLE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Zone:
    """Records by lower-case absolute name: `a` name -> IPv4, `ptr` reverse name -> FQDN."""

    a: Mapping[str, str] = field(default_factory=dict)
    ptr: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Mapping[str, Mapping[str, str]]) -> Zone:
        def norm(table: Mapping[str, str]) -> dict[str, str]:
            return {_absolute(k): v for k, v in table.items()}

        return cls(norm(records.get("a", {})), norm(records.get("ptr", {})))

    def lookup(self, name: str, rdtype: dns.rdatatype.RdataType) -> tuple[bool, str | None]:
        """(the name exists at all, the value of the asked type or None)."""
        key = _absolute(name)
        exists = key in self.a or key in self.ptr
        if rdtype == dns.rdatatype.A:
            return exists, self.a.get(key)
        if rdtype == dns.rdatatype.PTR:
            return exists, self.ptr.get(key)
        return exists, None


def _absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


def answer(query: dns.message.Message, zone: Zone) -> dns.message.Message:
    """The response to one query, as a recursive resolver that knows only `zone` would give."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    exists, value = zone.lookup(question.name.to_text(), question.rdtype)
    if value is not None:
        response.answer.append(
            dns.rrset.from_text(question.name, TTL, "IN", question.rdtype, value)
        )
    elif not exists:
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response  # a known name without the asked type: NOERROR, no data


FORWARD_TIMEOUT_S = 2.0


def answer_wire(
    wire: bytes, zone: Zone, forward_to: tuple[str, int] | None = None
) -> tuple[bytes | None, str]:
    """The wire answer to a wire query (None: undecodable, dropped) and a log line.

    `forward_to`: a resolver every question is forwarded to (a custom DNS server that
    forwards to the platform), whose answer is relayed; SERVFAIL when it does not answer."""
    try:
        query = dns.message.from_wire(wire)
    except (dns.exception.DNSException, ValueError, EOFError) as exc:
        return None, f"dropped an undecodable query ({type(exc).__name__})"
    response = answer(query, zone) if forward_to is None else forward(query, forward_to)
    question = query.question[0] if query.question else None
    asked = (
        f"{question.name} {dns.rdatatype.to_text(question.rdtype)}"
        if question is not None
        else "(no question)"
    )
    return response.to_wire(), f"{asked} -> {dns.rcode.to_text(response.rcode())}"


def forward(query: dns.message.Message, server: tuple[str, int]) -> dns.message.Message:
    """The answer `server` (address, port) gives to `query` over UDP (SERVFAIL when none)."""
    import dns.query

    try:
        return dns.query.udp(query, server[0], timeout=FORWARD_TIMEOUT_S, port=server[1])
    except (dns.exception.DNSException, OSError):
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response


class _Udp(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        zone: Zone,
        log: Log,
        forward_to: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(address, _UdpHandler)
        self.zone, self.log, self.forward_to = zone, log, forward_to


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _Udp

    def handle(self) -> None:
        data, sock = self.request
        reply, line = answer_wire(data, self.server.zone, self.server.forward_to)
        self.server.log(f"udp {self.client_address[0]}:{self.client_address[1]} {line}")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _Tcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        zone: Zone,
        log: Log,
        forward_to: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(address, _TcpHandler)
        self.zone, self.log, self.forward_to = zone, log, forward_to


class _TcpHandler(socketserver.BaseRequestHandler):
    """Length-prefixed messages (RFC 1035 4.2.2), several per connection."""

    server: _Tcp

    def handle(self) -> None:
        self.request.settimeout(TCP_IDLE_TIMEOUT_S)
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        try:
            while True:
                header = self._read(2)
                if header is None:
                    return
                message = self._read(struct.unpack("!H", header)[0])
                if message is None:
                    return
                reply, line = answer_wire(message, self.server.zone, self.server.forward_to)
                self.server.log(f"tcp {peer} {line}")
                if reply is None:
                    return
                self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError as exc:
            self.server.log(f"tcp {peer} connection ended: {exc.strerror or exc}")

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data


class DnsSimulator:
    def __init__(
        self,
        address: str,
        zone: Zone,
        log: Log,
        udp_port: int = 53,
        tcp_port: int = 53,
        forward_to: tuple[str, int] | None = None,
    ) -> None:
        self._udp = _Udp((address, udp_port), zone, log, forward_to)
        self._tcp = _Tcp((address, tcp_port), zone, log, forward_to)

    def start(self) -> dict[str, int]:
        for server in (self._udp, self._tcp):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return {"udp": self._udp.server_address[1], "tcp": self._tcp.server_address[1]}

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wirecheck.lab.dnsserver")
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--records-file", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--forward-to", help="forward every question to this resolver")
    args = parser.parse_args(argv)
    zone = Zone.from_records(json.loads(args.records_file.read_text(encoding="utf-8")))
    log = Log(name="dns")
    upstream = (args.forward_to, 53) if args.forward_to else None
    simulator = DnsSimulator(args.address, zone, log, args.port, args.port, upstream)
    ports = simulator.start()
    serves = f"forwarding to {args.forward_to}" if args.forward_to else f"A {dict(zone.a)}"
    log(f"listening on {args.address} {ports}; {serves}; PTR {dict(zone.ptr)}")
    write_ready(args.ready_file, ports)
    serve_until_signalled(simulator.stop, log)


if __name__ == "__main__":
    main()
