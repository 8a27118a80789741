"""Evidence at a change, on a fake machine: firewall counters before and after, the trace,
route and neighbour, conntrack, the agent log's new lines, and the diagnosis of it all."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import fixture_text
from tests.facts import connect, row, trace
from wirecheck.checks.base import CheckSpec
from wirecheck.checks.catalogue import load_all
from wirecheck.model import CheckResult, Deadline, RunConfig, Status
from wirecheck.system import CommandResult, System
from wirecheck.watch.capture import (
    AGENT_LOG_BYTES,
    CONNTRACK_COUNT,
    CONNTRACK_MAX,
    Capturer,
    LogFollower,
)

RULE = "-A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 32526 -j DROP"


def iptables_save(packets: int | None) -> str:
    rule = f"[{packets}:{packets * 60}] {RULE}\n" if packets is not None else ""
    return (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [40:2400]\n"
        f"{rule}COMMIT\n"
    )


class Machine:
    """Answers the commands a capture runs; iptables-save gives the next snapshot each time."""

    def __init__(self, snapshots: Sequence[int | None], neighbour: str = "") -> None:
        self.snapshots = list(snapshots)
        self.commands: list[list[str]] = []
        self.neighbour = neighbour or "10.1.0.1 dev eth0 lladdr 12:34:56:78:9a:bc REACHABLE\n"

    def run(self, argv: Sequence[str], timeout_s: float) -> CommandResult:
        self.commands.append(list(argv))
        if argv[0] == "iptables-save":
            packets = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
            return CommandResult(tuple(argv), 0, iptables_save(packets))
        if argv[:4] == ["ip", "-j", "route", "get"]:
            route = {"dst": argv[4], "gateway": "10.1.0.1", "dev": "eth0", "prefsrc": "10.1.0.4"}
            return CommandResult(tuple(argv), 0, json.dumps([route]))
        if argv[:3] == ["ip", "neigh", "show"]:
            return CommandResult(tuple(argv), 0, self.neighbour)
        return CommandResult(tuple(argv), None, error=f"{argv[0]} is not installed")

    def system(self) -> System:
        def read_text(path: str) -> str:
            raise FileNotFoundError(2, "No such file", path)

        return dataclasses.replace(
            System(),
            run_command=self.run,
            read_text=read_text,
            platform="linux",
            is_root=lambda: True,
        )


PROC = {CONNTRACK_COUNT: "1234\n", CONNTRACK_MAX: "262144\n"}
SPECS: tuple[CheckSpec, ...] = tuple(s for s in load_all() if s.id in ("tcp-80", "tcp-32526"))


def traces_ran(log: list[list[str]]) -> object:
    def runner(
        specs: Sequence[CheckSpec], config: RunConfig, deadline: Deadline
    ) -> list[CheckResult]:
        log.append([spec.id for spec in specs])
        return [
            row("trace-32526", Status.FAIL, "TCP 32526: nothing answered", trace(32526))
            for spec in specs
            if spec.id == "trace-32526"
        ]

    return runner


def capturer(machine: Machine, log: Path, traced: list[list[str]], gap: float = 30.0) -> Capturer:
    return Capturer(
        RunConfig(),
        SPECS,
        machine.system(),
        trace_gap_s=gap,
        agent_log=LogFollower(str(log)),
        trace_runner=traces_ran(traced),  # type: ignore[arg-type]
        read_proc=lambda path: PROC[path],
    )


ROUND = [
    row("tcp-80", Status.OK, "connected", connect(80)),
    row(
        "tcp-32526",
        Status.FAIL,
        "the host agent plugin (TCP 32526) timed out",
        connect(32526, "timeout"),
    ),
]


def test_a_drop_rule_that_counted_the_probe_is_the_first_cause(tmp_path: Path) -> None:
    log = tmp_path / "waagent.log"
    log.write_text("2024-01-01T00:00:00.000000Z INFO old line\n")
    machine = Machine([0, 3])
    traced: list[list[str]] = []
    capture = capturer(machine, log, traced)
    capture.between_rounds(1.0)  # the "before": the rule at 0 packets, the log's size
    with log.open("a") as handle:
        handle.write("2024-01-01T00:00:05.000000Z WARNING HostGAPlugin timed out\n")
    taken = capture.capture("down", ROUND, ["tcp-32526"], 2.0)
    evidence = taken.evidence
    assert traced == [["trace-32526"]]
    [rule] = evidence["firewall"]["rules"]
    assert (rule["packets_before"], rule["packets_after"], rule["there_before"]) == (0, 3, True)
    assert evidence["firewall"]["status"] == "fail"
    assert evidence["firewall"]["counters"].startswith("before")
    assert evidence["traces"][0]["id"] == "trace-32526"
    assert (
        evidence["path"]["route"] == "dst 168.63.129.16 gateway 10.1.0.1 dev eth0 prefsrc 10.1.0.4"
    )
    assert evidence["path"]["neighbour"].startswith("10.1.0.1 dev eth0 lladdr")
    assert ["ip", "neigh", "show", "10.1.0.1"] in machine.commands
    assert evidence["conntrack"] == {"count": 1234, "max": 262144, "used_percent": 0.47}
    assert evidence["agent_log"]["lines"] == [
        "2024-01-01T00:00:05.000000Z WARNING HostGAPlugin timed out"
    ]
    first = taken.causes[0]
    assert "TCP 32526 times out" in first.summary and "counted 3 packet" in first.summary
    assert "iptables -t filter -D OUTPUT" in first.fix
    assert set(first.checks) == {"tcp-32526", "trace-32526", "firewall"}
    assert evidence["diagnosed_checks"] == ["tcp-80", "tcp-32526", "trace-32526", "firewall"]
    assert taken.first_cause == first.to_dict()
    json.dumps(evidence)  # JSON-ready, as the event log needs it


def test_a_rule_new_since_the_last_round_is_said_to_be_new(tmp_path: Path) -> None:
    machine = Machine([None, 2])
    capture = capturer(machine, tmp_path / "none.log", [])
    capture.between_rounds(1.0)
    evidence = capture.capture("down", ROUND, ["tcp-32526"], 2.0).evidence
    [rule] = evidence["firewall"]["rules"]
    assert (rule["there_before"], rule["packets_after"]) == (False, 2)
    assert evidence["agent_log"]["note"]  # the log does not exist: said, not raised


def test_traces_are_spaced_out(tmp_path: Path) -> None:
    machine = Machine([0])
    traced: list[list[str]] = []
    capture = capturer(machine, tmp_path / "none.log", traced, gap=3600.0)
    capture.capture("down", ROUND, ["tcp-32526"], 2.0)
    again = capture.capture("up", ROUND, ["tcp-32526"], 2.0).evidence
    assert traced == [["trace-32526"]]
    assert any("trace-32526: not run, the last one was" in note for note in again["notes"])
    capture.capture("down", ROUND, ["tcp-80"], 2.0)
    assert traced == [["trace-32526"], ["trace-80"]]  # another port: its own trace


def test_unreadable_rules_are_given_up_once(tmp_path: Path) -> None:
    machine = Machine([0])

    def refuse(argv: Sequence[str], timeout_s: float) -> CommandResult:
        machine.commands.append(list(argv))
        return CommandResult(tuple(argv), 1, stderr="Permission denied (you must be root)")

    capture = capturer(machine, tmp_path / "none.log", [])
    capture.system = dataclasses.replace(capture.system, run_command=refuse)
    capture.firewall = type(capture.firewall)(capture.system)
    capture.between_rounds(1.0)
    asked = len(machine.commands)
    capture.between_rounds(1.0)
    assert len(machine.commands) == asked  # not asked again
    evidence = capture.capture("down", ROUND, ["tcp-32526"], 2.0).evidence
    assert "permission denied" in evidence["firewall"]["skipped"]


def test_windows_captures_what_it_can(tmp_path: Path) -> None:
    machine = Machine([0])
    capture = capturer(machine, tmp_path / "none.log", [])
    capture.system = dataclasses.replace(capture.system, platform="win32")
    capture.firewall = type(capture.firewall)(capture.system)
    evidence = capture.capture("down", ROUND, ["tcp-32526"], 2.0).evidence
    assert "no per-rule counters" in evidence["firewall"]["skipped"]
    assert (
        "Linux only" in evidence["path"]["note"] and "Linux only" in evidence["conntrack"]["note"]
    )
    assert not [c for c in machine.commands if c[0] in ("iptables-save", "ip")]


# -- the agent log -------------------------------------------------------------------------


def test_log_follower_reads_what_was_written_since_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("one\ntwo\n")
    follower = LogFollower(str(log))
    follower.mark()
    assert follower.since_mark()["lines"] == []
    log.write_text("one\ntwo\nthree\n")
    got = follower.since_mark()
    assert got["lines"] == ["three"] and got["new_bytes"] == 6
    log.write_text("rotated\n")  # smaller than before: a new file, read from its start
    assert follower.since_mark()["lines"] == ["rotated"]


def test_log_follower_keeps_the_newest_whole_lines_of_a_flood(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("")
    follower = LogFollower(str(log))
    follower.mark()
    log.write_text("".join(f"line {n:07d}\n" for n in range(20_000)))
    got = follower.since_mark()
    assert got["new_bytes"] == log.stat().st_size > AGENT_LOG_BYTES
    assert got["lines"][-1] == "line 0019999" and len(got["lines"]) == 50
    assert all(line.startswith("line ") and len(line) == 12 for line in got["lines"])


def test_log_follower_on_a_log_that_appears_later(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    follower = LogFollower(str(log))
    follower.mark()
    assert "No such file" in follower.since_mark()["note"]
    log.write_text("first\n")
    assert follower.since_mark()["lines"] == ["first"]


def test_a_log_line_with_control_characters_is_made_printable(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    log.write_text("")
    follower = LogFollower(str(log))
    follower.mark()
    log.write_bytes(b"evil \x1b[31mred\x07\n")
    [line] = follower.since_mark()["lines"]
    assert "\x1b" not in line and "\x07" not in line


class AgentRulesMachine(Machine):
    """The guest agent's rules with their DROP ahead of the uid-0 ACCEPT: as root, the DROP
    counts root's packets between the snapshots."""

    def run(self, argv: Sequence[str], timeout_s: float) -> CommandResult:
        if argv[0] != "iptables-save":
            return super().run(argv, timeout_s)
        packets = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
        text = fixture_text("iptables-save-security-drop-before-uid0.txt").replace(
            "[7:420] -A OUTPUT", f"[{packets}:{(packets or 0) * 60}] -A OUTPUT"
        )
        return CommandResult(tuple(argv), 0, text)


def test_a_capture_as_root_blames_the_agents_own_rules_as_a_run_does(tmp_path: Path) -> None:
    """The same verdict as a run's firewall row: as root, the agent's DROP that counted the
    failing probes is the cause, not "expected for a non-root user" or the network."""
    log = tmp_path / "waagent.log"
    log.write_text("")
    machine = AgentRulesMachine([0, 5])
    capture = capturer(machine, log, [])
    capture.between_rounds(1.0)
    taken = capture.capture("down", ROUND, ["tcp-32526"], 2.0)
    assert taken.evidence["firewall"]["status"] == "fail"
    first = taken.causes[0]
    assert "the guest agent's own firewall drops root's packets" in first.summary
    assert "after leaving the VM" not in first.summary
