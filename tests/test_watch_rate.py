"""The request-rate cap: whatever --interval says, watch sends at most MAX_REQUESTS_PER_S
requests a second to the platform; rounds never catch up after a late one."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.watch_fakes import FakeClock, RecordingCapturer, ScriptedRounds
from wirecheck.model import RunConfig, Status
from wirecheck.watch.loop import Stop, WatchPlan, watch
from wirecheck.watch.rate import (
    MAX_REQUESTS_PER_S,
    MIN_INTERVAL_S,
    Schedule,
    pace,
    parse_duration,
)


@given(st.floats(min_value=1e-6, max_value=1e5), st.integers(min_value=1, max_value=40))
def test_the_interval_used_keeps_under_the_cap_and_never_below_the_one_asked(
    requested: float, probes: int
) -> None:
    chosen = pace(requested, probes)
    assert chosen.requests_per_s <= MAX_REQUESTS_PER_S
    assert chosen.interval_s >= max(requested, MIN_INTERVAL_S)
    assert chosen.raised == (chosen.interval_s > requested)
    assert bool(chosen.note()) == chosen.raised


def test_the_default_six_probes_every_five_seconds_stay_as_asked() -> None:
    chosen = pace(5.0, 6)
    assert (chosen.interval_s, chosen.raised, chosen.requests_per_s) == (5.0, False, 1.2)
    assert pace(1.0, 6).interval_s == 6 / MAX_REQUESTS_PER_S
    assert "raised to 3 s" in pace(1.0, 6).note()


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_a_nonsense_interval_is_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        pace(bad, 1)


def test_the_schedule_refuses_a_start_before_it_is_due() -> None:
    schedule = Schedule(2.0, 10.0)
    schedule.started(10.5)
    assert schedule.due() == 12.5
    with pytest.raises(ValueError):
        schedule.started(12.0)


@settings(max_examples=80, deadline=None)
@given(
    requested=st.floats(min_value=0.001, max_value=10.0),
    probes=st.integers(min_value=1, max_value=6),
    round_s=st.floats(min_value=0.0, max_value=8.0),
    capture_s=st.floats(min_value=0.0, max_value=5.0),
    flaps=st.lists(st.booleans(), min_size=5, max_size=40),
)
def test_the_real_loop_never_sends_more_than_the_cap(
    requested: float, probes: int, round_s: float, capture_s: float, flaps: list[bool]
) -> None:
    """Rounds of any length, captures of any length, any interval asked: in every stretch
    of time T, at most MAX_REQUESTS_PER_S * T requests, plus one round's worth."""
    names = [f"p{i}" for i in range(probes)]
    clock = FakeClock()
    rounds = ScriptedRounds(
        clock,
        names,
        [{"p0": Status.FAIL} if failing else {} for failing in flaps],
        round_s=round_s,
    )
    chosen = pace(requested, probes)
    plan = WatchPlan(RunConfig(), chosen, duration_s=None, capture_budget_s=capture_s)
    rounds.stop_after = len(flaps)
    stop = rounds.stop = Stop()
    watch(plan, names, rounds, RecordingCapturer(clock, capture_s), stop=stop, clock=clock)
    starts = rounds.starts
    assert len(starts) == len(flaps)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(gap >= chosen.interval_s - 1e-9 for gap in gaps)
    for index, first in enumerate(starts):
        for last in starts[index:]:
            in_stretch = sum(1 for s in starts if first <= s <= last) * probes
            assert in_stretch <= MAX_REQUESTS_PER_S * (last - first) + probes + 1e-6


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5m", 90.0),
        ("15min", 900.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "0", "-5", "5x", "nan", "1e3", "s"])
def test_bad_durations_name_the_forms(bad: str) -> None:
    with pytest.raises(ValueError, match="90s, 15m, 2h, 1d"):
        parse_duration(bad)
