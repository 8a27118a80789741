"""A reader's time budget: a deadline that a long loop checks as it goes, and that whoever
started the reader can cut short.

A thread cannot be killed: a reader of a huge input (100k routes, 50k rules) that its
caller gave up on would go on parsing and take the CPU from every other check. So the
pure-Python loops take a `Cutoff` and call `check()` every few thousand items; commands
get `remaining()` as their timeout and are killed at it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from wirecheck.model import Deadline

T = TypeVar("T")

# How many items a loop handles between two looks at the clock: a look costs a function
# call, a few thousand items cost a millisecond or two.
CHECK_EVERY = 2048


class OutOfTime(Exception):
    """A reader ran out of its budget (or was cancelled) before it was done."""


class Cutoff(Deadline):
    """A `Deadline` that can also be cancelled: then it has no time left."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        super().__init__(seconds, clock, start)
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def remaining(self) -> float:
        return 0.0 if self._cancelled.is_set() else super().remaining()

    def check(self) -> None:
        """Raise OutOfTime when no time is left."""
        if self.remaining() <= 0.0:
            raise OutOfTime("cancelled" if self.cancelled else "out of time")


def checked(items: Iterable[T], until: Deadline | None, every: int = CHECK_EVERY) -> Iterator[T]:
    """`items`, raising OutOfTime between two of them once `until` has expired (looked at
    every `every` items); `until=None`: no limit."""
    if until is None:
        yield from items
        return
    for index, item in enumerate(items):
        if index % every == 0 and until.expired:
            raise OutOfTime("out of time")
        yield item
