"""The lab's fault scenarios and the verdict each one expects, for every check.

This is the one place that declares what wirecheck must say in each scenario: the lab
tests compare every check present in a run against it, and fail on a check that has no
declaration here. Checks of the DESIGN catalogue that do not exist yet are declared
already and asserted as soon as they appear in a run.

Keywords are words the check's *finding* must contain (case-insensitive). They are only
given where the wording is settled; a status alone is still a real assertion.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wirecheck.model import PLATFORM_ADDRESS, Status

# DESIGN section 3, in display order: the core probes, then the context checks.
CATALOGUE: tuple[str, ...] = (
    "tcp-80",
    "tcp-32526",
    "wire-versions",
    "dns-udp",
    "dns-tcp",
    "dns-reverse",
    "trace-80",
    "trace-32526",
    "egress-nic",
    "privileges",
    "proxy",
    "firewall",
    "endpoint",
    "guest-agent",
    "imds",
)

NOBODY_UID = 65534
PTR_NAME = "dns-proxy.contoso.example"  # what a misconfigured custom DNS server might answer
MISSING_PROXY = "http://10.1.0.99:3128"  # nothing listens there, nothing routes there


class WireMode(enum.StrEnum):
    """How the WireServer simulator answers `?comp=versions`."""

    NORMAL = "normal"
    HTTP_500 = "http-500"
    MALFORMED = "malformed"  # truncated XML
    GARBAGE = "garbage"  # bytes that are not HTTP at all
    SLOW = "slow"  # headers at once, then the body a byte at a time, for minutes
    HUGE = "huge"  # a multi-megabyte body


class Where(enum.StrEnum):
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


# The guest agent is machine-wide (the process table and the service manager are the
# machine's, not the lab's): a development machine has none (skip, or warn "not running"),
# and a machine that runs one, or anything the check takes for one, gives ok. The lab
# asserts only that it never makes the check fail.
AGENT_ABSENT = _expect(
    Status.OK,
    Status.SKIP,
    Status.WARN,
    why="the guest agent is machine-wide, outside the lab's control",
)

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


# The Linux guest agent's own rules (DESIGN 8; tests/fixtures/iptables-security.txt).
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


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    expect: Mapping[str, Expect]
    rules: tuple[Rule, ...] = ()
    wire_mode: WireMode = WireMode.NORMAL
    ptr: str | None = None  # a PTR record for the platform address, served by the lab's DNS
    appliance: bool = False  # a routing appliance between eth0's gateway and the host
    platform_via_secondary: bool = False  # a preferred /32 to the target via eth1
    env: Mapping[str, str] = field(default_factory=dict)  # added to wirecheck's environment
    run_as_uid: int | None = None  # None: root

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
            f"{check} {expect.describe_statuses()} ({expect.why})"
            for check, expect in self.expect.items()
            if expect.statuses != {Status.OK}
        ]
        return "all ok" + (f" except {', '.join(unusual)}" if unusual else "")


def _scenario(
    name: str,
    description: str,
    changes: Mapping[str, Expect] | None = None,
    **options: Any,
) -> Scenario:
    return Scenario(name, description, {**HEALTHY, **(changes or {})}, **options)


SCENARIOS: tuple[Scenario, ...] = (
    _scenario("healthy", "Everything answers, as on a healthy Azure VM."),
    _scenario(
        "drop-32526-local",
        "The VM's own firewall drops TCP 32526 to the platform address.",
        {
            "tcp-32526": fail(TIMED_OUT),
            "trace-32526": fail(),
            "firewall": fail("32526"),
        },
        rules=(_vm_drop("-p", "tcp", "--dport", "32526"),),
    ),
    _scenario(
        "drop-32526-upstream",
        "The host drops TCP 32526 (an upstream blackhole); the VM has no rule.",
        {"tcp-32526": fail(TIMED_OUT), "trace-32526": fail()},
        rules=(_host_rule("-p", "tcp", "--dport", "32526", "-j", "DROP"),),
    ),
    _scenario(
        "reject-80",
        "The host rejects TCP 80 with a TCP reset.",
        {"tcp-80": fail("refused"), "wire-versions": fail("could not connect", "refused")},
        rules=(
            _host_rule("-p", "tcp", "--dport", "80", "-j", "REJECT", "--reject-with", "tcp-reset"),
        ),
    ),
    _scenario(
        "dns-udp-blocked",
        "The VM's firewall drops DNS over UDP to the platform address (TCP 53 still works).",
        {"dns-udp": fail("blocked locally"), "firewall": fail("53")},
        rules=(_vm_drop("-p", "udp", "--dport", "53"),),
    ),
    _scenario(
        "dns-tcp-blocked",
        "The host drops DNS over TCP (UDP 53 still works).",
        {"dns-tcp": fail(TIMED_OUT)},
        rules=(_host_rule("-p", "tcp", "--dport", "53", "-j", "DROP"),),
    ),
    _scenario(
        "ptr-present",
        f"The resolver has a PTR record for {PLATFORM_ADDRESS} ({PTR_NAME}).",
        {"dns-reverse": warn("reverse name", PTR_NAME)},
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
        platform_via_secondary=True,
    ),
    _scenario(
        "appliance-hop",
        "A routing appliance sits between the VM and the host: the target is two hops away.",
        {"trace-80": warn("hop"), "trace-32526": warn("hop")},
        appliance=True,
    ),
    _scenario(
        "wire-500",
        "WireServer answers HTTP 500.",
        {"wire-versions": fail("HTTP 500")},
        wire_mode=WireMode.HTTP_500,
    ),
    _scenario(
        "wire-malformed",
        "WireServer answers HTTP 200 with truncated XML.",
        {"wire-versions": fail("not well-formed")},
        wire_mode=WireMode.MALFORMED,
    ),
    _scenario(
        "wire-garbage",
        "Something on port 80 answers with bytes that are not HTTP.",
        {"wire-versions": fail("not valid HTTP")},
        wire_mode=WireMode.GARBAGE,
    ),
    _scenario(
        "wire-slow",
        "WireServer trickles its answer a byte at a time, for longer than the deadline.",
        {"wire-versions": fail("deadline")},
        wire_mode=WireMode.SLOW,
    ),
    _scenario(
        "wire-huge",
        "WireServer answers with a body of several megabytes.",
        {"wire-versions": fail("larger than")},
        wire_mode=WireMode.HUGE,
    ),
    _scenario(
        "proxy-env",
        f"http_proxy/HTTP_PROXY point at {MISSING_PROXY}, which does not exist; wirecheck "
        "bypasses it and passes, and the proxy check warns.",
        {"proxy": warn("proxy")},
        env={
            "http_proxy": MISSING_PROXY,
            "HTTP_PROXY": MISSING_PROXY,
            "https_proxy": MISSING_PROXY,
        },
    ),
    _scenario(
        "agent-firewall-root",
        "The guest agent's three firewall rules, wirecheck run as root: all traffic passes.",
        {"firewall": ok("agent")},
        rules=AGENT_RULES,
    ),
    _scenario(
        "agent-firewall-nonroot",
        "The guest agent's three firewall rules, wirecheck run as a non-root user (nobody): "
        "TCP 80/32526 time out, DNS passes.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "trace-80": fail(),
            "trace-32526": fail(),
            "privileges": warn("root"),
            # iptables cannot be read without CAP_NET_ADMIN: the rules are out of sight.
            "firewall": skip(),
        },
        rules=AGENT_RULES,
        run_as_uid=NOBODY_UID,
        # setpriv changes ids, not the environment: give the run a real nobody login's.
        env={"USER": "nobody", "LOGNAME": "nobody", "HOME": "/nonexistent"},
    ),
)

BY_NAME: Mapping[str, Scenario] = {s.name: s for s in SCENARIOS}
DEFAULT_SCENARIO = "healthy"


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
        problems = expect.problems(str(check.get("status")), str(check.get("finding", "")))
        found.extend(Mismatch(check_id, p) for p in problems)
    return found
