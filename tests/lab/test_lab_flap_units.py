"""The flapping fault as data: its schedule, its commands, and the comparison of the
windows watch found with the stretches of fault applied (no lab needed)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from wirecheck.lab.errors import LabError
from wirecheck.lab.flap import (
    Applied,
    Flap,
    applied_windows,
    compare,
    fault_commands,
    flappable,
    parse_flap,
)
from wirecheck.lab.names import lab_names
from wirecheck.lab.scenarios import cause, scenario


@pytest.mark.parametrize(
    ("text", "flap"),
    [("8/30", Flap(8, 30)), ("3/7+2", Flap(3, 7, 2)), (" 2.5 / 6 + 0 ", Flap(2.5, 6, 0))],
)
def test_parse_flap(text: str, flap: Flap) -> None:
    assert parse_flap(text) == flap


@pytest.mark.parametrize("bad", ["", "8", "30/8", "8/8", "0/5", "a/b", "8/30+x"])
def test_a_bad_flap_says_the_form(bad: str) -> None:
    with pytest.raises(LabError, match="ON/PERIOD"):
        parse_flap(bad)


def test_healthy_first_then_the_fault_at_the_end_of_each_period() -> None:
    edges = list(itertools.islice(Flap(8, 30).edges(100.0), 4))
    assert edges == [(122.0, True), (130.0, False), (152.0, True), (160.0, False)]
    assert list(itertools.islice(Flap(3, 7, 2).edges(0.0), 3)) == [
        (2.0, True),
        (5.0, False),
        (9.0, True),
    ]


def test_commands_add_and_delete_the_scenarios_rules_in_their_namespace() -> None:
    names = lab_names("t1")
    chosen = scenario("drop-32526-local")
    [on] = fault_commands(names, chosen, True)
    [off] = fault_commands(names, chosen, False)
    assert on[:4] == ["ip", "netns", "exec", names.vm]
    assert on[4:10] == ["iptables", "-w", "-t", "filter", "-A", "OUTPUT"]
    assert off[8] == "-D" and off[9:] == on[9:]
    upstream = fault_commands(names, scenario("drop-32526-upstream"), True)
    assert upstream[0][3] == names.host


def test_only_scenarios_made_of_rules_can_flap() -> None:
    assert flappable(scenario("reject-80")).name == "reject-80"
    with pytest.raises(LabError, match="no firewall rules"):
        flappable(scenario("wire-500"))


def test_the_schedule_file_becomes_stretches_of_fault() -> None:
    events = [
        {"fault": "on", "from": 10.0, "to": 10.1},
        {"fault": "off", "from": 13.0, "to": 13.1},
        {"fault": "on", "from": 20.0, "to": 20.1},
    ]
    assert applied_windows(events) == [Applied(10.0, 10.1, 13.0, 13.1), Applied(20.0, 20.1)]


def window(
    number: int, start: float, end: float | None, summary: str = "X times out"
) -> dict[str, Any]:
    return {
        "number": number,
        "start": start,
        "end": end,
        "first_cause": {"summary": summary, "fix": "", "checks": ["tcp-32526", "firewall"]},
        "captures": [{"diagnosed_checks": ["tcp-80", "tcp-32526", "firewall"]}],
    }


APPLIED = [Applied(10.0, 10.1, 13.0, 13.1), Applied(17.0, 17.1, 20.0, 20.1)]
EXPECT = cause("X times out", checks=("tcp-32526", "trace-32526", "firewall"))


def test_windows_within_one_interval_with_the_cause_match() -> None:
    found = [window(1, 10.6, 13.9), window(2, 17.2, 20.3)]
    matches, extra = compare(found, APPLIED, 1.0, (5.0, 25.0), EXPECT)
    assert [m.problems for m in matches] == [(), ()] and extra == []
    assert "window 1" in matches[0].line() and "[ok]" in matches[0].line()


def test_late_missing_wrong_and_healthy_time_windows_are_named() -> None:
    found = [
        window(1, 11.5, 13.5),  # starts 1.4 s after the fault: more than one interval
        window(2, 24.0, 24.5),  # in healthy time
    ]
    matches, extra = compare(found, APPLIED, 1.0, (5.0, 30.0), EXPECT)
    assert "not within one interval" in matches[0].problems[0]
    assert matches[1].window is None and matches[1].problems == ("no window found",)
    assert extra == ["window 2 at 00:00:24.0 is in a healthy period"]
    wrong = compare([window(1, 10.5, 13.5, "Y is refused")], APPLIED[:1], 1.0, (5, 15), EXPECT)
    assert "lacks 'X times out'" in wrong[0][0].problems[0]


def test_stretches_cut_by_the_watchs_ends_are_not_judged() -> None:
    found = [window(1, 5.0, 6.0), window(2, 10.5, 13.5)]
    applied = [Applied(1.0, 1.1, 6.0, 6.1), *APPLIED]
    matches, extra = compare(found, applied, 1.0, (5.0, 18.0), EXPECT)
    assert [m.applied for m in matches] == [APPLIED[0]] and extra == []
