"""Preflight, the runner's command line and environment, and the CLI's plain commands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.cli_runner import cli_runner
from wirecheck.lab.cli import lab_app
from wirecheck.lab.errors import LabError
from wirecheck.lab.lab import child_env, package_root
from wirecheck.lab.names import lab_names
from wirecheck.lab.preflight import preflight
from wirecheck.lab.run import _timeout_of, in_vm, vm_argv, vm_command
from wirecheck.lab.scenarios import SCENARIOS, scenario
from wirecheck.system import CommandResult

NAMES = lab_names("t1")


def _ran(ok: bool) -> Callable[[Sequence[str], float], CommandResult]:
    def run(argv: Sequence[str], _timeout: float) -> CommandResult:
        return CommandResult(
            tuple(argv), 0 if ok else 1, "", "" if ok else "Operation not permitted"
        )

    return run


def _everything(_tool: str) -> str | None:
    return "/usr/sbin/x"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"platform": "darwin"}, "needs Linux network namespaces; this is darwin"),
        ({"root": lambda: False}, "needs root"),
        ({"which": lambda tool: None if tool == "ip" else "/x"}, "install iproute2"),
        ({"which": lambda tool: None if tool == "iptables" else "/x"}, "`iptables`"),
        ({"run": _ran(False)}, "`ip netns` does not work here (Operation not permitted)"),
        ({"has_module": lambda name: name != "psutil"}, "needs the Python package psutil"),
    ],
)
def test_preflight_names_the_first_missing_piece(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "platform": "linux",
        "root": lambda: True,
        "which": _everything,
        "run": _ran(True),
        **kwargs,
    }
    with pytest.raises(LabError) as raised:
        preflight(**arguments)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_preflight_passes_when_all_is_there() -> None:
    preflight(platform="linux", root=lambda: True, which=_everything, run=_ran(True))


def test_root_runs_wirecheck_forced_inside_the_vm_namespace() -> None:
    argv = vm_argv(NAMES, scenario("healthy"), ["--timeout", "3"], python="/py")
    assert argv[:4] == ["ip", "netns", "exec", "wcl-t1-vm"]
    assert argv[-7:] == ["/py", "-m", "wirecheck", "run", "--force", "--timeout", "3"]
    assert "setpriv" not in argv


def test_non_root_scenario_drops_to_nobody_with_read_search_only() -> None:
    command = vm_command(scenario("agent-firewall-nonroot"), [], python="/py")
    assert command[:6] == [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
    ]
    assert command[6:] == ["/py", "-m", "wirecheck", "run", "--force"]


def test_vm_entry_overlays_the_lab_etc_and_lease_before_the_command() -> None:
    argv = in_vm(NAMES, ["/bin/sh"])
    assert argv[4:6] == ["sh", "-c"]
    entry = argv[6]
    assert 'lowerdir=$1:/etc" /etc' in entry and 'lowerdir=$2:/var/lib" /var/lib' in entry
    assert 'lowerdir=$3:/var/log" /var/log' in entry
    assert entry.endswith('if [ -s "$4" ]; then . "$4"; fi; shift 4; exec "$@"')
    layers = [str(NAMES.vm_etc_layer), str(NAMES.vm_var_lib), str(NAMES.vm_var_log)]
    assert argv[-5:] == [*layers, str(NAMES.vm_setup), "/bin/sh"]
    # The layers live in the lab's state directory, never inside the directories they cover.
    assert {NAMES.vm_etc_layer.parent, NAMES.vm_var_lib.parent, NAMES.vm_var_log.parent} == {
        NAMES.state_dir
    }


def test_child_env_drops_the_machines_proxies_and_adds_the_scenarios() -> None:
    base = {"PATH": "/bin", "HTTPS_PROXY": "http://corp:8080", "no_proxy": "x", "PYTHONPATH": "/a"}
    env = child_env({"http_proxy": "http://10.1.0.99:3128"}, base=base)
    assert env["PATH"] == "/bin"
    assert "HTTPS_PROXY" not in env and "no_proxy" not in env
    assert env["http_proxy"] == "http://10.1.0.99:3128"
    assert env["PYTHONPATH"].split(":") == [str(package_root()), "/a"]


@pytest.mark.parametrize(
    ("options", "seconds"),
    [([], 5.0), (["--timeout", "3"], 3.0), (["--timeout=2.5"], 2.5), (["--timeout", "x"], 5.0)],
)
def test_the_runner_reads_wirechecks_deadline(options: list[str], seconds: float) -> None:
    assert _timeout_of(options) == seconds


def test_scenarios_command_lists_every_scenario_with_its_expectation() -> None:
    result = cli_runner().invoke(lab_app, ["scenarios"])
    assert result.exit_code == 0
    for item in SCENARIOS:
        assert item.name in result.output and item.description in result.output
        assert f"first cause: {item.diagnosis.describe()}" in result.output
    assert result.output.count("expect: ") == len(SCENARIOS)


def test_a_bad_scenario_is_one_line_and_exit_3() -> None:
    # As root this reaches the scenario lookup; as non-root, preflight: both are exit 3.
    result = cli_runner().invoke(lab_app, ["run", "--scenario", "nope"])
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("wirecheck lab: ")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_user_namespace_scenario_enters_one_as_nobody_and_opens_the_way_to_python(
    tmp_path: Path,
) -> None:
    closed = tmp_path / "closed"
    (closed / "bin").mkdir(parents=True)
    closed.chmod(0o700)
    python = str(closed / "bin" / "python3")
    command = vm_command(scenario("agent-firewall-userns-root"), [], python, "/run/open")
    # As root, in the VM's own mount namespace: the closed directory gets an open overlay.
    assert command[:2] == ["sh", "-c"] and f"{closed}" in command[2]
    assert 'lowerdir=$0:$d" "$d"' in command[2] and command[3] == "/run/open"
    # Then nobody, then a user namespace in which nobody is root.
    assert command[4:10] == [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
    ]
    assert command[10:] == [
        *("unshare", "--user", "--map-root-user"),
        *(python, "-m", "wirecheck", "run", "--force"),
    ]
    argv = vm_argv(NAMES, scenario("agent-firewall-userns-root"), [], python="/usr/bin/python3")
    assert argv[-8:-5] == ["unshare", "--user", "--map-root-user"]
