"""guest-agent: the Azure guest agent and the GuestProxyAgent, and what they last said about
reaching the platform.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.checks.wire import WireFacts
from wirecheck.model import Deadline, Facts, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.waagent import (
    PROXY_AGENT_STATUS,
    WAAGENT_CONF,
    WAAGENT_LOG,
    LogEntry,
    ProxyAgentStatus,
    connectivity_errors,
    log_version,
    parse_log,
    parse_proxy_agent_status,
    parse_version_output,
)

if TYPE_CHECKING:
    from typing_extensions import TypeGuard  # typing.TypeGuard is new in 3.10
from wirecheck.system import CommandResult

AGENT_UNITS = ("walinuxagent.service", "waagent.service")
PROXY_AGENT_UNIT = "azure-proxy-agent.service"
FACTS_BUDGET_S = 2.0  # `waagent --version` starts a Python interpreter
LOG_TAIL_BYTES = 1024 * 1024  # the recent end of the log is what matters
RECENT = timedelta(hours=24)  # older connectivity errors are history, not today's problem
REDIRECT_NOTE = (
    "the GuestProxyAgent is active: a TCP connect to 80/32526 may end at its local listener, "
    "not at the host; the trace rows are the path evidence"
)


# The guest agent's long-running modes (its parse_args accepts any run of - or / before
# the word): the daemon, and the extension handler it starts, from /usr/sbin/waagent or
# from an auto-updated egg (`python3 -u bin/WALinuxAgent-2.15.0.1-py3.12.egg
# -run-exthandlers`). `-version`, `-deprovision`, `-collect-logs` and the like are
# one-off commands, not the agent running.
_AGENT_MODE = re.compile(r"[-/]*(daemon|run-exthandlers)$")
_AGENT_EGG = re.compile(r"WALinuxAgent-\d[\w.]*-py\d[\d.]*\.egg")
_PYTHON = re.compile(r"(platform-)?python[\d.]*")
_PYTHON_VALUE_OPTIONS = "WXQ"  # options whose value follows (-W ignore, -Xdev)
_PYTHON_NOT_A_SCRIPT = "cm"  # -c CODE, -m MODULE: no script file runs
PROXY_AGENT_PROGRAM = "azure-proxy-agent"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def parse_systemctl_show(text: str) -> dict[str, dict[str, str]]:
    """`systemctl show -p Id -p LoadState -p ActiveState -p SubState U1 U2`: unit -> properties."""
    units: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if not line:
            if current.get("Id"):
                units[current["Id"]] = current
            current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    return units


def split_cmdline(raw: str) -> list[str]:
    """/proc/PID/cmdline (NUL-separated) as argv; a process that rewrote its title into one
    string (`sshd: user [priv]`) is split on spaces."""
    argv = [arg for arg in raw.split("\0") if arg]
    if len(argv) == 1 and " " in argv[0]:
        return argv[0].split()
    return argv


def _script_of(argv: list[str]) -> tuple[str, list[str]] | None:
    """(the program or script a command line runs, its arguments), looking through a
    Python interpreter and its options; None for `python -c`/`-m` and bare interpreters."""
    if not argv:
        return None
    if not _PYTHON.fullmatch(posixpath.basename(argv[0])):
        return argv[0], argv[1:]
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg == "-" or not arg.startswith("-"):
            break
        if not arg.startswith("--"):
            for position, letter in enumerate(arg[1:], start=1):
                if letter in _PYTHON_NOT_A_SCRIPT:
                    return None
                if letter in _PYTHON_VALUE_OPTIONS:
                    index += position == len(arg) - 1  # the value is the next argument
                    break
        index += 1
    if index >= len(argv) or argv[index] == "-":
        return None
    return argv[index], argv[index + 1 :]


def agent_process(argv: list[str]) -> str | None:
    """Which agent a command line is: "guest-agent" (the Linux agent's daemon or extension
    handler), "proxy-agent" (the GuestProxyAgent), or None. Pure.

    Judged by the program that runs (its basename) and the agent's mode, never by a word
    anywhere in the line: `pytest tests/test_waagent.py`, `vim /etc/waagent.conf` or
    `tail -f /var/log/waagent.log` are not the agent.
    """
    found = _script_of(argv)
    if found is None:
        return None
    program, args = found
    name = posixpath.basename(program)
    if name == PROXY_AGENT_PROGRAM:
        return "proxy-agent"
    if name != "waagent" and not _AGENT_EGG.fullmatch(name):
        return None
    return "guest-agent" if any(_AGENT_MODE.match(arg) for arg in args) else None


class GuestAgentFacts(Facts):
    """The guest agents found (Linux or Windows)."""


@dataclass(frozen=True)
class LinuxAgentFacts(GuestAgentFacts):
    units: Mapping[str, Mapping[str, str]]  # unit -> systemctl properties (loaded ones only)
    processes: tuple[str, ...]  # agent command lines seen in /proc (when systemctl is absent)
    installed: bool  # a unit, a process or /etc/waagent.conf exists
    proxy_agent_processes: tuple[str, ...] = ()  # GuestProxyAgent ones, likewise
    version: Mapping[str, str] = field(default_factory=dict)  # from `waagent --version`
    log: tuple[LogEntry, ...] = ()
    log_note: str | None = None
    proxy_agent: ProxyAgentStatus | None = None
    proxy_agent_note: str | None = None
    proxy_agent_header: bool = False  # seen on the WireServer reply (wire-versions)

    @property
    def agent_unit(self) -> str | None:
        return next((u for u in AGENT_UNITS if u in self.units), None)

    @property
    def state(self) -> str | None:
        unit = self.agent_unit
        return self.units[unit].get("ActiveState") if unit else None

    @property
    def running(self) -> bool:
        return self.state == "active" or bool(self.processes)

    @property
    def agent_version(self) -> str | None:
        found = self.version.get("goal_state_agent") or self.version.get("installed")
        return found or log_version(list(self.log))

    @property
    def errors(self) -> list[LogEntry]:
        return connectivity_errors(list(self.log))

    @property
    def proxy_agent_active(self) -> bool:
        """The GuestProxyAgent redirects traffic here (connects may end at its listener)."""
        unit = self.units.get(PROXY_AGENT_UNIT)
        running = bool(unit and unit.get("ActiveState") == "active") or bool(
            self.proxy_agent_processes
        )
        status = self.proxy_agent
        return self.proxy_agent_header or running or bool(status and status.redirecting)

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "service": self.agent_unit,
            "state": self.state or ("running" if self.processes else "not running"),
            "version": self.agent_version,
        }
        if self.version:
            evidence["waagent_version"] = dict(self.version)
        if self.processes:
            evidence["processes"] = list(self.processes)
        evidence["log_errors"] = [e.to_text() for e in self.errors]
        if self.log_note:
            evidence["log"] = self.log_note
        unit = self.units.get(PROXY_AGENT_UNIT)
        status = self.proxy_agent
        if unit or status or self.proxy_agent_header or self.proxy_agent_processes:
            evidence["guest_proxy_agent"] = {
                "service": unit.get("ActiveState") if unit else None,
                "version": status.version if status else None,
                "status": status.overall if status else None,
                "modules": dict(status.modules) if status else {},
                "problems": list(status.problems) if status else [],
                "reply_header_seen": self.proxy_agent_header,
            }
        if self.proxy_agent_note:
            evidence["guest_proxy_agent_status_file"] = self.proxy_agent_note
        if self.proxy_agent_processes:
            evidence["guest_proxy_agent_processes"] = list(self.proxy_agent_processes)
        return evidence


@dataclass(frozen=True)
class WindowsAgentFacts(GuestAgentFacts):
    services: Mapping[str, str]  # service name -> its state, or "not installed"

    def evidence(self) -> dict[str, Any]:
        return dict(self.services)


def judge_linux(facts: LinuxAgentFacts, now: datetime) -> Outcome:
    """The verdict from what was gathered. Pure."""
    agent_unit, state, version = facts.agent_unit, facts.state, facts.agent_version
    errors = facts.errors
    recent = [e for e in errors if e.time is None or now - e.time <= RECENT]
    notes = [REDIRECT_NOTE] if facts.proxy_agent_active else []
    if not facts.installed:
        return Outcome(
            Status.SKIP,
            "; ".join(
                [
                    "no Linux guest agent here (no walinuxagent/waagent unit or process, no "
                    f"{WAAGENT_CONF})",
                    *notes,
                ]
            ),
            facts,
        )
    named = f"{agent_unit or 'waagent'} {version or '(version unknown)'}"
    if not facts.running:
        # Installed by its configuration alone: no unit or process says more.
        why = state or f"{WAAGENT_CONF} is there, no walinuxagent/waagent service or process is"
        return Outcome(
            Status.WARN,
            "; ".join([f"the guest agent is installed but not running ({why})", *notes]),
            facts,
            fix=f"Start it: `systemctl start {agent_unit or 'walinuxagent'}`; "
            f"`journalctl -u {agent_unit or 'walinuxagent'}` says why it stopped.",
        )
    if recent:
        last = recent[-1]
        return Outcome(
            Status.WARN,
            "; ".join(
                [
                    f"{named} is running; {len(recent)} connectivity error(s) in its log in the "
                    f"last {RECENT.total_seconds() / 3600:.0f} h, last: {last.to_text()}",
                    *notes,
                ]
            ),
            facts,
            fix="The agent cannot always reach the platform: the other rows say why; after "
            f"fixing, watch `{WAAGENT_LOG}` for new errors.",
        )
    older = f" (older errors: {len(errors)}, last at {errors[-1].to_text()[:20]})" if errors else ""
    return Outcome(
        Status.OK,
        "; ".join(
            [
                f"{named} is running; no recent connectivity errors in its log{older}",
                *notes,
            ]
        ),
        facts,
    )


def collect_linux(ctx: CheckContext, now: datetime) -> LinuxAgentFacts:
    system = ctx.system
    budget = Deadline(min(FACTS_BUDGET_S, ctx.deadline.remaining()))
    units = (*AGENT_UNITS, PROXY_AGENT_UNIT)
    properties = ["-p", "Id", "-p", "LoadState", "-p", "ActiveState", "-p", "SubState"]
    calls: dict[str, Callable[[], object]] = {
        "show": lambda: system.run_command(
            ["systemctl", "show", *properties, *units], budget.remaining()
        ),
        "version": lambda: system.run_command(["waagent", "--version"], budget.remaining()),
        "log": lambda: system.run_command(
            ["tail", "-c", str(LOG_TAIL_BYTES), WAAGENT_LOG], budget.remaining()
        ),
    }
    got = gather(calls, budget)
    show = got["show"]
    loaded: dict[str, dict[str, str]] = {}
    processes: dict[str, tuple[str, ...]] = {}
    if _ran(show):
        every = parse_systemctl_show(show.stdout)
        loaded = {u: p for u, p in every.items() if p.get("LoadState") == "loaded"}
    else:
        processes = _agent_processes(ctx)
    agent_processes = processes.get("guest-agent", ())
    version_run = got["version"]
    version = parse_version_output(version_run.stdout) if _ran(version_run) else {}
    log_text, log_note = _log_text(ctx, got["log"])
    try:
        system.read_text(WAAGENT_CONF)
        conf_present = True
    except OSError:
        conf_present = False
    proxy_status, proxy_note = _proxy_agent_status(ctx)
    wire, _ = ctx.facts_of("wire-versions", WireFacts)
    return LinuxAgentFacts(
        units=loaded,
        processes=agent_processes,
        proxy_agent_processes=processes.get("proxy-agent", ()),
        installed=conf_present or any(u in loaded for u in AGENT_UNITS) or bool(agent_processes),
        version=version,
        log=tuple(parse_log(log_text)),
        log_note=log_note,
        proxy_agent=proxy_status,
        proxy_agent_note=proxy_note,
        proxy_agent_header=bool(wire and wire.fetch.proxy_agent_header),
    )


def _ran(done: object) -> TypeGuard[CommandResult]:
    """A command that ran to a zero exit status (gather gives None for one that did not)."""
    return isinstance(done, CommandResult) and done.ok


def _log_text(ctx: CheckContext, tail: object) -> tuple[str, str | None]:
    if _ran(tail):
        return tail.stdout, None
    try:  # no `tail`: the log's end all the same (its start is years old)
        return ctx.system.read_tail(WAAGENT_LOG, LOG_TAIL_BYTES), None
    except OSError as exc:
        return "", f"{WAAGENT_LOG}: {exc.strerror or exc}"


def _proxy_agent_status(ctx: CheckContext) -> tuple[ProxyAgentStatus | None, str | None]:
    try:
        text = ctx.system.read_text(PROXY_AGENT_STATUS)
    except OSError:
        return None, None  # not installed: nothing to say
    try:
        return parse_proxy_agent_status(text), None
    except (ValueError, json.JSONDecodeError) as exc:
        return None, f"{PROXY_AGENT_STATUS} is not a GuestProxyAgent status: {exc}"


def _agent_processes(ctx: CheckContext) -> dict[str, tuple[str, ...]]:
    """Agent command lines from /proc by kind (see agent_process), for machines without
    systemd (containers)."""
    found: dict[str, list[str]] = {}
    try:
        pids = [p for p in ctx.system.list_dir("/proc") if p.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            argv = split_cmdline(ctx.system.read_text(f"/proc/{pid}/cmdline"))
        except OSError:
            continue  # gone meanwhile, or not ours to read
        kind = agent_process(argv)
        if kind:
            found.setdefault(kind, []).append(" ".join(argv)[:200])
    return {kind: tuple(lines) for kind, lines in found.items()}


def run_windows(ctx: CheckContext) -> Outcome:
    from wirecheck.platform.windows import (  # Windows only
        WINDOWS_AGENT_SERVICES,
        WINDOWS_PROXY_AGENT_SERVICE,
        parse_sc_query,
    )

    budget = Deadline(min(FACTS_BUDGET_S, ctx.deadline.remaining()))

    names = (*WINDOWS_AGENT_SERVICES, WINDOWS_PROXY_AGENT_SERVICE)
    got = gather(
        {name: _sc_query(ctx, name, budget) for name in names},
        budget,
    )
    states = {
        name: parse_sc_query(done.stdout + done.stderr, name)
        for name, done in got.items()
        if isinstance(done, CommandResult) and done.error is None
    }
    evidence = WindowsAgentFacts(
        {name: (s.state or "?") if s.installed else "not installed" for name, s in states.items()}
    )
    agents = [states[n] for n in WINDOWS_AGENT_SERVICES if n in states]
    if not any(s.installed for s in agents):
        return Outcome(Status.SKIP, "no Windows guest agent service is installed here", evidence)
    proxy = states.get(WINDOWS_PROXY_AGENT_SERVICE)
    notes = [REDIRECT_NOTE] if proxy and proxy.state == "RUNNING" else []
    stopped = [s.name for s in agents if s.installed and s.state != "RUNNING"]
    if stopped:
        return Outcome(
            Status.WARN,
            "; ".join([f"not running: {', '.join(stopped)}", *notes]),
            evidence,
            fix=f"Start them: `Start-Service {','.join(stopped)}`; the System event log says "
            "why they stopped.",
        )
    running = ", ".join(s.name for s in agents if s.installed)
    return Outcome(Status.OK, "; ".join([f"{running} running", *notes]), evidence)


def _sc_query(ctx: CheckContext, name: str, budget: Deadline) -> Callable[[], object]:
    return lambda: ctx.system.run_command(["sc", "query", name], budget.remaining())


def run_guest_agent(ctx: CheckContext, now: Callable[[], datetime] = _now) -> Outcome:
    if ctx.system.windows:
        return run_windows(ctx)
    return judge_linux(collect_linux(ctx, now()), now())


GUEST_AGENT = CheckSpec(
    "guest-agent",
    "Azure guest agent",
    run_guest_agent,
    explain="""\
Looks at the guest agent, the program that talks to WireServer for the VM: on Linux the
walinuxagent/waagent service (or its process), its version (`waagent --version`, else its
log), and the last connectivity errors in /var/log/waagent.log with their time; on Windows
the WindowsAzureGuestAgent and RdAgent services. It also looks for the GuestProxyAgent
(azure-proxy-agent service, /var/log/azure-proxy-agent/status.json, the reply header
x-ms-azure-host-authorization on the WireServer answer): when it is active, connects to
168.63.129.16:80/32526 are redirected to a local listener, so a successful TCP connect
does not prove the path to the host; the traceroute rows do.
- ok: the agent runs and logged no connectivity error in the last 24 hours.
- warn: it is installed but not running, or it logged connectivity errors recently (the
  finding quotes the last one and its time).
- skip: no guest agent is installed.
Fix: start the service; fix what the other rows point at, then watch the agent's log.""",
    facts=GuestAgentFacts,
    context=True,
    cause_weight=30,
    cause_prefix="Guest agent: ",
)

SPECS = (GUEST_AGENT,)
