"""Streaming statistics per probe: counts, availability and latency quantiles in a fixed
amount of memory, however long the watch runs. Pure.

Latencies go into logarithmically spaced buckets (the DDSketch idea): bucket i holds the
values in (MIN_S * GAMMA**(i-1), MIN_S * GAMMA**i], and a quantile is answered with its
bucket's middle, so it is within RELATIVE_ERROR of the true value, whatever the data and
however many values went in. The buckets are a preallocated array: nothing grows.
A second, coarse set of cumulative buckets is kept for the Prometheus histogram.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from dataclasses import dataclass

RELATIVE_ERROR = 0.01  # a reported quantile is within 1 % of the true one
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
MIN_S = 1e-5  # 10 microseconds: latencies below are counted as this
MAX_S = 600.0  # 10 minutes: latencies above are counted as this (no deadline is that long)
BUCKETS = math.ceil(math.log(MAX_S / MIN_S) / _LOG_GAMMA) + 1
# Upper bounds of the Prometheus histogram's buckets, seconds (+Inf is implied).
PROMETHEUS_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def bucket_of(seconds: float) -> int:
    """The index of the bucket that counts `seconds`."""
    if seconds <= MIN_S:
        return 0
    index = math.ceil(math.log(seconds / MIN_S) / _LOG_GAMMA)
    return min(index, BUCKETS - 1)


def bucket_value(index: int) -> float:
    """The value a bucket stands for: within RELATIVE_ERROR of any value it counts."""
    if index == 0:
        return MIN_S
    return MIN_S * 2 * GAMMA**index / (GAMMA + 1)


class LatencySketch:
    """Quantiles of a stream of latencies with bounded relative error, in fixed memory."""

    __slots__ = ("_counts", "count", "high", "low", "total")

    def __init__(self) -> None:
        self._counts = array("q", bytes(8 * BUCKETS))
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = 0.0

    def add(self, seconds: float) -> None:
        self._counts[bucket_of(seconds)] += 1
        self.count += 1
        self.total += seconds
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 < q <= 1) by nearest rank: the value at rank ceil(q * count)
        in sorted order, within RELATIVE_ERROR; None when nothing was added."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        if rank == self.count:
            return self.high  # the largest value is known exactly
        if rank == 1:
            return self.low
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                # The true value is within [low, high]: clamping only moves toward it.
                return min(max(bucket_value(index), self.low), self.high)
        return self.high

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass(frozen=True)
class Quantiles:
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    min: float | None
    mean: float | None

    def to_ms(self) -> dict[str, float | None]:
        return {
            name: None if value is None else round(value * 1000, 3)
            for name, value in (
                ("p50", self.p50),
                ("p95", self.p95),
                ("p99", self.p99),
                ("max", self.max),
                ("min", self.min),
                ("mean", self.mean),
            )
        }


class ProbeStats:
    """One probe's rounds: how many were up, down or skipped, and the latency of the ones
    that were up (a timeout's latency is the deadline, not a measurement)."""

    __slots__ = ("buckets", "down", "last_latency", "last_status", "latency", "skipped", "up")

    def __init__(self) -> None:
        self.up = 0
        self.down = 0
        self.skipped = 0
        self.last_status = ""
        self.last_latency = 0.0
        self.latency = LatencySketch()
        # Per Prometheus bucket (not cumulative), the last one counting above the bounds.
        self.buckets = array("q", bytes(8 * (len(PROMETHEUS_BOUNDS) + 1)))

    def add(self, status: str, up: bool | None, seconds: float) -> None:
        """One round's outcome: `up` None when the probe was skipped."""
        self.last_status = status
        self.last_latency = seconds
        if up is None:
            self.skipped += 1
            return
        if not up:
            self.down += 1
            return
        self.up += 1
        self.latency.add(seconds)
        self.buckets[bisect_left(PROMETHEUS_BOUNDS, seconds)] += 1

    @property
    def rounds(self) -> int:
        return self.up + self.down + self.skipped

    @property
    def availability(self) -> float | None:
        """The share of the rounds that ran in which the probe was up."""
        ran = self.up + self.down
        return self.up / ran if ran else None

    def quantiles(self) -> Quantiles:
        sketch = self.latency
        return Quantiles(
            sketch.quantile(0.50),
            sketch.quantile(0.95),
            sketch.quantile(0.99),
            sketch.high if sketch.count else None,
            sketch.low if sketch.count else None,
            sketch.mean,
        )

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """(upper bound, count of values <= it) for each bound, +Inf last."""
        found: list[tuple[float, int]] = []
        total = 0
        for bound, count in zip((*PROMETHEUS_BOUNDS, math.inf), self.buckets):
            total += count
            found.append((bound, total))
        return found
