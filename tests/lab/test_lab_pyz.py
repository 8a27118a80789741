"""The single file in the lab's VM namespace, on every supported Python.

The test builds the healthy lab with this interpreter's code (the lab's simulators need
psutil, which the file leaves out), then each of Python 3.9 to 3.13 runs the file there with
`-I -S` (no site-packages: no psutil, no installed wirecheck; every import comes from the
file) against the lab's 168.63.129.16, as an admin would run it on a VM. The report must be
what the scenario declares, as in the lab matrix. The same run with the raw traceroute engine
shows that without scapy the file falls back to the kernel engine and says why, and the
file's own `lab` command says it needs psutil.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.labenv import unique_names
from tests.pythons import SUPPORTED, require_pythons
from wirecheck.lab.lab import Lab, child_env
from wirecheck.lab.names import LabNames
from wirecheck.lab.run import as_user, in_vm
from wirecheck.lab.scenarios import CATALOGUE, Scenario, compare, scenario

pytestmark = [pytest.mark.lab, pytest.mark.every_python]

# `wirecheck run` in the VM, against the lab's 168.63.129.16 (--force: not an Azure VM). The
# file carries no bytecode: each run compiles what it imports (0.3 s more CPU than an
# installed wirecheck, seconds of wall time on a loaded 2-core CI machine, where a 3 s
# deadline left DNS no time). A healthy run ends when its checks do: a long deadline is free.
RUN = ("run", "--force", "-o", "json", "--no-report", "--timeout", "10")
ISOLATED = ("-I", "-S")


@pytest.fixture(scope="module")
def healthy() -> Iterator[tuple[LabNames, Scenario]]:
    names = unique_names("pz")
    lab = Lab(names)
    chosen = scenario("healthy")
    try:
        lab.up(chosen)
        yield names, chosen
    finally:
        lab.down(purge=True)
        assert lab.leftovers() == []


def _in_vm(
    lab: tuple[LabNames, Scenario], python: str, pyz: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    names, chosen = lab
    user = as_user(chosen.run_as_uid) if chosen.run_as_uid is not None else []
    argv = in_vm(names, [*user, python, *ISOLATED, str(pyz), *args])
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, check=False, cwd="/", env=child_env()
    )


def _report(done: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    assert done.stdout.lstrip().startswith("{"), f"{what}: exit {done.returncode}\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout)
    assert "Traceback" not in done.stderr, f"{what}:\n{done.stderr}"
    return report


def test_the_file_runs_in_the_lab_vm_on_every_supported_python(
    pyz: Path, healthy: tuple[LabNames, Scenario]
) -> None:
    pythons = require_pythons(SUPPORTED)
    _, chosen = healthy
    for version, python in pythons.items():
        for module in ("psutil", "wirecheck", "scapy"):  # nothing but the file to import from
            probe = subprocess.run(
                [python, *ISOLATED, "-c", f"import {module}"], capture_output=True, check=False
            )
            assert probe.returncode != 0, f"Python {version} -I -S imports {module}"

        what = f"Python {version}: the file's healthy run in the lab VM"
        run = _in_vm(healthy, python, pyz, *RUN)
        report = _report(run, what)
        mismatches = compare(chosen, report)
        assert not mismatches, f"{what}: " + "; ".join(str(m) for m in mismatches)
        assert [c["id"] for c in report["checks"]] == list(CATALOGUE), what
        assert run.returncode == report["exit_code"] == 0, what

        what = f"Python {version}: the file's raw trace without scapy"
        trace = _in_vm(healthy, python, pyz, *RUN, "--only", "trace-80", "--trace-engine", "raw")
        [row] = _report(trace, what)["checks"]
        evidence = row["evidence"]
        assert (row["status"], evidence["engine"]) == ("ok", "kernel"), f"{what}: {row}"
        assert any(
            note.startswith("raw engine not used: scapy could not be imported")
            for note in evidence["notes"]
        ), f"{what}: {evidence.get('notes')}"


def test_the_files_lab_command_says_it_needs_psutil(pyz: Path) -> None:
    pythons = require_pythons(SUPPORTED)
    for version, python in pythons.items():
        done = subprocess.run(
            [python, *ISOLATED, str(pyz), "lab", "down", "--name", "pzunused"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd="/",
        )
        assert (done.returncode, done.stdout) == (3, ""), f"Python {version}: {done.stderr}"
        assert done.stderr == (
            "wirecheck lab: the lab needs the Python package psutil (`pip install psutil`)\n"
        ), f"Python {version}"
