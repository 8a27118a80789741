"""The lab as the integration-test matrix: every scenario, built for real, wirecheck run inside.

Marker `lab`: needs Linux, root and `ip netns` (skipped with the reason otherwise). Every
check present in a run, and the cause its diagnosis ranks first, are asserted against
wirecheck/lab/scenarios.py; a check without a declaration there fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.lab.labenv import machine_snapshot, unique_names
from wirecheck.lab.lab import Lab
from wirecheck.lab.names import LabNames
from wirecheck.lab.run import run_json
from wirecheck.lab.scenarios import CATALOGUE, SCENARIOS, Scenario, compare

pytestmark = pytest.mark.lab

# Short, so blackholed probes (which wait for the deadline) keep the matrix fast.
TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def names() -> Iterator[LabNames]:
    names = unique_names("m")
    before = machine_snapshot(names)
    yield names
    lab = Lab(names)
    lab.down(purge=True)
    assert lab.leftovers() == []
    assert machine_snapshot(names) == before


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario, names: LabNames) -> None:
    lab = Lab(names)
    lab.up(scenario)
    timeout_s = scenario.timeout_s or TIMEOUT_S
    try:
        run = run_json(names, scenario, timeout_s=timeout_s)
    finally:
        lab.down()
    assert run.report is not None, f"no JSON (exit {run.exit_code}); stderr:\n{run.stderr}"
    mismatches = compare(scenario, run.report)
    details = "\n".join(
        [f"  {c['id']}: {c['status']}: {c['finding']}" for c in run.report["checks"]]
        + [f"  cause: {d['summary']} [{', '.join(d['checks'])}]" for d in run.report["diagnosis"]]
    )
    assert not mismatches, (
        f"scenario {scenario.name!r} differs from its declaration:\n"
        + "\n".join(f"  {m}" for m in mismatches)
        + f"\nall results:\n{details}"
    )
    # Every check of the catalogue ran: none may drop out of a run unnoticed.
    assert [c["id"] for c in run.report["checks"]] == list(CATALOGUE)
    assert run.exit_code == run.report["exit_code"]
    # One shared deadline: a run with blackholed ports ends near it, not at a sum of them.
    # Every row is its check's own verdict: one still busy after the deadline and the
    # runner's grace would be the runner's "did not finish" row instead ...
    assert not [c["id"] for c in run.report["checks"] if "did not finish" in c["finding"]]
    # ... and the checks ran at once: the run took less than their durations added up
    # (two measurements of the same run; the wall time itself is scripts/bench's).
    assert run.report["duration_s"] < sum(c["duration_s"] for c in run.report["checks"]), details
    assert not run.stderr.strip() or "Traceback" not in run.stderr, run.stderr
    assert json.dumps(run.report)  # the report is plain JSON data
