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
    cause,
    compare,
    fail,
    first_cause,
    machine_agent_seen,
    ok,
    scenario,
)
from wirecheck.model import Status

NO_PROBLEM = {"summary": "No problem found: this VM can talk to the platform.", "fix": "Nothing."}


def _report(
    *checks: tuple[str, str, str], diagnosis: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "checks": [{"id": i, "status": s, "finding": f, "evidence": {}} for i, s, f in checks],
        "diagnosis": [{**NO_PROBLEM, "checks": []}] if diagnosis is None else diagnosis,
    }


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
        "foreign-drop-counted",
        "lease-other-245",
        "imds-rejected",
    }
    assert required <= set(names)


def test_every_scenario_declares_its_first_cause_in_catalogue_rows() -> None:
    for item in SCENARIOS:
        assert item.diagnosis.keywords, item.name
        assert item.diagnosis.checks <= set(CATALOGUE), item.name
        # A fault scenario's first cause names a row the scenario expects to go wrong.
        wrong = {c for c, e in item.expect.items() if Status.OK not in e.statuses}
        assert not item.diagnosis.checks or item.diagnosis.checks & wrong, item.name
    healthy = [s.name for s in SCENARIOS if not s.diagnosis.checks]
    # Healthy VMs whose DHCP client is not dhclient: nothing is wrong, the endpoint is found.
    assert healthy == [
        "healthy",
        "agent-firewall-root",
        "lease-wicked",
        "lease-nm-internal",
        "lease-dhcpcd",
        "lease-cloud-init",
        "custom-dns-forwards",
        "big-node",
    ]
    assert all(scenario(n).diagnosis.keywords == ("No problem found",) for n in healthy)


def test_healthy_expects_every_check_ok_but_the_machine_wide_agent() -> None:
    not_ok = {c for c, e in scenario("healthy").expect.items() if e.statuses != {Status.OK}}
    assert not_ok == {"guest-agent", "agent-health"}


def test_each_fault_scenario_changes_something() -> None:
    for item in SCENARIOS:
        if item.name == "healthy":
            continue
        if item.bulk and dict(item.expect) == dict(HEALTHY):
            continue  # a big node that must stay healthy: its state is the change
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
        ("guest-agent", "skip", "no Linux guest agent here"),
    )
    assert compare(scenario("healthy"), report) == []


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (("tcp-80", "fail", "connected, then reset, on eth0"), "status is fail, expected ok"),
        (("tcp-80", "ok", "connected from 10.1.0.4 on eth1"), "lacks 'eth0'"),
        (("no-such-check", "ok", ""), "no expectation declared"),
        (("guest-agent", "ok", "no Linux guest agent here"), "status is ok, expected skip"),
    ],
)
def test_compare_names_each_difference(check: tuple[str, str, str], problem: str) -> None:
    mismatches = compare(scenario("healthy"), _report(check))
    assert len(mismatches) == 1
    assert mismatches[0].check_id == check[0]
    assert problem in mismatches[0].problem


@pytest.mark.parametrize(
    ("first", "problem"),
    [
        (None, "the diagnosis is empty"),
        ({"summary": "TCP 80 times out", "fix": "x", "checks": []}, "lacks 'No problem"),
        ({**NO_PROBLEM, "checks": ["tcp-80"]}, "names checks ['tcp-80'], expected []"),
    ],
)
def test_compare_names_a_wrong_first_cause(first: dict[str, Any] | None, problem: str) -> None:
    report = _report(("tcp-80", "ok", "connected on eth0"), diagnosis=[first] if first else [])
    (mismatch,) = compare(scenario("healthy"), report)
    assert mismatch.check_id == "(diagnosis)"
    assert problem in mismatch.problem


def test_expected_cause_checks_words_unwanted_words_and_rows() -> None:
    expected = cause("not root", "sudo", checks=("tcp-80", "privileges"), absent=("most likely",))
    right = {
        "summary": "TCP 80 times out because you are NOT ROOT.",
        "fix": "Run as root: `sudo wirecheck`.",
        "checks": ["privileges", "tcp-80"],  # the order is the diagnosis's own
    }
    assert expected.problems(right) == []
    guessing = {**right, "summary": "because you are not root: most likely the agent"}
    assert ["says 'most likely'" in p for p in expected.problems(guessing)] == [True]
    fewer = {**right, "checks": ["tcp-80"]}
    assert (
        "names checks ['tcp-80'], expected ['privileges', 'tcp-80']"
        in (expected.problems(fewer)[0])
    )
    assert "lacks 'sudo'" in expected.problems({**right, "fix": "Run as root."})[0]


def _agent_row(**evidence: Any) -> dict[str, Any]:
    return {"id": "guest-agent", "status": "warn", "finding": "errors", "evidence": evidence}


def test_the_machines_own_guest_agent_relaxes_its_row_and_its_cause() -> None:
    assert machine_agent_seen(_agent_row(service="walinuxagent.service"))
    assert machine_agent_seen(_agent_row(processes=["python3 -u /usr/sbin/waagent -daemon"]))
    assert machine_agent_seen(_agent_row(guest_proxy_agent={"service": "active"}))
    assert not machine_agent_seen(_agent_row(service=None, state="not running"))
    assert not machine_agent_seen({**_agent_row(service="x"), "id": "tcp-80"})
    agent_cause = {"summary": "Guest agent: 3 errors", "fix": "x", "checks": ["guest-agent"]}
    report = {
        "checks": [_agent_row(service="walinuxagent.service")],
        "diagnosis": [agent_cause, {**NO_PROBLEM, "checks": []}],
    }
    assert first_cause(report) == {**NO_PROBLEM, "checks": []}
    assert compare(scenario("healthy"), report) == []
    # The lab VM's own agent row (no unit, no process) is asserted, and so is its cause.
    report["checks"] = [_agent_row(service=None)]
    assert first_cause(report) == agent_cause
    assert {m.check_id for m in compare(scenario("healthy"), report)} == {
        "guest-agent",
        "(diagnosis)",
    }


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
    assert scenario("agent-firewall-userns-root").run_as_uid == 65534  # root in a userns
    not_root = ("nonroot", "userns")
    assert all(s.run_as_uid is None for s in SCENARIOS if not any(w in s.name for w in not_root))


@pytest.mark.parametrize("bad", ["", "UPPER", "a-b", "x" * 11, "../etc"])
def test_lab_names_refuse_anything_outside_the_pattern(bad: str) -> None:
    with pytest.raises(UsageError, match="lab name"):
        lab_names(bad)


def test_lab_names_are_prefixed() -> None:
    names = lab_names("t1")
    assert names.namespaces == ("wcl-t1-vm", "wcl-t1-host", "wcl-t1-app", "wcl-t1-pod")
    assert str(names.vm_etc) == "/etc/netns/wcl-t1-vm"
