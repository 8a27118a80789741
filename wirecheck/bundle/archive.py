"""Write the bundle archive atomically: tar.gz (Linux) or zip (Windows), mode 0600.

The archive is built in a hidden temp file in the destination directory (mkstemp: 0600
from the first byte) and renamed into place only when complete, so an interrupted bundle
never leaves a partial archive under the final name; on any exception, Ctrl-C included,
the temp file is removed. Members are plain files owned by uid 0 with mode 0600 and one
fixed time: nothing about the collecting user leaks through the archive headers.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

ARCHIVE_MODE = 0o600
MEMBER_MODE = 0o600


def default_format() -> str:
    return "zip" if sys.platform == "win32" else "tar.gz"


def suffix_of(fmt: str) -> str:
    return ".zip" if fmt == "zip" else ".tar.gz"


def write_archive(path: Path, members: Iterable[tuple[str, bytes]], fmt: str, mtime: float) -> Path:
    """Write `members` (archive name, content) to `path`; all or nothing."""
    if fmt not in ("tar.gz", "zip"):
        raise ValueError(f"archive format {fmt!r} is not tar.gz or zip")

    def write(raw: io.BufferedWriter) -> None:
        if fmt == "zip":
            _write_zip(raw, members, mtime)
        else:
            _write_tar_gz(raw, members, mtime, path.name)

    return write_private(path, write)


def write_private(path: Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file only its owner can read, atomically: `write` fills a hidden temp file
    in the same directory (mkstemp: 0600 from the first byte), which is renamed into place
    only when complete; on any exception, Ctrl-C included, the temp file is removed."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw:
            write(raw)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(temp_name, ARCHIVE_MODE)
        os.replace(temp_name, path)  # replaces a planted symlink instead of following it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    return path


def _write_tar_gz(
    raw: io.BufferedWriter, members: Iterable[tuple[str, bytes]], mtime: float, name: str
) -> None:
    # GzipFile would record the temp file's name in its header; give it the final one.
    inner = name.removesuffix(".gz")
    with (
        gzip.GzipFile(filename=inner, mode="wb", fileobj=raw, mtime=int(mtime)) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member_name, data in members:
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            info.mode = MEMBER_MODE
            info.mtime = int(mtime)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))


def _write_zip(raw: io.BufferedWriter, members: Iterable[tuple[str, bytes]], mtime: float) -> None:
    stamp = time.gmtime(max(mtime, 315532800))  # zip cannot store times before 1980
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member_name, data in members:
            info = zipfile.ZipInfo(member_name, date_time=stamp[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | MEMBER_MODE) << 16  # a regular file, 0600
            archive.writestr(info, data)
