"""The diagnosis on tables of results: one row per cause, then combinations."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import facts
from tests.conftest import fixture_bytes, fixture_text
from tests.facts import WS, row
from wirecheck.checks.firewall import FirewallFacts, RuleSeen, SuspectRule
from wirecheck.checks.guest_agent import LinuxAgentFacts
from wirecheck.diagnose import NO_PROBLEM, diagnose
from wirecheck.model import CheckResult, Status
from wirecheck.net.errors import errno_text
from wirecheck.net.traceroute.hops import HopKind
from wirecheck.platform.firewall.model import Rule
from wirecheck.platform.netconfig import InterfaceConfig
from wirecheck.platform.proxy_agent import ProxyAgentRefusal
from wirecheck.platform.waagent import parse_log
from wirecheck.platform.windows_firewall import (
    outbound_policy_rules,
    parse_allprofiles,
    parse_wfp_filters,
    wfp_block_rules,
)

OK, WARN, FAIL, SKIP = Status.OK, Status.WARN, Status.FAIL, Status.SKIP
PORT_RULE = f"-A OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP"
_row = row


def healthy() -> dict[str, CheckResult]:
    rows = [
        _row("tcp-80", OK, "connected", facts.connect(80)),
        _row("tcp-32526", OK, "connected", facts.connect(32526)),
        _row("wire-versions", OK, "HTTP 200", facts.wire()),
        _row("dns-udp", OK, "answered", facts.dns("udp")),
        _row("dns-tcp", OK, "answered", facts.dns("tcp")),
        _row("dns-reverse", OK, "no reverse name", facts.reverse()),
        _row("trace-80", OK, "hop 1", facts.trace(80, facts.DIRECT)),
        _row("trace-32526", OK, "hop 1", facts.trace(32526, facts.DIRECT)),
        _row("egress-nic", OK, "eth0", facts.egress("eth0", "eth0")),
        _row("privileges", OK, "root", facts.privileges(True)),
        _row("proxy", OK, "no proxy"),
        _row("firewall", OK, "no rule", facts.firewall()),
        _row("endpoint", OK, "ok", facts.endpoint()),
        _row("guest-agent", OK, "running"),
        _row("imds", OK, "answered", facts.imds()),
    ]
    return {r.check_id: r for r in rows}


def run(**changes: CheckResult) -> list[Any]:
    rows = healthy()
    rows.update(changes)
    return list(diagnose(list(rows.values())))


def timeout(check_id: str, port: int) -> CheckResult:
    return _row(check_id, FAIL, "timed out", facts.connect(port, "timeout"))


def no_answer(check_id: str, port: int, finding: str = "nothing answered") -> CheckResult:
    return _row(check_id, FAIL, finding, facts.trace(port))


WIRE_TIMEOUT = _row(
    "wire-versions", FAIL, "could not connect", facts.wire("timeout", connected=False)
)

NON_ROOT = {
    "privileges": _row(
        "privileges",
        WARN,
        "not root",
        facts.privileges(
            False,
            "alice",
            "enabled",
            "/etc/waagent.conf: OS.EnableFirewall=not set (default y)",
        ),
    ),
    "tcp-80": timeout("tcp-80", 80),
    "tcp-32526": timeout("tcp-32526", 32526),
    "wire-versions": WIRE_TIMEOUT,
    "trace-80": no_answer("trace-80", 80),
    "trace-32526": no_answer("trace-32526", 32526),
    "firewall": _row(
        "firewall",
        SKIP,
        "no firewall rules could be read: permission denied",
        FirewallFacts((), ("permission denied",), readable=False),
    ),
}


def counted_rule(probes: list[str], packets: int = 3) -> CheckResult:
    return _row(
        "firewall",
        FAIL,
        f"iptables rule `{PORT_RULE}` (filter/OUTPUT) counted {packets} packets",
        facts.firewall(facts.counted_rule(PORT_RULE, probes, packets)),
    )


def dns_down(transport: str, outcome: str = "timeout") -> CheckResult:
    return _row(f"dns-{transport}", FAIL, "timed out", facts.dns(transport, outcome))


@dataclass(frozen=True)
class Case:
    name: str
    rows: Mapping[str, CheckResult]
    summary: str  # the first cause's summary starts with this
    checks: tuple[str, ...]  # ... and it explains these rows
    fix: str = ""  # ... and its fix contains this
    others: tuple[str, ...] = field(default=())  # later causes start with these, in order


CASES = [
    Case(
        "non-root behind the agent firewall",
        NON_ROOT,
        "TCP 80 and 32526 time out because you are not root: the guest agent's firewall drops",
        ("tcp-80", "tcp-32526", "trace-80", "trace-32526", "wire-versions", "privileges"),
        "Run as root: `sudo wirecheck`.",
    ),
    Case(
        "a named local rule",
        {
            "tcp-32526": timeout("tcp-32526", 32526),
            "trace-32526": no_answer("trace-32526", 32526, "EPERM"),
            "firewall": counted_rule(["tcp-32526", "trace-32526"]),
        },
        f"TCP 32526 times out: iptables rule `{PORT_RULE}` (filter/OUTPUT) counted 3 packet(s)",
        ("tcp-32526", "trace-32526", "firewall"),
        f"Remove it: `iptables -t filter -D OUTPUT -d {WS}/32",
    ),
    Case(
        "the agent's DROP ahead of its uid-0 ACCEPT, as root",
        {
            "tcp-80": timeout("tcp-80", 80),
            "tcp-32526": timeout("tcp-32526", 32526),
            "wire-versions": WIRE_TIMEOUT,
            "trace-80": no_answer("trace-80", 80),
            "firewall": _row(
                "firewall",
                FAIL,
                "running as root, the guest agent's own rule counted 7 packet(s)",
                facts.agent_firewall_as_root(
                    "iptables-save-security-drop-before-uid0.txt", ["tcp-80", "tcp-32526"]
                ),
            ),
        },
        "TCP 80 times out, TCP 32526 times out: running as root, the guest agent's own "
        "firewall drops root's packets: its DROP counted 7 packet(s) during the probes and no "
        "uid-0 ACCEPT ahead of it let them through: the DROP comes before the TCP 53 ACCEPT; the "
        "DROP comes before the uid-0 ACCEPT.",
        ("tcp-80", "tcp-32526", "trace-80", "wire-versions", "firewall"),
        "then `systemctl restart walinuxagent`",
    ),
    Case(
        "the agent's DROP without its uid-0 ACCEPT, as root",
        {
            "tcp-80": timeout("tcp-80", 80),
            "firewall": _row(
                "firewall",
                FAIL,
                "running as root",
                facts.agent_firewall_as_root(
                    "iptables-save-security-drop-without-uid0.txt", ["tcp-80"]
                ),
            ),
        },
        "TCP 80 times out: running as root, the guest agent's own firewall drops root's "
        "packets: its DROP counted 7 packet(s) during the probes and no uid-0 ACCEPT ahead of it "
        "let them through: the uid-0 ACCEPT is missing.",
        ("tcp-80", "firewall"),
        "Delete the agent's rules, every copy:",
    ),
    Case(
        "a secondary address as the source",
        {
            "tcp-80": timeout("tcp-80", 80),
            "tcp-32526": timeout("tcp-32526", 32526),
            "wire-versions": WIRE_TIMEOUT,
            "trace-80": no_answer("trace-80", 80),
            "dns-udp": dns_down("udp"),
            "dns-tcp": dns_down("tcp"),
            "egress-nic": _row("egress-nic", FAIL, "source 10.1.0.5", facts.egress_wrong_source()),
            "imds": _row("imds", WARN, "IMDS is not reachable", facts.imds("timeout")),
        },
        f"Packets to {WS} leave eth0 with source 10.1.0.5, not the primary NIC's primary "
        "private IP 10.1.0.4; that is why TCP 80 and 32526 time out and DNS fails and IMDS does "
        "not answer: the platform answers only traffic from the primary NIC's primary private IP.",
        (
            "egress-nic",
            "tcp-80",
            "tcp-32526",
            "trace-80",
            "wire-versions",
            "dns-udp",
            "dns-tcp",
            "imds",
        ),
        f"`ip route replace {WS}/32 via 10.1.0.1 dev eth0 src 10.1.0.4`",
    ),
    Case(
        "the GuestProxyAgent refuses a process it does not allow",
        {
            "wire-versions": _row(
                "wire-versions",
                FAIL,
                "HTTP 403 from the GuestProxyAgent on this VM",
                dataclasses.replace(
                    facts.wire(http_status=403),
                    proxy_agent_refusal=ProxyAgentRefusal(
                        403, "WireServer", "WireServer Enforce -  IMDS Audit", True
                    ),
                ),
            )
        },
        "GET ?comp=versions gets HTTP 403 from the GuestProxyAgent on this VM (WireServer "
        "enforce): in Enforce mode it refuses WireServer to any process its allow-list (the VM's "
        "access control profile) does not name; it never reached WireServer.",
        ("wire-versions",),
        "Audit mode",
    ),
    Case(
        "pods behind the VM blocked by a FORWARD rule",
        {"firewall": _row("firewall", WARN, "containers or pods", facts.firewall_pods_blocked())},
        f"Containers or pods behind this VM cannot reach {WS} (TCP 80): iptables rule "
        f"`-A FORWARD -d {WS}/32 -p tcp -m tcp --dport 80 -j DROP` (filter/FORWARD) drops their "
        "forwarded traffic; the VM's own traffic passes.",
        ("firewall",),
        f"iptables -t filter -D FORWARD -d {WS}/32 -p tcp -m tcp --dport 80 -j DROP",
    ),
    Case(
        "upstream blackhole",
        {
            "tcp-80": timeout("tcp-80", 80),
            "tcp-32526": timeout("tcp-32526", 32526),
            "wire-versions": WIRE_TIMEOUT,
            "trace-80": no_answer("trace-80", 80),
        },
        "TCP 80 and 32526 time out and no local rule counted the packets: they leave the VM "
        "and get no answer. No NSG and no UDR applies to TCP 80 and 32526",
        ("tcp-80", "tcp-32526", "trace-80", "wire-versions"),
        "wirecheck bundle",
    ),
    Case(
        "an appliance that drops",
        {
            "tcp-80": timeout("tcp-80", 80),
            "trace-80": _row(
                "trace-80", FAIL, "never answered", facts.trace(80, [(1, "10.1.0.100", "router")])
            ),
        },
        "TCP 80 times out: packets get past hop 1 (10.1.0.100) and are dropped after it",
        ("tcp-80", "trace-80"),
    ),
    Case(
        "refused",
        {"tcp-80": _row("tcp-80", FAIL, "refused", facts.connect(80, "refused"))},
        "TCP 80 is refused: something answers with a reset",
        ("tcp-80",),
    ),
    Case(
        "blocked locally, rules unreadable",
        {
            "tcp-32526": _row("tcp-32526", FAIL, "blocked", facts.connect(32526, "blocked")),
            "firewall": NON_ROOT["firewall"],
        },
        "TCP 32526 is blocked locally (EPERM): the kernel refused to send, so a local firewall "
        "rule forbids it.",
        ("tcp-32526",),
        "Run as root so wirecheck can read the rules and name it.",
    ),
    Case(
        "a proxy in the environment",
        {
            "proxy": _row(
                "proxy", WARN, f"a proxy would catch http://{WS}/: http_proxy=http://p:3128"
            )
        },
        f"A proxy would catch http://{WS}/",
        ("proxy",),
    ),
    Case(
        "DNS over UDP blocked",
        {"dns-udp": dns_down("udp")},
        f"DNS over UDP 53 to {WS} times out while TCP works: UDP port 53 is blocked",
        ("dns-udp",),
        "Allow UDP port 53",
    ),
    Case(
        "DNS over TCP blocked",
        {"dns-tcp": dns_down("tcp", "refused")},
        f"DNS over TCP 53 to {WS} is refused while UDP works",
        ("dns-tcp",),
        "Allow TCP port 53",
    ),
    Case(
        "DNS down on both",
        {
            "dns-udp": dns_down("udp"),
            "dns-tcp": dns_down("tcp"),
            "dns-reverse": _row("dns-reverse", FAIL, "no resolver answered", facts.reverse()),
        },
        f"DNS to {WS} fails over UDP and TCP (timeout, timeout)",
        ("dns-udp", "dns-tcp", "dns-reverse"),
    ),
    Case(
        "a PTR record",
        {
            "dns-reverse": _row(
                "dns-reverse",
                WARN,
                f"{WS} has a reverse name x.example.com",
                facts.reverse("x.example.com"),
            )
        },
        f"{WS} has a reverse name x.example.com",
        ("dns-reverse",),
    ),
    Case(
        "the wrong NIC",
        {
            "egress-nic": _row(
                "egress-nic",
                FAIL,
                "leaves by eth1",
                facts.egress("eth0", "eth1", [f"{WS}/32 via 10.1.1.1 dev eth1 metric 50"]),
            ),
            "tcp-80": timeout("tcp-80", 80),
            "tcp-32526": timeout("tcp-32526", 32526),
            "dns-udp": dns_down("udp"),
            "dns-tcp": dns_down("tcp"),
            "dns-reverse": _row("dns-reverse", FAIL, "no resolver answered", facts.reverse()),
        },
        f"Traffic to {WS} leaves by eth1, not by the primary NIC eth0; that is why TCP 80 and "
        "32526 time out and DNS fails",
        ("egress-nic", "tcp-80", "tcp-32526", "dns-udp", "dns-tcp", "dns-reverse"),
    ),
    Case(
        "an extra hop",
        {
            "trace-80": _row(
                "trace-80",
                WARN,
                "hop 2",
                facts.trace(80, [(1, "10.1.0.100", "router"), (2, WS, "target")]),
            )
        },
        f"An extra hop is in the path to {WS} (port 80): hop 1 10.1.0.100 before the target",
        ("trace-80",),
    ),
    Case(
        "WireServer answers 500",
        {
            "wire-versions": _row(
                "wire-versions", FAIL, "WireServer answered HTTP 500", facts.wire(http_status=500)
            )
        },
        "WireServer answers ?comp=versions with HTTP 500: the connection works",
        ("wire-versions",),
        "The path is direct (trace-80 ok)",
    ),
    Case(
        "WireServer answers garbage",
        {"wire-versions": _row("wire-versions", FAIL, "not well-formed XML", facts.wire())},
        "WireServer's answer to ?comp=versions is not usable: not well-formed XML",
        ("wire-versions",),
    ),
    Case(
        "WireServer is slow",
        {
            "wire-versions": _row(
                "wire-versions",
                FAIL,
                "no complete answer",
                facts.wire(
                    "timeout",
                    http_status=None,
                    detail="the deadline passed mid-response",
                    elapsed_ms=4990.0,
                ),
            )
        },
        "WireServer is slow: the connection works but no complete answer",
        ("wire-versions",),
    ),
    Case(
        "another option-245 endpoint",
        {
            "endpoint": _row(
                "endpoint",
                WARN,
                f"the guest agent would look for WireServer at 10.1.0.99, not at the target {WS}",
                facts.endpoint(cached="10.1.0.99"),
            )
        },
        f"The guest agent would look for WireServer at 10.1.0.99, not at the target {WS}",
        ("endpoint",),
    ),
    Case(
        "a local rule rejects IMDS",
        {
            "imds": _row("imds", WARN, "IMDS is not reachable: refused", facts.imds("refused")),
            "firewall": _row(
                "firewall",
                FAIL,
                "counted",
                facts.firewall(
                    facts.counted_rule("-A OUTPUT -d 169.254.169.254/32 -j REJECT", ["imds"], 1)
                ),
            ),
        },
        "IMDS is refused: iptables rule `-A OUTPUT -d 169.254.169.254/32 -j REJECT` "
        "(filter/OUTPUT) counted 1 packet(s)",
        ("imds", "firewall"),
        "iptables -t filter -D OUTPUT -d 169.254.169.254/32 -j REJECT",
    ),
    Case(
        "IMDS unreachable",
        {"imds": _row("imds", WARN, "IMDS is not reachable: refused", facts.imds("refused"))},
        "IMDS is not reachable: refused",
        ("imds",),
    ),
    Case(
        "guest agent errors",
        {"guest-agent": _row("guest-agent", WARN, "walinuxagent is running; 2 errors")},
        "Guest agent: walinuxagent is running; 2 errors",
        ("guest-agent",),
    ),
    # Combinations
    Case(
        "non-root and a foreign rule at once",
        {**NON_ROOT, "firewall": counted_rule(["tcp-32526", "trace-32526"], packets=2)},
        "TCP 80 times out because you are not root",
        ("tcp-80", "trace-80", "wire-versions", "privileges"),
        "sudo wirecheck",
        (f"TCP 32526 times out: iptables rule `{PORT_RULE}`",),
    ),
    Case(
        "DNS blocked and a proxy",
        {
            "dns-udp": dns_down("udp"),
            "proxy": _row("proxy", WARN, "a proxy would catch it"),
        },
        f"DNS over UDP 53 to {WS} times out",
        ("dns-udp",),
        "",
        ("A proxy would catch it",),
    ),
    Case(
        "an extra hop and a PTR record",
        {
            "trace-32526": _row(
                "trace-32526",
                WARN,
                "hop 2",
                facts.trace(32526, [(1, None, "none"), (2, WS, "target")]),
            ),
            "dns-reverse": _row(
                "dns-reverse", WARN, f"{WS} has a reverse name x", facts.reverse("x")
            ),
        },
        f"An extra hop is in the path to {WS} (port 32526): a silent hop before the target",
        ("trace-32526",),
        "",
        (f"{WS} has a reverse name x",),
    ),
]


WSAEACCES = errno_text(10013)
STATIC_ETH0 = InterfaceConfig(
    "eth0", "static", "/etc/netplan/50-cloud-init.yaml", "netplan", ("10.1.0.4/24",)
)
AGENT_DHCP_ERRORS = LinuxAgentFacts(
    units={},
    processes=("python3 -u /usr/sbin/waagent -daemon",),
    installed=True,
    log=tuple(parse_log(fixture_text("waagent-endpoint-discovery.log"))),
)
CASES += [
    Case(
        "Windows refused the connection (WSAEACCES)",
        {
            "tcp-80": _row("tcp-80", FAIL, "blocked", facts.connect(80, "blocked", WSAEACCES)),
            "tcp-32526": _row(
                "tcp-32526", FAIL, "blocked", facts.connect(32526, "blocked", WSAEACCES)
            ),
        },
        f"TCP 80 and 32526 to {WS}: Windows refused the connection (WSAEACCES, 10013): the "
        "Windows Firewall or a WFP filter",
        ("tcp-80", "tcp-32526"),
        f"`netsh wfp show filters dir=OUT remoteaddr={WS}`",
    ),
    Case(
        "a static address and the agent's unanswered DHCP requests",
        {
            "endpoint": _row(
                "endpoint",
                WARN,
                "the guest agent cannot find WireServer",
                facts.endpoint(None, STATIC_ETH0),
            ),
            "guest-agent": _row("guest-agent", WARN, "2 connectivity error(s)", AGENT_DHCP_ERRORS),
        },
        "eth0 has a static address (netplan, /etc/netplan/50-cloud-init.yaml) and nothing tells "
        "the guest agent where WireServer is",
        ("endpoint", "guest-agent"),
    ),
    Case(
        "the agent's unit is masked",
        {
            "agent-health": _row(
                "agent-health", WARN, "the agent's unit walinuxagent.service is masked"
            ),
            "guest-agent": _row("guest-agent", WARN, "installed but not running (inactive)"),
        },
        "Guest agent health: the agent's unit walinuxagent.service is masked",
        ("agent-health",),
        "",
        ("Guest agent: installed but not running",),
    ),
]


def windows_firewall(rule: Rule, finding: str) -> CheckResult:
    """The firewall row on Windows: a rule that can block the failed TCP 80 (no counters)."""
    return _row(
        "firewall",
        FAIL,
        finding,
        FirewallFacts(
            ("netsh advfirewall", "netsh advfirewall show allprofiles"),
            suspects=(SuspectRule(rule, ("tcp-80",)),),
        ),
    )


POLICY_RULE = outbound_policy_rules(
    parse_allprofiles(fixture_text("netsh-advfirewall-show-allprofiles-block-outbound.txt")),
    [],
    [(WS, "tcp", 80)],
)[0]
WFP_RULE = wfp_block_rules(parse_wfp_filters(fixture_bytes("netsh-wfp-filters-wireserver.xml")))[0]
WINDOWS_BLOCKED_80 = _row("tcp-80", FAIL, "blocked", facts.connect(80, "blocked", WSAEACCES))
CASES += [
    Case(
        "Windows: the default outbound policy blocks and no rule allows",
        {
            "tcp-80": WINDOWS_BLOCKED_80,
            "firewall": windows_firewall(
                POLICY_RULE,
                f"the Windows Firewall's {POLICY_RULE.text} blocks this traffic and tcp-80 failed",
            ),
        },
        "TCP 80 is blocked locally (WSAEACCES): the Windows Firewall's default outbound policy "
        "Block (Domain, Private, Public profiles) and no allow rule for TCP 80 to "
        f"{WS} blocks this traffic and tcp-80 failed.",
        ("tcp-80", "firewall"),
    ),
    Case(
        "Windows: a VPN client's WFP filter blocks",
        {
            "tcp-80": WINDOWS_BLOCKED_80,
            "firewall": windows_firewall(
                WFP_RULE, f"WFP filter {WFP_RULE.text} blocks this traffic and tcp-80 failed"
            ),
        },
        'TCP 80 is blocked locally (WSAEACCES): WFP filter "Example VPN Client - block '
        'non-tunnel traffic" (filter 117325, provider Example VPN Client Provider) blocks this '
        "traffic and tcp-80 failed.",
        ("tcp-80", "firewall"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_first_cause(case: Case) -> None:
    causes = run(**case.rows)
    first = causes[0]
    assert first.summary.startswith(case.summary), first.summary
    assert set(first.checks) == set(case.checks)
    assert case.fix in first.fix
    assert first.evidence  # every cause says what supports it
    later = [c.summary for c in causes[1:]]
    for expected, actual in zip(case.others, later):
        assert actual.startswith(expected), later
    assert len(later) >= len(case.others)


def test_a_healthy_run_says_no_problem() -> None:
    assert run() == [NO_PROBLEM]
    skipped = _row("imds", SKIP, "not asked")
    assert run(imds=skipped, firewall=_row("firewall", SKIP, "not root")) == [NO_PROBLEM]


def test_non_root_without_the_agent_config_is_recognised_by_its_signature() -> None:
    rows = dict(NON_ROOT)
    rows["privileges"] = _row(
        "privileges", WARN, "not root", facts.privileges(False, None, "absent")
    )
    first = run(**rows)[0]  # dns-tcp is ok: TCP to the platform works on port 53 only
    assert first.summary.startswith(
        "TCP 80 and 32526 time out because you are not root: most likely the guest agent's"
    )
    assert any(e.startswith("dns-tcp: ok: TCP to the same address works") for e in first.evidence)


def test_a_probe_that_reported_after_the_firewalls_reading_is_the_agent_drops_too() -> None:
    firewall = facts.agent_firewall_as_root(
        "iptables-save-security-drop-before-uid0.txt", ["tcp-80"]
    )
    drop = firewall.agent_counted[0].rule
    firewall = dataclasses.replace(
        firewall, rules=(RuleSeen(drop, True, ("tcp-80", "dns-tcp"), 7),)
    )
    first = run(
        **{
            "tcp-80": timeout("tcp-80", 80),
            "dns-tcp": dns_down("tcp"),
            "firewall": _row("firewall", FAIL, "running as root", firewall),
        }
    )[0]
    assert set(first.checks) == {"tcp-80", "dns-tcp", "firewall"}
    assert first.summary.startswith("TCP 80 times out, DNS over TCP times out: running as root")


def test_root_inside_a_user_namespace_is_told_to_leave_it() -> None:
    inside = dataclasses.replace(
        facts.privileges(False, "root inside a user namespace", "enabled"),
        user_namespace="uid 0 here is uid 65534 outside this user namespace",
    )
    rows = {**NON_ROOT, "privileges": _row("privileges", WARN, "not root", inside)}
    first = run(**rows)[0]
    assert first.summary.startswith("TCP 80 and 32526 time out because you are not root")
    assert "outside the user namespace" in first.fix
    assert "privileges: uid 0 here is uid 65534 outside this user namespace" in first.evidence


def test_non_root_with_the_agent_firewall_off_is_not_blamed_on_root() -> None:
    rows = dict(NON_ROOT)
    rows["privileges"] = _row(
        "privileges", WARN, "not root", facts.privileges(False, None, "disabled")
    )
    first = run(**rows)[0]
    assert first.summary.startswith("TCP 80 and 32526 time out and no local rule counted")
    assert "privileges: not root, but the guest agent's firewall is not enabled" in first.evidence
    rows["privileges"] = _row(
        "privileges", WARN, "not root", facts.privileges(False, None, "absent")
    )
    rows["dns-tcp"] = dns_down("tcp")
    assert run(**rows)[0].summary.startswith("TCP 80 and 32526 time out and no local rule")


def test_extra_hops_on_both_ports_are_one_cause() -> None:
    hops: list[tuple[int, str | None, HopKind]] = [(1, "10.1.0.1", "router"), (2, WS, "target")]
    causes = run(
        **{
            "trace-80": _row("trace-80", WARN, "hop 2", facts.trace(80, hops)),
            "trace-32526": _row("trace-32526", WARN, "hop 2", facts.trace(32526, hops)),
        }
    )
    assert [c.summary for c in causes] == [
        f"An extra hop is in the path to {WS} (ports 80 and 32526): hop 1 10.1.0.1 before the "
        "target; on Azure it is one hop away (user-defined routes do not apply to the platform "
        "address): the guest sends it there (a guest route or policy rule, a tunnel or VPN "
        "client, or an appliance the guest routes through)."
    ]


def test_the_wrong_nic_explains_the_timeouts_it_causes() -> None:
    (wrong_nic,) = [c for c in CASES if c.name == "the wrong NIC"]
    (cause,) = run(**wrong_nic.rows)  # no separate blackhole cause for the same timeouts
    assert f"route at fault: {WS}/32 via 10.1.1.1 dev eth1 metric 50" in cause.evidence


def test_an_unexplained_row_still_gets_its_own_cause() -> None:
    odd = _row("egress-nic", Status.ERROR, "wirecheck failed inside this check: KeyError")
    causes = run(**{"egress-nic": odd})
    assert causes[0].checks == ("egress-nic",)
    assert causes[0].summary == "title of egress-nic: wirecheck failed inside this check: KeyError"


ALL_IDS = list(healthy())


@given(st.dictionaries(st.sampled_from(ALL_IDS), st.sampled_from(list(Status)), max_size=15))
def test_every_bad_row_is_explained_by_some_cause(statuses: dict[str, Status]) -> None:
    rows = healthy()
    for check_id, status in statuses.items():
        old = rows[check_id]
        rows[check_id] = dataclasses.replace(old, status=status, finding="changed")
    causes = diagnose(list(rows.values()))
    bad = {r.check_id for r in rows.values() if r.status in (WARN, FAIL, Status.ERROR)}
    explained = {c for cause in causes for c in cause.checks}
    assert bad <= explained
    assert (causes == (NO_PROBLEM,)) == (not bad)
    assert all(cause.fix and cause.summary for cause in causes)


def test_every_facts_kind_names_the_class_its_check_declares() -> None:
    from wirecheck.checks.catalogue import load_all
    from wirecheck.diagnose import kinds

    declared = {spec.facts for spec in load_all() if spec.facts is not None}
    for kind in kinds.ALL:
        loaded = kind.load()
        assert loaded.__name__ == kind.name
        # Each is a check's declared facts class, or one of its subclasses.
        assert any(issubclass(loaded, cls) or issubclass(cls, loaded) for cls in declared), kind


def test_a_run_of_one_check_loads_no_other_check_for_its_diagnosis() -> None:
    code = (
        "import sys\n"
        "from wirecheck.model import RunConfig\n"
        "from wirecheck.session import run_session\n"
        "run_session(RunConfig(target='127.0.0.1', timeout_s=1.0, only=frozenset({'tcp-80'})))\n"
        "print(sorted(m for m in sys.modules if m.startswith('wirecheck.checks.')))\n"
        "print('dns' in sys.modules, 'scapy' in sys.modules, 'http.client' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules, heavy = done.stdout.splitlines()
    assert (
        modules == "['wirecheck.checks.base', 'wirecheck.checks.catalogue', 'wirecheck.checks.tcp']"
    )
    assert heavy == "False False False"
