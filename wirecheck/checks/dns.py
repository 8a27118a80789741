"""dns-udp, dns-tcp and dns-reverse: the platform resolver on 53/udp and 53/tcp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wirecheck import advice
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, ProbeFacts, Traffic
from wirecheck.model import Facts, Status
from wirecheck.net import dns as dnsq
from wirecheck.net.errors import MEANING, NetOutcome
from wirecheck.net.parallel import gather
from wirecheck.platform.resolv import RESOLV_CONF, DnsQuestion, choose_question, parse_resolv_conf

GOOD_RCODES = ("NOERROR", "NXDOMAIN")


@dataclass(frozen=True)
class DnsFacts(ProbeFacts):
    """One forward question to the platform resolver."""

    server: str
    port: int
    transport: str  # "udp" or "tcp"
    question: str  # the name asked (type A)
    outcome: NetOutcome
    latency_ms: float
    rcode: str | None = None  # None: no well-formed answer
    answers: tuple[str, ...] = ()
    detail: str = ""
    # The VM's own name (or --dns-name) could not be asked, and why: `question` is the
    # valid name asked instead.
    name_problem: str | None = None

    @property
    def net_outcome(self) -> NetOutcome:
        return self.outcome

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "server": f"{self.server}:{self.port}/{self.transport}",
            "question": f"{self.question} A",
            "outcome": self.outcome.value,
            "latency_ms": self.latency_ms,
        }
        if self.rcode is None:
            evidence["detail"] = self.detail
        else:
            evidence.update(rcode=self.rcode, answers=list(self.answers))
        if self.name_problem:
            evidence["name_problem"] = self.name_problem
        return evidence


def dns_question(ctx: CheckContext) -> DnsQuestion:
    try:
        conf = parse_resolv_conf(ctx.system.read_text(RESOLV_CONF))
    except OSError:
        conf = parse_resolv_conf("")
    return choose_question(ctx.system.hostname(), conf.search, ctx.config.dns_name)


def _forward(ctx: CheckContext, transport: str) -> Outcome:
    target, port = ctx.config.target, ctx.config.ports.dns
    question = dns_question(ctx)
    reply = dnsq.query(
        question.name,
        "A",
        target,
        port,
        transport,
        ctx.deadline.remaining(),
        ctx.system.socket_factory,
    )
    label = f"DNS over {transport.upper()}"
    problem = question.problem
    evidence = DnsFacts(
        target,
        port,
        transport,
        question.name,
        reply.outcome,
        round(reply.latency_s * 1000, 2),
        reply.rcode if reply.answered else None,
        reply.answers,
        reply.detail,
        problem.describe() if problem else None,
    )
    if not reply.answered:
        also = f" (asking {question.name}; also, {problem.describe()})" if problem else ""
        return Outcome(
            Status.FAIL,
            f"{label} {MEANING[reply.outcome]}{also}",
            evidence,
            fix=_dns_fix(reply.outcome, target, port, transport),
        )
    took = f"in {reply.latency_s * 1000:.1f} ms"
    if problem is not None:
        # Our own failure to build a name, not the network's: an error row, its fix.
        return Outcome(
            Status.ERROR,
            f"could not ask for this VM's own name: {problem.describe()}; asked "
            f"{question.name} instead, and the resolver answered {reply.rcode} {took}",
            evidence,
            fix=problem.fix,
        )
    if reply.rcode not in GOOD_RCODES:
        return Outcome(
            Status.WARN,
            f"the resolver answered {reply.rcode} for {question.name} {took}",
            evidence,
            fix=f"The platform resolver at {target} is reachable but failing to resolve; retry, "
            "then check any custom DNS forwarding in the VNet.",
        )
    if not question.own_name:
        return Outcome(Status.OK, f"answered {reply.rcode} for {question.name} {took}", evidence)
    own = {a for addrs in ctx.system.interface_addresses().values() for a in addrs}
    if set(reply.answers) & own:
        return Outcome(
            Status.OK,
            f"answered {question.name} -> {', '.join(reply.answers)} (this VM) {took}",
            evidence,
        )
    got = ", ".join(reply.answers) or reply.rcode
    return Outcome(
        Status.WARN,
        f"reachable, but this VM's own name {question.name} resolves to {got}, "
        "not one of its addresses",
        evidence,
        fix="The VM's DNS suffix or hostname does not match what the platform knows; check "
        "the hostname and the DHCP domain-name, or a custom DNS server in the VNet.",
    )


def _dns_fix(outcome: NetOutcome, target: str, port: int, transport: str) -> str:
    if outcome is NetOutcome.BAD_RESPONSE:
        return (
            f"Something answers for {target}:{port}/{transport} with malformed DNS: "
            "a DNS proxy or an appliance in the path; see the trace rows."
        )
    return (
        f"Allow {transport.upper()} port {port} to {target}: look for a rule with "
        f"{advice.find_rule(target, repr(f'dport {port}'))}; then {advice.nsg_rule('dns')}."
    )


def run_dns_udp(ctx: CheckContext) -> Outcome:
    return _forward(ctx, "udp")


def run_dns_tcp(ctx: CheckContext) -> Outcome:
    return _forward(ctx, "tcp")


@dataclass(frozen=True)
class PtrLookup:
    answered: bool  # the resolver was asked and gave an answer (a name or "none")
    name: str | None
    text: str  # for the evidence


@dataclass(frozen=True)
class ReverseFacts(Facts):
    question: str  # the PTR name asked
    lookups: tuple[tuple[str, PtrLookup | None], ...]  # by path; None: no answer in time

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {"question": f"{self.question} PTR"}
        for path, lookup in self.lookups:
            evidence[path] = lookup.text if lookup else "no answer before the deadline"
        return evidence


def run_dns_reverse(ctx: CheckContext) -> Outcome:
    """Ask for the target's PTR three ways at once; any FQDN that comes back is a warning."""
    target = ctx.config.target
    name = dnsq.reverse_name(target, ctx.deadline.remaining())
    if name is None:
        return Outcome(
            Status.ERROR,
            "dnspython was still loading in another thread when the deadline came",
            fix="Run again with a longer --timeout; if it persists, report a wirecheck bug.",
        )
    remaining = ctx.deadline.remaining
    lookups = gather(
        {
            "system resolver": lambda: _system_ptr(ctx, target),
            "direct UDP": lambda: _direct_ptr(ctx, name, "udp", remaining()),
            "direct TCP": lambda: _direct_ptr(ctx, name, "tcp", remaining()),
        },
        ctx.deadline,
    )
    evidence = ReverseFacts(name, tuple(lookups.items()))
    named = [(path, lk.name) for path, lk in lookups.items() if lk and lk.name]
    if named:
        path, fqdn = named[0]
        return Outcome(
            Status.WARN,
            f"{target} has a reverse name {fqdn} (via {path}); the platform address has none",
            evidence,
            fix=f"Something else answers for {target}: remove the PTR record or hosts entry "
            "(custom DNS server, /etc/hosts, a DNS proxy), so tools do not mistake the host.",
        )
    answered = [path for path, lookup in lookups.items() if lookup and lookup.answered]
    if answered:
        return Outcome(Status.OK, f"no reverse name for {target} ({', '.join(answered)})", evidence)
    return Outcome(
        Status.FAIL,
        f"no resolver answered the PTR question for {target}",
        evidence,
        fix="DNS to the platform is not working at all; see dns-udp and dns-tcp.",
    )


def _direct_ptr(ctx: CheckContext, name: str, transport: str, timeout_s: float) -> PtrLookup:
    target, port = ctx.config.target, ctx.config.ports.dns
    reply = dnsq.query(name, "PTR", target, port, transport, timeout_s, ctx.system.socket_factory)
    if not reply.answered:
        return PtrLookup(False, None, f"{reply.outcome.value}: {reply.detail}")
    found = reply.answers[0].rstrip(".") if reply.answers else None
    return PtrLookup(True, found, f"{reply.rcode} {' '.join(reply.answers)}".strip())


def _system_ptr(ctx: CheckContext, target: str) -> PtrLookup:
    try:
        fqdn = ctx.system.reverse_lookup(target)
    except OSError as exc:
        return PtrLookup(False, None, f"could not ask: {exc}")
    return PtrLookup(True, fqdn, fqdn or "no name (host not found)")


DNS_UDP = CheckSpec(
    "dns-udp",
    "DNS over UDP 53 to the platform resolver",
    run_dns_udp,
    explain="""\
Asks the target's resolver over UDP 53 for the VM's own FQDN (when a DNS suffix such as
*.internal.cloudapp.net is known; else --dns-name, default www.microsoft.com).
- ok: a well-formed answer to our question (NOERROR or NXDOMAIN); for the VM's own name,
  the answer is one of the VM's addresses.
- warn: the resolver answers but with SERVFAIL/REFUSED, or the VM's name maps elsewhere.
- fail: no answer (dropped), refused, blocked locally, or malformed DNS came back.
- error: the VM's own name cannot be asked (a host name or search domain with a label
  over 63 characters, over 253 in all, or a character no host name holds): the row names
  it and its source, and DNS is asked with a valid name instead (--dns-name, else
  www.microsoft.com).""",
    facts=DnsFacts,
    probe="dns",
    traffic=(Traffic("target", "udp", "dns"),),
)

DNS_TCP = CheckSpec(
    "dns-tcp",
    "DNS over TCP 53 to the platform resolver",
    run_dns_tcp,
    explain="""\
The same question as dns-udp, over TCP 53 (used for large answers, and allowed for
non-root users by the guest agent's firewall).
- ok: a well-formed answer to our question (NOERROR or NXDOMAIN), as for dns-udp.
- warn, fail: as for dns-udp.""",
    facts=DnsFacts,
    probe="dns",
    traffic=(Traffic("target", "tcp", "dns"),),
)

DNS_REVERSE = CheckSpec(
    "dns-reverse",
    "No reverse name for the platform address",
    run_dns_reverse,
    explain="""\
Asks for the PTR record of the target through the system resolver (hosts file, then DNS)
and directly at the target over UDP and TCP, at once.
- ok: no FQDN comes back (NXDOMAIN or no record): the platform address has none.
- warn: an FQDN comes back: something else (a custom DNS server, a hosts entry) answers
  for the platform address; tools that trust reverse names will be misled.
- fail: no path answered at all (DNS to the platform is down; see dns-udp/dns-tcp).""",
    facts=ReverseFacts,
    probe="ptr",
    traffic=(Traffic("target", "udp", "dns"), Traffic("target", "tcp", "dns")),
    cause_weight=40,
)

SPECS = (DNS_UDP, DNS_TCP, DNS_REVERSE)
