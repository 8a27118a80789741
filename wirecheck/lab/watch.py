"""`wirecheck watch` inside the lab's VM namespace while a scenario's fault flaps, and the
failure windows it found set against the schedule that was applied."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirecheck.lab.errors import LabError
from wirecheck.lab.flap import Applied, Flap, Match, compare, flappable, read_schedule
from wirecheck.lab.lab import STOP_GRACE_S, Lab, child_env
from wirecheck.lab.names import LabNames
from wirecheck.lab.run import as_user, in_vm
from wirecheck.lab.scenarios import Scenario
from wirecheck.model import PLATFORM_ADDRESS
from wirecheck.watch.files import watch_stem

# Past the watch's own duration: start-up, the last round, the summary.
HANG_MARGIN_S = 30.0


def up_flapping(lab: Lab, chosen: Scenario, flap: Flap) -> tuple[list[str], Path]:
    """The lab with `chosen` built without its rules, and a process switching them on and
    off; what was removed first (as `Lab.up`), and the schedule file the process logs to."""
    flappable(chosen)
    removed = lab.up(dataclasses.replace(chosen, rules=()))
    try:
        return removed, lab.start_flapping(chosen, flap)
    except BaseException:
        lab.down()
        raise


def watch_argv(
    names: LabNames, chosen: Scenario, options: Sequence[str], python: str = sys.executable
) -> list[str]:
    """`wirecheck watch` as the scenario's user inside the VM namespace, its files in the
    lab's report directory (the VM sees the machine's node_exporter directory: not there)."""
    user = as_user(chosen.run_as_uid) if chosen.run_as_uid is not None else []
    where = ["--output-dir", str(names.report_dir), "--prometheus-dir", str(names.report_dir)]
    return in_vm(names, [*user, python, "-m", "wirecheck", "watch", "--force", *where, *options])


@dataclass(frozen=True)
class LabWatch:
    exit_code: int
    summary: dict[str, Any] | None  # the watch's JSON summary
    stdout: str
    stderr: str
    applied: list[Applied]

    @property
    def windows(self) -> list[dict[str, Any]]:
        return list((self.summary or {}).get("windows") or [])


def run_watch(
    names: LabNames,
    chosen: Scenario,
    duration_s: float,
    options: Sequence[str] = (),
    *,
    schedule: Path | None = None,
    capture: bool = True,
    python: str = sys.executable,
) -> LabWatch:
    """Watch for `duration_s` in the VM of an up lab, bounded; stopped (SIGTERM) if this
    process is interrupted meanwhile."""
    argv = watch_argv(names, chosen, ["--duration", f"{duration_s:g}", *options], python)
    pipe = subprocess.PIPE if capture else None
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=pipe, stderr=pipe, cwd="/", env=child_env(chosen.env)
    )
    try:
        stdout, stderr = proc.communicate(timeout=duration_s + HANG_MARGIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LabError(
            f"wirecheck watch in {names.vm} did not end within {duration_s + HANG_MARGIN_S:.0f} s "
            "and was killed"
        ) from None
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=STOP_GRACE_S + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    summary_file = names.report_dir / f"{watch_stem(PLATFORM_ADDRESS)}.json"
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    return LabWatch(
        proc.returncode,
        summary,
        (stdout or b"").decode("utf-8", errors="replace"),
        (stderr or b"").decode("utf-8", errors="replace"),
        read_schedule(schedule) if schedule is not None else [],
    )


def judge(result: LabWatch, chosen: Scenario) -> tuple[list[Match], list[str]]:
    """Every stretch of fault applied during the watch against the window found, and the
    windows found in healthy time."""
    summary = result.summary or {}
    interval = float(summary.get("interval_s") or 0)
    watched = (float(summary.get("started_at") or 0), float(summary.get("ended_at") or 0))
    return compare(result.windows, result.applied, interval, watched, chosen.diagnosis)


def verdict_lines(result: LabWatch, chosen: Scenario) -> list[str]:
    """The comparison in words, for the lab's command line."""
    if result.summary is None:
        return ["watch wrote no summary: nothing to compare"]
    matches, extra = judge(result, chosen)
    lines = [
        f"{len(result.applied)} stretch(es) of fault applied, {len(matches)} inside the watch:"
    ]
    lines += [f"  {m.line()}" for m in matches]
    lines += [f"  {problem}" for problem in extra]
    bad = [m for m in matches if m.problems] or extra
    lines.append(
        "every window is where the fault was, with the expected first cause"
        if not bad and matches
        else "the windows found differ from the schedule applied"
    )
    return lines
