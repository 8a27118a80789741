"""Read all results together and say what is most likely wrong, most likely first. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from wirecheck.model import Cause, CheckResult, Status

NO_PROBLEM = Cause(
    summary="No problem found: this VM can talk to the platform.",
    fix="Nothing to do.",
)

_RANK = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2}


def diagnose(results: Sequence[CheckResult]) -> tuple[Cause, ...]:
    """One cause per row that is not ok, failures first, in catalogue order within a rank."""
    bad = sorted(
        (r for r in results if r.status in _RANK),
        key=lambda r: _RANK[r.status],
    )
    if not bad:
        return (NO_PROBLEM,)
    return tuple(
        Cause(
            summary=f"{r.title}: {r.finding}",
            fix=r.fix or "See the row's evidence.",
            evidence=tuple(f"{k}: {v}" for k, v in r.evidence.items() if k != "body"),
            checks=(r.check_id,),
        )
        for r in bad
    )
