"""packaging/systemd/wirecheck-watch.service: systemd accepts it, and its two command
lines (the watch, then the bundle) are accepted by wirecheck and do what it says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.servers import FakeHttpServer

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "systemd" / "wirecheck-watch.service"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's wirecheck, from any directory


def _lines(key: str) -> list[str]:
    return re.findall(rf"(?m)^{key}=(.*)$", UNIT.read_text(encoding="utf-8"))


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze, wirecheck = shutil.which("systemd-analyze"), shutil.which("wirecheck")
    if analyze is None or wirecheck is None:
        pytest.skip("needs systemd-analyze and a wirecheck executable on PATH")
    text = UNIT.read_text(encoding="utf-8").replace(
        "/usr/local/bin/wirecheck", os.path.realpath(wirecheck)
    )
    (tmp_path / UNIT.name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / UNIT.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "wirecheck" in line] == []


def test_the_unit_watches_for_a_set_time_then_bundles() -> None:
    [start], [post] = _lines("ExecStart"), _lines("ExecStopPost")
    assert start.split()[:2] == ["/usr/local/bin/wirecheck", "watch"]
    assert "--duration ${WATCH_DURATION}" in start and _lines("Environment") == [
        "WATCH_DURATION=2h"
    ]
    assert post.split()[:3] == ["/usr/local/bin/wirecheck", "bundle", "--no-run"]
    assert _lines("SuccessExitStatus") == ["2"] and _lines("KillSignal") == ["SIGTERM"]
    assert _lines("WorkingDirectory") == ["/var/log/wirecheck"]


def test_its_command_lines_run_and_the_bundle_holds_the_event_log(tmp_path: Path) -> None:
    """The unit's own options, for 1 s against a loopback server instead of the platform."""
    [start], [post] = _lines("ExecStart"), _lines("ExecStopPost")
    watch = start.replace("${WATCH_DURATION}", "1").replace("/var/log/wirecheck", str(tmp_path))
    bundle = post.replace("/var/log/wirecheck", str(tmp_path / "bundle"))
    with FakeHttpServer() as http:
        argv = [sys.executable, "-m", "wirecheck", *watch.split()[1:]]
        argv += ["--target", "127.0.0.1", "--only", "tcp-80", "--port-http", str(http.port)]
        argv += ["--interval", "0.5", "--prometheus-dir", str(tmp_path)]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path, env=ENV
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("wirecheck watch: OK")
    (tmp_path / "bundle").mkdir()
    packed = subprocess.run(
        [sys.executable, "-m", "wirecheck", *bundle.split()[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,  # the unit's WorkingDirectory: where the watch wrote
        env=ENV,
    )
    assert packed.returncode == 0, packed.stderr
    with tarfile.open(packed.stdout.strip()) as archive:
        names = archive.getnames()
        log = next(n for n in names if n.endswith("wirecheck-watch_127-0-0-1.jsonl"))
        handle = archive.extractfile(log)
        assert handle is not None
        events = [json.loads(line) for line in handle.read().splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "stop"
