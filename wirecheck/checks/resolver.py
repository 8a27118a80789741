"""resolver: do the DNS servers this VM really asks answer what the platform resolver does?

dns-udp and dns-tcp ask 168.63.129.16 directly. Programs ask the servers the VM is set up
with: resolv.conf's (systemd-resolved's upstreams behind its 127.0.0.53 stub), or on
Windows the DNS client's. A custom server that does not forward to 168.63.129.16 cannot
resolve the names Azure provides (the VM's own name in its DHCP domain, private endpoints),
even though the platform is reachable. This check asks each of those servers the question
dns-udp asks (the VM's own name), and compares their answers with the platform's.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, Traffic
from wirecheck.checks.dns import dns_question
from wirecheck.model import PLATFORM_ADDRESS, Facts, Status
from wirecheck.net import dns as dnsq
from wirecheck.net.parallel import gather
from wirecheck.platform.resolv import DnsQuestion, choose_question, parse_resolv_conf
from wirecheck.platform.resolvers import (
    RESOLV_CONF,
    RESOLVED_UPSTREAM_CONF,
    Upstream,
    is_stub,
    parse_ipconfig_dns,
    parse_resolvectl_dns,
    parse_resolvectl_status,
    unique,
)
from wirecheck.system import SocketFactory

AZURE_SUFFIX = "internal.cloudapp.net"
DNS_PORT = 53
COMMAND_TIMEOUT_S = 1.0
ANSWER_MARGIN_S = 0.1


@dataclass(frozen=True)
class Answer:
    """What one server said to the question (A)."""

    server: str
    port: int
    outcome: str  # "connected" when it answered
    rcode: str | None = None
    addresses: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        return self.rcode is not None

    def text(self) -> str:
        if not self.answered:
            return f"no answer ({self.outcome})"
        return ", ".join(self.addresses) or f"{self.rcode}, no address"

    def said(self) -> str:
        return f"answers {self.text()}" if self.answered else f"gives {self.text()}"


@dataclass(frozen=True)
class ServerVerdict:
    upstream: Upstream
    answer: Answer | None  # None: the platform itself (not asked twice), or out of time
    forwards: bool  # answers the platform's addresses (or is the platform)
    platform: bool = False  # this server is 168.63.129.16

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"server": self.upstream.address, "from": self.upstream.source}
        if self.platform:
            shown["is"] = "the platform resolver"
        elif self.answer is not None:
            shown["answer"] = self.answer.text()
            shown["resolves_like_the_platform"] = self.forwards
        else:
            shown["answer"] = "no answer before the deadline"
        return shown


@dataclass(frozen=True)
class ResolverFacts(Facts):
    question: str  # the name asked (A)
    how_chosen: str  # why this name
    servers: tuple[ServerVerdict, ...]
    reference: Answer | None  # the platform resolver's answer
    notes: tuple[str, ...] = ()

    @property
    def bad(self) -> tuple[ServerVerdict, ...]:
        return tuple(s for s in self.servers if not s.forwards)

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "question": f"{self.question} A",
            "question_from": self.how_chosen,
            "platform_answer": self.reference.text() if self.reference else "not asked",
            "servers": [s.to_dict() for s in self.servers],
        }
        if self.notes:
            evidence["notes"] = list(self.notes)
        return evidence


def upstreams(ctx: CheckContext) -> tuple[list[Upstream], list[str], tuple[str, ...]]:
    """The servers the VM asks, notes on how they were found, and the DNS suffixes known."""
    system, notes = ctx.system, []
    timeout = min(COMMAND_TIMEOUT_S, ctx.deadline.remaining())
    if system.windows:
        done = system.run_command(["ipconfig", "/all"], timeout)
        if not done.ok:
            notes.append(f"ipconfig /all: {done.why}")
            return [], notes, ()
        servers, suffixes = parse_ipconfig_dns(done.stdout)
        return servers, notes, tuple(suffixes)
    try:
        conf = parse_resolv_conf(system.read_text(RESOLV_CONF))
    except OSError as exc:
        notes.append(f"{RESOLV_CONF}: {exc.strerror or exc}")
        return [], notes, ()
    found = [Upstream(a, RESOLV_CONF) for a in conf.nameservers if not is_stub(a)]
    if any(is_stub(a) for a in conf.nameservers):
        found += _resolved_upstreams(ctx, notes, timeout)
    return found, notes, conf.search


def _resolved_upstreams(ctx: CheckContext, notes: list[str], timeout: float) -> list[Upstream]:
    """Behind systemd-resolved's stub: its upstream servers."""
    try:
        conf = parse_resolv_conf(ctx.system.read_text(RESOLVED_UPSTREAM_CONF))
        if conf.nameservers:
            return [Upstream(a, RESOLVED_UPSTREAM_CONF) for a in conf.nameservers]
    except OSError:
        pass
    done = ctx.system.run_command(["resolvectl", "dns"], timeout)
    if done.ok:
        return parse_resolvectl_dns(done.stdout)
    # systemd before 239 has no resolvectl; its status command has the same per-link layout.
    older = ctx.system.run_command(["systemd-resolve", "--status"], timeout)
    if older.ok:
        return parse_resolvectl_status(older.stdout)
    notes.append(
        "/etc/resolv.conf names systemd-resolved's stub, whose upstream servers could not be "
        f"read ({RESOLVED_UPSTREAM_CONF}, `resolvectl dns`: {done.why})"
    )
    return []


def ask(
    name: str,
    server: str,
    port: int,
    timeout_s: float,
    socket_factory: SocketFactory,
    rdtype: str = "A",
) -> Answer:
    reply = dnsq.query(name, rdtype, server, port, "udp", timeout_s, socket_factory)
    if not reply.answered:
        return Answer(server, port, reply.outcome.value)
    return Answer(server, port, reply.outcome.value, reply.rcode, reply.answers)


def azure_name(
    ctx: CheckContext, question: DnsQuestion, local_address: Callable[[], str | None]
) -> tuple[DnsQuestion, str]:
    """The question to compare on: the VM's own name when its DNS suffix is Azure's; else
    the name the platform gives the VM's address (PTR), when that is an Azure name (with
    custom DNS servers in the VNet, DHCP hands out a placeholder suffix instead)."""
    if question.own_name and question.name.endswith(AZURE_SUFFIX):
        return question, "the VM's own name in its DHCP domain (as dns-udp asks)"
    address = local_address()
    if address is None:
        return question, "dns-udp's question (the VM's address for a PTR lookup is unknown)"
    reverse = dnsq.reverse_name(address, ctx.deadline.remaining())
    if reverse is None:
        return question, "dns-udp's question (no time left to ask for the VM's PTR)"
    found = ask(
        reverse,
        ctx.config.target,
        ctx.config.ports.dns,
        ctx.deadline.remaining(),
        ctx.system.socket_factory,
        "PTR",
    )
    name = found.addresses[0].rstrip(".") if found.addresses else ""
    if name.endswith(AZURE_SUFFIX):
        how = f"the name {ctx.config.target} gives this VM's address {address} (PTR)"
        return DnsQuestion(name, own_name=True), how
    return question, "dns-udp's question (no Azure name for the VM is known)"


def source_address(ctx: CheckContext) -> str | None:
    """The address this VM sends to the target from (a UDP connect sends nothing)."""
    try:
        with ctx.system.socket_factory(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((ctx.config.target, ctx.config.ports.dns))
            address: str = sock.getsockname()[0]
            return address
    except OSError:
        return None


def is_loopback(address: str) -> bool:
    return address.startswith("127.")


def run_resolver(ctx: CheckContext, upstream_port: int = DNS_PORT) -> Outcome:
    """`upstream_port`: the port the VM's servers are asked on (tests move it)."""
    target, platform_port = ctx.config.target, ctx.config.ports.dns
    found, notes, suffixes = upstreams(ctx)
    servers = unique(found)
    if not servers:
        return Outcome(
            Status.SKIP,
            "no DNS server configured for this VM could be found"
            + (f" ({'; '.join(notes)})" if notes else ""),
            ResolverFacts("", "", (), None, tuple(notes)),
        )
    custom = [s for s in servers if (s.address, upstream_port) != (target, platform_port)]
    if not custom:
        facts = ResolverFacts(
            "", "", tuple(ServerVerdict(s, None, True, True) for s in servers), None, tuple(notes)
        )
        return Outcome(Status.OK, f"this VM asks the platform resolver {target} directly", facts)
    if target != PLATFORM_ADDRESS and not all(is_loopback(s.address) for s in custom):
        # A run against a test or lab address must not ask the machine's own DNS servers.
        named = ", ".join(s.address for s in custom)
        return Outcome(
            Status.SKIP,
            f"this VM's DNS servers ({named}) are compared with {PLATFORM_ADDRESS} only; this "
            f"run targets {target}",
            ResolverFacts("", "", (), None, tuple(notes)),
        )
    if ctx.system.windows:
        question = choose_question(ctx.system.hostname(), suffixes, ctx.config.dns_name)
    else:
        question = dns_question(ctx)
    question, how = azure_name(ctx, question, lambda: source_address(ctx))

    # Each query ends a little before the check's deadline, so a silent server is reported
    # as silent rather than left unfinished when the answers are collected.
    def remaining() -> float:
        return max(ctx.deadline.remaining() - ANSWER_MARGIN_S, 0.05)

    factory = ctx.system.socket_factory
    calls = {
        "platform": lambda: ask(question.name, target, platform_port, remaining(), factory),
        **{
            s.address: _asker(question.name, s.address, upstream_port, remaining, factory)
            for s in custom
        },
    }
    answers = gather(calls, ctx.deadline)
    reference = answers.pop("platform")
    verdicts = tuple(
        ServerVerdict(s, None, True, True)
        if s not in custom
        else ServerVerdict(s, answers.get(s.address), _same(answers.get(s.address), reference))
        for s in servers
    )
    facts = ResolverFacts(question.name, how, verdicts, reference, tuple(notes))
    return judge(facts, target)


def _asker(
    name: str, server: str, port: int, remaining: Callable[[], float], factory: SocketFactory
) -> Callable[[], Answer]:
    return lambda: ask(name, server, port, remaining(), factory)


def _same(answer: Answer | None, reference: Answer | None) -> bool:
    if reference is None or not reference.addresses:
        return True  # nothing to compare with: not this server's fault
    return answer is not None and bool(set(answer.addresses) & set(reference.addresses))


def judge(facts: ResolverFacts, target: str) -> Outcome:
    """The verdict from the answers. Pure."""
    reference = facts.reference
    custom = [s for s in facts.servers if not s.platform]
    named = ", ".join(f"{s.upstream.address} ({s.upstream.source})" for s in custom)
    if reference is None or not reference.answered:
        why = reference.text() if reference else "not asked"
        return Outcome(
            Status.SKIP,
            f"this VM asks {named}; the platform resolver {target} gave {why} for "
            f"{facts.question}, so there is nothing to compare (see dns-udp)",
            facts,
        )
    if not reference.addresses:
        return Outcome(
            Status.OK,
            f"this VM asks {named}; the platform resolver does not know {facts.question} "
            f"either ({reference.rcode}): nothing to compare",
            facts,
        )
    platform = ", ".join(reference.addresses)
    bad = facts.bad
    if not bad:
        return Outcome(
            Status.OK,
            f"this VM asks {named}, which resolve{'s' if len(custom) == 1 else ''} "
            f"{facts.question} to {platform} as the platform resolver does",
            facts,
        )
    first = bad[0]
    said = first.answer.said() if first.answer else "gives no answer before the deadline"
    others = f" (and {len(bad) - 1} more, see evidence)" if len(bad) > 1 else ""
    return Outcome(
        Status.WARN,
        f"DNS server {first.upstream.address} ({first.upstream.source}) {said} for "
        f"{facts.question}, where the platform resolver {target} answers {platform}: it does "
        f"not resolve the names Azure provides{others}",
        facts,
        fix=(
            f"Make {first.upstream.address} forward to {target} (a conditional forwarder for "
            f"{AZURE_SUFFIX} and your private DNS zones, such as privatelink.*; only a DNS "
            f"server that runs in Azure can reach {target}), or let the VM use {target} "
            "(the VNet's DNS servers set to Azure-provided)."
        ),
    )


def _run(ctx: CheckContext) -> Outcome:
    return run_resolver(ctx)


RESOLVER = CheckSpec(
    "resolver",
    "The VM's own DNS servers resolve like the platform",
    _run,
    explain="""\
dns-udp and dns-tcp ask 168.63.129.16 directly; programs ask the DNS servers the VM is set
up with: /etc/resolv.conf's, the upstream servers behind systemd-resolved's stub
127.0.0.53 (/run/systemd/resolve/resolv.conf, `resolvectl dns`), or on Windows those of
`ipconfig /all`. This check asks each of them the question dns-udp asks (the VM's own name
in its DHCP domain; with a placeholder suffix such as reddog.microsoft.com, the name
168.63.129.16 gives the VM's address) and compares the answers with the platform's.
- ok: the VM asks 168.63.129.16 itself, or its servers answer as the platform does (they
  forward to it), or the platform does not know the name either.
- warn: a server answers differently (NXDOMAIN, another address) or not at all: it does not
  forward to 168.63.129.16, so the names Azure provides do not resolve on this VM.
- skip: no DNS server could be found, the platform resolver did not answer (dns-udp), or
  the run targets another address than 168.63.129.16 (the VM's servers are not asked then).
Fix: forward the server to 168.63.129.16 (a conditional forwarder for internal.cloudapp.net
and your private zones), or use Azure-provided DNS.""",
    facts=ResolverFacts,
    context=True,
    traffic=(Traffic("target", "udp", "dns"),),
    budget_s=2.0,
    cause_weight=45,
)

SPECS = (RESOLVER,)
