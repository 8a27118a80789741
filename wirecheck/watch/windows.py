"""Failure windows: from the first round in which some probe fails to the first round in
which every probe is up again. Pure.

A probe that goes down, or comes back, is a change; each change asks for an evidence
capture. A window keeps when it started and ended, the probes it affected with the first
thing each said, its first cause (the diagnosis of its first capture) and a few captures.
Only the last MAX_KEPT windows stay in memory (all of them are in the event log), and
each keeps at most MAX_CAPTURES captures: memory does not grow with the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Optional, TypeVar

MAX_KEPT = 50
MAX_CAPTURES = 4  # the first ones and the last (the recovery)
MAX_FINDING = 300

# One probe's round: up (None: skipped, says nothing) and what it said.
Outcome = tuple[Optional[bool], str]
T = TypeVar("T")


class Ring(Generic[T]):
    """The last `size` items, oldest first, in a list allocated once."""

    __slots__ = ("_count", "_items", "_next")

    def __init__(self, size: int) -> None:
        self._items: list[T | None] = [None] * size
        self._next = 0
        self._count = 0

    def append(self, item: T) -> None:
        self._items[self._next] = item
        self._next = (self._next + 1) % len(self._items)
        self._count = min(self._count + 1, len(self._items))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        size = len(self._items)
        for offset in range(self._count):
            item = self._items[(self._next - self._count + offset) % size]
            assert item is not None
            yield item


@dataclass
class Window:
    number: int
    start: float  # unix time of the round that first failed
    start_round: int
    probes: list[str] = field(default_factory=list)  # affected, in the order they failed
    findings: dict[str, str] = field(default_factory=dict)  # each probe's first finding
    last_failing: float = 0.0  # unix time of the last round that failed
    end: float | None = None  # unix time of the first round with every probe up again
    end_round: int | None = None
    rounds_failing: int = 0
    first_cause: dict[str, Any] | None = None
    captures: list[dict[str, Any]] = field(default_factory=list)
    captures_dropped: int = 0

    def duration_s(self, now: float | None = None) -> float:
        """How long it lasted; for a window still open, until `now` (or its last failure)."""
        end = self.end if self.end is not None else (now or self.last_failing)
        return max(0.0, end - self.start)

    def attach(self, capture: dict[str, Any], first_cause: dict[str, Any] | None) -> None:
        """A capture taken in this window; the first one's cause is the window's."""
        if self.first_cause is None and first_cause is not None:
            self.first_cause = first_cause
        if len(self.captures) < MAX_CAPTURES:
            self.captures.append(capture)
        else:  # keep the first ones and the latest: the recovery is the last word
            self.captures[-1] = capture
            self.captures_dropped += 1

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "number": self.number,
            "start": self.start,
            "end": self.end,
            "ongoing": self.end is None,
            "duration_s": round(self.duration_s(now), 3),
            "start_round": self.start_round,
            "end_round": self.end_round,
            "rounds_failing": self.rounds_failing,
            "probes": list(self.probes),
            "findings": dict(self.findings),
            "first_cause": self.first_cause,
            "captures": list(self.captures),
            "captures_dropped": self.captures_dropped,
        }


@dataclass(frozen=True)
class Changes:
    """What one round changed."""

    went_down: tuple[str, ...] = ()
    came_up: tuple[str, ...] = ()
    opened: Window | None = None
    closed: Window | None = None

    @property
    def any(self) -> bool:
        return bool(self.went_down or self.came_up)


class WindowBook:
    """The probes' up/down states and the failure windows, round by round."""

    __slots__ = ("_state", "closed_down_s", "current", "kept", "total")

    def __init__(self, keep: int = MAX_KEPT) -> None:
        self._state: dict[str, bool] = {}  # last known: True up, False down
        self.kept: Ring[Window] = Ring(keep)  # the newest windows, the open one too
        self.current: Window | None = None  # the open window
        self.total = 0
        self.closed_down_s = 0.0

    @property
    def failing(self) -> list[str]:
        return [probe for probe, up in self._state.items() if not up]

    def observe(
        self,
        round_no: int,
        at: float,
        outcomes: Mapping[str, Outcome],
        took: Mapping[str, float] | None = None,
    ) -> Changes:
        """One round that started at `at`. `took`: how long each probe took; a window ends
        when the last of its probes was answered (a SYN retransmitted into a fault's end is
        answered seconds after the round started), not when the round started."""
        went_down, came_up = [], []
        for probe, (up, _finding) in outcomes.items():
            if up is None:
                continue  # skipped: the probe's state is what it was
            before = self._state.get(probe)
            self._state[probe] = up
            if not up and before is not False:
                went_down.append(probe)
            elif up and before is False:
                came_up.append(probe)
        failing = self.failing
        opened = closed = None
        if failing and self.current is None:
            self.total += 1
            opened = self.current = Window(self.total, at, round_no)
            self.kept.append(opened)
        window = self.current
        if window is not None and failing:
            window.last_failing = at
            window.rounds_failing += 1
            for probe in failing:
                if probe not in window.findings:
                    window.probes.append(probe)
                    window.findings[probe] = outcomes.get(probe, (False, ""))[1][:MAX_FINDING]
        elif window is not None:
            answered = max((took or {}).get(probe, 0.0) for probe in came_up) if came_up else 0.0
            window.end, window.end_round = at + answered, round_no
            self.closed_down_s += window.duration_s()
            closed, self.current = window, None
        return Changes(tuple(went_down), tuple(came_up), opened, closed)

    def down_s(self, now: float) -> float:
        """Time spent in failure windows, the open one up to `now`."""
        ongoing = self.current.duration_s(now) if self.current is not None else 0.0
        return self.closed_down_s + ongoing
