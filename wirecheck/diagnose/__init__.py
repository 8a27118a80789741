"""Read all results together and say what is most likely wrong, most likely first. Pure.

The rules in `rules` look across rows, strongest evidence first, each claiming the rows it
explains. Then each check whose spec gives a `cause_weight` turns its own unexplained
warning into a cause, and every row still unexplained gets a cause of its own, so nothing
red goes unmentioned. Causes are ranked by weight (how likely, and how directly the
evidence proves them). A run with nothing wrong says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wirecheck.checks.base import CheckSpec
from wirecheck.checks.catalogue import load_all
from wirecheck.diagnose.rules import RULES
from wirecheck.diagnose.view import Found, RunView, sentence
from wirecheck.model import PLATFORM_ADDRESS, Cause, CheckResult, Status

NO_PROBLEM = Cause(
    summary="No problem found: this VM can talk to the platform.",
    fix="Nothing to do.",
)


def diagnose(
    results: Sequence[CheckResult],
    target: str = PLATFORM_ADDRESS,
    specs: Mapping[str, CheckSpec] | None = None,
) -> tuple[Cause, ...]:
    """Ranked causes, each with its evidence and one fix; NO_PROBLEM when nothing is wrong.

    `specs`: the specs of the checks that ran (default: from the catalogue)."""
    if specs is None:
        specs = {spec.id: spec for spec in load_all(r.check_id for r in results)}
    run = RunView(results, specs, target)
    found: list[Found] = []
    for rule in RULES:
        found += rule(run)
    for result in results:
        spec = specs.get(result.check_id)
        if spec is not None and spec.cause_weight is not None and run.open(result.check_id):
            found.append(_own_cause(run, result, spec))
    for result in results:  # every row still unexplained gets its own line
        if run.open(result.check_id):
            found.append(Found(_row_cause(run, result), _fallback_weight(result)))
            run.claimed.add(result.check_id)
    if not found:
        return (NO_PROBLEM,)
    ranked = sorted(enumerate(found), key=lambda item: (-item[1].weight, item[0]))
    return tuple(f.cause for _, f in ranked)


def _own_cause(run: RunView, result: CheckResult, spec: CheckSpec) -> Found:
    """A context row's warning as a cause, in that row's words."""
    finding = result.finding if spec.cause_prefix else sentence(result.finding)
    cause = run.cause(
        f"{spec.cause_prefix}{finding}.", result.fix or "See the row.", [result.check_id]
    )
    return Found(cause, spec.cause_weight or 0)


def _row_cause(run: RunView, result: CheckResult) -> Cause:
    return Cause(
        summary=f"{result.title}: {result.finding}",
        fix=result.fix or "See the row's evidence.",
        evidence=(run.line(result),),
        checks=(result.check_id,),
    )


def _fallback_weight(result: CheckResult) -> int:
    return {Status.FAIL: 12, Status.ERROR: 11, Status.WARN: 10}.get(result.status, 0)
