"""The watch's outputs: summary text and JSON, the Prometheus file, the HTML page (its
structure here, and in headless Chromium: it renders, fetches nothing, links work)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.test_report_html import (  # the Chromium harness of the run's HTML report
    FAIL_RED,
    SinkProxy,
    _chromium,
    _page_hosts,
    _pixel,
    _png_pixels,
    sink,
)
from tests.watch_fakes import sample_record
from wirecheck.model import Status
from wirecheck.watch.html import render_watch_html
from wirecheck.watch.prometheus import render_watch_prometheus
from wirecheck.watch.record import WatchRecord
from wirecheck.watch.summary import exit_code, render_summary_json, render_summary_text

__all__ = ["sink"]  # the fixture, imported for the Chromium tests


def test_summary_text_has_the_table_the_windows_and_the_verdict() -> None:
    text = render_summary_text(sample_record(), "/var/log/wirecheck/x.jsonl")
    lines = text.splitlines()
    assert lines[0].startswith("wirecheck watch: 168.63.129.16 from vm1, 2023-11-14 22:13:20.0")
    assert "30 round(s), one every 1 s; ended: duration" in lines[1]
    row = next(line for line in lines if line.startswith("tcp-32526"))
    assert row.split()[:4] == ["tcp-32526", "30", "6", "80.000%"]
    # 6 rounds of 30 down; a window ends when its probe answered, a few ms into its round.
    assert re.search(r"Failure windows: 2, 6\.0 s in all \(20\.0\d % of the time\)", text)
    assert " 1. 22:13:25.0 - 22:13:29.0 UTC (4.0 s): tcp-32526" in lines
    assert "    first cause: tcp-32526 breaks" in lines
    assert lines[-1].startswith("wirecheck watch: FAIL - 2 failure window(s) in 30 rounds")
    assert "event log: /var/log/wirecheck/x.jsonl" in lines


def test_a_window_open_at_the_end_says_so() -> None:
    record = sample_record(script=[{}] * 27 + [{"tcp-80": Status.FAIL}] * 3)
    text = render_summary_text(record)
    assert " 1. 22:13:47.0 - UTC, still failing at the end (3.0 s): tcp-80" in text
    data = json.loads(render_summary_json(record))
    assert data["windows"][0]["ongoing"] is True and data["windows"][0]["end"] is None


def test_summary_json_fields() -> None:
    record = sample_record()
    data = json.loads(render_summary_json(record, "log.jsonl"))
    assert data["kind"] == "wirecheck-watch" and data["schema_version"] == 1
    assert (data["status"], data["exit_code"]) == ("fail", exit_code(record)) == ("fail", 2)
    probe = data["probes"]["tcp-32526"]
    assert (probe["rounds"], probe["ok"], probe["not_ok"], probe["availability"]) == (
        30,
        24,
        6,
        0.8,
    )
    assert set(probe["latency_ms"]) == {"p50", "p95", "p99", "max", "min", "mean"}
    assert probe["latency_ms"]["max"] == 7.0
    assert [(w["number"], w["start_round"], w["end_round"]) for w in data["windows"]] == [
        (1, 6, 10),
        (2, 20, 22),
    ]
    assert data["down_s"] == pytest.approx(6.0, abs=0.05) and data["event_log"] == "log.jsonl"


def test_a_healthy_watch_exits_0_and_one_without_rounds_3() -> None:
    healthy = sample_record(script=[])
    assert exit_code(healthy) == 0
    assert "OK - every probe ok in all 30 rounds" in render_summary_text(healthy)
    stopped_at_once = WatchRecord("168.63.129.16", ["tcp-80"], 5.0, 1_700_000_000.0)
    assert exit_code(stopped_at_once) == 3
    assert "UNKNOWN - no round ran" in render_summary_text(stopped_at_once)


# -- Prometheus ------------------------------------------------------------------------------


def _samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_prometheus_has_availability_and_a_cumulative_histogram() -> None:
    text = render_watch_prometheus(sample_record())
    samples = _samples(text)
    probe = 'probe="tcp-32526",target="168.63.129.16"'
    assert samples[f"wirecheck_watch_probe_rounds_total{{{probe}}}"] == 30
    assert samples[f"wirecheck_watch_probe_failures_total{{{probe}}}"] == 6
    assert samples[f"wirecheck_watch_probe_availability_ratio{{{probe}}}"] == 0.8
    assert samples[f"wirecheck_watch_probe_up{{{probe}}}"] == 1
    buckets = [
        (name, value)
        for name, value in samples.items()
        if name.startswith("wirecheck_watch_probe_latency_seconds_bucket") and probe in name
    ]
    counts = [value for _, value in buckets]
    assert counts == sorted(counts) and counts[-1] == 24
    assert buckets[-1][0].endswith('le="+Inf"}')
    assert samples[f"wirecheck_watch_probe_latency_seconds_count{{{probe}}}"] == 24
    assert samples['wirecheck_watch_failure_windows_total{target="168.63.129.16"}'] == 2
    assert samples['wirecheck_watch_in_failure_window{target="168.63.129.16"}'] == 0
    assert "# TYPE wirecheck_watch_probe_latency_seconds histogram" in text
    assert not re.search(r"\} \S+ \d+$", text, re.MULTILINE)  # no sample timestamps


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_watch_metrics() -> None:
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=render_watch_prometheus(sample_record()).encode(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


# -- HTML --------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_page_is_self_contained_with_a_timeline_per_probe_linked_to_each_window() -> None:
    page = render_watch_html(sample_record())
    tags = _tags(page)
    names = [tag for tag, _ in tags]
    assert "script" not in names and "img" not in names and "link" not in names
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    csp = next(a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and csp.startswith("default-src 'none'; style-src 'sha256-")
    svgs = [a for t, a in tags if t == "svg"]
    assert [a["aria-label"] for a in svgs] == [
        "tcp-80: latency and failures over time",
        "tcp-32526: latency and failures over time",
    ]
    links = {
        a["href"] for t, a in tags if t == "a" and (a.get("href") or "").startswith("#window-")
    }
    sections = {f"#{a['id']}" for t, a in tags if t == "section" and a.get("class") == "window"}
    assert links == sections == {"#window-1", "#window-2"}
    # The failed rounds show in tcp-32526's strip only.
    strips = page.split('<svg class="timeline"')[1:]
    assert 'class="failed"' not in strips[0] and 'class="failed"' in strips[1]
    assert 'class="win"' in strips[1] and 'class="other"' in strips[0]


def test_hostile_strings_are_escaped() -> None:
    record = sample_record()
    window = next(iter(record.windows.kept))
    window.findings["tcp-32526"] = '<script>alert(1)</script>"'
    window.first_cause = {"summary": "<img src=x onerror=alert(1)>", "fix": "&"}
    page = render_watch_html(record)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_chromium_draws_the_page_and_fetches_nothing(sink: SinkProxy, tmp_path: Path) -> None:
    page = tmp_path / "watch.html"
    page.write_text(render_watch_html(sample_record()), encoding="utf-8")
    shot = tmp_path / "watch.png"
    done = _chromium(
        sink, tmp_path, page.as_uri(), "--window-size=1200,1400", f"--screenshot={shot}"
    )
    assert shot.exists(), done.stderr[-2000:]
    width, _, rows = _png_pixels(shot)
    channels = len(rows[0]) // width
    assert _pixel(rows, 5, 5, channels) == FAIL_RED  # the stylesheet applied: a FAIL banner
    # Somewhere below the banner, the pale red of a failure window's band.
    colours = {
        _pixel(rows, x, y, channels) for y in range(250, 1000, 3) for x in range(0, width, 4)
    }
    assert any(r > 200 and 150 < g < 230 and 150 < b < 230 and r > g + 20 for r, g, b in colours)
    assert "Content Security Policy" not in done.stderr
    assert _page_hosts(sink) == set()


def test_chromium_follows_a_window_link_to_its_evidence(sink: SinkProxy, tmp_path: Path) -> None:
    page = tmp_path / "watch.html"
    page.write_text(render_watch_html(sample_record()), encoding="utf-8")
    done = _chromium(sink, tmp_path, page.as_uri() + "#window-2", "--dump-dom")
    assert '<section class="window" id="window-2">' in done.stdout
    assert "Window 2: 22:13:39.0 UTC to 22:13:41.0 UTC (2.0 s): tcp-32526" in done.stdout


def test_node_exporter_serves_the_watch_file_beside_runs(tmp_path: Path) -> None:
    """The real textfile collector: our histogram and counters come through, with run's
    file in the same directory (no name or HELP clashes)."""
    from tests.report_sample import sample_report
    from tests.test_report_prometheus import _node_exporter, _scrape
    from wirecheck.report.formats import write_formats

    (tmp_path / "wirecheck_watch_168-63-129-16.prom").write_text(
        render_watch_prometheus(sample_record()), encoding="utf-8"
    )
    write_formats(sample_report(), ["prometheus"], tmp_path, tmp_path)
    with _node_exporter(tmp_path) as url:
        metrics = _scrape(url)
    assert "node_textfile_scrape_error 0" in metrics
    probe = 'probe="tcp-32526",target="168.63.129.16"'
    assert f"wirecheck_watch_probe_availability_ratio{{{probe}}} 0.8" in metrics
    assert f'wirecheck_watch_probe_latency_seconds_bucket{{{probe},le="+Inf"}} 24' in metrics
    assert f"wirecheck_watch_probe_latency_seconds_count{{{probe}}} 24" in metrics
    assert "# TYPE wirecheck_watch_probe_latency_seconds histogram" in metrics
    assert 'wirecheck_check_status{check="tcp-80",target="168.63.129.16"} 0' in metrics
