"""conntrack: a full connection-tracking table, from recorded counters (/proc/net/stat of a
5.x and an older kernel, `conntrack -S` of two conntrack-tools releases) and kernel log lines
(dmesg, the 2.6 wording, the journal, syslog). The table cannot be filled in the lab: its
limit is global and read-only inside a network namespace."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests import facts
from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, ok
from tests.facts import row
from wirecheck.checks.conntrack import (
    ConntrackFacts,
    Counters,
    judge,
    prepare_conntrack,
    run_conntrack,
)
from wirecheck.diagnose import diagnose
from wirecheck.model import Status
from wirecheck.platform.conntrack import (
    COUNT,
    MAX,
    STAT,
    UPTIME,
    LogLine,
    boot_time,
    drops,
    parse_conntrack_s,
    parse_stat,
    recent,
    table_full_lines,
)

NOW = datetime(2026, 10, 2, 9, 20, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "name", ["proc-net-stat-nf_conntrack.txt", "proc-net-stat-nf_conntrack-pre5.x.txt"]
)
def test_proc_net_stat_both_layouts(name: str) -> None:
    counters = parse_stat(fixture_text(name))
    assert counters["drop"] == (0xBC9 + 0xA73 if "pre5" not in name else 0x4D2 + 0x3E8)
    assert counters["entries"] in (0x40000, 0x10000)  # global: taken once, not summed


@pytest.mark.parametrize(
    ("name", "dropped"), [("conntrack-S.txt", 3017 + 2675 + 4 + 1), ("conntrack-S-older.txt", 2234)]
)
def test_conntrack_s_both_layouts(name: str, dropped: int) -> None:
    assert drops(parse_conntrack_s(fixture_text(name))) == dropped


@pytest.mark.parametrize(
    ("name", "lines", "timed"),
    [
        ("dmesg-conntrack-table-full.txt", 3, True),  # `[seconds]`: timed from the boot
        ("dmesg-conntrack-table-full-2.6.txt", 2, False),  # the 2.6 wording, with a period
        ("journalctl-k-conntrack-table-full.txt", 2, False),
        ("var-log-messages-conntrack-table-full.txt", 3, False),
    ],
)
def test_table_full_lines_in_every_log_layout(name: str, lines: int, timed: bool) -> None:
    boot = NOW - timedelta(seconds=104300)
    found = table_full_lines(fixture_text(name), boot)
    assert len(found) == lines
    assert all((line.time is not None) is timed for line in found)


def test_iso_times_and_the_netns_variant_and_what_is_recent() -> None:
    text = (
        "2026-10-02T09:15:31,123456+00:00 nf_conntrack: nf_conntrack: table full, dropping packet\n"
        "2026-10-02T06:15:31+0000 vm kernel: nf_conntrack: table full in netns 4026531840, "
        "dropping packet\n"
        "2026-10-02T09:16:00+00:00 nf_conntrack: something else\n"
    )
    found = table_full_lines(text)
    assert [line.time for line in found] == [
        datetime(2026, 10, 2, 9, 15, 31, 123456, tzinfo=timezone.utc),
        datetime(2026, 10, 2, 6, 15, 31, tzinfo=timezone.utc),
    ]
    assert recent(found, NOW, timedelta(hours=1)) == found[:1]
    assert boot_time("5230.73 2912.67\n", NOW) == NOW - timedelta(seconds=5230.73)


def _machine(before: str, after: str, log: str) -> FakeMachine:
    stats = [before, after]
    machine = FakeMachine(
        files={MAX: "262144\n", COUNT: "262144\n", UPTIME: "104300.00 1.00\n"},
        commands={("dmesg", "--time-format", "iso"): ok(log)},
    )

    def read_text(path: str) -> str:
        if path == STAT:
            return stats.pop(0) if len(stats) > 1 else stats[0]
        return FakeMachine.read_text(machine, path)

    machine.read_text = read_text  # type: ignore[method-assign]
    return machine


def test_drops_during_the_probes_and_log_lines_make_it_full() -> None:
    after = fixture_text("proc-net-stat-nf_conntrack.txt")
    before = after.replace("00000bc9", "00000bc0")  # 9 fewer drops on CPU 0
    machine = _machine(before, after, fixture_text("dmesg-conntrack-table-full.txt"))
    prepared = prepare_conntrack(context(machine))
    outcome = run_conntrack(context(machine, prepared={"conntrack": prepared}), now=lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        "the connection-tracking table is full (262144 of 262144 entries): it dropped 9 "
        "packet(s) for want of room during the probes (/proc/net/stat/nf_conntrack); the kernel "
        "logged 3 'table full, dropping packet' line(s) in the last hour (dmesg; last: "
    )
    assert outcome.fix and "nf_conntrack_max" in outcome.fix


def test_room_and_no_drops_is_ok_and_an_old_log_line_is_history() -> None:
    stat = fixture_text("proc-net-stat-nf_conntrack.txt")
    machine = _machine(stat, stat, fixture_text("dmesg-conntrack-table-full.txt"))
    machine.files[COUNT] = "1200\n"
    machine.files[UPTIME] = "900000.00 1.00\n"  # the lines are days old
    prepared = prepare_conntrack(context(machine))
    outcome = run_conntrack(context(machine, prepared={"conntrack": prepared}), now=lambda: NOW)
    assert (outcome.status, outcome.finding) == (
        Status.OK,
        "the connection-tracking table holds 1200 of 262144 entries; no drops during the "
        "probes; no 'table full' in the kernel log of the last hour",
    )


def test_not_loaded_and_not_linux() -> None:
    outcome = run_conntrack(context(FakeMachine()))
    assert outcome.status is Status.OK and "not in use" in outcome.finding
    assert run_conntrack(context(FakeMachine(), platform="win32")).status is Status.SKIP


def test_a_counter_that_went_down_measures_nothing() -> None:
    reset = ConntrackFacts(True, 10, 100, Counters({"drop": 50}, STAT), Counters({"drop": 2}, STAT))
    assert reset.drops_during is None
    assert judge(reset).status is Status.OK


def test_the_diagnosis_blames_the_full_table_for_the_timeouts() -> None:
    full = ConntrackFacts(
        True, 262144, 262144, Counters({"drop": 1}, STAT), Counters({"drop": 7}, STAT)
    )
    conntrack = judge(full)
    rows = [
        row("tcp-80", Status.FAIL, "timed out", facts.connect(80, "timeout")),
        row("tcp-32526", Status.FAIL, "timed out", facts.connect(32526, "timeout")),
        row("privileges", Status.OK, "root", facts.privileges(True)),
        row("firewall", Status.OK, "no rule", facts.firewall()),
        row("conntrack", conntrack.status, conntrack.finding, conntrack.facts),
    ]
    first = diagnose(rows)[0]
    assert first.summary == (
        "TCP 80 times out, TCP 32526 times out: the kernel's connection-tracking table is full, "
        "so it drops the first packet of new connections, these included."
    )
    assert set(first.checks) == {"tcp-80", "tcp-32526", "conntrack"}


def test_a_log_line_without_a_time_is_not_recent() -> None:
    assert recent([LogLine("x", None)], NOW, timedelta(hours=1)) == []


def test_no_drop_since_boot_and_room_left_reads_no_kernel_log() -> None:
    # Every drop column zero: the kernel never dropped for want of room, so it logged
    # nothing; dmesg is not run (the healthy run's common case).
    stat = fixture_text("proc-net-stat-nf_conntrack.txt")
    lines = stat.splitlines()
    header, rows = lines[0], lines[1:]
    columns = header.split()
    quiet = [
        " ".join(
            "00000000" if name in ("drop", "early_drop", "insert_failed") else value
            for name, value in zip(columns, row.split())
        )
        for row in rows
    ]
    quiet_stat = "\n".join([header, *quiet]) + "\n"
    machine = _machine(quiet_stat, quiet_stat, fixture_text("dmesg-conntrack-table-full.txt"))
    machine.files[COUNT] = "1200\n"
    prepared = prepare_conntrack(context(machine))
    outcome = run_conntrack(context(machine, prepared={"conntrack": prepared}), now=lambda: NOW)
    assert (outcome.status, outcome.finding) == (
        Status.OK,
        "the connection-tracking table holds 1200 of 262144 entries; no drops during the "
        "probes; no drop for want of room since boot",
    )
    assert ("dmesg", "--time-format", "iso") not in machine.ran
