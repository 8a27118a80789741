"""Ctrl-C, SIGTERM and SIGHUP as one exception the command line turns into its exit code
(128 + the signal: 130, 143, 129), held back while a report file is being replaced.

A signal that lands between creating a report's temp file and renaming it (or removing
it) would leave the temp file behind: inside `held()` the handler only notes the signal,
and it is raised when the block ends, its files renamed or removed. Without `install()`
(a library use, a test) Python's own handling applies and nothing is held.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Interrupted(BaseException):
    """A signal asked the command to stop. BaseException, like KeyboardInterrupt: no
    `except Exception` on the way up catches it (click's own handling of Ctrl-C included)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    depth = 0  # how many held() blocks are open
    pending: int | None = None  # a signal that arrived inside one
    # The last signal raised. Python runs a handler between any two bytecodes, a garbage
    # collector's or an import lock's callback included, and an exception raised there is
    # "ignored": the command checks this at its next step (`raise_if_signalled`).
    signalled: int | None = None


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to `Interrupted` (the main thread only: Python
    runs signal handlers there)."""
    _State.signalled = _State.pending = None
    for signum in SIGNALS:
        signal.signal(signum, _handle)
    previous = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if not isinstance(info.exc_value, Interrupted):  # ours is noted, not printed
            previous(info)

    sys.unraisablehook = unraisable


def _handle(signum: int, _frame: FrameType | None) -> None:
    if _State.depth:
        _State.pending = _State.pending or signum
        return
    _State.signalled = signum
    raise Interrupted(signum)


def raise_if_signalled() -> None:
    """Raise the signal that arrived but was swallowed where it landed (a callback)."""
    if _State.signalled is not None:
        raise Interrupted(_State.signalled)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """A block that a signal does not cut short: it is raised when the block ends."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if not _State.depth and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise Interrupted(signum)
