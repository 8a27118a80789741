"""Windows as it is: WSAEACCES on connect, the default outbound policy, WFP filters of other
software; all from recorded outputs, on Linux, with System(platform="win32") fakes."""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from tests.conftest import fixture_bytes, fixture_text
from tests.context_fakes import FakeMachine, context, ok, result
from wirecheck.checks.firewall import FirewallFacts, run_firewall
from wirecheck.checks.tcp import ConnectFacts, run_tcp_80
from wirecheck.model import Status
from wirecheck.net.errors import (
    WSAEACCES,
    NetOutcome,
    classify_errno,
    classify_exception,
    describe,
    errno_text,
)
from wirecheck.platform.firewall.assess import touches
from wirecheck.platform.firewall.model import Cond
from wirecheck.platform.windows import parse_firewall_rules
from wirecheck.platform.windows_firewall import (
    outbound_policy_rules,
    parse_allprofiles,
    parse_wfp_filters,
    wfp_block_rules,
)
from wirecheck.system import CommandResult

WS = "168.63.129.16"
IMDS = "169.254.169.254"
FLOWS = [(WS, "tcp", 80), (WS, "tcp", 32526), (WS, "udp", 53), (WS, "tcp", 53), (IMDS, "tcp", 80)]
RULES = ("netsh", "advfirewall", "firewall", "show", "rule", "name=all", "verbose")
PROFILES = ("netsh", "advfirewall", "show", "allprofiles")
MESSAGE = "An attempt was made to access a socket in a way forbidden by its access permissions"


# ---------------------------------------------------------------------------------------
# WSAEACCES


def test_wsaeacces_is_blocked_locally_with_windows_words() -> None:
    assert classify_errno(WSAEACCES) is NetOutcome.BLOCKED
    # What Python raises on Windows: errno and winerror 10013, Windows' own message.
    assert classify_exception(PermissionError(WSAEACCES, MESSAGE)) is NetOutcome.BLOCKED
    assert describe(OSError(WSAEACCES, MESSAGE)) == f"WSAEACCES ({MESSAGE})"
    assert errno_text(WSAEACCES) == f"WSAEACCES ({MESSAGE})"
    assert errno_text(errno.EPERM) == "EPERM (Operation not permitted)"
    # The recorded messages of Python, Go and .NET are this one error.
    recorded = fixture_text("windows-wsaeacces-connect.txt")
    assert recorded.count("forbidden by its access permissions") == 3


class _RefusedByWindows:
    """A socket whose non-blocking connect fails at once with WSAEACCES, as Windows' does
    when the firewall or a WFP filter refuses it."""

    def __init__(self, *_args: Any) -> None:
        self.closed = False

    def setblocking(self, _flag: bool) -> None:
        pass

    def connect_ex(self, _address: Any) -> int:
        return WSAEACCES

    def close(self) -> None:
        self.closed = True


def test_a_connect_windows_refuses_is_blocked_locally_with_the_windows_fix() -> None:
    machine = FakeMachine(socket_factory=_RefusedByWindows)
    outcome = run_tcp_80(context(machine, platform="win32"))
    assert outcome.status is Status.FAIL
    assert outcome.finding == (
        "WireServer (TCP 80) blocked locally: the system refused to send (a local firewall rule)"
    )
    facts = outcome.facts
    assert isinstance(facts, ConnectFacts) and facts.errno == f"WSAEACCES ({MESSAGE})"
    assert outcome.fix and outcome.fix.startswith(
        "Find what blocks it: `netsh advfirewall show allprofiles`"
    )
    assert "iptables" not in outcome.fix
    assert socket.AF_INET  # the fake stands in for a real IPv4 TCP socket


# ---------------------------------------------------------------------------------------
# Profiles and the default outbound policy


def test_profiles_default_and_blocking_outbound() -> None:
    default = parse_allprofiles(fixture_text("netsh-advfirewall-show-allprofiles-default.txt"))
    assert [(p.name, p.on, p.inbound, p.outbound) for p in default] == [
        ("Domain", True, "Block", "Allow"),
        ("Private", True, "Block", "Allow"),
        ("Public", True, "Block", "Allow"),
    ]
    blocking = parse_allprofiles(
        fixture_text("netsh-advfirewall-show-allprofiles-block-outbound.txt")
    )
    assert {p.outbound for p in blocking} == {"Block"}
    assert all(p.gpo_only for p in blocking)
    assert outbound_policy_rules(default, [], FLOWS) == []


def test_the_default_outbound_block_applies_to_flows_no_allow_rule_lets_out() -> None:
    profiles = parse_allprofiles(
        fixture_text("netsh-advfirewall-show-allprofiles-block-outbound.txt")
    )
    rules = parse_firewall_rules(
        fixture_text("netsh-advfirewall-firewall-show-rule-block-wireserver.txt")
    )
    policy = outbound_policy_rules(profiles, rules, FLOWS)
    # "Core Networking - DNS (UDP-Out)" allows UDP 53 anywhere; nothing else is allowed.
    assert [r.key for r in policy] == [
        f"windows policy tcp 80 {WS}",
        f"windows policy tcp 32526 {WS}",
        f"windows policy tcp 53 {WS}",
        f"windows policy tcp 80 {IMDS}",
    ]
    first = policy[0]
    assert first.text == (
        "default outbound policy Block (Domain, Private, Public profiles) and no allow rule for "
        f"TCP 80 to {WS}"
    )
    assert first.policy and first.blocking
    assert touches(first, WS, "tcp", 80) and not touches(first, WS, "tcp", 443)


# ---------------------------------------------------------------------------------------
# WFP


def test_wfp_filters_of_other_software_that_cover_the_target() -> None:
    filters = parse_wfp_filters(fixture_bytes("netsh-wfp-filters-wireserver.xml"))
    assert [(f.filter_id, f.action, f.provider) for f in filters] == [
        ("71234", "FWP_ACTION_BLOCK", "Microsoft Windows WFP Built-in MPSSVC provider"),
        ("117325", "FWP_ACTION_BLOCK", "Example VPN Client Provider"),
        ("117326", "FWP_ACTION_PERMIT", "Example VPN Client Provider"),
    ]
    assert filters[0].match.dport == Cond(("80",)) and filters[0].match.protocol == Cond(("tcp",))
    # Windows Firewall's own filter is its rule (netsh lists it); the permit blocks nothing.
    (vpn,) = wfp_block_rules(filters)
    assert vpn.match.daddr == Cond(("168.0.0.0/8",))
    assert vpn.text == (
        '"Example VPN Client - block non-tunnel traffic" (filter 117325, provider Example VPN '
        "Client Provider)"
    )
    assert touches(vpn, WS, "tcp", 32526) and not touches(vpn, IMDS, "tcp", 80)


def test_wfp_xml_with_a_doctype_is_refused() -> None:
    from wirecheck.errors import ParseError

    with pytest.raises(ParseError, match="refused"):
        parse_wfp_filters(
            b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]><wfpdiag>&x;</wfpdiag>'
        )


# ---------------------------------------------------------------------------------------
# The firewall check on Windows


def _machine(rules: str, profiles: str, wfp: bytes | None = None) -> FakeMachine:
    machine = FakeMachine(
        commands={RULES: ok(fixture_text(rules)), PROFILES: ok(fixture_text(profiles))}
    )

    def netsh_wfp(argv: Sequence[str]) -> CommandResult:
        if wfp is None:
            return CommandResult(tuple(argv), 1, "The requested operation requires elevation.\r\n")
        machine.binary[argv[-1].removeprefix("file=")] = wfp  # netsh writes where it is told
        return CommandResult(tuple(argv), 0, fixture_text("netsh-wfp-show-filters-console.txt"))

    machine.commands_by_prefix[("netsh", "wfp", "show", "filters")] = netsh_wfp
    return machine


FAILED_PLATFORM = [
    result("tcp-80", Status.FAIL, outcome="blocked"),
    result("tcp-32526", Status.FAIL, outcome="blocked"),
    result("dns-udp", Status.OK),
]


def test_a_block_rule_is_named_before_the_policy() -> None:
    machine = _machine(
        "netsh-advfirewall-firewall-show-rule-block-wireserver.txt",
        "netsh-advfirewall-show-allprofiles-block-outbound.txt",
    )
    outcome = run_firewall(context(machine, results=FAILED_PLATFORM, platform="win32"))
    assert outcome.status is Status.FAIL
    assert outcome.finding == (
        'Windows Firewall rule `"Block Azure platform address": Block Out TCP to '
        "168.63.129.16/32 port 80,32526` (Windows Firewall/OUTPUT) blocks this traffic and "
        "tcp-80, tcp-32526 failed"
    )
    facts = outcome.facts
    assert isinstance(facts, FirewallFacts)
    assert (
        "netsh wfp show filters: The requested operation requires elevation. (it needs "
        "Administrator)"
    ) in facts.notes


def test_the_default_outbound_block_without_an_allow_rule_is_named_with_the_allow_rule() -> None:
    # These rules allow TCP 80 and 443 anywhere ("Allow web"), nothing for TCP 53.
    machine = _machine(
        "windows-netsh-firewall-rules.txt",
        "netsh-advfirewall-show-allprofiles-block-outbound.txt",
    )
    results = [result("tcp-80", Status.OK), result("dns-tcp", Status.FAIL, outcome="blocked")]
    outcome = run_firewall(context(machine, results=results, platform="win32"))
    assert outcome.status is Status.FAIL
    assert outcome.finding == (
        "the Windows Firewall's default outbound policy Block (Domain, Private, Public profiles) "
        f"and no allow rule for TCP 53 to {WS} blocks this traffic and dns-tcp failed"
    )
    assert outcome.fix == (
        'Allow it outbound: `netsh advfirewall firewall add rule name="Azure platform '
        f'{WS}" dir=out action=allow protocol=TCP remoteip={WS} remoteport=53` (Group Policy, '
        "if it sets the policy); or let outbound through by default: `netsh advfirewall set "
        "allprofiles firewallpolicy blockinbound,allowoutbound`."
    )
    facts = outcome.facts
    assert isinstance(facts, FirewallFacts)
    assert [s.probes for s in facts.suspects][:1] == [("dns-tcp",)]


def test_a_third_party_wfp_filter_is_named_with_its_owner() -> None:
    machine = _machine(
        "windows-netsh-firewall-rules.txt",
        "netsh-advfirewall-show-allprofiles-default.txt",
        fixture_bytes("netsh-wfp-filters-wireserver.xml"),
    )
    results = [result("tcp-80", Status.OK), result("tcp-32526", Status.OK)]
    results += [result("wire-versions", Status.FAIL, outcome="blocked")]
    outcome = run_firewall(context(machine, results=results, platform="win32"))
    assert outcome.status is Status.FAIL
    assert outcome.finding.startswith(
        'WFP filter "Example VPN Client - block non-tunnel traffic" (filter 117325, provider '
        "Example VPN Client Provider) blocks this traffic and wire-versions failed"
    )
    assert outcome.fix == (
        "Not a firewall rule: the software that installed provider 'Example VPN Client "
        "Provider' owns it: reconfigure or remove it (`netsh wfp show filters` lists filter "
        "117325)."
    )
    facts = outcome.facts
    assert isinstance(facts, FirewallFacts)
    assert facts.sources == (
        "netsh advfirewall",
        "netsh advfirewall show allprofiles",
        f"netsh wfp show filters dir=OUT remoteaddr={WS}",
    )
