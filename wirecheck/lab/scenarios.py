"""The lab's fault scenarios and the verdict each one expects, for every check.

This is the one place that declares what wirecheck must say in each scenario: the lab
tests compare every check present in a run against it, and fail on a check that has no
declaration here. Each scenario also declares the cause its diagnosis must rank first:
words it must (and must not) say, and the rows it must name.

Keywords are words the check's *finding* must contain (case-insensitive). They are only
given where the wording is settled; a status alone is still a real assertion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wirecheck.checks.catalogue import IDS, load_all
from wirecheck.lab.bulk import Bulk
from wirecheck.lab.names import PRIMARY_GATEWAY, SECONDARY_GATEWAY
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Status
from wirecheck.strenum import StrEnum

# Every check, in display order, and the probes (the checks that send to the target):
# both from the checks' own declarations.
CATALOGUE: tuple[str, ...] = IDS
PROBES: tuple[str, ...] = tuple(spec.id for spec in load_all() if spec.probe)

NOBODY_UID = 65534
PTR_NAME = "dns-proxy.contoso.example"  # what a misconfigured custom DNS server might answer
MISSING_PROXY = "http://10.1.0.99:3128"  # nothing listens there, nothing routes there
OTHER_ENDPOINT = "10.1.0.99"  # a WireServer endpoint that is not the platform address


class WireMode(StrEnum):
    """How the WireServer simulator answers `?comp=versions`."""

    NORMAL = "normal"
    HTTP_500 = "http-500"
    MALFORMED = "malformed"  # truncated XML
    GARBAGE = "garbage"  # bytes that are not HTTP at all
    SLOW = "slow"  # headers at once, then the body a byte at a time, for minutes
    HUGE = "huge"  # a multi-megabyte body


class Where(StrEnum):
    VM = "vm"  # the VM's own firewall: what the `firewall` check can see
    HOST = "host"  # upstream: the host (or the network) drops or rejects


@dataclass(frozen=True)
class Rule:
    """One iptables rule appended in a lab namespace."""

    where: Where
    table: str
    chain: str
    spec: tuple[str, ...]

    def argv(self) -> list[str]:
        return ["iptables", "-w", "-t", self.table, "-A", self.chain, *self.spec]

    def text(self) -> str:
        return f"-t {self.table} -A {self.chain} {' '.join(self.spec)}"


@dataclass(frozen=True)
class Expect:
    """The statuses a check may have in a scenario, and words its finding must contain."""

    statuses: frozenset[Status]
    keywords: tuple[str, ...] = ()
    why: str = ""  # why more than one status is acceptable

    def problems(self, status: str, finding: str) -> list[str]:
        """What differs between this expectation and one check's result (empty: matches)."""
        found: list[str] = []
        if status not in {s.value for s in self.statuses}:
            found.append(f"status is {status}, expected {self.describe_statuses()}")
        missing = [k for k in self.keywords if k.lower() not in finding.lower()]
        if missing:
            found.append(f"finding {finding!r} lacks {', '.join(repr(k) for k in missing)}")
        return found

    def describe_statuses(self) -> str:
        return "/".join(s.value for s in Status if s in self.statuses)

    def describe(self) -> str:
        words = f" ({', '.join(self.keywords)})" if self.keywords else ""
        return f"{self.describe_statuses()}{words}"


def _expect(*statuses: Status, keywords: Sequence[str] = (), why: str = "") -> Expect:
    return Expect(frozenset(statuses), tuple(keywords), why)


def ok(*keywords: str) -> Expect:
    return _expect(Status.OK, keywords=keywords)


def warn(*keywords: str) -> Expect:
    return _expect(Status.WARN, keywords=keywords)


def fail(*keywords: str) -> Expect:
    return _expect(Status.FAIL, keywords=keywords)


def skip(*keywords: str) -> Expect:
    return _expect(Status.SKIP, keywords=keywords)


# The lab simulates no agent process and no unit, and its VM sees the agent's files only
# when its scenario gives them (the machine's own are hidden): no agent, a skip.
AGENT_ABSENT = _expect(
    Status.SKIP, keywords=("no Linux guest agent",), why="the lab VM runs no guest agent"
)
# The process table and the service manager are the machine's, though: on a machine that
# runs its own agent (an Azure VM) the row describes that agent, and the lab asserts only
# that it does not fail (see machine_agent_seen).
MACHINE_AGENT = _expect(
    Status.OK,
    Status.SKIP,
    Status.WARN,
    why="the machine's own guest agent shows through (its process table and service "
    "manager are machine-wide)",
)


def machine_agent_seen(check: Mapping[str, Any]) -> bool:
    """Whether a guest-agent row describes the machine's own agent, not the lab VM's.

    The lab never simulates an agent unit, an agent process or the GuestProxyAgent, so
    any of them in the row's evidence is the machine's.
    """
    evidence = check.get("evidence")
    if check.get("id") != "guest-agent" or not isinstance(evidence, Mapping):
        return False
    return bool(
        evidence.get("service") or evidence.get("processes") or evidence.get("guest_proxy_agent")
    )


@dataclass(frozen=True)
class ExpectCause:
    """The cause a scenario's diagnosis must rank first.

    keywords: words its summary or fix must contain; absent: words neither may contain;
    checks: exactly the rows it must name (as a set: the order is the diagnosis's own).
    """

    keywords: tuple[str, ...]
    checks: frozenset[str]
    absent: tuple[str, ...] = ()

    def problems(self, cause: Mapping[str, Any] | None) -> list[str]:
        """What differs between this expectation and a report's first cause (empty: matches)."""
        if cause is None:
            return [f"the diagnosis is empty, expected {self.describe()}"]
        text = f"{cause.get('summary', '')} {cause.get('fix', '')}"
        found: list[str] = []
        missing = [k for k in self.keywords if k.lower() not in text.lower()]
        if missing:
            found.append(f"lacks {', '.join(repr(k) for k in missing)}")
        unwanted = [k for k in self.absent if k.lower() in text.lower()]
        if unwanted:
            found.append(f"says {', '.join(repr(k) for k in unwanted)}")
        named = cause.get("checks")
        named_set = {str(c) for c in named} if isinstance(named, list) else set()
        if named_set != self.checks:
            found.append(f"names checks {sorted(named_set)}, expected {sorted(self.checks)}")
        if not found:
            return []
        summary = str(cause.get("summary", ""))
        return [f"first cause {summary!r}: {p}" for p in found]

    def describe(self) -> str:
        words = ", ".join(repr(k) for k in self.keywords)
        unwanted = f", not {', '.join(repr(k) for k in self.absent)}" if self.absent else ""
        return f"{words}{unwanted}, naming {', '.join(sorted(self.checks)) or 'no row'}"


def cause(*keywords: str, checks: Sequence[str] = (), absent: Sequence[str] = ()) -> ExpectCause:
    return ExpectCause(tuple(keywords), frozenset(checks), tuple(absent))


NO_PROBLEM = cause("No problem found")

HEALTHY: Mapping[str, Expect] = {
    "tcp-80": ok("connected", "eth0"),
    "tcp-32526": ok("connected", "eth0"),
    "wire-versions": ok("2012-11-30"),
    "dns-udp": ok("this VM"),
    "dns-tcp": ok("this VM"),
    "dns-reverse": ok("no reverse name"),
    "trace-80": ok(),
    "trace-32526": ok(),
    "egress-nic": ok("eth0"),
    "privileges": ok(),
    "proxy": ok(),
    "firewall": ok(),
    "endpoint": ok(),
    "guest-agent": AGENT_ABSENT,
    "imds": ok(),
}

TIMED_OUT = "timed out"
WIRE_NO_CONNECT = fail("could not connect")


def _vm_drop(*spec: str) -> Rule:
    return Rule(Where.VM, "filter", "OUTPUT", ("-d", f"{PLATFORM_ADDRESS}/32", *spec, "-j", "DROP"))


def _host_rule(*spec: str) -> Rule:
    return Rule(Where.HOST, "filter", "INPUT", ("-d", f"{PLATFORM_ADDRESS}/32", *spec))


# The Linux guest agent's own rules, as it installs them (tests/fixtures/iptables-security.txt).
AGENT_RULES = (
    Rule(
        Where.VM,
        "security",
        "OUTPUT",
        ("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"),
    ),
    Rule(
        Where.VM,
        "security",
        "OUTPUT",
        (
            *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp"),
            *("-m", "owner", "--uid-owner", "0", "-j", "ACCEPT"),
        ),
    ),
    Rule(
        Where.VM,
        "security",
        "OUTPUT",
        (
            *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp"),
            *("-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "DROP"),
        ),
    ),
)


# The guest agent's configuration as its packages ship it: the firewall on.
WAAGENT_CONF_FIREWALL_ON = """\
# wirecheck lab: the guest agent's configuration, as shipped (only what the checks read)
Provisioning.Agent=auto
OS.EnableFirewall=y
OS.EnableRDMA=n
HttpProxy.Host=None
HttpProxy.Port=None
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    expect: Mapping[str, Expect]
    diagnosis: ExpectCause  # the cause the diagnosis must rank first
    rules: tuple[Rule, ...] = ()
    wire_mode: WireMode = WireMode.NORMAL
    ptr: str | None = None  # a PTR record for the platform address, served by the lab's DNS
    appliance: bool = False  # a routing appliance between eth0's gateway and the host
    platform_via_secondary: bool = False  # a preferred /32 to the target via eth1
    env: Mapping[str, str] = field(default_factory=dict)  # added to wirecheck's environment
    run_as_uid: int | None = None  # None: root
    etc_files: Mapping[str, str] = field(default_factory=dict)  # extra files in the VM's /etc
    lease_endpoint: str = PLATFORM_ADDRESS  # option 245 in eth0's DHCP lease
    bulk: Bulk = field(default_factory=Bulk)  # generated state of a big node
    # Filter-table rules (`-A CHAIN ...`) loaded after the generated ones (new chains are
    # declared): a fault hidden deep in a big ruleset.
    bulk_filter_rules: tuple[str, ...] = ()
    # The deadline the test matrix runs it with (None: the matrix's own, short one): a big
    # node's verdict is promised within the default deadline.
    timeout_s: float | None = None

    def expected_exit_code(self, check_ids: Sequence[str] = CATALOGUE) -> int:
        """The exit code wirecheck should give when exactly `check_ids` run (worst case)."""
        return max(
            (max(s.exit_code for s in self.expect[c].statuses) for c in check_ids), default=0
        )

    def summary(self) -> str:
        """The expected verdicts in one line: what differs from the healthy lab."""
        changed = [
            f"{check} {expect.describe()}"
            for check, expect in self.expect.items()
            if expect != HEALTHY.get(check)
        ]
        if changed:
            return ", ".join(changed) + "; the rest as in healthy"
        unusual = [
            f"{check} {expect.describe_statuses()}" + (f" ({expect.why})" if expect.why else "")
            for check, expect in self.expect.items()
            if expect.statuses != {Status.OK}
        ]
        return "all ok" + (f" except {', '.join(unusual)}" if unusual else "")


def _scenario(
    name: str,
    description: str,
    changes: Mapping[str, Expect] | None = None,
    *,
    diagnosis: ExpectCause,
    **options: Any,
) -> Scenario:
    return Scenario(name, description, {**HEALTHY, **(changes or {})}, diagnosis, **options)


def _removal(rule: Rule, *spec: str) -> str:
    """The command that removes `rule`, with its spec as iptables-save spells it back
    (`-m tcp` added, addresses with their prefix length)."""
    return f"iptables -t {rule.table} -D {rule.chain} {' '.join(spec)}"


DROP_32526 = _vm_drop("-p", "tcp", "--dport", "32526")
DROP_32526_REMOVAL = _removal(
    DROP_32526,
    *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp", "-m", "tcp", "--dport", "32526", "-j", "DROP"),
)
# The expectations of a local DROP of TCP 32526 that the firewall check's counters catch.
DROPPED_32526_COUNTED: Mapping[str, Expect] = {
    "tcp-32526": fail(TIMED_OUT),
    "trace-32526": fail(),
    "firewall": fail("counted", "32526"),
}
DROPPED_32526_CAUSE = cause(
    "TCP 32526 times out",
    "counted",
    DROP_32526_REMOVAL,
    checks=("tcp-32526", "trace-32526", "firewall"),
)
DROP_UDP_53 = _vm_drop("-p", "udp", "--dport", "53")
REJECT_IMDS = Rule(Where.VM, "filter", "OUTPUT", ("-d", f"{IMDS_ADDRESS}/32", "-j", "REJECT"))
DROP_IMDS_UPSTREAM = Rule(Where.HOST, "filter", "INPUT", ("-d", f"{IMDS_ADDRESS}/32", "-j", "DROP"))
# A big node: enough generated state to show the cost is linear (the bench goes to 100k),
# small enough for the matrix (loading it takes a few seconds).
BIG_NODE = Bulk(rules=20_000, routes=20_000, lease_blocks=2_000)
# A foreign DROP of TCP 32526 deep in a big ruleset: a chain of its own, entered for the
# platform address only, after the generated rules.
GUARD_CHAIN = "WIRECHECK-LAB-GUARD"
GUARD_SPEC = ("-p", "tcp", "-m", "tcp", "--dport", "32526", "-j", "DROP")
GUARD_RULES = (
    f"-A OUTPUT -d {PLATFORM_ADDRESS}/32 -j {GUARD_CHAIN}",
    f"-A {GUARD_CHAIN} {' '.join(GUARD_SPEC)}",
)

SCENARIOS: tuple[Scenario, ...] = (
    _scenario("healthy", "Everything answers, as on a healthy Azure VM.", diagnosis=NO_PROBLEM),
    _scenario(
        "drop-32526-local",
        "The VM's own firewall drops TCP 32526 to the platform address.",
        DROPPED_32526_COUNTED,
        diagnosis=DROPPED_32526_CAUSE,
        rules=(DROP_32526,),
    ),
    _scenario(
        "foreign-drop-counted",
        "The guest agent's three firewall rules and a foreign rule that drops TCP 32526 "
        "(wirecheck as root): the foreign rule's counter names it.",
        DROPPED_32526_COUNTED,
        diagnosis=DROPPED_32526_CAUSE,
        rules=(*AGENT_RULES, DROP_32526),
    ),
    _scenario(
        "drop-32526-upstream",
        "The host drops TCP 32526 (an upstream blackhole); the VM has no rule.",
        {"tcp-32526": fail(TIMED_OUT), "trace-32526": fail()},
        diagnosis=cause(
            "TCP 32526 times out",
            "no local rule counted",
            checks=("tcp-32526", "trace-32526"),
        ),
        rules=(_host_rule("-p", "tcp", "--dport", "32526", "-j", "DROP"),),
    ),
    _scenario(
        "reject-80",
        "The host rejects TCP 80 with a TCP reset.",
        {"tcp-80": fail("refused"), "wire-versions": fail("could not connect", "refused")},
        diagnosis=cause("TCP 80 is refused", "REJECT", checks=("tcp-80", "wire-versions")),
        rules=(
            _host_rule("-p", "tcp", "--dport", "80", "-j", "REJECT", "--reject-with", "tcp-reset"),
        ),
    ),
    _scenario(
        "dns-udp-blocked",
        "The VM's firewall drops DNS over UDP to the platform address (TCP 53 still works).",
        {"dns-udp": fail("blocked locally"), "firewall": fail("counted", "53")},
        diagnosis=cause(
            "DNS over UDP is blocked locally",
            "counted",
            _removal(
                DROP_UDP_53,
                *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "udp", "-m", "udp", "--dport", "53"),
                *("-j", "DROP"),
            ),
            checks=("dns-udp", "firewall"),
        ),
        rules=(DROP_UDP_53,),
    ),
    _scenario(
        "dns-tcp-blocked",
        "The host drops DNS over TCP (UDP 53 still works).",
        {"dns-tcp": fail(TIMED_OUT)},
        diagnosis=cause("DNS over TCP", "times out while UDP works", checks=("dns-tcp",)),
        rules=(_host_rule("-p", "tcp", "--dport", "53", "-j", "DROP"),),
    ),
    _scenario(
        "ptr-present",
        f"The resolver has a PTR record for {PLATFORM_ADDRESS} ({PTR_NAME}).",
        {"dns-reverse": warn("reverse name", PTR_NAME)},
        diagnosis=cause("reverse name", PTR_NAME, "remove the PTR record", checks=("dns-reverse",)),
        ptr=PTR_NAME,
    ),
    _scenario(
        "route-secondary",
        "A /32 route sends platform traffic out of eth1; the host ignores the secondary subnet.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "dns-udp": fail(TIMED_OUT),
            "dns-tcp": fail(TIMED_OUT),
            "dns-reverse": fail("no resolver answered"),
            "trace-80": fail(),
            "trace-32526": fail(),
            "egress-nic": _expect(
                Status.WARN,
                Status.FAIL,
                keywords=("eth1",),
                why="leaving by the secondary NIC is the cause here; the check may rank it "
                "a warning or a failure, but must name eth1",
            ),
        },
        diagnosis=cause(
            "leaves by eth1",
            "not by the primary NIC eth0",
            f"ip route del {PLATFORM_ADDRESS}/32 via {SECONDARY_GATEWAY} dev eth1",
            checks=("egress-nic", *PROBES),  # every probe fails with it
        ),
        platform_via_secondary=True,
    ),
    _scenario(
        "appliance-hop",
        "A routing appliance sits between the VM and the host: the target is two hops away.",
        {"trace-80": warn("hop"), "trace-32526": warn("hop")},
        diagnosis=cause(
            "extra hop", f"hop 1 {PRIMARY_GATEWAY}", checks=("trace-80", "trace-32526")
        ),
        appliance=True,
    ),
    _scenario(
        "wire-500",
        "WireServer answers HTTP 500.",
        {"wire-versions": fail("HTTP 500")},
        diagnosis=cause("HTTP 500", "trace-80 ok", checks=("wire-versions",)),
        wire_mode=WireMode.HTTP_500,
    ),
    _scenario(
        "wire-malformed",
        "WireServer answers HTTP 200 with truncated XML.",
        {"wire-versions": fail("not well-formed")},
        diagnosis=cause("not well-formed", checks=("wire-versions",)),
        wire_mode=WireMode.MALFORMED,
    ),
    _scenario(
        "wire-garbage",
        "Something on port 80 answers with bytes that are not HTTP.",
        {"wire-versions": fail("not valid HTTP")},
        diagnosis=cause("does not speak valid HTTP", checks=("wire-versions",)),
        wire_mode=WireMode.GARBAGE,
    ),
    _scenario(
        "wire-slow",
        "WireServer trickles its answer a byte at a time, for longer than the deadline.",
        {"wire-versions": fail("deadline")},
        diagnosis=cause("WireServer is slow", "deadline", checks=("wire-versions",)),
        wire_mode=WireMode.SLOW,
    ),
    _scenario(
        "wire-huge",
        "WireServer answers with a body of several megabytes.",
        {"wire-versions": fail("larger than")},
        diagnosis=cause("larger than 64 KiB", checks=("wire-versions",)),
        wire_mode=WireMode.HUGE,
    ),
    _scenario(
        "proxy-env",
        f"http_proxy/HTTP_PROXY point at {MISSING_PROXY}, which does not exist; wirecheck "
        "bypasses it and passes, and the proxy check warns.",
        {"proxy": warn("proxy")},
        diagnosis=cause("proxy would catch", MISSING_PROXY, "no_proxy", checks=("proxy",)),
        env={
            "http_proxy": MISSING_PROXY,
            "HTTP_PROXY": MISSING_PROXY,
            "https_proxy": MISSING_PROXY,
        },
    ),
    _scenario(
        "lease-other-245",
        f"eth0's DHCP lease carries option 245 = {OTHER_ENDPOINT}: the guest agent would look "
        f"for WireServer there, while {PLATFORM_ADDRESS} answers.",
        {"endpoint": warn(OTHER_ENDPOINT)},
        diagnosis=cause(OTHER_ENDPOINT, PLATFORM_ADDRESS, "option 245", checks=("endpoint",)),
        lease_endpoint=OTHER_ENDPOINT,
    ),
    _scenario(
        "imds-rejected",
        f"The VM's firewall rejects all traffic to IMDS ({IMDS_ADDRESS}).",
        {"imds": warn("refused"), "firewall": fail("counted", IMDS_ADDRESS)},
        diagnosis=cause(
            "IMDS is refused",
            "counted",
            _removal(REJECT_IMDS, "-d", f"{IMDS_ADDRESS}/32", "-j", "REJECT"),
            checks=("imds", "firewall"),
        ),
        rules=(REJECT_IMDS,),
    ),
    _scenario(
        "agent-firewall-root",
        "The guest agent's three firewall rules, wirecheck run as root: all traffic passes.",
        {"firewall": ok("agent")},
        diagnosis=NO_PROBLEM,
        rules=AGENT_RULES,
    ),
    _scenario(
        "agent-firewall-nonroot",
        "The guest agent's three firewall rules and its /etc/waagent.conf "
        "(OS.EnableFirewall=y), wirecheck run as a non-root user (nobody): TCP 80/32526 time "
        "out, as expected, DNS passes.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "trace-80": fail(),
            "trace-32526": fail(),
            # The user is named from the effective uid: setpriv leaves $USER as it was.
            "privileges": warn("not running as root (nobody)", "timeouts are expected"),
            # iptables cannot be read without CAP_NET_ADMIN: the rules are out of sight.
            "firewall": skip("permission denied"),
            # The lab gives the VM the agent's configuration, not a running agent.
            "guest-agent": warn("installed", "not running"),
        },
        diagnosis=cause(
            "because you are not root",
            "the guest agent's firewall drops TCP",
            "expected",
            "sudo wirecheck",
            checks=(
                "tcp-80",
                "tcp-32526",
                "wire-versions",
                "trace-80",
                "trace-32526",
                "privileges",
            ),
            # The agent's configuration says its firewall is on: no guessing.
            absent=("most likely",),
        ),
        rules=AGENT_RULES,
        run_as_uid=NOBODY_UID,
        etc_files={"waagent.conf": WAAGENT_CONF_FIREWALL_ON},
        # setpriv changes ids, not the environment: $USER and $LOGNAME still name root, as
        # after `setpriv`/`su` from a root shell, and privileges must name nobody anyway.
        env={"USER": "root", "LOGNAME": "root", "HOME": "/nonexistent"},
    ),
)

# Scenarios of scale (issue 12), after the others: each loads a big node's generated state.
SCENARIOS += (
    _scenario(
        "imds-dropped-upstream",
        f"The host drops all traffic to IMDS ({IMDS_ADDRESS}); everything else is healthy: "
        "the verdict must not wait for the whole deadline on one context row.",
        {"imds": warn("not reachable", "timed out")},
        diagnosis=cause("IMDS is not reachable", "timed out", checks=("imds",)),
        rules=(DROP_IMDS_UPSTREAM,),
    ),
    _scenario(
        "big-node",
        f"A big node, healthy: {BIG_NODE.describe()} (kube-proxy's shape); every row as in "
        "healthy, within the deadline.",
        diagnosis=NO_PROBLEM,
        bulk=BIG_NODE,
        timeout_s=5.0,
    ),
    _scenario(
        "big-node-drop-32526",
        f"A big node ({BIG_NODE.describe()}) whose firewall drops TCP 32526 to the platform "
        f"address in a chain of its own ({GUARD_CHAIN}), entered from OUTPUT after the "
        "generated rules: the counter still names the rule.",
        {
            "tcp-32526": fail(TIMED_OUT),
            "trace-32526": fail(),
            "firewall": fail("counted", "32526", GUARD_CHAIN),
        },
        diagnosis=cause(
            "TCP 32526 times out",
            "counted",
            f"iptables -t filter -D {GUARD_CHAIN} {' '.join(GUARD_SPEC)}",
            checks=("tcp-32526", "trace-32526", "firewall"),
        ),
        bulk=BIG_NODE,
        bulk_filter_rules=GUARD_RULES,
        timeout_s=5.0,
    ),
)

BY_NAME: Mapping[str, Scenario] = {s.name: s for s in SCENARIOS}


def scenario(name: str) -> Scenario:
    found = BY_NAME.get(name)
    if found is None:
        from wirecheck.errors import UsageError

        raise UsageError(
            f"unknown lab scenario {name!r}; known: {', '.join(BY_NAME)} "
            "(`wirecheck lab scenarios` describes them)"
        )
    return found


@dataclass(frozen=True)
class Mismatch:
    check_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.check_id}: {self.problem}"


def compare(scenario: Scenario, report: Mapping[str, Any]) -> list[Mismatch]:
    """Every way a JSON report (`wirecheck run -o json`) differs from the scenario's declaration.

    Checks the report does not contain are not asserted (they may not exist yet); a check
    it contains without a declaration is a mismatch, so new checks cannot slip in unasserted.
    The diagnosis's first cause is compared too.
    """
    found: list[Mismatch] = []
    checks = report.get("checks")
    if not isinstance(checks, list) or not checks:
        return [Mismatch("(report)", "the report lists no checks")]
    for check in checks:
        check_id = str(check.get("id"))
        expect = scenario.expect.get(check_id)
        if expect is None:
            found.append(
                Mismatch(
                    check_id,
                    f"no expectation declared for scenario {scenario.name!r}: "
                    "add it to wirecheck/lab/scenarios.py",
                )
            )
            continue
        if machine_agent_seen(check):
            expect = MACHINE_AGENT
        problems = expect.problems(str(check.get("status")), str(check.get("finding", "")))
        found.extend(Mismatch(check_id, p) for p in problems)
    first = first_cause(report)
    found.extend(Mismatch("(diagnosis)", p) for p in scenario.diagnosis.problems(first))
    return found


def first_cause(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The diagnosis's first cause, passing over ones about the machine's own guest agent.

    Those (a real agent's logged errors, say) are true of the machine, not of the lab VM.
    """
    machine_wide = {str(c.get("id")) for c in report.get("checks") or [] if machine_agent_seen(c)}
    for item in report.get("diagnosis") or []:
        if not isinstance(item, Mapping):
            continue
        named = {str(c) for c in item.get("checks") or []}
        if named and named <= machine_wide:
            continue
        return item
    return None
