"""The runner's prepare hook: run before any check starts, bounded, value handed back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.servers import fake_system
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import RunConfig, Status
from wirecheck.runner import run_checks


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
    def slow(ctx: CheckContext) -> object:
        time.sleep(0.2)
        return "slow"

    def broken(ctx: CheckContext) -> object:
        raise RuntimeError("boom")

    def report(ctx: CheckContext) -> Outcome:
        return Outcome(Status.OK, repr(sorted(ctx.prepared.items())))

    started = time.monotonic()
    results = run_checks(
        [_spec("a", report, slow), _spec("b", report, slow), _spec("c", report, broken)],
        RunConfig(timeout_s=3),
        system=fake_system(),
    )
    assert time.monotonic() - started < 0.35  # 0.2 s hooks in parallel, not 0.4 s
    assert results[0].finding == "[('a', 'slow'), ('b', 'slow')]"


def test_a_stuck_hook_costs_at_most_its_share_of_the_deadline() -> None:
    release = threading.Event()
    seen: list[float] = []

    def stuck(ctx: CheckContext) -> object:
        seen.append(ctx.deadline.remaining())
        release.wait(30)
        return "never"

    def report(ctx: CheckContext) -> Outcome:
        return Outcome(Status.OK, "firewall" if "x" in ctx.prepared else "no snapshot")

    try:
        started = time.monotonic()
        results = run_checks(
            [_spec("x", report, stuck)], RunConfig(timeout_s=2), system=fake_system()
        )
        took = time.monotonic() - started
    finally:
        release.set()
    assert results[0].finding == "no snapshot"
    assert 0.35 <= took < 0.6  # 20 % of 2 s
    assert seen and seen[0] <= 0.41  # the hook sees its own bounded deadline
