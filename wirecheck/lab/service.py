"""What the simulators share when they run as processes: a log, a ready file, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO


class Log:
    """Timestamped lines, flushed at once (the lab's log files are read while it runs)."""

    def __init__(self, stream: TextIO | None = None, name: str = "") -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._name = name
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        stamp = (
            time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"
        )
        with self._lock:
            self._stream.write(f"{stamp} {self._name} {message}\n")
            self._stream.flush()


def write_ready(path: Path, info: Mapping[str, object]) -> None:
    """Tell the lab we are listening: the file appears whole (temp file + rename) or not at all."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(dict(info)), encoding="utf-8")
    os.replace(temp, path)


def serve_until_signalled(stop: Callable[[], None], log: Log) -> None:
    """Block until SIGTERM or SIGINT, then call `stop`; the lab stops us with SIGTERM."""
    stopping = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        log(f"stopping on {signal.Signals(signum).name}")
        stopping.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    while not stopping.wait(1.0):
        pass
    stop()
