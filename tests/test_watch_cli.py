"""`wirecheck watch` on the command line against servers on 127.0.0.1: exit codes, files,
the guard, bad options; and as a real process: SIGKILL leaves whole lines, SIGTERM ends
with the summary, a closed stdout or a broken pipe does not stop it."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli_runner import cli_runner
from tests.servers import HOST, FakeHttpServer, fake_system, refusing_port
from wirecheck.cli import Seams, app
from wirecheck.system import CommandResult, System
from wirecheck.watch.files import event_log_path, prometheus_path, watch_stem

REPO = Path(__file__).resolve().parent.parent
LIMIT_S = 60.0  # no process here may take longer: a hang fails the test, it does not hang it


def no_commands(argv: Sequence[str], timeout_s: float) -> CommandResult:
    return CommandResult(tuple(argv), None, error=f"{argv[0]} is not installed")


def machine() -> System:
    """A fake machine whose tools are missing: captures say so, nothing runs on the host."""
    return dataclasses.replace(fake_system(), run_command=no_commands)


def invoke(*args: str, system: System | None = None, guard: bool = False) -> Result:
    tag = (lambda: None) if guard else (lambda: "7783-7084-3265-9085-8269-3286-77")
    seams = Seams(read_asset_tag=tag, system=system or machine())
    return cli_runner().invoke(app, ["watch", *args], obj=seams)


@pytest.fixture
def http() -> Iterator[FakeHttpServer]:
    with FakeHttpServer() as server:
        yield server


def loopback(port: int, out: Path, *extra: str) -> list[str]:
    return [
        *("--target", HOST, "--only", "tcp-80", "--port-http", str(port)),
        *("--output-dir", str(out), "--prometheus-dir", str(out / "prom")),
        *extra,
    ]


def test_a_healthy_watch_exits_0_and_writes_its_files(http: FakeHttpServer, tmp_path: Path) -> None:
    result = invoke(*loopback(http.port, tmp_path, "--interval", "0.5", "--duration", "1.2"))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "wirecheck watch: OK - every probe ok in all 3 rounds" in result.stdout
    assert result.stdout.count(" tcp-80 ok ") == 3  # a line per round
    stem = watch_stem(HOST)
    for suffix in ("txt", "json", "html"):
        assert (tmp_path / f"{stem}.{suffix}").exists()
    summary = json.loads((tmp_path / f"{stem}.json").read_text())
    assert summary["rounds"] == 3 and summary["stop_reason"] == "duration"
    events = event_log_path(tmp_path, HOST).read_text().splitlines()
    assert [json.loads(line)["event"] for line in events] == ["start", *["round"] * 3, "stop"]
    assert "wirecheck_watch_probe_up" in prometheus_path(tmp_path / "prom", HOST).read_text()


def test_a_probe_failing_throughout_exits_2_with_an_open_window(tmp_path: Path) -> None:
    closed = refusing_port()
    result = invoke(*loopback(closed, tmp_path, "--interval", "0.5", "--duration", "1", "--quiet"))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert " tcp-80 ok " not in result.stdout and " #1 " not in result.stdout  # --quiet
    assert "DOWN tcp-80: WireServer (TCP 80) refused" in result.stdout
    assert "UTC, still failing at the end" in result.stdout
    assert f"first cause: TCP {closed} is refused" in result.stdout


def test_the_azure_guard_applies_as_for_run(tmp_path: Path) -> None:
    def no_probe(family: int, kind: int) -> object:
        raise AssertionError("watch probed although the guard should have stopped it")

    system = dataclasses.replace(machine(), socket_factory=no_probe)  # type: ignore[arg-type]
    result = invoke("--output-dir", str(tmp_path), system=system, guard=True)
    assert result.exit_code == 3
    assert "not watched from here" in result.stderr and "--force" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--duration", "forever"], "is not a duration"),
        (["--only", "firewall"], "watch repeats probes only, not firewall"),
        (["--only", "trace-80"], "watch repeats probes only"),
        (["--only", "nosuch"], "unknown check id(s): nosuch"),
        (["--interval", "nan"], "not a number of seconds"),
        (["--interval", "-1"], "positive number of seconds"),
    ],
)
def test_bad_options_exit_3_with_a_clear_line(args: list[str], says: str, tmp_path: Path) -> None:
    result = invoke("--target", HOST, "--output-dir", str(tmp_path), *args)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert says in result.stderr + result.stdout


def test_an_interval_over_the_cap_is_raised_and_said(http: FakeHttpServer, tmp_path: Path) -> None:
    args = loopback(http.port, tmp_path, "--interval", "0.1", "--duration", "0.6")
    args += ["--port-hostplugin", str(http.port)]
    result = invoke(*[a if a != "tcp-80" else "tcp-80,tcp-32526" for a in args])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "--interval 0.1 s raised to 1 s" in result.stdout
    assert json.loads((tmp_path / f"{watch_stem(HOST)}.json").read_text())["interval_s"] == 1.0


# -- as a real process ---------------------------------------------------------------------


def spawn(
    port: int,
    out: Path,
    *extra: str,
    stdout: int | None = subprocess.PIPE,
    close_stdout: bool = False,
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "wirecheck", "watch", *loopback(port, out, *extra)]
    return subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        preexec_fn=(lambda: os.close(1)) if close_stdout else None,
    )


def wait_for_lines(path: Path, count: int) -> None:
    until = time.monotonic() + LIMIT_S
    while time.monotonic() < until:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {count} lines within {LIMIT_S} s")


def test_sigkill_leaves_only_whole_lines(http: FakeHttpServer, tmp_path: Path) -> None:
    proc = spawn(http.port, tmp_path, "--interval", "0.5", stdout=subprocess.DEVNULL)
    log = event_log_path(tmp_path, HOST)
    try:
        wait_for_lines(log, 5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=LIMIT_S)
    raw = log.read_bytes()
    assert raw.endswith(b"\n")
    events = [json.loads(line) for line in raw.splitlines()]  # every line parses
    assert events[0]["event"] == "start" and events[-1]["event"] == "round"
    assert [e["n"] for e in events[1:]] == list(range(1, len(events)))
    assert not (tmp_path / f"{watch_stem(HOST)}.json").exists()  # no summary after a kill


@pytest.mark.parametrize(
    ("signum", "reason"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")]
)
def test_sigterm_or_ctrl_c_ends_with_the_summary(
    http: FakeHttpServer, tmp_path: Path, signum: int, reason: str
) -> None:
    proc = spawn(http.port, tmp_path, "--interval", "0.5")
    try:
        wait_for_lines(event_log_path(tmp_path, HOST), 3)
    finally:
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=LIMIT_S)
    assert proc.returncode == 0, stderr.decode()  # the verdict: every round was ok
    assert f"ended: {reason}".encode() in stdout and b"Traceback" not in stderr
    summary = json.loads((tmp_path / f"{watch_stem(HOST)}.json").read_text())
    assert summary["stop_reason"] == reason and summary["rounds"] >= 2


def test_a_broken_pipe_stops_the_printing_not_the_watch(
    http: FakeHttpServer, tmp_path: Path
) -> None:
    proc = spawn(http.port, tmp_path, "--interval", "0.5", "--duration", "2.2")
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as `| head -1` does
    _, stderr = proc.communicate(timeout=LIMIT_S)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
    summary = json.loads((tmp_path / f"{watch_stem(HOST)}.json").read_text())
    assert summary["rounds"] == 5


def test_a_closed_stdout_is_no_obstacle(http: FakeHttpServer, tmp_path: Path) -> None:
    proc = spawn(
        http.port, tmp_path, "--interval", "0.5", "--duration", "1", stdout=None, close_stdout=True
    )
    _, stderr = proc.communicate(timeout=LIMIT_S)
    assert proc.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert json.loads((tmp_path / f"{watch_stem(HOST)}.json").read_text())["rounds"] == 2
