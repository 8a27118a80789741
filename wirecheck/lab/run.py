"""Run `wirecheck run` inside the lab's VM namespace, as the scenario says (root or not)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wirecheck.lab.errors import LabError
from wirecheck.lab.lab import STOP_GRACE_S, child_env, package_root
from wirecheck.lab.names import LabNames
from wirecheck.lab.scenarios import Scenario

# How long past wirecheck's own deadline we wait before calling the run hung.
HANG_MARGIN_S = 30.0
DEFAULT_WIRECHECK_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LabRun:
    exit_code: int
    report: dict[str, Any] | None  # the parsed `-o json` output, when asked for and valid
    stdout: str
    stderr: str
    duration_s: float


def as_user(uid: int) -> list[str]:
    """A prefix that runs a command as `uid` with no root privilege over the network.

    Python lives under /root (mode 700) on some machines, so the user gets one capability,
    CAP_DAC_READ_SEARCH (read any file, search any directory), as an ambient capability that
    survives exec. It grants nothing on the network: the sockets it opens are owned by
    `uid`, which is what the guest agent's `--uid-owner 0` rule looks at.
    """
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
    ]


ETC, VAR_LIB, VAR_LOG = "/etc", "/var/lib", "/var/log"
# Runs first inside the VM namespace: `ip netns exec` gives its command a mount namespace
# of its own (a slave of the machine's), so these read-only overlays are seen by that
# command and its children only and vanish with them; the machine's /etc and /var/lib
# are not touched. They add the lab's files on top of the machine's: in /etc the VM's
# resolv.conf and hosts and a scenario's own files (waagent.conf, which `ip netns exec`
# cannot add: it only bind-mounts over files that exist), in /var/lib the DHCP lease, in
# /var/log a scenario's status files. $1, $2 and $3 are the lab's layers, $4 the scenario's
# setup script; the rest is the command.
_ENTRY = (
    f'mount -t overlay wirecheck-lab -o "ro,lowerdir=$1:{ETC}" {ETC} || '
    "echo \"wirecheck lab: could not lay the lab's files over /etc (overlayfs?); the VM "
    "keeps its resolv.conf and hosts but not the scenario's other files\" >&2; "
    f'mount -t overlay wirecheck-lab -o "ro,lowerdir=$2:{VAR_LIB}" {VAR_LIB} || '
    'echo "wirecheck lab: could not add the lab DHCP lease to /var/lib (overlayfs?); '
    'the endpoint check will not find it" >&2; '
    f'mount -t overlay wirecheck-lab -o "ro,lowerdir=$3:{VAR_LOG}" {VAR_LOG} || '
    'echo "wirecheck lab: could not add the lab files to /var/log (overlayfs?)" >&2; '
    # $4: the scenario's own mounts (its /run layer, a noexec or full filesystem), if any.
    'if [ -s "$4" ]; then . "$4"; fi; shift 4; exec "$@"'
)


def in_vm(names: LabNames, argv: Sequence[str]) -> list[str]:
    """`argv` inside the VM namespace, seeing the VM's own /etc files, DHCP lease and logs."""
    return [
        *("ip", "netns", "exec", names.vm),
        *("sh", "-c", _ENTRY, "wirecheck-lab-vm"),
        *(str(names.vm_etc_layer), str(names.vm_var_lib), str(names.vm_var_log)),
        str(names.vm_setup),
        *argv,
    ]


def vm_command(
    scenario: Scenario,
    options: Sequence[str],
    python: str = sys.executable,
    open_dir: str | None = None,
) -> list[str]:
    """`wirecheck run` as the scenario's user, as typed inside the VM namespace.

    `--force` because the machine is not an Azure VM: the target is the lab's own host.
    In a user-namespace scenario the user enters one as its root (`unshare --user
    --map-root-user`); `open_dir` is an empty directory that opens the way to Python for it.
    """
    user = as_user(scenario.run_as_uid) if scenario.run_as_uid is not None else []
    if scenario.user_namespace:
        opened = _opened([python, str(package_root())], open_dir) if open_dir else []
        user = [*opened, *user, "unshare", "--user", "--map-root-user"]
    return [*user, python, "-m", "wirecheck", "run", "--force", *options]


def _opened(paths: Sequence[str], open_dir: str) -> list[str]:
    """A prefix, run as root in the VM's private mount namespace, that lets anyone traverse
    the directories on `paths`: each one closed to others (Python under /root, mode 700)
    gets a read-only overlay whose top layer is `open_dir` (empty, mode 755). A process in a
    user namespace reads the machine's files as "others": its capabilities do not reach
    files owned by uids it has not mapped."""
    closed = sorted(
        {
            str(directory)
            for path in paths
            for directory in Path(path).parents
            if directory != Path("/") and not os.stat(directory).st_mode & stat.S_IXOTH
        }
    )
    if not closed:
        return []
    mounts = " ".join(shlex.quote(d) for d in closed)
    script = (
        f'for d in {mounts}; do mount -t overlay wirecheck-lab -o "ro,lowerdir=$0:$d" "$d" '
        '|| exit 1; done; exec "$@"'
    )
    return ["sh", "-c", script, open_dir]


def vm_argv(
    names: LabNames, scenario: Scenario, options: Sequence[str], python: str = sys.executable
) -> list[str]:
    """`wirecheck run` inside the VM namespace."""
    open_dir = str(names.open_dir) if scenario.user_namespace else None
    return in_vm(names, vm_command(scenario, options, python, open_dir))


def _timeout_of(options: Sequence[str]) -> float:
    """wirecheck's `--timeout` among `options` (the last one wins, as on its command line)."""
    value = DEFAULT_WIRECHECK_TIMEOUT_S
    for index, option in enumerate(options):
        text = None
        if option == "--timeout" and index + 1 < len(options):
            text = options[index + 1]
        elif option.startswith("--timeout="):
            text = option.split("=", 1)[1]
        if text is not None:
            with contextlib.suppress(ValueError):  # wirecheck itself names a bad value
                value = float(text)
    return value


def run_wirecheck(
    names: LabNames,
    scenario: Scenario,
    options: Sequence[str] = (),
    *,
    capture: bool = True,
    python: str = sys.executable,
) -> LabRun:
    """Run wirecheck in the VM namespace of an up lab and wait for it, bounded.

    capture=False lets it print straight to the terminal (its live table). If this process
    is interrupted meanwhile, wirecheck is stopped before the interrupt goes on.
    """
    argv = vm_argv(names, scenario, options, python)
    limit = _timeout_of(options) + HANG_MARGIN_S
    pipe = subprocess.PIPE if capture else None
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=pipe,
        stderr=pipe,
        cwd="/",
        env=child_env(scenario.env),
    )
    try:
        stdout, stderr = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LabError(
            f"wirecheck in {names.vm} did not finish within {limit:.0f} s and was killed "
            f"(a hang: see the simulator logs in {names.logs_dir})"
        ) from None
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise
    out = (stdout or b"").decode("utf-8", errors="replace")
    err = (stderr or b"").decode("utf-8", errors="replace")
    return LabRun(proc.returncode, _json_or_none(out), out, err, time.monotonic() - started)


def run_json(
    names: LabNames, scenario: Scenario, timeout_s: float = 3.0, extra: Sequence[str] = ()
) -> LabRun:
    """The run the tests use: JSON on stdout, no report files, a short deadline."""
    options = ["-o", "json", "--no-report", "--timeout", str(timeout_s), *extra]
    return run_wirecheck(names, scenario, options)


def _json_or_none(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        loaded = json.loads(text)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None
