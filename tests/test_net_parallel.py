"""net.parallel.gather: all at once, stop waiting at the deadline, a raise is a None."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

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
    def slow(value: int) -> Callable[[], int]:
        def call() -> int:
            time.sleep(0.2)
            return value

        return call

    def stuck() -> int:
        release.wait(30)
        return -1

    calls = {f"slow{i}": slow(i) for i in range(5)} | {"stuck": stuck}
    started = time.monotonic()
    results = gather(calls, Deadline(0.5))
    elapsed = time.monotonic() - started
    assert results == {f"slow{i}": i for i in range(5)} | {"stuck": None}
    # Five 0.2 s calls in sequence would take 1 s; at once they end with the deadline.
    assert 0.48 <= elapsed < 0.9


def test_expired_deadline_returns_at_once(release: threading.Event) -> None:
    started = time.monotonic()
    assert gather({"x": lambda: release.wait(30)}, Deadline(0.0)) == {"x": None}
    assert time.monotonic() - started < 0.2
