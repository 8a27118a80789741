"""The real machine's file reading: bounded, and never blocked by a FIFO where a file
should be (a hostile or broken /etc/resolv.conf, a log replaced by a pipe)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wirecheck.bundle.collect import read_tail
from wirecheck.system import read_text


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "resolv.conf"
    os.mkfifo(path)
    return path


def test_read_text_refuses_a_fifo_without_blocking(fifo: Path) -> None:
    with pytest.raises(OSError, match="not a regular file"):
        read_text(str(fifo))


def test_read_tail_refuses_a_fifo_without_blocking(fifo: Path) -> None:
    with pytest.raises(OSError, match="not a regular file"):
        read_tail(str(fifo), 1024)


def test_read_text_reads_at_most_the_limit_and_replaces_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"ok \xff\n" + b"x" * 100)
    assert read_text(str(path), limit=5) == "ok \ufffd\n"


def test_proc_files_are_regular_and_readable() -> None:
    if not Path("/proc/net/route").exists():
        pytest.skip("no /proc/net/route here")
    assert read_text("/proc/net/route").startswith("Iface")


def test_read_text_reads_proc_sys_files() -> None:
    # A single multi-megabyte read of a /proc/sys file fails with ENOMEM: read in pieces.
    assert read_text("/proc/sys/net/ipv4/ip_forward").strip() in ("0", "1")


def test_read_text_reads_a_file_larger_than_one_piece_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 200_000)
    assert len(read_text(str(path))) == 200_000
    assert len(read_text(str(path), limit=70_000)) == 70_000


def test_read_tail_gives_the_end_from_its_first_whole_line(tmp_path: Path) -> None:
    from wirecheck.system import read_tail as system_read_tail

    path = tmp_path / "waagent.log"
    path.write_bytes(b"".join(b"line %06d \xff\n" % i for i in range(300_000)))  # 4.5 MB
    tail = system_read_tail(str(path), 1024)
    assert tail.endswith("line 299999 \ufffd\n")
    assert tail.startswith("line ") and len(tail.encode()) <= 1024 + 300  # \ufffd is 3 bytes
    assert system_read_tail(str(path), 10**9).startswith("line 000000")


def test_read_lines_streams_a_file_past_the_read_text_cap(tmp_path: Path) -> None:
    from wirecheck.system import MAX_FILE_BYTES, read_lines

    path = tmp_path / "route"
    path.write_bytes(b"".join(b"%099d\n" % i for i in range(60_000)))  # 6 MB
    assert path.stat().st_size > MAX_FILE_BYTES
    lines = read_lines(str(path))
    count = sum(1 for _ in lines)
    assert count == 60_000


def test_read_lines_refuses_a_fifo_without_blocking(fifo: Path) -> None:
    from wirecheck.system import read_lines

    with pytest.raises(OSError, match="not a regular file"):
        read_lines(str(fifo))
