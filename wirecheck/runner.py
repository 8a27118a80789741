"""Start every check at once under one deadline; never let one check sink the run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, ResultBoard
from wirecheck.model import CheckResult, Deadline, RunConfig, Status
from wirecheck.system import System

# Checks bound their own waits by the deadline and then report; this is how long past
# the deadline we give them to do so before we give up on them.
REPORT_GRACE_S = 0.3

Listener = Callable[[str, CheckResult | None], None]  # (check id, None when started)


def run_checks(
    specs: Sequence[CheckSpec],
    config: RunConfig,
    *,
    system: System | None = None,
    deadline: Deadline | None = None,
    listener: Listener | None = None,
) -> tuple[CheckResult, ...]:
    """Run `specs` concurrently and return their results in spec order.

    Each check runs in its own daemon thread so a check stuck in a blocking call can
    neither delay the verdict past the deadline nor keep the process alive.
    """
    deadline = deadline or Deadline(config.timeout_s)
    board = ResultBoard()
    context = CheckContext(
        config=config,
        deadline=deadline,
        system=system or System(),
        board=board,
        planned=frozenset(spec.id for spec in specs),
    )
    notify = listener or (lambda _id, _result: None)

    for spec in specs:
        notify(spec.id, None)
        threading.Thread(
            target=_run_one, args=(spec, context, notify), name=f"check-{spec.id}", daemon=True
        ).start()

    results = []
    for spec in specs:
        result = board.wait(spec.id, deadline.remaining() + REPORT_GRACE_S)
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


def _run_one(spec: CheckSpec, context: CheckContext, notify: Listener) -> None:
    started = time.monotonic()
    try:
        outcome = spec.run(context)
    except Exception as exc:  # a bug in one check must not sink the run
        outcome = Outcome(
            Status.ERROR,
            f"wirecheck failed inside this check: {type(exc).__name__}: {exc}",
            fix="This is a wirecheck bug; please report it with this line.",
        )
    result = CheckResult(
        spec.id,
        spec.title,
        outcome.status,
        outcome.finding,
        outcome.evidence,
        outcome.fix,
        time.monotonic() - started,
    )
    if context.board.get(spec.id) is None:  # the runner may already have given up on it
        context.board.post(result)
        notify(spec.id, result)
