"""`wirecheck lab run` and `wirecheck lab shell` as a user runs them (separate processes)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.lab.labenv import fresh_lab, lab_command
from wirecheck.lab.lab import Lab
from wirecheck.lab.names import LabNames

pytestmark = pytest.mark.lab


@pytest.fixture
def names() -> Iterator[LabNames]:
    yield from fresh_lab("s")


def _lab(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        lab_command(*args), input=stdin, capture_output=True, text=True, timeout=90, cwd="/"
    )


def test_run_prints_wirecheck_exits_with_its_code_and_checks_the_scenario(
    names: LabNames,
) -> None:
    done = _lab(
        "run", "--name", names.lab, "-s", "ptr-present", "--", "--timeout", "3", "-o", "json"
    )
    report = json.loads(done.stdout)  # wirecheck's own output, untouched
    assert done.returncode == report["exit_code"] == 1
    assert "every verdict is what scenario 'ptr-present' expects" in done.stderr
    assert f"reports in {names.report_dir}" in done.stderr
    assert sorted(p.name for p in names.report_dir.iterdir()) == [
        "168-63-129-16_test.json",
        "168-63-129-16_test.txt",
    ]
    assert Lab(names).leftovers() == []


def test_shell_is_inside_the_vm_with_its_resolver_and_lease(names: LabNames) -> None:
    assert _lab("up", "--name", names.lab).returncode == 0
    commands = "ip -4 -br addr show eth0; grep nameserver /etc/resolv.conf; ls /var/lib/dhcp\n"
    done = _lab("shell", "--name", names.lab, stdin=commands)
    assert done.returncode == 0, done.stderr
    assert "10.1.0.4/24" in done.stdout
    assert "nameserver 168.63.129.16" in done.stdout
    assert "dhclient.eth0.leases" in done.stdout
    assert Lab(names).is_up()  # leaving the shell leaves the lab up


def test_shell_without_a_lab_is_one_line_and_exit_3(names: LabNames) -> None:
    done = _lab("shell", "--name", names.lab)
    assert done.returncode == 3
    assert done.stderr == (
        f"wirecheck lab: no lab named {names.lab!r} is up; start one with "
        f"`wirecheck lab up --name {names.lab}`\n"
    )
