"""The append-only JSON Lines event log: one JSON object a line, every line whole.

Each line is written with a single write() on a file opened O_APPEND, so a crash or a
kill leaves the lines written so far complete, and another writer's lines (a second watch
on the same file) never interleave inside one. State changes (a probe down or up, a
window, a capture, the end) are fsync'd at once; plain rounds are left to the page cache,
so a long watch does not wear the disk. A file that ends in half a line (a power cut) gets
a newline first, so the next line starts clean.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from wirecheck.report.files import REPORT_MODE

SCHEMA_VERSION = 1


def encode(event: Mapping[str, Any]) -> bytes:
    """One event as one line: compact JSON, no raw newline inside, `\\n` at the end.

    A number that is not finite (not valid JSON) is written as null."""
    try:
        text = json.dumps(event, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(event), separators=(",", ":"), default=str, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class EventLog:
    """Appends events to a file; a write that fails is remembered, not raised, so a full
    disk stops the log but not the watch (the summary says so)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self.lines = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), REPORT_MODE
        )
        self._end_cleanly()

    def _end_cleanly(self) -> None:
        """A file left ending in half a line gets its newline before anything is added."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as handle:
            handle.seek(size - 1)
            last = handle.read(1)
        if last != b"\n":
            self._write(b"\n")

    def write(self, event: Mapping[str, Any], sync: bool = False) -> None:
        if self._fd is None:
            return
        self._write(encode(event))
        self.lines += 1
        if sync and self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._fail(exc)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        try:
            written = os.write(self._fd, data)
            # A regular file takes the whole buffer or fails; a short write means the disk
            # filled up mid-line: finish the line, or give the log up.
            while written < len(data):
                data = data[written:]
                written = os.write(self._fd, data)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.error = f"{self.path}: {exc.strerror or exc}"
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.close(fd)


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a log, in order; a line that is not a JSON object is passed over."""
    with open(path, "rb") as handle:
        for raw in handle:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event
