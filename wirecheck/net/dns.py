"""DNS queries over UDP and TCP, bounded by the deadline, with garbage told apart from silence."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wirecheck.net.errors import NetOutcome, classify_exception, describe
from wirecheck.system import SocketFactory

if TYPE_CHECKING:
    import dns.message


# dnspython's modules import one another in cycles: two threads importing them at once can
# each be handed a module the other has not finished (AttributeError: module 'dns' has no
# attribute 'name'). The DNS checks run in threads, so the first import is made in one.
_IMPORT_LOCK = threading.Lock()


def import_dnspython(timeout_s: float | None = None) -> bool:
    """Import the dnspython modules wirecheck uses, one thread at a time; False when another
    thread still held the import after `timeout_s` (None: wait as long as it takes).

    The race shows where imports are slow, as from the single file (wirecheck.pyz), which
    carries no bytecode: Python 3.9 failed one run in two there. Once they are loaded this is
    a few dictionary look-ups. dnspython costs tens of milliseconds to import: only runs
    that ask DNS pay for it.
    """
    if not _IMPORT_LOCK.acquire(timeout=-1 if timeout_s is None else max(timeout_s, 0.0)):
        return False
    try:
        import dns.exception
        import dns.message
        import dns.query
        import dns.rcode
        import dns.rdatatype
        import dns.reversename  # noqa: F401  (loaded here, under the lock, for later)
    finally:
        _IMPORT_LOCK.release()
    return True


def reverse_name(address: str, timeout_s: float) -> str | None:
    """The PTR name of `address` (`16.129.63.168.in-addr.arpa.`); None when dnspython
    was still loading in another thread after `timeout_s`."""
    if not import_dnspython(timeout_s):
        return None
    import dns.reversename

    return str(dns.reversename.from_address(address).to_text())


@dataclass(frozen=True)
class DnsResult:
    outcome: NetOutcome  # CONNECTED: a well-formed answer to our question came back
    rcode: str | None = None  # NOERROR, NXDOMAIN, SERVFAIL, ...
    answers: tuple[str, ...] = ()
    detail: str = ""
    latency_s: float = 0.0

    @property
    def answered(self) -> bool:
        return self.outcome is NetOutcome.CONNECTED


def query(
    name: str,
    rdtype: str,
    server: str,
    port: int,
    transport: str,
    timeout_s: float,
    socket_factory: SocketFactory = socket.socket,
) -> DnsResult:
    """Ask `server` one question over `transport` ("udp" or "tcp"), all within `timeout_s`."""
    entered = time.monotonic()
    if not import_dnspython(timeout_s):
        detail = "dnspython was still loading in another thread when the deadline came"
        return DnsResult(NetOutcome.ERROR, detail=detail, latency_s=_since(entered))
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.rdatatype

    question = dns.message.make_query(name, rdtype)
    # The timeout counts from the call: loading dnspython (or waiting while another thread
    # loads it) must not push the end of the exchange past the run's deadline.
    started = time.monotonic()
    timeout_s -= started - entered
    try:
        reply = _exchange(question, server, port, transport, timeout_s, socket_factory)
    except dns.exception.Timeout:
        return DnsResult(NetOutcome.TIMEOUT, detail="no answer", latency_s=_since(started))
    except (dns.exception.DNSException, EOFError, ValueError, UnicodeError) as exc:
        # dnspython raises these for malformed wire data, a wrong id or a wrong question.
        return DnsResult(NetOutcome.BAD_RESPONSE, detail=describe(exc), latency_s=_since(started))
    except OSError as exc:
        return DnsResult(classify_exception(exc), detail=describe(exc), latency_s=_since(started))
    wanted = dns.rdatatype.from_text(rdtype)
    answers = tuple(
        rdata.to_text() for rrset in reply.answer if rrset.rdtype == wanted for rdata in rrset
    )
    return DnsResult(
        NetOutcome.CONNECTED,
        rcode=dns.rcode.to_text(reply.rcode()),
        answers=answers,
        latency_s=_since(started),
    )


def _exchange(
    question: dns.message.Message,
    server: str,
    port: int,
    transport: str,
    timeout_s: float,
    socket_factory: SocketFactory,
) -> dns.message.Message:
    import dns.query

    # timeout=None would wait forever in dnspython: always pass what is left.
    timeout = max(timeout_s, 0.001)
    if transport == "tcp":
        return dns.query.tcp(question, server, timeout=timeout, port=port)
    # A connected UDP socket receives the ICMP port-unreachable as ECONNREFUSED, so a
    # rejecting firewall or a closed port is told apart from a silent drop.
    with socket_factory(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((server, port))
        sock.setblocking(False)
        return dns.query.udp(question, server, timeout=timeout, port=port, sock=sock)


def _since(started: float) -> float:
    return time.monotonic() - started
