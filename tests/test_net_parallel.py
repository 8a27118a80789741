"""net.parallel.gather: all at once, stop waiting at the deadline, a raise is a None."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from tests.bounds import finishes
from wirecheck.model import Deadline
from wirecheck.net.parallel import gather


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so calls that 'never return' do end once the test is over."""
    event = threading.Event()
    yield event
    event.set()


def test_values_come_back_by_key() -> None:
    assert gather({"a": lambda: 1, "b": lambda: 2}, Deadline(1.0)) == {"a": 1, "b": 2}


def test_a_call_that_raises_is_none_and_the_others_survive() -> None:
    def boom() -> int:
        raise RuntimeError("bug")

    assert gather({"ok": lambda: 1, "bad": boom}, Deadline(1.0)) == {"ok": 1, "bad": None}
    errors: dict[str, Exception] = {}
    assert gather({"ok": lambda: 1, "bad": boom}, Deadline(1.0), errors)["bad"] is None
    assert list(errors) == ["bad"] and str(errors["bad"]) == "bug"


def test_calls_run_at_once_and_stuck_ones_are_left_at_the_deadline(
    release: threading.Event,
) -> None:
    deadline = Deadline(1.0)
    # Opens only when all five calls are running at the same moment: one after the other,
    # the first would wait there alone until the deadline (and raise: a None).
    all_in = threading.Barrier(5)

    def slow(value: int) -> Callable[[], int]:
        def call() -> int:
            all_in.wait(deadline.remaining())
            return value

        return call

    def stuck() -> int:
        release.wait(60)
        return -1

    calls = {f"slow{i}": slow(i) for i in range(5)} | {"stuck": stuck}
    results = finishes(lambda: gather(calls, deadline))
    assert results == {f"slow{i}": i for i in range(5)} | {"stuck": None}
    # Left at the deadline, not before; `stuck` still waits on `release` (set only at
    # teardown), so gather came back without it.
    assert deadline.expired


def test_expired_deadline_returns_at_once(release: threading.Event) -> None:
    # The call is still waiting on `release` (set only at teardown) when gather returns.
    assert finishes(lambda: gather({"x": lambda: release.wait(60)}, Deadline(0.0))) == {"x": None}
