"""Streaming statistics: the quantile error bound against exact quantiles, the Prometheus
buckets, the timeline's merging, and a record whose size does not grow with the rounds."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wirecheck.model import Status
from wirecheck.watch.record import Sample, WatchRecord
from wirecheck.watch.stats import (
    BUCKETS,
    MAX_S,
    MIN_S,
    PROMETHEUS_BOUNDS,
    RELATIVE_ERROR,
    LatencySketch,
    ProbeStats,
    bucket_of,
    bucket_value,
)
from wirecheck.watch.timeline import BINS, Timeline
from wirecheck.watch.windows import MAX_KEPT

# Latencies as they come: from 10 microseconds to minutes, spread over the decades.
latencies = st.floats(min_value=math.log(MIN_S), max_value=math.log(MAX_S)).map(math.exp)
QUANTILES = (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)
# The bound itself, plus what floating point adds to a logarithm and a power.
SLACK = 1e-9


def exact(values: list[float], q: float) -> float:
    """The nearest-rank quantile: the value at rank ceil(q * n) in sorted order."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=300, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=400))
def test_every_quantile_is_within_the_relative_error_of_the_exact_one(values: list[float]) -> None:
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    for q in QUANTILES:
        found, true = sketch.quantile(q), exact(values, q)
        assert found is not None
        assert abs(found - true) <= (RELATIVE_ERROR + SLACK) * true, (q, found, true)
    assert sketch.high == max(values) and sketch.low == min(values)
    assert sketch.count == len(values)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(min_value=0.0002, max_value=0.003), min_size=50, max_size=2000),
    st.floats(min_value=0.5, max_value=5.0),
)
def test_a_tight_cluster_with_a_far_outlier_keeps_both_ends(
    values: list[float], outlier: float
) -> None:
    """The typical shape: sub-millisecond answers and one timeout-sized stall."""
    sketch = LatencySketch()
    for value in [*values, outlier]:
        sketch.add(value)
    data = [*values, outlier]
    for q in (0.5, 0.99, 1.0):
        found = sketch.quantile(q)
        assert found is not None
        assert abs(found - exact(data, q)) <= (RELATIVE_ERROR + SLACK) * exact(data, q)


@given(latencies)
def test_a_value_and_its_bucket_stand_within_the_bound(value: float) -> None:
    index = bucket_of(value)
    assert 0 <= index < BUCKETS
    assert abs(bucket_value(index) - value) <= (RELATIVE_ERROR + SLACK) * value


def test_an_empty_sketch_has_no_quantiles() -> None:
    sketch = LatencySketch()
    assert sketch.quantile(0.5) is None and sketch.mean is None


def test_values_outside_the_range_are_clamped_and_the_extremes_kept() -> None:
    sketch = LatencySketch()
    for value in (0.0, 1e-9, 5000.0):
        sketch.add(value)
    assert bucket_of(0.0) == 0 and bucket_of(5000.0) == BUCKETS - 1
    assert sketch.quantile(1.0) == 5000.0 and sketch.low == 0.0


def test_probe_stats_count_up_down_and_skipped_and_time_only_the_ok_rounds() -> None:
    stats = ProbeStats()
    stats.add("ok", True, 0.002)
    stats.add("fail", False, 3.0)  # a timeout: its "latency" is the deadline
    stats.add("skip", None, 0.0)
    stats.add("ok", True, 0.004)
    assert (stats.up, stats.down, stats.skipped, stats.rounds) == (2, 1, 1, 4)
    assert stats.availability == 2 / 3
    assert stats.latency.count == 2 and stats.quantiles().max == 0.004
    assert stats.last_status == "ok"


@given(st.lists(st.floats(min_value=0.0, max_value=20.0), max_size=200))
def test_prometheus_buckets_are_cumulative_and_end_with_every_ok_round(
    values: list[float],
) -> None:
    stats = ProbeStats()
    for value in values:
        stats.add("ok", True, value)
    buckets = stats.cumulative_buckets()
    assert [bound for bound, _ in buckets] == [*PROMETHEUS_BOUNDS, math.inf]
    for bound, count in buckets:
        assert count == sum(1 for v in values if v <= bound)
    assert buckets[-1][1] == len(values)


# -- the timeline -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1e6),
            st.booleans(),
            st.floats(min_value=1e-4, max_value=5.0),
        ),
        max_size=300,
    ),
    st.floats(min_value=0.5, max_value=30.0),
)
def test_timeline_bins_keep_every_round_however_often_they_merge(
    rounds: list[tuple[float, bool, float]], width: float
) -> None:
    timeline = Timeline(["p"], width)
    for at, up, seconds in sorted(rounds):
        timeline.add(at, 0, up, seconds)
    bins = timeline.bins(0)
    assert len(bins) <= BINS
    assert sum(b.rounds for b in bins) == len(rounds)
    assert sum(b.down for b in bins) == sum(1 for _, up, _ in rounds if not up)
    ups = [s for _, up, s in rounds if up]
    lows = [b.low_s for b in bins if b.low_s is not None]
    highs = [b.high_s for b in bins if b.high_s is not None]
    assert (min(lows) if lows else None) == (min(ups) if ups else None)
    assert (max(highs) if highs else None) == (max(ups) if ups else None)
    for item in bins:  # every round sits in the bin that covers its time
        inside = [r for r in rounds if item.start_s <= r[0] < item.start_s + item.width_s]
        assert item.rounds == len(inside)


def test_timeline_width_doubles_when_the_run_outgrows_the_bins() -> None:
    timeline = Timeline(["a", "b"], 1.0)
    for second in range(BINS * 4):
        timeline.add(float(second), second % 2, True, 0.001)
    assert timeline.width_s == 4.0 and timeline.used == BINS
    assert sum(b.rounds for b in timeline.bins(0)) == BINS * 2


# -- the whole record: flat memory ---------------------------------------------------------


SCALAR_BYTES = 32  # what an int or a float costs, whatever its value


def deep_size(root: object) -> int:
    """Bytes of an object and everything it holds (classes, functions and modules aside).

    Numbers count a fixed size at every reference: Python shares small ints and a zero is
    smaller than a one, so counting them as they are would measure the values, not growth.
    """
    seen: set[int] = set()
    total = 0
    stack: list[Any] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, (int, float)):
            total += SCALAR_BYTES
            continue
        if id(item) in seen or isinstance(item, (type, type(sys), type(deep_size))):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        stack += _children(item)
    return total


def _children(item: Any) -> Iterator[Any]:
    if isinstance(item, dict):
        yield from item.keys()
        yield from item.values()
    elif isinstance(item, (list, tuple, set, frozenset)):
        yield from item
    elif isinstance(item, (str, bytes, int, float, bool, array)) or item is None:
        return
    else:
        for name in getattr(type(item), "__slots__", ()):
            if hasattr(item, name):
                yield getattr(item, name)
        yield from getattr(item, "__dict__", {}).values()


PROBES = ("tcp-80", "tcp-32526")


def _feed(record: WatchRecord, first: int, last: int) -> None:
    """Rounds first..last (one a second): tcp-32526 fails for 3 rounds of every 11, each
    window with a capture, as the loop attaches them."""
    for number in range(first, last + 1):
        failing = number % 11 < 3
        samples = (
            Sample("tcp-80", "ok", 0.0004 + (number % 13) * 1e-5),
            Sample(
                "tcp-32526",
                "fail" if failing else "ok",
                2.0 if failing else 0.0005 + (number % 17) * 1e-5,
                "the host agent plugin (TCP 32526) timed out",
            ),
        )
        changes = record.add_round(record.started_at + number, samples)
        window = record.windows.current or changes.closed
        if changes.any and window is not None:
            evidence = {"kind": "down" if changes.went_down else "up", "at": 1.0, "notes": []}
            cause = {"summary": "TCP 32526 times out", "fix": "Remove the rule.", "checks": []}
            window.attach(evidence, cause)
        if number % 50 == 0:
            record.note("a note that repeats")


def test_100k_rounds_leave_the_record_the_same_size() -> None:
    record = WatchRecord("168.63.129.16", PROBES, 1.0, 1_700_000_000.0)
    # Warm up until every bounded part is full: the windows kept, the notes, the timeline's
    # bins (BINS seconds of one-second bins), and stop at the same point of the 11-round
    # cycle both times (an open window holds other values than a closed one).
    warm = 11 * max(MAX_KEPT * 2, BINS)
    _feed(record, 1, warm)
    before = deep_size(record)
    more = 11 * 9091  # 100,001 rounds: both sizes are taken at the same point of the cycle
    _feed(record, warm + 1, warm + more)
    assert record.rounds == warm + more
    assert record.windows.total > MAX_KEPT
    assert deep_size(record) == before
    stats = record.stats["tcp-32526"]
    assert stats.down == sum(1 for n in range(1, record.rounds + 1) if n % 11 < 3)


def test_samples_are_up_when_ok_and_say_nothing_when_skipped() -> None:
    assert Sample("p", Status.OK.value, 0.1).up is True
    assert Sample("p", Status.WARN.value, 0.1).up is False
    assert Sample("p", Status.FAIL.value, 0.1).up is False
    assert Sample("p", Status.ERROR.value, 0.1).up is False
    assert Sample("p", Status.SKIP.value, 0.1).up is None
