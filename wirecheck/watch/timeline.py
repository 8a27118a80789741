"""Each probe's latency over time for the HTML timeline, in a fixed number of time bins.

A bin holds, for its stretch of time, how many rounds ran, how many were down, and the
lowest, highest and summed latency of the ones that were up. Bins start one interval
wide; when the run outgrows them, neighbours are merged pairwise and every bin covers
twice the time. A day or a month of watching is drawn from the same BINS slots, at a
coarser grain: memory stays flat. Pure.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

BINS = 512  # even: bins merge pairwise


@dataclass(frozen=True)
class Bin:
    """One stretch of time of one probe, for drawing."""

    start_s: float  # seconds since the watch started
    width_s: float
    rounds: int
    down: int
    low_s: float | None  # None: no round was up in it
    high_s: float | None
    mean_s: float | None


class Timeline:
    """Per probe, BINS bins of latency; `add` is O(1) except when the bins are merged."""

    __slots__ = ("_down", "_high", "_low", "_rounds", "_sum", "_up", "probes", "used", "width_s")

    def __init__(self, probes: Sequence[str], first_width_s: float) -> None:
        if first_width_s <= 0:
            raise ValueError("a bin must cover some time")
        self.probes = tuple(probes)
        self.width_s = first_width_s
        self.used = 0  # bins in use (the last one may still be filling)
        size = BINS * len(self.probes)
        self._rounds = array("q", bytes(8 * size))
        self._down = array("q", bytes(8 * size))
        self._up = array("q", bytes(8 * size))
        self._low = array("d", [math.inf]) * size
        self._high = array("d", bytes(8 * size))
        self._sum = array("d", bytes(8 * size))

    def add(self, elapsed_s: float, probe: int, up: bool, seconds: float) -> None:
        """A round of probe number `probe`, `elapsed_s` after the start."""
        index = int(max(0.0, elapsed_s) // self.width_s)
        while index >= BINS:
            self._merge()
            index = int(max(0.0, elapsed_s) // self.width_s)
        self.used = max(self.used, index + 1)
        slot = probe * BINS + index
        self._rounds[slot] += 1
        if not up:
            self._down[slot] += 1
            return
        self._up[slot] += 1
        self._sum[slot] += seconds
        self._low[slot] = min(self._low[slot], seconds)
        self._high[slot] = max(self._high[slot], seconds)

    def _merge(self) -> None:
        """Every bin now covers twice the time: bins 2j and 2j+1 become bin j."""
        half = BINS // 2
        for probe in range(len(self.probes)):
            base = probe * BINS
            for j in range(half):
                a, b, to = base + 2 * j, base + 2 * j + 1, base + j
                self._rounds[to] = self._rounds[a] + self._rounds[b]
                self._down[to] = self._down[a] + self._down[b]
                self._up[to] = self._up[a] + self._up[b]
                self._sum[to] = self._sum[a] + self._sum[b]
                self._low[to] = min(self._low[a], self._low[b])
                self._high[to] = max(self._high[a], self._high[b])
            for slot in range(base + half, base + BINS):
                self._rounds[slot] = self._down[slot] = self._up[slot] = 0
                self._sum[slot] = self._high[slot] = 0.0
                self._low[slot] = math.inf
        self.width_s *= 2
        self.used = (self.used + 1) // 2

    def bins(self, probe: int) -> list[Bin]:
        """The bins of probe number `probe` in use, oldest first (empty ones included)."""
        found = []
        for index in range(self.used):
            slot = probe * BINS + index
            up = self._up[slot]
            found.append(
                Bin(
                    index * self.width_s,
                    self.width_s,
                    self._rounds[slot],
                    self._down[slot],
                    self._low[slot] if up else None,
                    self._high[slot] if up else None,
                    self._sum[slot] / up if up else None,
                )
            )
        return found
