"""What tests that wait on real sockets and threads assert instead of wall-clock times.

Unit tests make no claim about speed: on a loaded machine any threshold flakes, and the
real timings are `scripts/bench`'s business. Instead a test proves one of:
- a wait is bounded by the deadline object: the code reports a timeout, the deadline is
  over when the call returns (it did not give up early), and the call returned at all
  (`finishes`: a guard against a hang, far above any deadline a test gives);
- things ran at once: a `threading.Barrier` that only opens when all are inside;
- an answer was told apart at once, not by waiting: it came back before an `AMPLE_S`
  deadline ran out, so no timeout path was taken;
- a waiter asked for no more than the deadline allowed (`RecordingBoard`);
- a duration or a share of the deadline, exactly, on a `FakeClock` the test moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from wirecheck.checks.base import ResultBoard
from wirecheck.model import CheckResult

T = TypeVar("T")

# Far beyond every deadline a unit test gives: only a hang (a wait the deadline does not
# bound, such as the kernel's two minutes of SYN retries) gets here. Not a speed claim.
HANG_S = 30.0
# A deadline that an answer told apart at once cannot reach even on a loaded machine: a
# call that returns before it ran out took no timeout path.
AMPLE_S = 10.0


def finishes(call: Callable[[], T], hang_s: float = HANG_S) -> T:
    """`call()`'s value; the test fails if `call` has not returned after `hang_s` (a hang).

    The call runs in a daemon thread, so a hung call cannot hold the test run open.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # re-raised in the test's own thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="bounded-call", daemon=True)
    thread.start()
    thread.join(hang_s)
    if thread.is_alive():
        pytest.fail(f"the call did not return within {hang_s:g} s: it hangs")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


class FakeClock:
    """A clock for `Deadline(seconds, clock)` that stands still until the test moves it."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class RecordingBoard(ResultBoard):
    """A ResultBoard that records every wait: who waited for which check, and the longest
    it was ready to wait (the timeout asked for, not the time it took).

    The runner runs each check in a thread named `check-<id>`: a wait from such a thread
    is that check's, any other is the runner's own.
    """

    RUNNER = "runner"

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[tuple[str, str, float]] = []  # (waiter, check id, timeout_s)
        self._record_lock = threading.Lock()
        self._waited_for: dict[str, threading.Event] = {}

    def waited_for(self, check_id: str) -> threading.Event:
        """Set once somebody waits for `check_id`."""
        with self._record_lock:
            return self._waited_for.setdefault(check_id, threading.Event())

    def wait(self, check_id: str, timeout_s: float) -> CheckResult | None:
        thread = threading.current_thread().name
        waiter = thread[len("check-") :] if thread.startswith("check-") else self.RUNNER
        with self._record_lock:
            self.waits.append((waiter, check_id, timeout_s))
        self.waited_for(check_id).set()
        return super().wait(check_id, timeout_s)

    def asked(self, waiter: str = RUNNER) -> list[float]:
        """The timeouts `waiter` (a check id, or the runner) asked for, in order."""
        with self._record_lock:
            return [timeout for who, _id, timeout in self.waits if who == waiter]
