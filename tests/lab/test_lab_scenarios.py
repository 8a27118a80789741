"""The scenario declarations and the pure comparison of a JSON report against them."""

from __future__ import annotations

from typing import Any

import pytest

from wirecheck.errors import UsageError
from wirecheck.lab.names import lab_names
from wirecheck.lab.scenarios import (
    AGENT_RULES,
    CATALOGUE,
    HEALTHY,
    SCENARIOS,
    Mismatch,
    compare,
    fail,
    ok,
    scenario,
)
from wirecheck.model import Status


def _report(*checks: tuple[str, str, str]) -> dict[str, Any]:
    return {"checks": [{"id": i, "status": s, "finding": f} for i, s, f in checks]}


def test_every_scenario_declares_every_catalogue_check() -> None:
    for item in SCENARIOS:
        assert set(item.expect) == set(CATALOGUE), item.name


def test_scenario_names_are_unique_and_the_required_ones_exist() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    required = {
        "healthy",
        "drop-32526-local",
        "drop-32526-upstream",
        "reject-80",
        "dns-udp-blocked",
        "dns-tcp-blocked",
        "ptr-present",
        "route-secondary",
        "appliance-hop",
        "wire-500",
        "wire-malformed",
        "wire-slow",
        "proxy-env",
        "agent-firewall-nonroot",
    }
    assert required <= set(names)


def test_healthy_expects_every_check_ok_but_the_machine_wide_agent() -> None:
    not_ok = {c for c, e in scenario("healthy").expect.items() if e.statuses != {Status.OK}}
    assert not_ok == {"guest-agent"}


def test_each_fault_scenario_changes_something() -> None:
    for item in SCENARIOS:
        if item.name != "healthy":
            assert dict(item.expect) != dict(HEALTHY), item.name
            assert "the rest as in healthy" in item.summary()


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="known: healthy, "):
        scenario("nope")


def test_agent_rules_are_the_guest_agents_three() -> None:
    texts = [rule.text() for rule in AGENT_RULES]
    assert texts[0].endswith("--dport 53 -j ACCEPT")
    assert "--uid-owner 0 -j ACCEPT" in texts[1]
    assert "--ctstate INVALID,NEW -j DROP" in texts[2]
    assert all(rule.table == "security" and rule.chain == "OUTPUT" for rule in AGENT_RULES)
    assert AGENT_RULES[0].argv()[:6] == ["iptables", "-w", "-t", "security", "-A", "OUTPUT"]


def test_compare_accepts_a_matching_report() -> None:
    report = _report(
        ("tcp-80", "ok", "connected to WireServer from 10.1.0.4 on eth0"),
        ("guest-agent", "skip", "no agent here"),
    )
    assert compare(scenario("healthy"), report) == []


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (("tcp-80", "fail", "connected, then reset, on eth0"), "status is fail, expected ok"),
        (("tcp-80", "ok", "connected from 10.1.0.4 on eth1"), "lacks 'eth0'"),
        (("no-such-check", "ok", ""), "no expectation declared"),
        (("guest-agent", "fail", "not running"), "expected ok/warn/skip"),
    ],
)
def test_compare_names_each_difference(check: tuple[str, str, str], problem: str) -> None:
    mismatches = compare(scenario("healthy"), _report(check))
    assert len(mismatches) == 1
    assert mismatches[0].check_id == check[0]
    assert problem in mismatches[0].problem


def test_compare_refuses_a_report_without_checks() -> None:
    assert compare(scenario("healthy"), {"checks": []}) == [
        Mismatch("(report)", "the report lists no checks")
    ]


def test_keywords_match_case_insensitively() -> None:
    assert fail("Timed Out").problems("fail", "the port timed out: dropped") == []
    assert ok().problems("ok", "") == []


def test_expected_exit_code_is_the_worst_declared() -> None:
    assert scenario("healthy").expected_exit_code(["tcp-80", "dns-udp"]) == 0
    assert scenario("ptr-present").expected_exit_code() == 1
    assert scenario("reject-80").expected_exit_code(["tcp-80"]) == 2


def test_non_root_scenario_runs_as_nobody() -> None:
    assert scenario("agent-firewall-nonroot").run_as_uid == 65534
    assert all(s.run_as_uid is None for s in SCENARIOS if "nonroot" not in s.name)


@pytest.mark.parametrize("bad", ["", "UPPER", "a-b", "x" * 11, "../etc"])
def test_lab_names_refuse_anything_outside_the_pattern(bad: str) -> None:
    with pytest.raises(UsageError, match="lab name"):
        lab_names(bad)


def test_lab_names_are_prefixed() -> None:
    names = lab_names("t1")
    assert names.namespaces == ("wcl-t1-vm", "wcl-t1-host", "wcl-t1-app")
    assert str(names.vm_etc) == "/etc/netns/wcl-t1-vm"
