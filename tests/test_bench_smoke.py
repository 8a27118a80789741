"""scripts/bench cannot rot: `--quick` (one iteration, healthy lab) runs and writes its JSON;
its pure parts (import-time parsing, targets) are tested with tables.

No timing thresholds here: the bench is a measurement, its figures vary with the machine.
This checks that every figure is there, has the right type and is physically possible, and
that the bench tears its lab down.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.lab.labenv import lab_unavailable, machine_snapshot, package_root, unique_names

BENCH = package_root() / "scripts" / "bench"
BENCH_LIMIT_S = 300  # a hang guard; --quick takes about 10 s
SUMMARY_KEYS = {"wall_s", "cpu_s", "peak_rss_mib"}
COMMAND_KEYS = {
    "python_startup",
    "version",
    "help",
    "lab_entry",
    "run_skip_trace",
    "run_only_tcp80",
}
IMPORT_KEYS = {"cli", "run", "run_skip_trace"}


def _load_bench() -> ModuleType:
    """scripts/bench as a module (it has no .py suffix, so it is loaded by path)."""
    loader = importlib.machinery.SourceFileLoader("wirecheck_bench", str(BENCH))
    spec = importlib.util.spec_from_loader("wirecheck_bench", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["wirecheck_bench"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


bench = _load_bench()

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       130 |        130 | wirecheck
import time:      1583 |       1583 |     wirecheck.lab.names
import time:      3260 |      14135 |   wirecheck.lab.topology
import time:      4808 |      73857 | wirecheck.cli
wirecheck: OK - 13 ok in 0.3 s
import time:    -84013 |     181183 | scapy.layers.inet
"""


def test_parse_importtime_reads_every_line_and_depth() -> None:
    costs = bench.parse_importtime(IMPORTTIME)
    assert [(c.module, c.self_ms, c.cumulative_ms, c.depth) for c in costs] == [
        ("wirecheck", 0.13, 0.13, 0),
        ("wirecheck.lab.names", 1.583, 1.583, 2),
        ("wirecheck.lab.topology", 3.26, 14.135, 1),
        ("wirecheck.cli", 4.808, 73.857, 0),
        ("scapy.layers.inet", -84.013, 181.183, 0),  # threads: a negative self time
    ]
    assert bench.imports_total_ms(costs) == pytest.approx(0.13 + 73.857 + 181.183)
    top = bench.top_imports(costs, "cumulative_ms", 2)
    assert [c.module for c in top] == ["scapy.layers.inet", "wirecheck.cli"]
    assert bench.cumulative_of(costs, "wirecheck.cli") == pytest.approx(73.857)
    assert bench.cumulative_of(costs, "typer") is None


@pytest.mark.parametrize(
    ("blackholed", "healthy", "only_s", "version_s", "rss_mib", "met"),
    [
        (0.18, 2.9, 0.12, 0.05, 45.0, [True, True, True, True, True]),
        (0.20, 3.0, 0.15, 0.15, 80.0, [True, True, True, True, True]),  # limits are inclusive
        (0.25, 9.3, 0.2, 0.2, 81.0, [False, False, False, False, False]),
    ],
)
def test_targets_compare_medians_with_the_issue(
    blackholed: float,
    healthy: float,
    only_s: float,
    version_s: float,
    rss_mib: float,
    met: list[bool],
) -> None:
    scenarios = {
        "drop-32526-upstream": {"ratio": {"wall": blackholed}},
        "healthy": {"ratio": {"wall": healthy}},
    }
    commands = {
        "version": bench.Summary(version_s, version_s, 13.0),
        "run_skip_trace": bench.Summary(0.4, 0.4, rss_mib),
        "run_only_tcp80": bench.Summary(only_s, only_s, 20.0),
    }
    found = bench.targets(scenarios, commands)
    assert [t.measured for t in found] == [blackholed, healthy, only_s, version_s, rss_mib]
    assert [t.met for t in found] == met


def test_targets_are_not_judged_when_a_run_failed() -> None:
    found = bench.targets({"healthy": {"ratio": {"wall": 1.0}}}, {})
    assert [t["met"] for t in bench.judged(found, [])] == [None, True, None, None, None]
    failed = bench.judged(found, ["healthy-wirecheck-1: exit code 3"])
    assert [t["met"] for t in failed] == [None] * 5
    assert failed[1]["measured"] == 1.0  # the figure is still shown


def test_targets_not_measured_are_none() -> None:
    found = bench.targets({}, {})
    assert [t.measured for t in found] == [None] * 5
    assert [t.met for t in found] == [None] * 5


def _unavailable() -> str | None:
    # tests/lab/conftest.py skips `lab` tests in that folder only; this one lives outside.
    reason = lab_unavailable()
    if reason:
        return reason
    missing = [
        tool
        for tool in ("traceroute", "curl", "dig", "/usr/bin/time")
        if shutil.which(tool) is None
    ]
    if missing:
        return f"the bench needs {', '.join(missing)} (scripts/install-deps installs them)"
    return None


def _summary_ok(summary: dict[str, Any]) -> None:
    assert set(summary) == SUMMARY_KEYS
    assert summary["wall_s"] > 0
    assert summary["cpu_s"] >= 0
    assert summary["peak_rss_mib"] > 0


def _sample_ok(sample: dict[str, Any]) -> None:
    assert set(sample) == {*SUMMARY_KEYS, "exit_code"}
    _summary_ok({k: v for k, v in sample.items() if k != "exit_code"})
    assert isinstance(sample["exit_code"], int)


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    names = unique_names("bn")
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    before = machine_snapshot(names)
    try:
        proc = subprocess.run(
            [sys.executable, str(BENCH), "--quick", "--name", names.lab, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=BENCH_LIMIT_S,
            cwd=package_root(),
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
    finally:
        # The bench tears its lab down itself; this is a safety net if it was killed, and
        # removes the state directory (logs) the bench keeps.
        subprocess.run(
            [sys.executable, "-m", "wirecheck.lab", "down", "--name", names.lab, "--purge"],
            capture_output=True,
            timeout=60,
            cwd=package_root(),
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert machine_snapshot(names) == before, "the bench left lab state behind"
    return proc, json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.lab
def test_quick_writes_one_healthy_pair(quick_run: tuple[Any, dict[str, Any]]) -> None:
    _, result = quick_run
    assert result["schema_version"] == 1
    assert result["kind"] == "wirecheck-bench"
    assert result["options"]["iterations"] == 1
    assert result["options"]["scenarios"] == ["healthy"]
    assert result["options"]["quick"] is True
    assert result["duration_s"] > 0
    (entry,) = result["scenarios"]
    assert entry["name"] == "healthy"
    for side in ("wirecheck", "manual"):
        _summary_ok(entry[side]["median"])
        assert len(entry[side]["runs"]) == 1
        _sample_ok(entry[side]["runs"][0])
        # The healthy lab: wirecheck says 0 or 1 (the machine-wide guest agent may warn);
        # the manual procedure's last command, dig -x, succeeds.
        assert entry[side]["runs"][0]["exit_code"] in (0, 1)
    assert set(entry["ratio"]) == {"wall", "cpu", "peak_rss"}
    expected = entry["wirecheck"]["median"]["wall_s"] / entry["manual"]["median"]["wall_s"]
    assert entry["ratio"]["wall"] == pytest.approx(expected)
    assert result["problems"] == []


@pytest.mark.lab
def test_quick_times_the_commands_and_imports(quick_run: tuple[Any, dict[str, Any]]) -> None:
    _, result = quick_run
    assert set(result["commands"]) == COMMAND_KEYS
    for command in result["commands"].values():
        assert isinstance(command["argv"], str) and command["argv"]
        _summary_ok(command["median"])
        assert len(command["runs"]) == 1
    assert set(result["imports"]) == {*IMPORT_KEYS, "standalone"}
    for key in IMPORT_KEYS:
        entry = result["imports"][key]
        assert entry["modules"] > 0
        assert entry["total_ms"] > 0
        assert 0 < len(entry["top_cumulative"]) <= 10
        cumulative = [c["cumulative_ms"] for c in entry["top_cumulative"]]
        assert cumulative == sorted(cumulative, reverse=True)
    # Every run imports the CLI; the trace checks are the only ones that may need scapy.
    assert any(c["module"] == "wirecheck.cli" for c in result["imports"]["cli"]["top_cumulative"])
    assert result["imports"]["run_skip_trace"]["scapy_imported"] is False
    rows = result["imports"]["standalone"]["rows"]
    assert [r["module"] for r in rows] == list(bench.HEAVY_MODULES)
    for row in rows:
        assert row["cumulative_ms"] > 0
        assert isinstance(row["imported_by_run"], bool)
    assert next(r for r in rows if r["module"] == "wirecheck.cli")["imported_by_run"] is True


@pytest.mark.lab
def test_quick_prints_the_targets(quick_run: tuple[Any, dict[str, Any]]) -> None:
    proc, result = quick_run
    by_name = {t["name"]: t for t in result["targets"]}
    assert len(by_name) == 5
    for target in by_name.values():
        assert set(target) == {"name", "rule", "limit", "unit", "measured", "met"}
    blackholed = next(t for t in result["targets"] if t["name"].startswith("blackholed"))
    assert blackholed["measured"] is None and blackholed["met"] is None  # not in --quick
    healthy = next(t for t in result["targets"] if t["name"].startswith("healthy"))
    assert healthy["measured"] == pytest.approx(result["scenarios"][0]["ratio"]["wall"])
    assert isinstance(healthy["met"], bool)
    assert "targets (issues 7 and 10)" in proc.stdout
    assert "healthy" in proc.stdout
    assert "written:" in proc.stdout


# --- the scale section (--scale) -------------------------------------------------------------


def _scale_entry(label: str, wall: float, rss: float, codes: list[int], complete: bool) -> Any:
    sample = bench.Sample(wall_s=wall, cpu_s=wall / 2, peak_rss_mib=rss, exit_code=codes[0])
    problems = [] if complete else [["firewall: error: did not finish"]]
    return bench.scale_entry(bench.ScalePoint(label, bench.Bulk()), [sample], problems or [[]]) | {
        "exit_codes": codes
    }


def test_scale_goals_judge_the_issues_targets() -> None:
    plain, mid, big = (p.label for p in bench.SCALE_GOAL_POINTS)
    entries = [
        _scale_entry(plain, 0.30, 31, [0], True),
        _scale_entry(mid, 0.75, 45, [0], True),
        _scale_entry(big, 3.1, 149.9, [0], True),
    ]
    assert [(g["measured"], g["met"]) for g in bench.scale_goals(entries)] == [
        (0.45, True),
        (3.1, True),
        (149.9, True),
    ]
    worse = [
        _scale_entry(plain, 0.30, 31, [0], True),
        _scale_entry(mid, 0.90, 45, [0], True),  # 0.6 s above plain
        _scale_entry(big, 3.1, 151, [2], False),
    ]
    assert [g["met"] for g in bench.scale_goals(worse)] == [False, False, False]


def test_a_verdict_is_complete_only_without_errors_and_as_declared() -> None:
    from wirecheck.lab.scenarios import scenario

    chosen = bench.scale_scenario(bench.ScalePoint("20k", bench.Bulk(20_000, 20_000, 3_000)))
    assert chosen.name == "scale-20k" and chosen.bulk.rules == 20_000
    assert chosen.expect == scenario("healthy").expect
    assert bench.verdict_problems(chosen, None) == ["no JSON report was written"]
    checks = [
        {
            "id": check_id,
            "status": sorted(s.value for s in expect.statuses)[0],
            "finding": " ".join(expect.keywords),
            "evidence": {},
        }
        for check_id, expect in chosen.expect.items()
    ]
    report = {"checks": checks, "diagnosis": [{"summary": "No problem found", "checks": []}]}
    assert bench.verdict_problems(chosen, report) == []  # as declared: complete
    firewall = next(c for c in checks if c["id"] == "firewall")
    firewall.update(status="error", finding="not every rule could be read in time")
    problems = bench.verdict_problems(chosen, report)
    assert problems[0] == "firewall: error: not every rule could be read in time"


def test_the_scale_table_shows_every_size_and_the_goals() -> None:
    entries = [
        _scale_entry(p.label, 0.3 + i, 40.0, [0], True)
        for i, p in enumerate(bench.scale_points(False))
    ]
    result = {
        "options": {"tree": "/x", "iterations": 3},
        "machine": {"cpus": 2, "load": "0.50 0.40 0.30"},
        "duration_s": 100.0,
        "scale": entries,
        "goals": bench.scale_goals(entries),
        "problems": [],
    }
    text = bench.render_scale(result)
    assert "size" in text and "verdict complete?" in text
    assert all(p.label in text for p in bench.scale_points(False))
    assert "goals (issue 12)" in text and "load 0.50 0.40 0.30" in text


@pytest.fixture(scope="module")
def quick_scale(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    names = unique_names("bs")
    out = tmp_path_factory.mktemp("bench") / "scale.json"
    try:
        proc = subprocess.run(
            [
                sys.executable,
                str(BENCH),
                "--scale",
                "--quick",
                "--name",
                names.lab,
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=BENCH_LIMIT_S,
            cwd=package_root(),
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
    finally:
        subprocess.run(
            [sys.executable, "-m", "wirecheck.lab", "down", "--name", names.lab, "--purge"],
            capture_output=True,
            timeout=60,
            cwd=package_root(),
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "verdict complete?" in proc.stdout
    loaded: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.lab
def test_scale_quick_measures_plain_and_1k_with_complete_verdicts(
    quick_scale: dict[str, Any],
) -> None:
    assert quick_scale["kind"] == "wirecheck-bench-scale"
    assert [e["label"] for e in quick_scale["scale"]] == ["plain healthy", "1k"]
    for entry in quick_scale["scale"]:
        _summary_ok(entry["median"])
        assert entry["complete"] is True, entry["runs"]
        assert entry["exit_codes"] in ([0], [1], [0, 1])
    assert quick_scale["scale"][1]["bulk"] == {"rules": 1000, "routes": 1000, "lease_blocks": 100}
