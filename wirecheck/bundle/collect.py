"""Run the bundle's items, each bounded in time and size, the whole bounded too.

Every item leaves a manifest entry, collected or not: the command line or path, exit
status, duration, bytes kept and original, whether it was truncated or timed out, and why
it was skipped. Commands go through `System.run_command`, files through `System.read_text`
and directory listings through `System.list_dir`, so tests feed fakes; log tails use
`read_tail`, a parameter with a real default (reading the head of a 1 GB log is useless).
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wirecheck.bundle.cut import DROPPED, cut_head, cut_tail, drop_headless_key
from wirecheck.bundle.items import CommandItem, DirItem, EnvItem, FileItem, Item
from wirecheck.model import Deadline
from wirecheck.system import System, open_regular

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Limits:
    item_seconds: float = 15.0  # one command
    total_seconds: float = 90.0  # the whole bundle: collecting and redacting
    redact_share: float = 1 / 3  # of total_seconds, kept for redaction
    item_bytes: int = 2 * MIB  # one command's output or one file
    log_tail_bytes: int = 512 * KIB  # the newest part of a log
    total_bytes: int = 32 * MIB  # everything collected

    def to_dict(self) -> dict[str, float]:
        return {
            "item_seconds": self.item_seconds,
            "total_seconds": self.total_seconds,
            "redact_share": round(self.redact_share, 3),
            "item_bytes": self.item_bytes,
            "log_tail_bytes": self.log_tail_bytes,
            "total_bytes": self.total_bytes,
        }


@dataclass
class Collected:
    path: str  # in the archive
    text: str | None  # None: nothing to put in the archive (skipped)
    entry: dict[str, Any] = field(default_factory=dict)  # the manifest line


def read_tail(path: str, limit: int) -> tuple[str, int]:
    """The last `limit` bytes of a file, from the first whole line; and the file's size."""
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        start = max(0, size - limit)
        handle.seek(start)
        data = handle.read(limit)
    if start > 0 and b"\n" in data:
        data = data.split(b"\n", 1)[1]  # drop the partial first line
    return data.decode("utf-8", errors="replace"), size


def archive_path_of(source: str) -> str:
    """`/etc/waagent.conf` -> `files/etc/waagent.conf`; `C:\\x\\y.log` -> `files/C/x/y.log`."""
    parts = [
        p for p in source.replace("\\", "/").replace(":", "").split("/") if p not in ("", "..")
    ]
    return "files/" + "/".join(parts)


class Collector:
    def __init__(
        self,
        system: System,
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.monotonic,
        tail_reader: Callable[[str, int], tuple[str, int]] = read_tail,
        seconds: float | None = None,
    ) -> None:
        """`seconds`: the time collecting may take (default: the whole budget)."""
        self._system = system
        self._limits = limits
        self._clock = clock
        self._tail = tail_reader
        self._seconds = limits.total_seconds if seconds is None else seconds
        self._deadline = Deadline(self._seconds, clock)
        self._bytes_left = limits.total_bytes
        self._root = system.is_root()

    def collect(self, items: Iterable[Item]) -> list[Collected]:
        done: list[Collected] = []
        for item in items:
            if not isinstance(item, DirItem):
                done.append(self._one(item))
            elif self._spent():
                entry = self._entry(item, "directory", item.directory, item.directory)
                entry["skipped"] = self._spent()
                done.append(Collected(archive_path_of(item.directory), None, entry))
            else:
                done += self._directory(item)
        return done

    def _spent(self) -> str | None:
        """Why nothing more may be collected, or None while time and room are left."""
        if self._deadline.expired:
            return f"the bundle's time budget for collecting ({self._seconds:g} s) was spent"
        if self._bytes_left <= 0:
            return self._full_reason()
        return None

    def _full_reason(self) -> str:
        return f"the bundle's total size cap ({self._limits.total_bytes} bytes) was reached"

    # -- one item -----------------------------------------------------------------------

    def _one(self, item: CommandItem | FileItem | EnvItem) -> Collected:
        reason = self._spent()
        if reason:
            return self._skipped(item, reason)
        if isinstance(item, CommandItem):
            return self._command(item)
        if isinstance(item, FileItem):
            return self._file(item)
        return self._environment(item)

    def _command(self, item: CommandItem) -> Collected:
        timeout = min(self._limits.item_seconds, self._deadline.remaining())
        started = self._clock()
        result = self._system.run_command(item.argv, timeout)
        elapsed = self._clock() - started
        entry = self._entry(item, "command", shlex.join(item.argv))
        entry.update(command=list(item.argv), exit_status=result.returncode)
        entry["duration_s"] = round(result.duration_s or elapsed, 3)
        if item.root and not self._root:
            entry["note"] = "needs root for a complete answer; wirecheck was not run as root"
        if result.returncode is None:
            # Not run (not installed) or killed at its time limit: nothing to keep.
            entry["timed_out"] = elapsed >= timeout * 0.95
            entry["skipped"] = result.error or "did not run"
            return Collected(item.path, None, entry)
        text = result.stdout
        if result.stderr.strip():
            text += ("\n" if text and not text.endswith("\n") else "") + "--- stderr ---\n"
            text += result.stderr
        return self._keep(item.path, text, entry, self._limits.item_bytes, from_end=False)

    def _file(self, item: FileItem, path: str | None = None) -> Collected:
        path = path or archive_path_of(item.source)
        entry = self._entry(item, "file", item.source, path)
        started = self._clock()
        try:
            if item.tail:
                text, size = self._tail(item.source, self._limits.log_tail_bytes)
                entry["original_bytes"] = size
                entry["tail"] = True
                entry["truncated"] = size > len(text.encode("utf-8"))
                if entry["truncated"]:
                    text = drop_headless_key(text)
            else:
                text = self._system.read_text(item.source)
        except FileNotFoundError:
            entry["skipped"] = "not present on this machine"
            return Collected(path, None, entry)
        except PermissionError:
            entry["skipped"] = "permission denied" + ("" if self._root else " (run as root)")
            return Collected(path, None, entry)
        except OSError as exc:
            entry["skipped"] = f"could not be read: {exc.strerror or exc}"
            return Collected(path, None, entry)
        entry["duration_s"] = round(self._clock() - started, 3)
        cap = self._limits.log_tail_bytes if item.tail else self._limits.item_bytes
        return self._keep(path, text, entry, cap, from_end=item.tail)

    def _directory(self, item: DirItem) -> list[Collected]:
        try:
            names = self._system.list_dir(item.directory)
        except OSError as exc:
            entry = self._entry(item, "directory", item.directory, item.directory)
            reason = "not present" if isinstance(exc, FileNotFoundError) else exc.strerror
            entry["skipped"] = f"{reason or exc} (looked for {item.pattern})"
            return [Collected(archive_path_of(item.directory), None, entry)]
        separator = "\\" if "\\" in item.directory else "/"
        matched = [n for n in sorted(names) if fnmatch.fnmatch(n, item.pattern)]
        if not matched:
            entry = self._entry(item, "directory", item.directory, item.directory)
            entry["skipped"] = f"no file matches {item.pattern}"
            return [Collected(archive_path_of(item.directory), None, entry)]
        return [
            self._one(FileItem(item.directory.rstrip(separator) + separator + n, item.tail))
            for n in matched
        ]

    def _environment(self, item: EnvItem) -> Collected:
        entry = self._entry(item, "environment", "wirecheck's own environment")
        chosen = sorted(
            (name, value)
            for name, value in self._system.environ.items()
            if any(word in name.lower() for word in item.words)
        )
        lines = [
            f"# Variables whose name contains {', '.join(item.words)}, as wirecheck saw them",
            "# (sudo usually removes the caller's; the agent's unit environment is in agent/).",
            *(f"{name}={value}" for name, value in chosen),
        ]
        if not chosen:
            lines.append("# none set")
        return self._keep(item.path, "\n".join(lines) + "\n", entry, self._limits.item_bytes)

    # -- bookkeeping --------------------------------------------------------------------

    def _entry(self, item: Item, kind: str, source: str, path: str | None = None) -> dict[str, Any]:
        if path is None:
            path = item.path if isinstance(item, (CommandItem, EnvItem)) else source
        return {"path": path, "kind": kind, "source": source}

    def _skipped(self, item: CommandItem | FileItem | EnvItem, reason: str) -> Collected:
        if isinstance(item, FileItem):
            path, kind, source = archive_path_of(item.source), "file", item.source
        elif isinstance(item, CommandItem):
            path, kind, source = item.path, "command", shlex.join(item.argv)
        else:
            path, kind, source = item.path, "environment", "wirecheck's own environment"
        entry = self._entry(item, kind, source, path)
        entry["skipped"] = reason
        return Collected(path, None, entry)

    def _keep(
        self, path: str, text: str, entry: dict[str, Any], cap: int, from_end: bool = False
    ) -> Collected:
        data = text.encode("utf-8")
        entry.setdefault("original_bytes", len(data))
        limit = min(cap, self._bytes_left)
        if len(data) > limit:
            marker = f"[wirecheck: cut to {limit} of {len(data)} bytes]\n"
            # The marker (and a note for a key the cut split) count against the cap too.
            room = limit - len(marker) - len(DROPPED) - 2
            if room <= 0:  # not even the marker fits in what is left
                entry["skipped"] = self._full_reason()
                return Collected(path, None, entry)
            if from_end:
                text = marker + cut_tail(data, room)
            else:
                kept = cut_head(data, room)
                text = kept + ("" if kept.endswith("\n") or not kept else "\n") + marker
            entry["truncated"] = True
        size = len(text.encode("utf-8"))
        self._bytes_left -= size
        entry["bytes"] = size
        return Collected(path, text, entry)
