"""Honest exits, as a real process: a closed stdout, a reader that leaves (`| head -1`), an
ASCII-only terminal, a host name that is not UTF-8, reports that cannot be written, and
Ctrl-C or SIGTERM at any moment. No traceback, the reports written where they can be,
the exit code the verdict (or 4 when a report asked for is missing, 130/143 when stopped).

The runs probe 127.0.0.1 only (nothing listens on the default ports: refused, quickly).
"""

from __future__ import annotations

import errno
import json
import os
import pty
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli_runner import cli_runner
from tests.servers import fake_system
from wirecheck.cli import Seams, app
from wirecheck.model import EXIT_NOT_WRITTEN

ROOT = Path(__file__).resolve().parent.parent
# Quick, no traffic beyond loopback: a refused TCP 80 and DNS, and the privileges row.
CHECKS = "tcp-80,dns-udp,privileges"
STEM = "127-0-0-1_test"


def _argv(output_dir: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "wirecheck", "run", "--target", "127.0.0.1"),
        *("--timeout", "2", "--only", CHECKS, "--output-dir", str(output_dir), *extra),
    ]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _verdict(output_dir: Path) -> int:
    """The exit code the JSON report says the run earned."""
    return int(json.loads((output_dir / f"{STEM}.json").read_text("utf-8"))["exit_code"])


def test_a_closed_stdout_still_writes_the_reports_and_exits_with_the_verdict(
    tmp_path: Path,
) -> None:
    argv = _argv(tmp_path)
    done = subprocess.run(
        ["sh", "-c", '"$@" >&-', "sh", *argv],
        env=_env(),
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    assert (tmp_path / f"{STEM}.txt").exists()
    assert done.returncode == _verdict(tmp_path) == 2  # the refused probes fail


@pytest.mark.parametrize("output", [["-o", "json"], [], ["--quiet"]])
def test_a_reader_that_left_is_no_failure_of_the_run(tmp_path: Path, output: list[str]) -> None:
    """`wirecheck | head -1`, at its worst: the reader is gone before the first byte."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            _argv(tmp_path, *output),
            env=_env(),
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert b"Traceback" not in done.stderr and b"Exception ignored" not in done.stderr, (
        done.stderr.decode()
    )
    assert done.returncode == _verdict(tmp_path) == 2


def test_head_minus_one_gets_its_line_and_the_verdict_stands(tmp_path: Path) -> None:
    argv = " ".join(f"'{a}'" for a in _argv(tmp_path))
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {argv} | head -1"],
        env=_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.count(b"\n") == 1
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    assert done.returncode == _verdict(tmp_path) == 2


def _in_pty(argv: Sequence[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Run `argv` with a pseudo-terminal for stdout and stderr; its exit code and output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    return proc.wait(timeout=60), output


def test_an_ascii_only_terminal_gets_the_live_table_and_the_verdict(tmp_path: Path) -> None:
    env = _env(LC_ALL="POSIX", LANG="POSIX", PYTHONUTF8="0", TERM="xterm")
    code, output = _in_pty(_argv(tmp_path), env)
    assert b"Traceback" not in output and b"UnicodeEncodeError" not in output, output.decode()
    assert b"wirecheck: FAIL" in output
    assert code == _verdict(tmp_path) == 2
    # Nothing but ASCII reached the terminal (a Braille spinner would not).
    assert all(byte < 0x80 for byte in output)


def _can_unshare() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare (a namespace of its own)"
    return None


@pytest.mark.skipif(_can_unshare() is not None, reason=str(_can_unshare()))
def test_a_host_name_that_is_not_utf8_is_shown_escaped(tmp_path: Path) -> None:
    code = (
        "import os, socket, sys\n"
        "socket.sethostname(b'vm-\\xff\\xfe')\n"
        "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n"
    )
    done = subprocess.run(
        ["unshare", "--uts", sys.executable, "-c", code, *_argv(tmp_path)[1:]],
        env=_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    report = json.loads((tmp_path / f"{STEM}.json").read_text("utf-8"))
    assert report["facts"]["hostname"] == "vm-\\xff\\xfe"
    assert "hostname: vm-\\xff\\xfe" in (tmp_path / f"{STEM}.txt").read_text("utf-8")
    assert done.returncode == report["exit_code"]


@pytest.mark.skipif(_can_unshare() is not None, reason=str(_can_unshare()))
@pytest.mark.parametrize(
    ("mount_options", "says"),
    [("ro,size=64k", "Read-only file system"), ("size=4k", "No space left on device")],
)
def test_reports_that_cannot_be_written_exit_4_with_one_line(
    tmp_path: Path, mount_options: str, says: str
) -> None:
    """A read-only directory, a full disk (a tmpfs of one page): the verdict is printed,
    one line says which reports are missing, and the exit code is 4, not the verdict."""
    target = tmp_path / "reports"
    target.mkdir()
    argv = _argv(target, "--quiet", "--format", "junit,html,prometheus")
    argv += ["--prometheus-dir", str(target)]
    script = f'mount -t tmpfs -o {mount_options} wirecheck-test "$1" && shift && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(target), *argv],
        env=_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr, stderr
    assert done.returncode == EXIT_NOT_WRITTEN, stderr
    assert done.stdout.decode().startswith("wirecheck: FAIL")  # the verdict is still given
    lines = [line for line in stderr.splitlines() if line]
    assert lines and all(line.startswith("wirecheck: could not write the ") for line in lines)
    assert any(says in line for line in lines), stderr
    assert list(target.iterdir()) == []  # the mount is gone with the namespace


def test_a_writer_that_fails_is_exit_4_and_names_the_reason(tmp_path: Path) -> None:
    def full(path: Path, data: bytes, mode: int) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    seams = Seams(read_asset_tag=lambda: None, system=fake_system(), writer=full)
    result: Result = cli_runner().invoke(
        app,
        ["run", "--target", "127.0.0.1", "--only", "privileges", "--output-dir", str(tmp_path)],
        obj=seams,
    )
    assert result.exit_code == EXIT_NOT_WRITTEN
    assert result.stderr.strip().splitlines() == [
        f"wirecheck: could not write the reports in {tmp_path}: No space left on device "
        "(choose another --output-dir, or --no-report)"
    ]


def _handlers_installed(pid: int) -> bool:
    """Whether the process catches SIGTERM yet (its handler is Python's, installed by
    entry.main): before that, the interpreter itself is still starting."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(
        (line.split()[1] for line in status.splitlines() if line.startswith("SigCgt")), "0"
    )
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_signals_at_random_moments_exit_130_or_143_and_leave_no_temp_file(
    tmp_path: Path,
) -> None:
    """Ctrl-C and SIGTERM at random moments of 100 runs that write five reports each: one
    line, exit 128 + the signal (or the verdict, when the run was over first), no
    traceback, and never a `.tmp` file (report writes hold a signal until their rename)."""
    rng = random.Random(12)
    # A resolver that never answers holds each run for its deadline: signals land in
    # every part of it, start-up, the probes and the report writing at the end.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = str(silent.getsockname()[1])
    argv = _argv(tmp_path, "--quiet", "--format", "junit,html,prometheus")
    argv += ["--prometheus-dir", str(tmp_path), "--only", "privileges,dns-udp"]
    argv += ["--port-dns", port, "--timeout", "0.5"]
    outcomes: dict[str, int] = {}
    for _ in range(100):
        proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        while not _handlers_installed(proc.pid) and proc.poll() is None:
            if time.monotonic() - started > 30:
                proc.kill()
                raise AssertionError("wirecheck did not start within 30 s")
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.9))
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        if proc.poll() is None:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        stderr = err.decode()
        assert "Traceback" not in stderr, stderr
        if proc.returncode in (130, 143):
            assert proc.returncode == 128 + signum
            assert stderr.strip() == "wirecheck: interrupted"
            kind = "interrupted"
        elif proc.returncode == -signum:
            # The signal came as the interpreter was shutting down, its handlers reset:
            # killed by it, which a shell shows as 128 + the signal all the same.
            assert stderr == ""
            kind = "at exit"
        else:
            assert proc.returncode == _verdict(tmp_path), stderr  # it was done first
            kind = "finished"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    silent.close()
    assert outcomes.get("interrupted", 0) >= 30, outcomes  # the signals did land mid-run
    assert outcomes.get("finished", 0) >= 1, outcomes  # and some after the reports
