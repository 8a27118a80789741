"""packaging/: systemd units, cloud-init snippet, Windows task, and the single-file build.

The single-file tests take `wirecheck.pyz` from the session fixture `pyz` (tests/conftest.py:
built once with this interpreter, so each interpreter scripts/test runs builds it), then run
it with a different interpreter (Debian's /usr/bin/python3 when present) in a fresh venv
that has neither wirecheck nor psutil. tests/test_pyz_pythons.py runs it on every Python.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.servers import DnsMode, FakeDnsServer, FakeHttpServer, HttpMode, refusing_port

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


# -- systemd --------------------------------------------------------------------------


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    wirecheck = shutil.which("wirecheck")
    if wirecheck is None:
        pytest.skip("no wirecheck executable on PATH to stand in for /usr/local/bin/wirecheck")
    # verify checks that ExecStart exists: point it at this machine's wirecheck.
    for name in ("wirecheck.service", "wirecheck.timer"):
        text = (PACKAGING / "systemd" / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(
            text.replace("/usr/local/bin/wirecheck", os.path.realpath(wirecheck)), encoding="utf-8"
        )
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / "wirecheck.service"), str(tmp_path / "wirecheck.timer")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Unknown keys and bad values are only warnings for verify: there must be none.
    ours = [line for line in done.stderr.splitlines() if "wirecheck" in line]
    assert ours == [], "\n".join(ours)


def test_service_runs_a_quiet_check_that_writes_the_prometheus_file() -> None:
    service = (PACKAGING / "systemd" / "wirecheck.service").read_text(encoding="utf-8")
    timer = (PACKAGING / "systemd" / "wirecheck.timer").read_text(encoding="utf-8")
    [exec_start] = re.findall(r"(?m)^ExecStart=(.*)$", service)
    argv = exec_start.split()
    assert argv[:2] == ["/usr/local/bin/wirecheck", "run"]
    assert {"--quiet", "--no-report"} <= set(argv)
    assert argv[argv.index("--format") + 1] == "prometheus"
    assert "SuccessExitStatus=1 2" in service  # warn/fail are verdicts, 3 is a failed unit
    assert "ReadWritePaths=-/var/lib/prometheus/node-exporter" in service
    assert "Unit=wirecheck.service" in timer and "WantedBy=timers.target" in timer


def test_the_service_command_line_is_accepted_by_wirecheck(tmp_path: Path) -> None:
    """The unit's own options, run for real against a loopback port nothing listens on."""
    service = (PACKAGING / "systemd" / "wirecheck.service").read_text(encoding="utf-8")
    [exec_start] = re.findall(r"(?m)^ExecStart=(.*)$", service)
    closed = str(refusing_port())
    argv = [sys.executable, "-m", "wirecheck", *exec_start.split()[1:]]
    argv += ["--target", "127.0.0.1", "--only", "tcp-80", "--port-http", closed]
    argv += ["--prometheus-dir", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith("wirecheck: FAIL - ") and done.stdout.count("\n") == 1
    assert os.listdir(tmp_path) == ["wirecheck_127-0-0-1.prom"]


# -- cloud-init -----------------------------------------------------------------------


def _cloud_init_script() -> str:
    yaml = pytest.importorskip("yaml")
    text = (PACKAGING / "cloud-init" / "wirecheck.yaml").read_text(encoding="utf-8")
    assert text.startswith("#cloud-config\n")
    config = yaml.safe_load(text)
    assert set(config) == {"runcmd"}
    [command] = config["runcmd"]
    assert command[:2] == ["sh", "-c"]
    return str(command[2])


def test_cloud_init_snippet_parses_and_its_script_is_valid_sh() -> None:
    script = _cloud_init_script()
    done = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    cloud_init = shutil.which("cloud-init")
    if cloud_init:
        checked = subprocess.run(
            [
                cloud_init,
                "schema",
                "--config-file",
                str(PACKAGING / "cloud-init" / "wirecheck.yaml"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def _run_cloud_init_script(tmp_path: Path, fake_wirecheck: str | None) -> tuple[str, str]:
    """Run the snippet's script with fakes on PATH; returns (console, logger) output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "logger.txt"
    (bin_dir / "logger").write_text(f'#!/bin/sh\necho "$@: $(cat)" >> {log}\n')
    if fake_wirecheck is not None:
        (bin_dir / "wirecheck").write_text(fake_wirecheck)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    console = tmp_path / "console"
    script = _cloud_init_script()
    script = script.replace("log_dir=/var/log/wirecheck", f"log_dir={tmp_path / 'reports'}")
    script = script.replace("console=/dev/console", f"console={console}")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    done = subprocess.run(
        ["sh", "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr  # a bad verdict never fails the boot
    return console.read_text(), log.read_text()


def test_cloud_init_logs_the_verdict_and_exit_code(tmp_path: Path) -> None:
    fake = (
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/args\n'
        'echo "wirecheck: FAIL - 1 fail, 5 ok in 5.0 s: TCP 32526 times out"\n'
        "exit 2\n"
    )
    console, logged = _run_cloud_init_script(tmp_path, fake)
    line = "wirecheck: FAIL - 1 fail, 5 ok in 5.0 s: TCP 32526 times out (exit 2)"
    assert console == line + "\n"
    assert logged == f"-t wirecheck: {line}\n"
    args = (tmp_path / "args").read_text().split()
    assert args[:2] == ["run", "--quiet"] and "--output-dir" in args
    assert stat.S_IMODE((tmp_path / "reports").stat().st_mode) == 0o700


def test_cloud_init_says_when_wirecheck_is_missing(tmp_path: Path) -> None:
    console, logged = _run_cloud_init_script(tmp_path, None)
    assert console.startswith("wirecheck: UNKNOWN - not installed")
    assert "wirecheck: UNKNOWN - not installed" in logged


# -- Windows --------------------------------------------------------------------------


def test_windows_task_definition() -> None:
    task = ET.parse(PACKAGING / "windows" / "wirecheck-task.xml").getroot()
    assert task.tag == "{http://schemas.microsoft.com/windows/2004/02/mit/task}Task"
    assert task.get("version") == "1.2"

    def text(path: str) -> str:
        found = task.find(path, TASK_NS)
        assert found is not None and found.text is not None, path
        return found.text

    assert text("t:Principals/t:Principal/t:UserId") == "S-1-5-18"  # SYSTEM
    assert text("t:Principals/t:Principal/t:RunLevel") == "HighestAvailable"
    assert text("t:Triggers/t:BootTrigger/t:Delay") == "PT2M"
    assert text("t:Triggers/t:BootTrigger/t:Repetition/t:Interval") == "PT5M"
    assert text("t:Settings/t:MultipleInstancesPolicy") == "IgnoreNew"
    assert text("t:Settings/t:ExecutionTimeLimit") == "PT2M"
    assert text("t:Actions/t:Exec/t:Command") == "powershell.exe"
    arguments = text("t:Actions/t:Exec/t:Arguments")
    script = re.search(r'-File "([^"]+)"', arguments)
    assert script and script.group(1).endswith("\\wirecheck-task.ps1")
    assert (PACKAGING / "windows" / "wirecheck-task.ps1").exists()
    principal = task.find("t:Principals/t:Principal", TASK_NS)
    actions = task.find("t:Actions", TASK_NS)
    assert principal is not None and actions is not None
    assert actions.get("Context") == principal.get("id")


def test_windows_wrapper_runs_quiet_logs_and_keeps_the_exit_code() -> None:
    wrapper = (PACKAGING / "windows" / "wirecheck-task.ps1").read_text(encoding="utf-8")
    assert "@('run', '--quiet'" in wrapper
    assert "'--format', 'prometheus', '--prometheus-dir'" in wrapper
    assert "Write-EventLog -LogName Application -Source 'wirecheck'" in wrapper
    assert "Register-ScheduledTask -TaskName 'wirecheck' -Xml $xml" in wrapper
    assert re.search(r"(?m)^exit \$code$", wrapper)


def test_windows_wrapper_parses_as_powershell() -> None:
    pwsh = shutil.which("pwsh")
    if pwsh is None:
        pytest.skip("pwsh not installed: the wrapper's PowerShell syntax was not parsed")
    parse = (
        "$e=$null; [System.Management.Automation.Language.Parser]::ParseFile("
        f"'{PACKAGING / 'windows' / 'wirecheck-task.ps1'}', [ref]$null, [ref]$e) | Out-Null; "
        "if ($e) { $e | ForEach-Object { $_.Message }; exit 1 }"
    )
    done = subprocess.run([pwsh, "-NoProfile", "-Command", parse], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# -- the single file ------------------------------------------------------------------


# Away from the checkout (cwd is on sys.path for `-c`) and from any PYTHONPATH.
_ISOLATED: dict[str, Any] = {
    "cwd": tempfile.gettempdir(),
    "env": {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
}


@pytest.fixture(scope="module")
def fresh_python(pyz: Path) -> Path:
    """A venv with no wirecheck and no psutil, from another interpreter when there is one."""
    base = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    venv = pyz.parent / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    for module in ("wirecheck", "psutil"):
        probe = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, check=False, **_ISOLATED
        )
        assert probe.returncode != 0, f"{module} is importable in the fresh venv"
    return python


def test_the_file_is_pure_python_with_a_shebang(pyz: Path) -> None:
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert stat.S_IMODE(pyz.stat().st_mode) & 0o111
    with zipfile.ZipFile(pyz) as archive:
        names = archive.namelist()
        entry = archive.read("__main__.py")
        dists = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert entry == (PACKAGING / "pyz_main.py").read_bytes()
    assert "wirecheck/cli.py" in names
    assert "dns/resolver.py" in names and "typer/main.py" in names
    native = [n for n in names if n.endswith((".so", ".pyd", ".dll", ".dylib"))]
    assert native == []
    # psutil cannot load from a zip; scapy is optional (the raw traceroute engine only).
    assert not any(n.startswith(("psutil/", "pydantic_core/", "scapy/")) for n in names)
    # Exactly the pinned releases: what Python 3.9 resolved, whoever built the file.
    lock = _lock_pins()
    del lock["scapy"]
    assert {_dist_info_pin(d) for d in dists} == {f"{n}=={v}" for n, v in lock.items()}
    assert pyz.stat().st_size < 4 * 1024 * 1024  # 2.3 MiB without scapy


def _lock_pins() -> dict[str, str]:
    lines = (PACKAGING / "pyz-lock.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    return {name: version for name, version in pins}


def _dist_info_pin(directory: str) -> str:
    """`click-8.1.8.dist-info` -> `click==8.1.8` (names as the lock spells them)."""
    name, version = directory[: -len(".dist-info")].rsplit("-", 1)
    return f"{name.lower().replace('_', '-')}=={version}"


def test_version_in_a_fresh_venv(pyz: Path, fresh_python: Path) -> None:
    done = subprocess.run(
        [fresh_python, str(pyz), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        **_ISOLATED,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wirecheck 0.1.0\n"


def test_a_run_in_a_fresh_venv_uses_the_pure_python_fallbacks(
    pyz: Path, fresh_python: Path, tmp_path: Path
) -> None:
    with FakeHttpServer(HttpMode.VERSIONS) as http, FakeDnsServer(DnsMode.ANSWER) as dns:
        done = subprocess.run(
            [
                fresh_python,
                str(pyz),
                "run",
                *("--target", "127.0.0.1", "--timeout", "3", "-o", "json"),
                *("--only", "tcp-80,wire-versions,dns-udp,dns-tcp"),
                *("--port-http", str(http.port), "--port-dns", str(dns.port)),
                *("--output-dir", str(tmp_path), "--format", "junit,prometheus,html"),
                *("--prometheus-dir", str(tmp_path)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **_ISOLATED,
        )
    report = json.loads(done.stdout)
    statuses = {check["id"]: check["status"] for check in report["checks"]}
    assert statuses["tcp-80"] == "ok" and statuses["wire-versions"] == "ok", done.stdout
    assert statuses["dns-udp"] in ("ok", "warn") and statuses["dns-tcp"] in ("ok", "warn")
    tcp = next(c for c in report["checks"] if c["id"] == "tcp-80")
    assert tcp["evidence"]["interface"] == "lo"  # found without psutil (SIOCGIFCONF)
    assert sorted(os.listdir(tmp_path)) == [
        "127-0-0-1_test.html",
        "127-0-0-1_test.json",
        "127-0-0-1_test.junit.xml",
        "127-0-0-1_test.txt",
        "wirecheck_127-0-0-1.prom",
    ]


def test_the_file_makes_a_bundle_as_nobody(pyz: Path) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the file as nobody")
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else None
    if python is None:
        pytest.skip("no interpreter outside root's home for nobody to run")
    out = Path(tempfile.mkdtemp(prefix="wirecheck-nobody-"))
    try:
        os.chown(out, 65534, 65534)
        closed = str(refusing_port())
        done = subprocess.run(
            [
                *("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
                python,
                str(pyz),
                "bundle",
                *("--target", "127.0.0.1", "--timeout", "2", "--output", str(out)),
                *("--port-http", closed, "--port-hostplugin", closed, "--port-dns", closed),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            cwd=out,
        )
        assert done.returncode == 0, done.stderr
        archive = Path(done.stdout.strip())
        info = archive.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (65534, 0o600)
        with tarfile.open(archive) as bundle:
            names = bundle.getnames()
            manifest = json.loads(
                bundle.extractfile(next(n for n in names if n.endswith("/manifest.json"))).read()  # type: ignore[union-attr]
            )
        assert any(n.endswith("/reports/127-0-0-1_test.json") for n in names)
        root_items = [i for i in manifest["items"] if i.get("note", "").startswith("needs root")]
        assert root_items, "the manifest should say which items needed root"
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.lab
def test_a_lab_run_from_the_file_in_a_fresh_venv(pyz: Path, tmp_path: Path) -> None:
    """`wirecheck lab run` (healthy) from the file, in a venv without wirecheck.

    The lab itself manages its simulator processes with psutil, so this venv gets a copy of
    the test interpreter's psutil on PYTHONPATH; the file carries none (see build_pyz.py).
    """
    if not (ROOT / "wirecheck" / "lab" / "__main__.py").exists():
        pytest.skip("the lab (wirecheck/lab/) is not there yet")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the lab needs root and iproute2")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    extra = tmp_path / "site"
    import psutil

    shutil.copytree(Path(psutil.__file__).parent, extra / "psutil")
    env = {**_ISOLATED["env"], "PYTHONPATH": str(extra)}
    probe = subprocess.run([python, "-c", "import wirecheck"], env=env, cwd=tmp_path, check=False)
    assert probe.returncode != 0, "wirecheck is importable in the fresh venv"
    lab = f"pz{os.getpid() % 100000}"
    command = [python, str(pyz), "lab"]
    try:
        done = subprocess.run(
            [*command, "run", "--name", lab],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=tmp_path,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output  # the healthy scenario
        assert "wirecheck: OK" in output
    finally:
        subprocess.run(
            [*command, "down", "--name", lab, "--purge"], capture_output=True, timeout=120, env=env
        )
