"""Build a scenario's lab and tear it down, leaving nothing behind.

What a lab owns on the machine: its namespaces (`wcl-<lab>-*`, which hold every link,
route and firewall rule of the lab), the processes inside them, `/etc/netns/<vm ns>`,
and its state directory (`/run/wirecheck-lab/<lab>`: the layers the VM sees over /etc and
/var/lib, logs and reports, kept after `down` for reading, replaced by the next `up`).
`down` finds all of it by name, not from a record of what was built, so it also cleans up
after a crashed or killed run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wirecheck.lab import topology
from wirecheck.lab.errors import LabError
from wirecheck.lab.flap import Flap
from wirecheck.lab.names import CUSTOM_DNS_IP, NETNS_ETC, PLATFORM_ADDRESSES, LabNames
from wirecheck.lab.preflight import require_tool
from wirecheck.lab.scenarios import CustomDns, Scenario
from wirecheck.model import PLATFORM_ADDRESS
from wirecheck.system import CommandResult, run_command

Runner = Callable[[Sequence[str], float], CommandResult]
COMMAND_TIMEOUT_S = 15.0
BULK_TIMEOUT_S = 300.0  # loading 100k generated rules or routes on a busy machine
READY_TIMEOUT_S = 15.0
STOP_GRACE_S = 2.0
PROXY_VARIABLES = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")
_SIMULATORS = ("wireserver", "dns", "custom-dns", "flap")  # "flap": the process switching a fault
# One TCP connect from the pod to WireServer, half a second at most; its outcome is not
# judged (the firewall check reads what the rules counted).
POD_PROBE = (
    "import socket; s = socket.socket(); s.settimeout(0.5); "
    f"s.connect_ex(('{PLATFORM_ADDRESS}', 80))"
)


def package_root() -> Path:
    """The directory that holds the `wirecheck` package, for the children's PYTHONPATH."""
    return Path(__file__).resolve().parents[2]


def child_env(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of processes started in the lab.

    The machine's proxy settings are not the simulated VM's: they are removed, and a
    scenario adds its own. PYTHONPATH makes the children run this very wirecheck.
    """
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if k.lower() not in PROXY_VARIABLES
    }
    path = [str(package_root())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra or {})
    return env


@dataclass
class Lab:
    """One named lab. The I/O is injected: `run` runs a command, `hostname` names the VM."""

    names: LabNames
    run: Runner = run_command
    hostname: Callable[[], str] = socket.gethostname
    python: str = sys.executable
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False, repr=False)

    # ---- queries -------------------------------------------------------------------

    def present_namespaces(self) -> list[str]:
        listed = self._must(["ip", "-j", "netns", "list"]).stdout.strip()
        existing = {entry["name"] for entry in json.loads(listed or "[]")}
        return [ns for ns in self.names.namespaces if ns in existing]

    def is_up(self) -> bool:
        return self.names.vm in self.present_namespaces()

    def state(self) -> dict[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads(self.names.state_file.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return loaded

    def leftovers(self) -> list[str]:
        """Everything of this lab that still exists on the machine, in words (empty: none)."""
        found = [f"namespace {ns}" for ns in self.present_namespaces()]
        found += [f"process {pid} ({_cmdline(pid)})" for pid in sorted(self._pids())]
        if self.names.vm_etc.exists():
            found.append(f"directory {self.names.vm_etc}")
        if self.names.state_file.exists():
            found.append(f"state file {self.names.state_file}")
        return found

    # ---- up ------------------------------------------------------------------------

    def up(self, scenario: Scenario) -> list[str]:
        """Build `scenario`, after removing any leftovers; returns what was removed first."""
        if scenario.run_as_uid is not None:
            require_tool("setpriv", f"scenario {scenario.name!r} (wirecheck as a non-root user)")
        if scenario.user_namespace:
            require_tool("unshare", f"scenario {scenario.name!r} (wirecheck in a user namespace)")
        removed = self.down()
        try:
            self._build(scenario)
        except BaseException:
            # Ctrl-C, SIGTERM turned into an exception, or a failed step: undo it all.
            with contextlib.suppress(Exception):
                self.down()
            raise
        return removed

    def _build(self, scenario: Scenario) -> None:
        names = self.names
        shutil.rmtree(names.state_dir, ignore_errors=True)
        names.logs_dir.mkdir(parents=True, mode=0o755)
        names.report_dir.mkdir(mode=0o755)
        if scenario.run_as_uid is not None:
            os.chown(names.report_dir, scenario.run_as_uid, scenario.run_as_uid)
        if scenario.user_namespace:
            names.open_dir.mkdir()
            names.open_dir.chmod(0o755)
        hostname = self.hostname()
        built = topology.plan(names, scenario, hostname)
        for file_name, text in built.state_files.items():
            (names.state_dir / file_name).write_text(text, encoding="utf-8")
        for argv in built.commands:
            slow = argv in built.slow_commands
            self._must(argv, BULK_TIMEOUT_S if slow else COMMAND_TIMEOUT_S)
        names.vm_etc.mkdir(parents=True, exist_ok=True)
        for file_name, text in built.vm_etc.items():
            (names.vm_etc / file_name).write_text(text, encoding="utf-8")
        _write_layer(
            names.vm_etc_layer, built.vm_etc_layer, built.vm_etc_hidden, built.vm_etc_opaque
        )
        _write_layer(
            names.vm_var_lib,
            built.vm_var_lib,
            built.vm_var_lib_hidden,
            built.vm_var_lib_opaque,
            built.vm_var_lib_dirs,
        )
        if built.vm_run is not None:
            index = self._ifindex(names.vm, "eth0")
            files = {
                path.replace(topology.IFINDEX, str(index)): text
                for path, text in built.vm_run.files.items()
            }
            run = built.vm_run
            _write_layer(names.vm_run_layer, files, run.hidden, run.opaque, run.dirs)
            names.vm_run_mount.mkdir(mode=0o755)
        setup = topology.vm_setup(names, built)
        if setup is not None:
            names.vm_setup.write_text(setup, encoding="utf-8")
        _write_layer(names.vm_var_log, built.vm_var_log)
        records = names.state_dir / "dns-records.json"
        records.write_text(json.dumps(topology.dns_records(hostname, scenario.ptr)), "utf-8")
        network = names.state_dir / "imds-network.json"
        network.write_text(json.dumps(topology.imds_network(scenario.second_ip_first)), "utf-8")
        started = {
            "wireserver": self._start(
                "wireserver",
                "wirecheck.lab.wireserver",
                [
                    *("--address", PLATFORM_ADDRESS, "--mode", scenario.wire_mode.value),
                    *("--imds-address", PLATFORM_ADDRESSES[1]),
                    *("--imds-network-file", str(network)),
                ],
            ),
            "dns": self._start(
                "dns",
                "wirecheck.lab.dnsserver",
                ["--address", PLATFORM_ADDRESS, "--records-file", str(records)],
            ),
        }
        if scenario.custom_dns is not None:
            started["custom-dns"] = self._start(
                "custom-dns",
                "wirecheck.lab.dnsserver",
                _custom_dns_args(scenario.custom_dns, names),
            )
        pids = {label: self._wait_ready(label, proc) for label, proc in started.items()}
        if scenario.pod:
            # The pod tries WireServer once, so rules on the VM's forwarding path count it.
            self._must(["ip", "netns", "exec", names.pod, self.python, "-c", POD_PROBE])
        state = {
            "lab": names.lab,
            "scenario": scenario.name,
            "hostname": hostname,
            "namespaces": list(built.namespaces),
            "simulators": pids,
            "started_at": time.time(),
        }
        names.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def _start(self, label: str, module: str, args: list[str]) -> subprocess.Popen[bytes]:
        names = self.names
        ready = names.state_dir / f"{label}.ready"
        argv = ["ip", "netns", "exec", names.host, self.python, "-m", module, *args]
        argv += ["--ready-file", str(ready)]
        with open(names.logs_dir / f"{label}.log", "ab") as log:
            log.write(f"$ {shlex.join(argv)}\n".encode())
            log.flush()
            # A session of its own: the simulators of `lab up` outlive it and must not
            # get the terminal's Ctrl-C; `down` stops them by namespace.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=names.state_dir,
                env=child_env(),
                start_new_session=True,
            )
        self._children.append(proc)
        return proc

    def _wait_ready(self, label: str, proc: subprocess.Popen[bytes]) -> int:
        ready = self.names.state_dir / f"{label}.ready"
        log = self.names.logs_dir / f"{label}.log"
        until = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if proc.poll() is not None:
                raise LabError(
                    f"the {label} simulator exited with code {proc.returncode} before it was "
                    f"ready; its log {log} ends: {_tail(log)}"
                )
            if time.monotonic() > until:
                raise LabError(
                    f"the {label} simulator was not ready within {READY_TIMEOUT_S:.0f} s; see {log}"
                )
            time.sleep(0.02)
        return proc.pid

    def start_flapping(self, scenario: Scenario, flap: Flap) -> Path:
        """Switch `scenario`'s rules on and off on `flap`'s schedule, from a process in the
        lab's host namespace (`down` stops it). The lab must be up without those rules;
        returns the schedule file the process logs each switch to."""
        schedule = self.names.logs_dir / "flap-schedule.jsonl"
        schedule.unlink(missing_ok=True)
        args = ["--lab", self.names.lab, "--scenario", scenario.name]
        args += ["--on", str(flap.on_s), "--period", str(flap.period_s)]
        args += ["--offset", str(flap.first_on_s), "--schedule-file", str(schedule)]
        self._wait_ready("flap", self._start("flap", "wirecheck.lab.flap", args))
        return schedule

    # ---- down ----------------------------------------------------------------------

    def down(self, purge: bool = False) -> list[str]:
        """Stop the lab's processes, delete its namespaces and /etc/netns dir; what was removed.

        Safe to call any number of times, and after a crash of the process that built it.
        """
        self._refuse_from_inside()
        removed: list[str] = []
        stopped = _stop(self._pids())
        if stopped:
            removed.append(f"{stopped} process(es)")
        for proc in self._children:  # reap our own children so none stays a zombie
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_GRACE_S)
        self._children.clear()
        for ns in self.present_namespaces():
            self._must(["ip", "netns", "del", ns])
            removed.append(f"namespace {ns}")
        if self.names.vm_etc.exists():
            shutil.rmtree(self.names.vm_etc)
            removed.append(f"directory {self.names.vm_etc}")
            with contextlib.suppress(OSError):
                NETNS_ETC.rmdir()  # only when empty: other namespaces may use it
        for stale in (self.names.state_file, *self._ready_files()):
            stale.unlink(missing_ok=True)
        if purge:
            shutil.rmtree(self.names.state_dir, ignore_errors=True)
        return removed

    def _ready_files(self) -> list[Path]:
        return [self.names.state_dir / f"{label}.ready" for label in _SIMULATORS]

    def _pids(self) -> set[int]:
        """Processes of this lab: any inside its namespaces, and simulators whose namespace
        is already gone (recognised by a ready file in this lab's state directory)."""
        pids: set[int] = set()
        for ns in self.present_namespaces():
            listed = self.run(["ip", "netns", "pids", ns], COMMAND_TIMEOUT_S)
            pids.update(int(word) for word in listed.stdout.split() if word.isdigit())
        import psutil  # here, not at import: `wirecheck --help` loads this module

        marker = str(self.names.state_dir) + "/"
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info["cmdline"] or []
            if any(
                flag == "--ready-file" and value.startswith(marker)
                for flag, value in zip(cmdline, cmdline[1:])
            ):
                pids.add(proc.pid)
        pids.discard(os.getpid())
        return pids

    def _refuse_from_inside(self) -> None:
        """`down` run inside the lab (from `lab shell`) would kill its own shell."""
        try:
            mine = os.stat("/proc/self/ns/net").st_ino
        except OSError:
            return
        for ns in self.present_namespaces():
            with contextlib.suppress(OSError):
                if os.stat(f"/run/netns/{ns}").st_ino == mine:
                    raise LabError(
                        f"this command runs inside the lab's namespace {ns}; leave the lab "
                        "shell (`exit`) and run `wirecheck lab down` from outside"
                    )

    def _ifindex(self, namespace: str, device: str) -> int:
        listed = self._must(["ip", "-n", namespace, "-j", "link", "show", device]).stdout
        try:
            return int(json.loads(listed)[0]["ifindex"])
        except (ValueError, LookupError, TypeError) as exc:
            raise LabError(f"no interface index for {device} in {namespace}: {listed!r}") from exc

    def _must(self, argv: Sequence[str], timeout_s: float = COMMAND_TIMEOUT_S) -> CommandResult:
        done = self.run(argv, timeout_s)
        if not done.ok:
            reason = done.why
            raise LabError(f"lab step `{shlex.join(argv)}` failed: {reason}")
        return done


def _custom_dns_args(mode: CustomDns, names: LabNames) -> list[str]:
    """A custom DNS server: one that knows no name (an empty zone: NXDOMAIN for all), or
    one that forwards every question to the platform resolver."""
    empty = names.state_dir / "custom-dns-records.json"
    empty.write_text(json.dumps({"a": {}, "ptr": {}}), "utf-8")
    args = ["--address", CUSTOM_DNS_IP, "--records-file", str(empty)]
    if mode is CustomDns.FORWARD:
        args += ["--forward-to", PLATFORM_ADDRESS]
    return args


def _write_layer(
    root: Path,
    files: Mapping[str, str | bytes],
    hidden: Sequence[str] = (),
    opaque: Sequence[str] = (),
    dirs: Sequence[str] = (),
) -> None:
    """An overlay layer the VM sees: `files` (readable by a non-root wirecheck too),
    whiteouts that hide the machine's `hidden` paths (overlayfs's own mark: a 0/0 character
    device in a layer hides that path in the layers below), `opaque` directories that show
    this layer's content only (overlayfs's xattr), and empty `dirs` (mount points)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    for relative in (*opaque, *dirs):
        (root / relative).mkdir(parents=True, exist_ok=True, mode=0o755)
    for relative in opaque:
        os.setxattr(root / relative, "trusted.overlay.opaque", b"y")
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
    for relative in hidden:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def _stop(pids: set[int]) -> int:
    """SIGTERM, a grace period, then SIGKILL; returns how many processes there were."""
    import psutil

    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=STOP_GRACE_S)
    return len(procs)


def _cmdline(pid: int) -> str:
    import psutil

    try:
        return " ".join(psutil.Process(pid).cmdline())[:120]
    except psutil.Error:
        return "gone"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty)"
