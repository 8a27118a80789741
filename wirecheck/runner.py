"""Start every check at once under one deadline; never let one check sink the run."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Optional

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, ResultBoard
from wirecheck.model import CheckResult, Deadline, RunConfig, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.sources import MachineFacts
from wirecheck.safe_text import printable
from wirecheck.system import System

# Checks bound their own waits by the deadline and then report; this is how long past
# the deadline we give them to do so before we give up on them. On a busy node (a loaded
# AKS node, a CI machine) a check that ended at the deadline can take a few hundred
# milliseconds to get the CPU back and post its row: 0.3 s was seen to be too short there.
REPORT_GRACE_S = 0.5
MAX_FINDING = 2000  # characters of a finding or fix; longer ones are cut
# Prepare hooks delay every probe, so they get a small slice of the run: this share of
# the deadline, and never more than PREPARE_MAX_S.
PREPARE_SHARE = 0.2
PREPARE_MAX_S = 1.0

Listener = Callable[[str, Optional[CheckResult]], None]  # (check id, None when started)


def run_checks(
    specs: Sequence[CheckSpec],
    config: RunConfig,
    *,
    system: System | None = None,
    deadline: Deadline | None = None,
    listener: Listener | None = None,
    board: ResultBoard | None = None,
) -> tuple[CheckResult, ...]:
    """Run `specs` concurrently and return their results in spec order.

    Each check runs in its own daemon thread so a check stuck in a blocking call can
    neither delay the verdict past the deadline nor keep the process alive. `board` is
    where checks post their results and the runner waits for them (tests pass one that
    records how long each waiter was ready to wait). The deadlines the runner derives (the
    grace, the prepare hooks' slice, a check's own budget) and the checks' durations read
    `deadline`'s clock.
    """
    deadline = deadline or Deadline(config.timeout_s, start=config.started)
    board = board if board is not None else ResultBoard()
    system = system or System()
    context = CheckContext(
        config=config,
        deadline=deadline,
        system=system,
        board=board,
        specs={spec.id: spec for spec in specs},
    )
    machine = MachineFacts(system, deadline, context.subject)
    context = dataclasses.replace(context, machine=machine)
    try:
        return _run(specs, config, context, listener)
    finally:
        machine.close()  # readers nobody waits for any more stop at their next look


def _run(
    specs: Sequence[CheckSpec],
    config: RunConfig,
    context: CheckContext,
    listener: Listener | None,
) -> tuple[CheckResult, ...]:
    deadline, board = context.deadline, context.board
    notify = listener or (lambda _id, _result: None)

    for spec in specs:
        notify(spec.id, None)
    context = dataclasses.replace(context, prepared=run_prepare_hooks(specs, context))
    for spec in specs:
        own = dataclasses.replace(context, deadline=_own_deadline(spec, deadline))
        threading.Thread(
            target=_run_one, args=(spec, own, notify), name=f"check-{spec.id}", daemon=True
        ).start()

    results = []
    # One grace for the whole run, not one per check: eight stuck checks must not add 8 x.
    give_up = Deadline(deadline.remaining() + REPORT_GRACE_S, deadline.clock)
    for spec in specs:
        result = board.wait(spec.id, give_up.remaining())
        if result is None:
            result = CheckResult(
                spec.id,
                spec.title,
                Status.ERROR,
                f"did not finish within the run's {config.timeout_s:g} s deadline",
                fix="Run again with a longer --timeout; if it persists, report a wirecheck bug.",
                duration_s=config.timeout_s,
            )
            board.post(result)
            notify(spec.id, result)
        results.append(result)
    return tuple(results)


def run_prepare_hooks(specs: Sequence[CheckSpec], context: CheckContext) -> dict[str, object]:
    """Run every spec's `prepare` hook at once, before any check starts; bounded.

    A hook that raises or is not done in its slice of the deadline leaves no value: its
    check sees the id missing from `ctx.prepared` and says so.
    """
    hooks = {spec.id: spec.prepare for spec in specs if spec.prepare is not None}
    if not hooks:
        return {}
    bound = Deadline(
        min(PREPARE_MAX_S, context.deadline.remaining() * PREPARE_SHARE), context.deadline.clock
    )
    hook_context = dataclasses.replace(context, deadline=bound)
    values = gather(
        {check_id: _bind(hook, hook_context) for check_id, hook in hooks.items()}, bound
    )
    return {check_id: value for check_id, value in values.items() if value is not None}


def _own_deadline(spec: CheckSpec, run: Deadline) -> Deadline:
    """The run's deadline, or the check's own budget from now when that ends sooner."""
    if spec.budget_s is None or spec.budget_s >= run.remaining():
        return run
    return Deadline(spec.budget_s, run.clock)


def _bind(hook: Callable[[CheckContext], object], context: CheckContext) -> Callable[[], object]:
    return lambda: hook(context)


def _run_one(spec: CheckSpec, context: CheckContext, notify: Listener) -> None:
    clock = context.deadline.clock
    started = clock()
    try:
        outcome = spec.run(context)
        if outcome.facts is not None and not isinstance(outcome.facts, spec.facts or ()):
            raise TypeError(f"facts of type {type(outcome.facts).__name__}, not {spec.facts}")
        evidence = outcome.evidence
    except Exception as exc:  # a bug in one check must not sink the run
        outcome = Outcome(
            Status.ERROR,
            f"wirecheck failed inside this check: {type(exc).__name__}: {exc}",
            fix="This is a wirecheck bug; please report it with this line.",
        )
        evidence = {}
    result = CheckResult(
        spec.id,
        spec.title,
        outcome.status,
        # Findings quote what servers and files said: no control character reaches a
        # terminal or a log from here, whichever check forgot to escape it.
        printable(outcome.finding, MAX_FINDING),
        evidence,
        outcome.fix and printable(outcome.fix, MAX_FINDING),
        clock() - started,
        outcome.facts,
    )
    if context.board.get(spec.id) is None:  # the runner may already have given up on it
        context.board.post(result)
        notify(spec.id, result)
