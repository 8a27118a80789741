"""scripts/bench --watch cannot rot: its memory child runs the real loop, its targets and
table come out of a result. The lab part runs with `scripts/bench --watch` (minutes)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_bench_smoke import bench


@pytest.fixture
def fast_dir() -> Iterator[Path]:
    """On tmpfs where there is one: the loop fsyncs, and the disk's speed is not the point."""
    shm = Path("/dev/shm")
    where = Path(tempfile.mkdtemp(prefix="wirecheck-test-", dir=shm if shm.is_dir() else None))
    yield where
    shutil.rmtree(where, ignore_errors=True)


def test_the_memory_child_runs_the_real_loop_and_reads_its_size(fast_dir: Path) -> None:
    tmp_path = fast_dir
    rounds = 2 * bench.WATCH_CHECKPOINT
    found = bench.synthetic_watch(rounds, tmp_path)
    assert found["rounds"] == rounds
    # One probe down in rounds 1-2, then 3 rounds in every 50: a window starts at each.
    starts = [n for n in range(1, rounds + 1) if n % 50 < 3 and (n == 1 or (n - 1) % 50 >= 3)]
    assert found["windows"] == len(starts)
    assert set(found["rss_mib_at"]) == {"1000", "2000"}
    assert all(value > 1 for value in found["rss_mib_at"].values())
    assert found["loop_cpu_per_round_ms"] > 0 and found["event_log_mib"] > 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"events.jsonl", "watch.prom", "result.json"} <= names
    assert {"wirecheck-watch_168-63-129-16.html", "wirecheck-watch_168-63-129-16.txt"} <= names


def result() -> dict[str, Any]:
    real = {
        "default_probes": {
            "rounds": 40,
            "interval_s": 3.0,
            "cpu_per_round_ms": 4.0,
            "children_cpu_per_round_ms": 3.0,
            "whole_process_cpu_per_round_ms": 12.0,
            "process": {"peak_rss_mib": 30.5},
        }
    }
    memory = {
        "rounds": 10_000,
        "windows": 201,
        "files_on": "tmpfs",
        "rss_mib_at": {"1000": 29.3, "5000": 29.6, "10000": 29.6},
        "rss_growth_mib": 0.3,
        "rss_growth_second_half_mib": 0.0,
        "process": {"peak_rss_mib": 31.0},
        "loop_cpu_per_round_ms": 0.4,
        "event_log_mib": 2.4,
        "summary_cpu_s": 0.03,
    }
    return {
        "machine": {
            "wirecheck_version": "0.1.0",
            "cpus": 2,
            "load_average_at_start": (1.0, 2.0, 3.0),
        },
        "duration_s": 190.0,
        "real_rounds": real,
        "memory": memory,
        "targets": bench.judged(bench.watch_targets(real, memory), []),
        "problems": [],
    }


def test_targets_judge_the_process_and_its_commands_apart() -> None:
    targets = {t["name"]: t for t in result()["targets"]}
    own = targets["watch: CPU a round, six probes, real rounds (this process)"]
    both = targets["watch: the same with the commands it ran (iptables-save, nft)"]
    assert (own["measured"], own["met"]) == (4.0, True)
    assert (both["measured"], both["met"]) == (7.0, False)
    growth = next(t for t in targets.values() if t["name"].startswith("watch: RSS growth"))
    assert (growth["measured"], growth["met"]) == (0.3, True)


def test_the_table_shows_every_figure() -> None:
    text = bench.render_watch(result())
    assert "load 1.0/2.0/3.0 at the start" in text
    assert "4.00 ms CPU a round + 3.00 ms in commands" in text
    assert "growth +0.30 MiB (second half +0.00 MiB)" in text
    assert "NOT MET" in text and " met" in text
