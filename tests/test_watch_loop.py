"""The watch loop on a fake clock: rounds, captures at each change, the event log, the
Prometheus file every round, the end by duration or by a stop."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.watch_fakes import WALL_START, FakeClock, RecordingCapturer, ScriptedRounds
from wirecheck.model import RunConfig, Status
from wirecheck.watch.events import EventLog, encode, read_events
from wirecheck.watch.loop import (
    CaptureEvent,
    NoteEvent,
    RoundEvent,
    Stop,
    WatchEvent,
    WatchPlan,
    capture_budget,
    round_timeout,
    watch,
)
from wirecheck.watch.rate import pace

PROBES = ("tcp-80", "tcp-32526")
FAIL = Status.FAIL
# Rounds 4-6 lose tcp-32526; round 7 is whole again; round 10 loses tcp-80 to the end.
SCRIPT = [{}, {}, {}, {"tcp-32526": FAIL}, {"tcp-32526": FAIL}, {"tcp-32526": FAIL}, {}, {}, {}]
SCRIPT += [{"tcp-80": FAIL}] * 3


def run(
    tmp_path: Path,
    script: list[dict[str, Status]],
    *,
    duration_s: float | None = 12.0,
    interval_s: float = 1.0,
    capture_s: float = 0.2,
    round_s: float = 0.01,
    stop_after: int | None = None,
) -> tuple[object, ScriptedRounds, RecordingCapturer, list[WatchEvent], WatchPlan]:
    clock = FakeClock()
    rounds = ScriptedRounds(clock, PROBES, script, round_s=round_s)
    capturer = RecordingCapturer(clock, capture_s)
    stop = Stop()
    rounds.stop, rounds.stop_after = stop, stop_after
    plan = WatchPlan(
        RunConfig(timeout_s=0.8),
        pace(interval_s, len(PROBES)),
        duration_s,
        capture_budget(interval_s),
        tmp_path / "events.jsonl",
        tmp_path / "prom" / "watch.prom",
        host="vm1",
        version="9.9",
    )
    seen: list[WatchEvent] = []
    record = watch(plan, PROBES, rounds, capturer, stop=stop, listener=seen.append, clock=clock)
    return record, rounds, capturer, seen, plan


def test_rounds_windows_and_captures(tmp_path: Path) -> None:
    record, rounds, capturer, seen, _ = run(tmp_path, SCRIPT)
    assert record.rounds == 12 and record.stop_reason == "duration"  # type: ignore[attr-defined]
    assert capturer.captures == [
        ("down", ("tcp-32526",), 1.0),
        ("up", ("tcp-32526",), 1.0),
        ("down", ("tcp-80",), 1.0),
    ]
    windows = [w.to_dict() for w in record.windows.kept]  # type: ignore[attr-defined]
    assert [(w["start_round"], w["end_round"], w["probes"]) for w in windows] == [
        (4, 7, ["tcp-32526"]),
        (10, None, ["tcp-80"]),
    ]
    assert windows[0]["first_cause"]["summary"] == "tcp-32526 breaks"
    assert [c["kind"] for c in windows[0]["captures"]] == ["down", "up"]
    assert windows[0]["start"] == WALL_START + rounds.starts[3] - 100.0
    assert sum(isinstance(e, RoundEvent) for e in seen) == 12
    assert sum(isinstance(e, CaptureEvent) for e in seen) == 3
    # Quiet rounds refresh the "before" snapshot; rounds with a change capture instead.
    assert len(capturer.between) == 1 + 12 - 3


def test_a_capture_delays_the_next_round_by_its_budget_at_most(tmp_path: Path) -> None:
    _, rounds, _, _, plan = run(tmp_path, SCRIPT, capture_s=5.0, interval_s=1.0)
    starts = rounds.starts
    # Round 4 went down: its capture took the whole budget, and round 5 came right after.
    assert starts[4] - starts[3] == pytest.approx(0.01 + plan.capture_budget_s)
    assert all(b - a >= plan.pace.interval_s - 1e-9 for a, b in zip(starts, starts[1:]))
    assert [b - a for a, b in zip(starts, starts[1:])][:3] == pytest.approx([1.0] * 3)


def test_the_event_log_has_every_round_and_change_in_whole_lines(tmp_path: Path) -> None:
    run(tmp_path, SCRIPT)
    raw = (tmp_path / "events.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    events = [json.loads(line) for line in raw.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    assert kinds.count("round") == 12
    assert kinds.count("window-open") == 2 and kinds.count("window-close") == 1
    assert kinds.count("capture") == 3
    assert kinds.count("down") == 2 and kinds.count("up") == 1
    fourth = [e for e in events if e["event"] == "round"][3]
    assert fourth["probes"]["tcp-32526"][0] == "fail"
    assert fourth["probes"]["tcp-32526"][2] == "tcp-32526 said 4"  # the finding, when not ok
    assert len(fourth["probes"]["tcp-80"]) == 2
    assert events[-1]["reason"] == "duration" and events[-1]["windows"] == 2


def test_the_prometheus_file_is_rewritten_every_round(tmp_path: Path) -> None:
    seen: list[str] = []
    clock = FakeClock()
    rounds = ScriptedRounds(clock, PROBES, SCRIPT)

    class Peeking(RecordingCapturer):
        def between_rounds(self, budget_s: float) -> None:
            prom = tmp_path / "prom" / "watch.prom"
            if prom.exists():
                seen.append(prom.read_text())
            super().between_rounds(budget_s)

    plan = WatchPlan(RunConfig(), pace(1.0, 2), 5.0, 1.0, None, tmp_path / "prom" / "watch.prom")
    watch(plan, PROBES, rounds, Peeking(clock), clock=clock)
    rounds_seen = [
        int(line.split()[-1])
        for text in seen
        for line in text.splitlines()
        if line.startswith('wirecheck_watch_probe_rounds_total{probe="tcp-80"')
    ]
    # Read after rounds 2, 3 and 5 (round 4 captured instead), each time the file of the
    # round before: it is rewritten once a round is done.
    assert rounds_seen == [1, 2, 4]
    final = (tmp_path / "prom" / "watch.prom").read_text()
    assert 'wirecheck_watch_probe_rounds_total{probe="tcp-80",target="168.63.129.16"} 5' in final
    assert (tmp_path / "prom" / "watch.prom").stat().st_mode & 0o777 == 0o644
    assert not list((tmp_path / "prom").glob(".*tmp"))


def test_a_stop_ends_the_watch_after_its_round(tmp_path: Path) -> None:
    record, rounds, _, _, _ = run(tmp_path, SCRIPT, duration_s=None, stop_after=5)
    assert record.rounds == 5 and record.stop_reason == "test"  # type: ignore[attr-defined]
    assert len(rounds.starts) == 5
    events = list(read_events(tmp_path / "events.jsonl"))
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "test"


def test_the_duration_is_watched_whole_and_no_round_starts_past_it(tmp_path: Path) -> None:
    record, rounds, _, _, _ = run(tmp_path, [], duration_s=4.5, interval_s=1.0)
    assert len(rounds.starts) == 5  # at 0, 1, 2, 3, 4 s
    assert record.ended_at - record.started_at == pytest.approx(4.5)  # type: ignore[attr-defined]


def test_a_raised_interval_is_said(tmp_path: Path) -> None:
    record, _, _, seen, plan = run(tmp_path, [], duration_s=3.0, interval_s=0.1)
    assert plan.pace.raised
    notes = [e.text for e in seen if isinstance(e, NoteEvent)]
    assert notes and "raised to 1 s" in notes[0]
    assert list(record.notes) == notes  # type: ignore[attr-defined]


def test_round_timeout_and_capture_budget_follow_the_interval() -> None:
    assert round_timeout(1.0) == pytest.approx(0.8) and round_timeout(60.0) == 3.0
    assert capture_budget(0.5) == 1.0 and capture_budget(2.0) == 2.0
    assert capture_budget(60.0) == 3.0


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_an_unwritable_event_log_is_said_once_and_the_watch_goes_on() -> None:
    clock = FakeClock()
    rounds = ScriptedRounds(clock, PROBES, [])
    # /dev/full: opens fine, then every write fails with ENOSPC, as on a full disk.
    plan = WatchPlan(RunConfig(), pace(1.0, 2), 3.0, 1.0, Path("/dev/full"), None)
    seen: list[WatchEvent] = []
    record = watch(
        plan, PROBES, rounds, RecordingCapturer(clock), listener=seen.append, clock=clock
    )
    assert record.rounds == 3
    notes = [e.text for e in seen if isinstance(e, NoteEvent)]
    assert len(notes) == 1 and "the event log stopped" in notes[0], notes
    assert "No space left on device" in notes[0]


# -- the event log itself ------------------------------------------------------------------


def test_a_torn_last_line_is_ended_before_anything_is_added(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event":"round","n":1}\n{"event":"rou')
    log = EventLog(path)
    log.write({"event": "start"}, sync=True)
    log.close()
    lines = path.read_bytes().splitlines()
    assert lines == [b'{"event":"round","n":1}', b'{"event":"rou', b'{"event":"start"}']
    assert [e["event"] for e in read_events(path)] == ["round", "start"]


def test_numbers_that_are_not_json_are_written_as_null() -> None:
    line = encode({"a": float("inf"), "b": [float("nan"), 1.5], "c": "x\ny"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"a": None, "b": [None, 1.5], "c": "x\ny"}


def test_the_event_log_appends_to_an_earlier_watch(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for number in range(2):
        log = EventLog(path)
        log.write({"event": "start", "n": number}, sync=True)
        log.close()
    assert [e["n"] for e in read_events(path)] == [0, 1]
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_file(tmp_path: Path) -> None:
    run(tmp_path, SCRIPT)
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=(tmp_path / "prom" / "watch.prom").read_bytes(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
