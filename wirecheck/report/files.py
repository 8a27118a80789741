"""Write report files atomically: a reader sees the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from wirecheck.report.interrupts import held

# Reports hold host facts (addresses, rules): readable by the owner only.
REPORT_MODE = 0o600


def report_stem(target: str) -> str:
    """`168-63-129-16_test`: the manual procedure's file name, from the target."""
    safe = "".join(c if c.isalnum() else "-" for c in target.replace(".", "-"))
    return f"{safe}_test"


def write_atomic(path: Path, data: bytes, mode: int = REPORT_MODE, durable: bool = True) -> Path:
    """Write `data` to `path` via a temp file in the same directory and a rename.

    The rename replaces a symlink at `path` rather than writing through it, so a link
    planted in a shared directory cannot redirect the report somewhere else. Ctrl-C or
    SIGTERM meanwhile (with `interrupts.install()`) is raised once the temp file is renamed
    or removed: no `.tmp` file is ever left behind. `durable`: flush it to disk before the
    rename; a file rewritten every few seconds (watch's Prometheus file) skips that:
    readers see whole files either way.
    """
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    with held():
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            os.chmod(temp_name, mode)
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
    return path
