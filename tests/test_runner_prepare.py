"""The runner's prepare hook: run before any check starts, bounded, value handed back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.bounds import finishes
from tests.servers import fake_system
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Deadline, RunConfig, Status
from wirecheck.runner import PREPARE_SHARE, run_checks


def _spec(
    check_id: str,
    run: Callable[[CheckContext], Outcome],
    prepare: Callable[[CheckContext], object] | None = None,
) -> CheckSpec:
    return CheckSpec(check_id, check_id, run, explain="test", prepare=prepare)


def test_prepare_runs_before_any_check_and_its_value_comes_back() -> None:
    events: list[str] = []
    lock = threading.Lock()

    def note(event: str) -> None:
        with lock:
            events.append(event)

    def prepare(ctx: CheckContext) -> object:
        time.sleep(0.05)  # a probe that started early would show up before this ends
        note("prepare")
        return {"snapshot": 1}

    def probe(ctx: CheckContext) -> Outcome:
        note("probe")
        return Outcome(Status.OK, "sent")

    def reader(ctx: CheckContext) -> Outcome:
        return Outcome(Status.OK, f"got {ctx.prepared.get('reader')}")

    results = run_checks(
        [_spec("probe", probe), _spec("reader", reader, prepare)],
        RunConfig(timeout_s=2),
        system=fake_system(),
    )
    assert events == ["prepare", "probe"]
    assert results[1].finding == "got {'snapshot': 1}"


def test_hooks_run_at_once_and_a_failing_hook_leaves_no_value() -> None:
    # Opens only when both slow hooks are running at the same moment: one after the other,
    # the first would wait there alone until the hooks' deadline, and leave no value.
    both_in = threading.Barrier(2)

    def slow(ctx: CheckContext) -> object:
        both_in.wait(ctx.deadline.remaining())
        return "slow"

    def broken(ctx: CheckContext) -> object:
        raise RuntimeError("boom")

    def report(ctx: CheckContext) -> Outcome:
        return Outcome(Status.OK, repr(sorted(ctx.prepared.items())))

    results = finishes(
        lambda: run_checks(
            [_spec("a", report, slow), _spec("b", report, slow), _spec("c", report, broken)],
            RunConfig(timeout_s=5),
            system=fake_system(),
        )
    )
    assert results[0].finding == "[('a', 'slow'), ('b', 'slow')]"


def test_a_stuck_hook_costs_at_most_its_share_of_the_deadline() -> None:
    release = threading.Event()
    hook_deadlines: list[Deadline] = []
    seen: list[float] = []
    when_checked: list[tuple[bool, bool]] = []

    def stuck(ctx: CheckContext) -> object:
        hook_deadlines.append(ctx.deadline)
        seen.append(ctx.deadline.remaining())
        release.wait(60)
        return "never"

    def report(ctx: CheckContext) -> Outcome:
        when_checked.append((hook_deadlines[0].expired, release.is_set()))
        return Outcome(Status.OK, "firewall" if "x" in ctx.prepared else "no snapshot")

    try:
        results = finishes(
            lambda: run_checks(
                [_spec("x", report, stuck)], RunConfig(timeout_s=2), system=fake_system()
            )
        )
    finally:
        release.set()
    assert results[0].finding == "no snapshot"
    # The hook sees its own deadline, at most its share of the run's (20 % of 2 s) ...
    assert seen and seen[0] <= 2 * PREPARE_SHARE
    # ... and the check ran once that deadline had passed, while the hook was still stuck:
    # the hook cost its slice, and the run did not wait for it to return.
    assert when_checked == [(True, False)]
