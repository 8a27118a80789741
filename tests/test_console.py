"""The terminal path: rich's live table and diagnosis, fed words a server chose.

A reason phrase like `[/x]` is rich markup and `\\x1b[2J` clears a screen: neither may
crash the run or reach the terminal as a command. The end-to-end test runs wirecheck on a
pseudo-terminal against a loopback server, as a person at a terminal would.
"""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from tests.servers import FakeHttpServer, HttpMode
from wirecheck.checks.catalogue import load
from wirecheck.console import diagnosis, results_table
from wirecheck.model import Cause, CheckResult, Report, Status

HOSTILE = "[/x] [bold]not markup[/bold] \x1b[2J"


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system="standard"), out


def test_a_finding_is_shown_as_plain_text_not_markup() -> None:
    console, out = _terminal()
    result = CheckResult("wire-versions", "WireServer", Status.FAIL, f"HTTP 500 {HOSTILE}")
    console.print(results_table([result], [load("wire-versions")]))
    console.print(diagnosis(Report("127.0.0.1", 0.0, 1.0, (result,), (Cause(HOSTILE, "f"),))))
    shown = out.getvalue()
    assert "[/x] [bold]not markup[/bold]" in shown


def _run_on_a_terminal(argv: list[str], cwd: Path, limit_s: float = 30.0) -> tuple[int, str]:
    """`argv` with stdout and stderr on a pseudo-terminal; its exit code and what it showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=follower, stdin=follower, cwd=cwd)
    os.close(follower)
    shown = bytearray()
    give_up = time.monotonic() + limit_s
    while time.monotonic() < give_up:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    code = proc.wait(timeout=max(1.0, give_up - time.monotonic()))
    return code, shown.decode("utf-8", errors="replace")


def test_a_hostile_reason_phrase_on_a_terminal(tmp_path: Path) -> None:
    with FakeHttpServer(HttpMode.HTTP_500, reason=HOSTILE) as http:
        code, shown = _run_on_a_terminal(
            [
                *(sys.executable, "-m", "wirecheck", "run", "--target", "127.0.0.1"),
                *("--only", "wire-versions", "--port-http", str(http.port), "--timeout", "5"),
            ],
            tmp_path,
        )
    assert code == 2, shown  # a failed check, not a crash (which would exit 1)
    assert "Traceback" not in shown and "MarkupError" not in shown
    assert "[/x]" in shown
    assert "\x1b[2J" not in shown  # the clear-screen came through escaped, as text
    assert "\\x1b[2J" in (tmp_path / "127-0-0-1_test.txt").read_text(encoding="utf-8")
