"""Prometheus textfile: golden file, format rules, promtool, a real node_exporter, the CLI."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_runner import cli_runner
from tests.report_sample import check_golden, sample_report
from tests.servers import refusing_port
from wirecheck.cli import app
from wirecheck.model import CheckResult, Status
from wirecheck.report.formats import (
    NODE_EXPORTER_TEXTFILE_DIR,
    default_prometheus_dir,
    parse_formats,
    write_formats,
)
from wirecheck.report.prometheus import STATUS_VALUE, escape_label, render_prometheus

_SAMPLE = re.compile(r'^([a-z_]+)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)+)\} (-?[0-9.e+]+)$')
PROM_NAME = "wirecheck_168-63-129-16.prom"


def test_golden() -> None:
    check_golden(PROM_NAME, render_prometheus(sample_report()))


def test_every_family_has_help_then_type_then_samples_without_timestamps() -> None:
    seen_help: set[str] = set()
    typed: set[str] = set()
    for line in render_prometheus(sample_report()).splitlines():
        if line.startswith("# HELP "):
            seen_help.add(line.split()[2])
        elif line.startswith("# TYPE "):
            name = line.split()[2]
            assert name in seen_help and line.endswith(" gauge")
            typed.add(name)
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line with exactly one value (no timestamp): {line!r}"
            assert match.group(1) in typed


@pytest.mark.parametrize(
    ("status", "value"),
    [(Status.OK, 0), (Status.WARN, 1), (Status.FAIL, 2), (Status.SKIP, 3), (Status.ERROR, 3)],
)
def test_status_values_and_state_set(status: Status, value: int) -> None:
    assert STATUS_VALUE[status] == value
    report = dataclasses.replace(
        sample_report(), results=(CheckResult("tcp-80", "t", status, "f"),)
    )
    text = render_prometheus(report)
    assert f'wirecheck_check_status{{check="tcp-80",target="168.63.129.16"}} {value}\n' in text
    states = re.findall(r'wirecheck_check_state\{check="tcp-80",state="(\w+)",[^}]*\} 1', text)
    assert states == [status.value]
    success = 1 if status in (Status.OK, Status.SKIP) else 0
    assert f'wirecheck_run_success{{target="168.63.129.16"}} {success}\n' in text


def test_run_level_series() -> None:
    text = render_prometheus(sample_report())
    assert 'wirecheck_run_exit_code{target="168.63.129.16"} 2\n' in text
    # started 1790000000.25 + 5.0123 s
    assert 'wirecheck_last_run_timestamp_seconds{target="168.63.129.16"} 1790000005.262\n' in text
    assert (
        'wirecheck_check_duration_seconds{check="tcp-32526",target="168.63.129.16"} 4.9987\n'
        in (text)
    )
    assert 'wirecheck_build_info{version="0.1.0",target="168.63.129.16"} 1\n' in text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("plain", "plain"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb")],
)
def test_label_escaping(raw: str, escaped: str) -> None:
    assert escape_label(raw) == escaped


def test_no_checks_gives_no_empty_families() -> None:
    text = render_prometheus(dataclasses.replace(sample_report(), results=()))
    assert "wirecheck_check_status" not in text
    assert 'wirecheck_run_success{target="168.63.129.16"} 1' in text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["junit,prometheus"], ("junit", "prometheus")),
        (["html", "junit", "html"], ("html", "junit")),
        ([" JUnit , ,html "], ("junit", "html")),
        ([], ()),
    ],
)
def test_parse_formats(values: list[str], expected: tuple[str, ...]) -> None:
    assert parse_formats(values) == expected


def test_unknown_format_names_the_known_ones() -> None:
    from wirecheck.errors import UsageError

    with pytest.raises(UsageError, match=r"'csv'.*junit, prometheus, html"):
        parse_formats(["junit,csv"])


def test_default_prometheus_dir(tmp_path: Path) -> None:
    assert default_prometheus_dir(tmp_path, is_dir=lambda _p: True) == NODE_EXPORTER_TEXTFILE_DIR
    assert default_prometheus_dir(tmp_path, is_dir=lambda _p: False) == tmp_path


def test_written_world_readable_atomically_and_no_temp_left(tmp_path: Path) -> None:
    [path] = write_formats(sample_report(), ["prometheus"], tmp_path / "out", tmp_path / "prom")
    assert path == tmp_path / "prom" / PROM_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # node_exporter runs as its own user
    assert os.listdir(tmp_path / "prom") == [PROM_NAME]


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    short = dataclasses.replace(sample_report(), results=sample_report().results[:1])
    contents = {render_prometheus(sample_report()), render_prometheus(short)}
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        path = tmp_path / PROM_NAME
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.append(path.read_text(encoding="utf-8"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(200):
            write_formats(sample_report() if n % 2 else short, ["prometheus"], tmp_path, tmp_path)
    finally:
        stop.set()
        reader.join()
    assert seen, "the reader never read the file"
    assert set(seen) <= contents


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (apt install prometheus)"
)
@pytest.mark.parametrize("shape", ["sample", "no-checks", "hostile-labels"])
def test_promtool_check_metrics(shape: str) -> None:
    report = sample_report()
    if shape == "no-checks":
        report = dataclasses.replace(report, results=())
    elif shape == "hostile-labels":
        report = dataclasses.replace(
            report,
            target='10.0.0.1"\\\n',
            results=(CheckResult('x"y\\z\nw', "t", Status.OK, "f"),),
        )
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=render_prometheus(report),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == ""  # no lint warning either


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def _node_exporter(textfile_dir: Path) -> Iterator[str]:
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        pytest.skip("node_exporter not installed (apt install prometheus-node-exporter)")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile_dir}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("node_exporter did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def _scrape(url: str) -> str:
    # No proxy: the exporter is on loopback, and the environment's proxy must not catch it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as answer:
        return str(answer.read().decode("utf-8"))


def test_node_exporter_textfile_collector_exposes_the_metrics(tmp_path: Path) -> None:
    write_formats(sample_report(), ["prometheus"], tmp_path, tmp_path)
    with _node_exporter(tmp_path) as url:
        metrics = _scrape(url)
    assert "node_textfile_scrape_error 0" in metrics
    assert f'node_textfile_mtime_seconds{{file="{tmp_path / PROM_NAME}"}}' in metrics
    assert 'wirecheck_check_status{check="tcp-32526",target="168.63.129.16"} 2' in metrics
    assert 'wirecheck_check_status{check="tcp-80",target="168.63.129.16"} 0' in metrics
    assert 'wirecheck_run_success{target="168.63.129.16"} 0' in metrics
    assert "# HELP wirecheck_check_status Status of one wirecheck check" in metrics
    assert re.search(
        r'wirecheck_last_run_timestamp_seconds\{target="168.63.129.16"\} 1\.79', metrics
    )


def test_node_exporter_drops_a_file_with_timestamps_but_not_ours(tmp_path: Path) -> None:
    """The reason for "no sample timestamps": node_exporter refuses such a file outright."""
    ours = render_prometheus(sample_report())
    stamped = ours.replace("wirecheck_", "stamped_").replace(
        'stamped_run_exit_code{target="168.63.129.16"} 2',
        'stamped_run_exit_code{target="x"} 2 1790000000000',
    )
    (tmp_path / "stamped.prom").write_text(stamped, encoding="utf-8")
    write_formats(sample_report(), ["prometheus"], tmp_path, tmp_path)
    with _node_exporter(tmp_path) as url:
        metrics = _scrape(url)
    assert "node_textfile_scrape_error 1" in metrics
    assert "stamped_check_status" not in metrics
    assert 'wirecheck_check_status{check="tcp-80",target="168.63.129.16"} 0' in metrics


def test_cli_run_writes_the_requested_formats_and_quiet_is_one_line(tmp_path: Path) -> None:
    closed = str(refusing_port())
    out, prom = tmp_path / "out", tmp_path / "prom"
    result = cli_runner().invoke(
        app,
        [
            "run",
            "--target",
            "127.0.0.1",
            *("--port-http", closed, "--port-hostplugin", closed, "--port-dns", closed),
            "--only",
            "tcp-80,tcp-32526",
            "--output-dir",
            str(out),
            "--prometheus-dir",
            str(prom),
            "--format",
            "junit,prometheus",
            "--format",
            "html",
            "--quiet",
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("wirecheck: FAIL - ")
    assert sorted(os.listdir(out)) == [
        "127-0-0-1_test.html",
        "127-0-0-1_test.json",
        "127-0-0-1_test.junit.xml",
        "127-0-0-1_test.txt",
    ]
    assert os.listdir(prom) == ["wirecheck_127-0-0-1.prom"]
    text = (prom / "wirecheck_127-0-0-1.prom").read_text(encoding="utf-8")
    assert 'wirecheck_check_status{check="tcp-80",target="127.0.0.1"} 2' in text


def test_cli_no_report_still_writes_an_explicit_format(tmp_path: Path) -> None:
    closed = str(refusing_port())
    result = cli_runner().invoke(
        app,
        [
            "run",
            *("--target", "127.0.0.1", "--only", "tcp-80", "--port-http", closed),
            *("--no-report", "--quiet", "--format", "prometheus"),
            *("--output-dir", str(tmp_path), "--prometheus-dir", str(tmp_path)),
        ],
    )
    assert result.exit_code == 2, result.output
    assert os.listdir(tmp_path) == ["wirecheck_127-0-0-1.prom"]


def test_cli_unknown_format_exits_3_before_probing(tmp_path: Path) -> None:
    result = cli_runner().invoke(
        app, ["run", "--target", "127.0.0.1", "--format", "xml", "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 3
    assert "unknown report format 'xml'" in result.stderr
    assert os.listdir(tmp_path) == []
