"""Report file names and atomic writes: mode 0600, symlinks replaced, nothing half-written."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirecheck.report.files import REPORT_MODE, report_stem, write_atomic


@pytest.mark.parametrize(
    ("target", "stem"),
    [
        ("168.63.129.16", "168-63-129-16_test"),
        ("127.0.0.1", "127-0-0-1_test"),
        ("10.1.2.3", "10-1-2-3_test"),
        ("::1", "--1_test"),
        ("fe80::1%eth0", "fe80--1-eth0_test"),
        ("wire.example.net", "wire-example-net_test"),
        ("../../etc/passwd", "------etc-passwd_test"),
        ("a/b\\c\x00d", "a-b-c-d_test"),
    ],
)
def test_report_stem(target: str, stem: str) -> None:
    assert report_stem(target) == stem


@given(st.text(max_size=60))
def test_report_stem_is_always_one_plain_file_name(target: str) -> None:
    stem = report_stem(target)
    assert stem.endswith("_test")
    assert not stem.startswith(".")
    assert all(c.isalnum() or c in "-_" for c in stem)
    assert Path(stem).name == stem


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """A permissive umask: the report must still come out 0600."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_the_bytes_with_mode_0600(tmp_path: Path, umask_zero: None) -> None:
    path = write_atomic(tmp_path / "r.txt", b"report\n")
    assert path == tmp_path / "r.txt"
    assert path.read_bytes() == b"report\n"
    assert _mode(path) == REPORT_MODE == 0o600
    assert _leftovers(tmp_path) == []


def test_creates_the_directory(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "a" / "b" / "r.json", b"{}")
    assert path.read_bytes() == b"{}"


def test_other_mode_on_request(tmp_path: Path, umask_zero: None) -> None:
    assert _mode(write_atomic(tmp_path / "r.prom", b"x 1\n", mode=0o644)) == 0o644


def test_replaces_an_existing_file_and_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(b"old, much longer content than the new one\n")
    path.chmod(0o666)
    write_atomic(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert _mode(path) == 0o600


def test_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim"
    victim.write_bytes(b"precious\n")
    reports = tmp_path / "reports"
    reports.mkdir()
    link = reports / "168-63-129-16_test.txt"
    link.symlink_to(victim)
    write_atomic(link, b"report\n")
    assert not link.is_symlink()
    assert link.read_bytes() == b"report\n"
    assert victim.read_bytes() == b"precious\n"


def test_a_dangling_symlink_does_not_create_its_target(tmp_path: Path) -> None:
    planted = tmp_path / "planted-by-someone"
    link = tmp_path / "r.txt"
    link.symlink_to(planted)
    write_atomic(link, b"report\n")
    assert not planted.exists()
    assert link.read_bytes() == b"report\n" and not link.is_symlink()


def test_no_temp_file_left_when_the_rename_fails(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.mkdir()  # a directory where the file should go: the rename must fail
    with pytest.raises(IsADirectoryError):
        write_atomic(path, b"report\n")
    assert _leftovers(tmp_path) == []
    assert path.is_dir()


def test_no_temp_file_and_old_report_intact_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.txt"
    path.write_bytes(b"previous report\n")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, b"new report\n")
    assert path.read_bytes() == b"previous report\n"  # never half-written
    assert _leftovers(tmp_path) == []


def test_an_interrupt_mid_write_also_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "r.txt", b"report\n")
    assert list(tmp_path.iterdir()) == []


def test_output_dir_that_is_a_file_raises_oserror(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(OSError):
        write_atomic(not_a_dir / "r.txt", b"report\n")
