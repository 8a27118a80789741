"""Watch in the lab while a fault flaps: every stretch of fault is found, with start and
end within one interval of the schedule applied and the scenario's first cause, and
nothing is found in the healthy time between.

Marker `lab`: needs Linux, root and `ip netns`. Kept short (a 15 s watch, windows of 3 s)
so the whole suite stays quick.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.lab.labenv import fresh_lab, lab_command, run
from wirecheck.lab.flap import Flap
from wirecheck.lab.lab import Lab
from wirecheck.lab.names import LabNames
from wirecheck.lab.scenarios import scenario
from wirecheck.lab.watch import judge, run_watch, up_flapping

pytestmark = pytest.mark.lab

# The fault: on 3 s of every 7, the first time 3 s in; watched for 15 s, one round a
# second (two probes: the cap allows no faster), so two whole stretches of fault fall
# inside the watch and it ends in healthy time.
FLAP = Flap(3.0, 7.0, 3.0)
DURATION_S = 15.0
OPTIONS = ["--interval", "1", "--only", "tcp-80,tcp-32526"]


@pytest.fixture
def names() -> Iterator[LabNames]:
    yield from fresh_lab("w", machine_unchanged=True)


def test_each_window_of_a_flapping_drop_is_found_with_its_cause(names: LabNames) -> None:
    chosen = scenario("drop-32526-local")
    lab = Lab(names)
    try:
        _, schedule = up_flapping(lab, chosen, FLAP)
        result = run_watch(names, chosen, DURATION_S, OPTIONS, schedule=schedule)
    finally:
        lab.down()
    assert result.summary is not None, f"exit {result.exit_code}: {result.stderr}"
    matches, extra = judge(result, chosen)
    report = "\n".join([*(m.line() for m in matches), *extra, result.stdout[-3000:]])
    assert len(matches) == 2, report
    assert [m.problems for m in matches] == [(), ()], report
    assert extra == [], report
    assert [w["probes"] for w in result.windows] == [["tcp-32526"], ["tcp-32526"]], report
    assert result.summary["probes"]["tcp-80"]["not_ok"] == 0
    assert result.exit_code == 2
    # The flapping process took its rule out when the lab stopped it, and said so last.
    switches = [json.loads(line) for line in schedule.read_text().splitlines()]
    assert switches[-1]["fault"] == "off"
    # The event log has every window the summary has.
    log = names.report_dir / "wirecheck-watch_168-63-129-16.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    opened = [e["window"] for e in events if e["event"] == "window-open"]
    assert opened == [w["number"] for w in result.windows]


def test_lab_up_with_a_flap_owns_the_flapping_process_and_down_stops_it(
    names: LabNames,
) -> None:
    lab = Lab(names)
    _, schedule = up_flapping(lab, scenario("drop-32526-local"), Flap(1.0, 2.0, 0.0))
    try:
        built = lab.leftovers()
        processes = [item for item in built if item.startswith("process ")]
        assert len(processes) == 3 and any("wirecheck.lab.flap" in p for p in processes), built
        until = time.monotonic() + 20
        while time.monotonic() < until and schedule.read_text().count("\n") < 2:
            time.sleep(0.1)  # on at 0 s, off at 1 s
        switches = [json.loads(line)["fault"] for line in schedule.read_text().splitlines()]
        assert switches[:2] == ["on", "off"]
    finally:
        lab.down()
    assert lab.leftovers() == []


def test_an_interrupted_lab_watch_tears_everything_down(names: LabNames) -> None:
    runner = subprocess.Popen(
        lab_command("watch", "--name", names.lab, "--flap", "1/3", "--duration", "120"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the signal goes to the runner only, as `kill PID` would
    )
    try:
        until = time.monotonic() + 60
        ready = names.state_dir / "flap.ready"
        while not (ready.exists() and run("ip", "netns", "pids", names.vm).split()):
            assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
            assert time.monotonic() < until, "watch never started in the lab's VM"
            time.sleep(0.1)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert Lab(names).leftovers() == []
