"""The command line through typer's CliRunner: exit codes, outputs, report files, the guard.

Probes go to servers on 127.0.0.1 only; the machine facts and the asset tag come from
`cli.Seams` passed as the runner's `obj`, never from this host.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from typer.testing import Result

from tests.cli_runner import cli_runner
from tests.conftest import fixture_text
from tests.servers import (
    CORE_IDS,
    HOST,
    DnsMode,
    FakeDnsServer,
    FakeHttpServer,
    fake_system,
    refusing_port,
)
from wirecheck import __version__
from wirecheck.checks.catalogue import IDS, load_all
from wirecheck.cli import Seams, app
from wirecheck.platform.azure import AZURE_ASSET_TAG
from wirecheck.system import SocketFactory, System

OWN_NAME = "vm1.abc.internal.cloudapp.net"
ALL_CHECKS = load_all()
ALL_IDS = [spec.id for spec in ALL_CHECKS]
CORE = list(CORE_IDS)


def no_probe(family: int, kind: int) -> object:
    raise AssertionError("a probe started although the run should have stopped before it")


NOT_AZURE = Seams(
    read_asset_tag=lambda: None,
    system=fake_system(socket_factory=cast(SocketFactory, no_probe)),
)


@dataclass(frozen=True)
class Lab:
    """Loopback servers standing in for the platform, and the options that point at them."""

    http: int
    dns: int
    output_dir: Path
    system: System

    def args(self, *extra: str) -> list[str]:
        """`run` against the lab; the core checks only unless `extra` has its own --only."""
        only = [] if "--only" in extra else ["--only", ",".join(CORE_IDS)]
        return [
            "run",
            *only,
            "--target",
            HOST,
            "--port-http",
            str(self.http),
            "--port-hostplugin",
            str(self.http),
            "--port-dns",
            str(self.dns),
            "--timeout",
            "3",
            "--output-dir",
            str(self.output_dir),
            *extra,
        ]

    def invoke(self, *extra: str) -> Result:
        seams = Seams(read_asset_tag=lambda: None, system=self.system)
        return cli_runner().invoke(app, self.args(*extra), obj=seams)


def _lab(tmp_path: Path, mode: DnsMode) -> Iterator[Lab]:
    with (
        FakeHttpServer() as http,
        FakeDnsServer(mode, records={OWN_NAME: "10.0.0.4"}) as dns,
    ):
        yield Lab(http.port, dns.port, tmp_path / "out", fake_system())


@pytest.fixture
def healthy(tmp_path: Path) -> Iterator[Lab]:
    yield from _lab(tmp_path, DnsMode.ANSWER)


@pytest.fixture
def with_ptr(tmp_path: Path) -> Iterator[Lab]:
    yield from _lab(tmp_path, DnsMode.PTR)


# --- exit codes ----------------------------------------------------------------------------


def test_exit_0_when_all_ok(healthy: Lab) -> None:
    result = healthy.invoke()
    assert result.exit_code == 0, result.output
    assert "No problem found" in result.stdout


def test_exit_1_when_something_warns(with_ptr: Lab) -> None:
    result = with_ptr.invoke("-o", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [c["status"] for c in data["checks"] if c["status"] != "ok"] == ["warn"]
    assert data["status"] == "warn"


def test_exit_2_when_something_fails(tmp_path: Path) -> None:
    closed = refusing_port()
    lab = Lab(closed, closed, tmp_path, fake_system())
    result = lab.invoke("-o", "json")
    assert result.exit_code == 2, result.output
    statuses = {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}
    assert statuses == {**dict.fromkeys(CORE, "fail"), "dns-reverse": "ok"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--timeout", "0"], "--timeout"),
        (["run", "-o", "xml"], "--output"),
        (["run", "--bogus"], "No such option"),
        (["--bogus"], "No such option"),
        (["nosuchcommand"], "No such command"),
        (["explain"], "Missing argument"),
        (["run", "--target", "localhost"], "not an IPv4 address"),
        (["run", "--target", "::1"], "not an IPv4 address"),
        (["run", "--target", "168.063.129.016"], "not an IPv4 address"),
        (["run", "--target", ""], "not an IPv4 address"),
        (["run", "--timeout", "nan"], "not a number of seconds"),
        (["bundle", "--target", "wireserver"], "not an IPv4 address"),
        (["bundle", "--timeout", "inf"], "--timeout"),
        (["run", "--target", "127.0.0.1", "--only", "tcp-80", "--skip", "tcp-80"], "no check"),
    ],
)
def test_exit_3_on_usage_errors(args: list[str], says: str) -> None:
    """click's own usage errors exit 2, which here would read as "a check failed"."""
    result = cli_runner().invoke(app, args, obj=NOT_AZURE)
    assert result.exit_code == 3, result.output
    assert says in result.stderr


# --- the Azure guard -----------------------------------------------------------------------


@pytest.mark.parametrize("args", [["run"], [], ["run", "--timeout", "1", "-o", "json"]])
def test_guard_refuses_the_platform_address_off_azure(args: list[str], tmp_path: Path) -> None:
    result = cli_runner().invoke(app, [*args], obj=NOT_AZURE)
    assert result.exit_code == 3
    assert result.stdout == ""
    message = result.stderr
    assert "168.63.129.16 is not probed" in message
    assert "--force" in message and "--target" in message and "wirecheck lab" in message


def test_guard_reads_the_asset_tag_through_the_seam(tmp_path: Path) -> None:
    """With the Azure tag the guard lets the run through (stopped here by an unknown id)."""
    seams = Seams(read_asset_tag=lambda: AZURE_ASSET_TAG, system=NOT_AZURE.system)
    result = cli_runner().invoke(app, ["run", "--only", "nope"], obj=seams)
    assert result.exit_code == 3
    assert "not probed" not in result.stderr
    assert "unknown check id(s): nope" in result.stderr


def test_an_explicit_target_is_honoured_off_azure(healthy: Lab) -> None:
    result = healthy.invoke("--quiet")
    assert result.exit_code == 0
    assert "not probed" not in result.stderr


# --- outputs -------------------------------------------------------------------------------


def test_json_on_stdout(healthy: Lab) -> None:
    result = healthy.invoke("-o", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1
    assert (data["target"], data["status"], data["exit_code"]) == (HOST, "ok", 0)
    assert [c["id"] for c in data["checks"]] == CORE
    for check in data["checks"]:
        assert {"id", "title", "status", "finding", "evidence", "fix", "duration_s"} <= set(check)
    assert isinstance(data["diagnosis"], list) and data["diagnosis"]
    assert {"summary", "fix", "evidence", "checks"} <= set(data["diagnosis"][0])


def test_table_output_without_a_terminal(healthy: Lab) -> None:
    result = healthy.invoke()
    for check_id in CORE:
        assert check_id in result.stdout
    assert "Diagnosis" in result.stdout
    assert "\nwirecheck: OK - 6 ok in " in result.stdout  # the summary, after the diagnosis
    assert "\x1b[" not in result.stdout  # no colour codes when not a terminal


def test_quiet_prints_one_line(healthy: Lab) -> None:
    result = healthy.invoke("--quiet")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("wirecheck: OK - 6 ok in ")


def test_report_files_start_like_the_manual_procedure(healthy: Lab) -> None:
    result = healthy.invoke("--quiet")
    assert result.exit_code == 0
    text_path = healthy.output_dir / "127-0-0-1_test.txt"
    json_path = healthy.output_dir / "127-0-0-1_test.json"
    lines = text_path.read_text().splitlines()
    xml = fixture_text("versions.xml").rstrip("\n").splitlines()
    assert lines[0] == "Testing 80 Port 80"
    assert lines[1].startswith("traceroute not run")
    assert lines[2] == "Testing 80 Port 32526"
    assert lines[3].startswith("traceroute not run")
    assert lines[4] == "Test Versions"
    assert lines[5 : 5 + len(xml)] == xml
    assert json.loads(json_path.read_text())["schema_version"] == 1
    for path in (text_path, json_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_report_writes_nothing(healthy: Lab) -> None:
    result = healthy.invoke("--no-report", "--quiet")
    assert result.exit_code == 0
    assert not healthy.output_dir.exists() or list(healthy.output_dir.iterdir()) == []


def test_an_unwritable_prometheus_dir_keeps_no_other_format_back(
    healthy: Lab, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    result = healthy.invoke(
        "--quiet", "--format", "prometheus,html", "--prometheus-dir", str(blocker)
    )
    assert result.exit_code == 4  # a report asked for is missing: not a success
    assert "could not write the prometheus report" in result.stderr
    assert "--prometheus-dir" in result.stderr
    assert (healthy.output_dir / "127-0-0-1_test.html").exists()


def test_unwritable_output_dir_says_so_and_still_gives_the_verdict(
    healthy: Lab, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    lab = Lab(healthy.http, healthy.dns, blocker, healthy.system)
    result = lab.invoke("--quiet")
    assert result.exit_code == 4  # the verdict is printed, the missing reports said
    assert f"could not write the reports in {blocker}" in result.stderr
    assert "--output-dir" in result.stderr and "--no-report" in result.stderr
    assert result.stdout.startswith("wirecheck: OK")


# --- selection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value", "ids"),
    [
        ("--only", "dns-tcp,tcp-80", ["tcp-80", "dns-tcp"]),
        ("--only", " wire-versions , ", ["wire-versions"]),
        ("--skip", "dns-reverse,dns-udp", ["tcp-80", "tcp-32526", "wire-versions", "dns-tcp"]),
        ("--skip", "", CORE),
    ],
)
def test_only_and_skip(healthy: Lab, option: str, value: str, ids: list[str]) -> None:
    result = healthy.invoke(option, value, "-o", "json")
    assert result.exit_code == 0, result.output
    assert [c["id"] for c in json.loads(result.stdout)["checks"]] == ids


@pytest.mark.parametrize("option", ["--only", "--skip"])
def test_unknown_ids_exit_3_with_a_clear_message(healthy: Lab, option: str) -> None:
    result = healthy.invoke(option, "tcp-80,tcp-81,dns")
    assert result.exit_code == 3
    assert "unknown check id(s): dns, tcp-81" in result.stderr
    assert f"known: {', '.join(IDS)}" in result.stderr
    assert not healthy.output_dir.exists()  # nothing ran, nothing written


# --- the other commands --------------------------------------------------------------------


def test_version() -> None:
    result = cli_runner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"wirecheck {__version__}"


def test_list() -> None:
    result = cli_runner().invoke(app, ["list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ALL_IDS
    for line, spec in zip(lines, ALL_CHECKS):
        assert line.endswith(spec.title)


def test_explain() -> None:
    result = cli_runner().invoke(app, ["explain", "tcp-80"])
    assert result.exit_code == 0
    assert result.stdout.startswith("tcp-80: TCP 80 to the platform (WireServer)\n")
    assert "ok: connected" in result.stdout
    assert "timed out" in result.stdout and "refused" in result.stdout


def test_explain_unknown_id() -> None:
    result = cli_runner().invoke(app, ["explain", "tcp-81"])
    assert result.exit_code == 3
    assert "unknown check id 'tcp-81'" in result.stderr
    assert "tcp-80" in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], []),
        (["--help"], ["--help"]),
        (["--version"], ["--version"]),
        (["list"], ["list"]),
        (["lab", "run"], ["lab", "run"]),
        (["--quiet"], ["run", "--quiet"]),
        (["--target", "10.0.0.1"], ["run", "--target", "10.0.0.1"]),
    ],
)
def test_run_is_the_default_command_also_with_options(argv: list[str], expected: list[str]) -> None:
    from wirecheck.cli import _default_to_run

    assert _default_to_run(argv) == expected


def test_version_fast_path_does_not_import_the_cli() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.argv = ['wirecheck', '--version']\n"
        "from wirecheck.entry import main; main()\n"
        "assert 'typer' not in sys.modules and 'wirecheck.cli' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wirecheck ")


@pytest.mark.parametrize("engine", ["auto", "kernel"])
def test_trace_engine_option_reaches_the_trace(healthy: Lab, engine: str) -> None:
    result = healthy.invoke("--only", "trace-80", "--trace-engine", engine, "-o", "json")
    (check,) = json.loads(result.stdout)["checks"]
    assert check["evidence"]["engine"] == "kernel", check
    assert (engine == "kernel") == ("asked for" in check["evidence"]["engine_reason"])


def test_unknown_trace_engine_is_a_usage_error(healthy: Lab) -> None:
    result = healthy.invoke("--trace-engine", "icmp")
    assert result.exit_code == 3
    assert "--trace-engine" in result.stderr
