"""agent-health: what keeps the guest agent from working although the network is fine.

Linux: its unit masked, disabled or failed; its Python unable to import its package; the
filesystem of /var/lib/waagent mounted noexec (extensions cannot run) or full, or /var/log
full; openssl missing or broken (the agent decrypts its certificates with it); extensions
or auto-update switched off in /etc/waagent.conf. Windows: the RdAgent and
WindowsAzureGuestAgent services not starting automatically, their crashes in the last day
(events 7031/7034), the TenantEncryptionCert missing or out of date.

A check of its own rather than more of guest-agent: guest-agent says whether the agent
runs and what it logged about the network, and waits for wire-versions; this one reads
the machine's state around the agent, with its own commands and budget, and its findings
have fixes of their own (unmask, remount, free space, reinstall).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Deadline, Facts, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.agent_health import (
    UNIT_PROPERTIES,
    AgentSwitches,
    Certificate,
    Crash,
    Mount,
    Space,
    UnitState,
    agent_switches,
    interpreter,
    mount_of,
    parse_certificates,
    parse_crash_events,
    parse_format_table,
    parse_mountinfo,
    parse_powershell_time,
    parse_unit_show,
    space_problem,
    split_sections,
)
from wirecheck.platform.waagent import WAAGENT_CONF, parse_conf
from wirecheck.system import CommandResult, System, why_not

AGENT_UNITS = ("walinuxagent.service", "waagent.service")
AGENT_PROGRAM = "/usr/sbin/waagent"
AGENT_LIB = "/var/lib/waagent"
AGENT_LOGS = "/var/log"
MOUNTINFO = "/proc/self/mountinfo"
IMPORT_PROBE = (
    # The agent's own package, imported as its interpreter would at start; the current
    # directory is taken off the path so a checkout there cannot answer for it.
    "import sys; sys.path = [p for p in sys.path if p not in ('', '.')]; "
    "import azurelinuxagent.agent"
)
BUDGET_S = 3.0  # an interpreter start and an import, at most
WINDOWS_SERVICES = {"RdAgent": "RdAgent", "WindowsAzureGuestAgent": "Windows Azure Guest Agent"}
CRASH_WINDOW = timedelta(days=1)
CERT_NAME = "TenantEncryptionCert"
CERT_ISSUER = "DC=Windows Azure CRP Certificate Generator"
CERT_GUIDE = (
    "https://learn.microsoft.com/troubleshoot/azure/virtual-machines/windows/"
    "troubleshoot-extension-certificates-issues-windows-vm"
)
WINDOWS_SCRIPT = "; ".join(
    [
        "$ErrorActionPreference = 'SilentlyContinue'",
        "'### services'",
        "Get-Service -Name RdAgent,WindowsAzureGuestAgent | "
        "Format-Table Name,Status,StartType -AutoSize | Out-String -Width 4096",
        "'### events'",
        "Get-WinEvent -FilterHashtable @{LogName='System'; ProviderName='Service Control "
        "Manager'; Id=7031,7034; StartTime=(Get-Date).AddDays(-1)} | Where-Object { "
        "$_.Message -match 'RdAgent|Windows Azure Guest Agent' } | "
        "Format-List TimeCreated,ProviderName,Id,Message | Out-String -Width 4096",
        "'### cert'",
        "Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.FriendlyName -eq "
        f"'{CERT_NAME}' }} | Sort-Object NotBefore | "
        "Format-List Subject,Issuer,Thumbprint,FriendlyName,NotBefore,NotAfter | "
        "Out-String -Width 4096",
        "'### now'",
        "(Get-Date).ToString('yyyy-MM-ddTHH:mm:ss')",
    ]
)


@dataclass(frozen=True)
class Problem:
    finding: str
    fix: str


class AgentHealthFacts(Facts):
    """The agent's surroundings (Linux or Windows)."""


@dataclass(frozen=True)
class LinuxAgentHealthFacts(AgentHealthFacts):
    installed: bool
    units: tuple[UnitState, ...] = ()  # the agent's units that exist
    python: str | None = None  # the interpreter that runs the agent
    import_error: str | None = None  # why it cannot import the agent's package
    import_tested: bool = False
    openssl: str = "openssl"
    openssl_version: str | None = None
    openssl_error: str | None = None
    switches: AgentSwitches = field(default_factory=AgentSwitches)
    lib_mount: Mount | None = None  # the mount /var/lib/waagent lies on
    spaces: tuple[Space, ...] = ()
    notes: tuple[str, ...] = ()  # what could not be read, and why

    @property
    def unit(self) -> UnitState | None:
        return self.units[0] if self.units else None

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "unit": (
                {
                    "name": self.unit.name,
                    "load": self.unit.load,
                    "active": f"{self.unit.active} ({self.unit.sub})",
                    "enabled": self.unit.file_state,
                }
                if self.unit
                else None
            ),
            "python": self.python,
            "imports_azurelinuxagent": (
                (self.import_error is None) if self.import_tested else "not tested"
            ),
            "openssl": self.openssl_version or self.openssl_error,
            "extensions_enabled": self.switches.extensions,
            "auto_update": self.switches.auto_update,
            "waagent_lib_mount": (
                f"{self.lib_mount.point} ({self.lib_mount.fstype}, "
                f"{','.join(self.lib_mount.options)})"
                if self.lib_mount
                else None
            ),
            "space": [
                f"{s.path}: {s.used_percent:.0f}% used, {s.available} bytes free, "
                f"inodes {s.inodes_used_percent:.0f}% used"
                for s in self.spaces
            ],
        }
        if self.import_error:
            evidence["import_error"] = self.import_error
        if self.notes:
            evidence["notes"] = list(self.notes)
        return evidence


@dataclass(frozen=True)
class WindowsAgentHealthFacts(AgentHealthFacts):
    services: Mapping[str, Mapping[str, str]]  # name -> Status, StartType
    crashes: tuple[Crash, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    now: datetime | None = None  # the machine's local time, as the events and dates are
    notes: tuple[str, ...] = ()

    @property
    def certificate(self) -> Certificate | None:
        """The newest TenantEncryptionCert the platform issued."""
        issued = [c for c in self.certificates if c.issuer == CERT_ISSUER] or list(
            self.certificates
        )
        dated = [c for c in issued if c.not_before is not None]
        return max(dated, key=lambda c: c.not_before or datetime.min) if dated else None

    def evidence(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "services": {k: dict(v) for k, v in self.services.items()},
            "crashes_last_day": [
                f"{c.time.isoformat() if c.time else '?'} {c.event_id}: {c.message}"
                for c in self.crashes
            ],
            "tenant_encryption_cert": (
                {
                    "thumbprint": cert.thumbprint,
                    "not_before": cert.not_before.isoformat() if cert.not_before else None,
                    "not_after": cert.not_after.isoformat() if cert.not_after else None,
                }
                if cert
                else None
            ),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


# ---------------------------------------------------------------------------------------
# Linux


def linux_problems(facts: LinuxAgentHealthFacts) -> list[Problem]:
    """What is wrong around the agent, the most disabling first. Pure."""
    found: list[Problem] = []
    unit = facts.unit
    if unit is not None and unit.masked:
        found.append(
            Problem(
                f"the agent's unit {unit.name} is masked: it cannot start",
                f"Unmask and start it: `systemctl unmask {unit.name} && systemctl enable "
                f"--now {unit.name}`.",
            )
        )
    if facts.import_error is not None:
        found.append(
            Problem(
                f"the agent's Python ({facts.python}) cannot import its package "
                f"azurelinuxagent ({facts.import_error}): the agent cannot start",
                f"Reinstall the agent package (walinuxagent or WALinuxAgent) for {facts.python}, "
                "or make the unit's ExecStart use the Python it was installed for.",
            )
        )
    if unit is not None and unit.failed and not unit.masked:
        found.append(
            Problem(
                f"the agent's unit {unit.name} failed"
                + (f" ({unit.sub})" if unit.sub not in ("", "failed") else ""),
                f"`journalctl -u {unit.name}` says why; then `systemctl reset-failed "
                f"{unit.name} && systemctl start {unit.name}`.",
            )
        )
    mount = facts.lib_mount
    if mount is not None and mount.noexec:
        found.append(
            Problem(
                f"{AGENT_LIB} is {_on(mount.point)}mounted noexec: the agent cannot run "
                "extensions from it",
                f"Remount it with exec (`mount -o remount,exec {mount.point}`) and remove "
                f"noexec from its /etc/fstab line.",
            )
        )
    for space in facts.spaces:
        why = space_problem(space)
        if why:
            found.append(
                Problem(
                    f"{why}: the agent cannot write its state, extensions or logs",
                    f"Free space on the filesystem of {space.path} (`du -xsh {space.path}/*`), "
                    "or grow the disk.",
                )
            )
    if facts.openssl_error is not None:
        found.append(
            Problem(
                f"openssl ({facts.openssl}) {facts.openssl_error}: the agent cannot read its "
                "certificates or extension settings",
                "Install openssl (the package `openssl`), or point OS.OpensslPath in "
                f"{WAAGENT_CONF} at it.",
            )
        )
    if unit is not None and unit.disabled and not unit.masked:
        found.append(
            Problem(
                f"the agent's unit {unit.name} is disabled: it does not start at boot",
                f"Enable it: `systemctl enable --now {unit.name}`.",
            )
        )
    if not facts.switches.extensions:
        found.append(
            Problem(
                f"Extensions.Enabled=n in {WAAGENT_CONF}: no VM extension runs",
                f"Set Extensions.Enabled=y in {WAAGENT_CONF} and restart the agent.",
            )
        )
    if not facts.switches.auto_update:
        found.append(
            Problem(
                f"auto-update is off in {WAAGENT_CONF} (AutoUpdate.Enabled or "
                "AutoUpdate.UpdateToLatestVersion=n): the agent keeps its installed version",
                f"Set AutoUpdate.UpdateToLatestVersion=y in {WAAGENT_CONF} and restart the agent.",
            )
        )
    return found


def _on(point: str) -> str:
    return "" if point == AGENT_LIB else f"on {point}, "


def judge_linux(facts: LinuxAgentHealthFacts) -> Outcome:
    if not facts.installed:
        return Outcome(
            Status.SKIP,
            f"no Linux guest agent here (no walinuxagent/waagent unit, no {WAAGENT_CONF})",
            facts,
        )
    return _verdict(linux_problems(facts), facts, _linux_ok(facts))


def _linux_ok(facts: LinuxAgentHealthFacts) -> str:
    checked = [
        "its unit is enabled and not failed" if facts.unit else "no agent unit to check",
        "its Python imports its package" if facts.import_tested else "",
        f"{AGENT_LIB} is executable with room to write",
        "openssl works",
        "extensions and auto-update are on",
    ]
    return "the agent's surroundings are sound: " + ", ".join(c for c in checked if c)


def collect_linux(ctx: CheckContext) -> LinuxAgentHealthFacts:
    system = ctx.system
    budget = Deadline(min(BUDGET_S, ctx.deadline.remaining()))
    notes: list[str] = []
    conf_text = _read(system, WAAGENT_CONF)
    switches = agent_switches(parse_conf(conf_text or ""))
    properties = [arg for p in UNIT_PROPERTIES for arg in ("-p", p)]
    calls: dict[str, Callable[[], object]] = {
        "units": lambda: system.run_command(
            ["systemctl", "show", *properties, *AGENT_UNITS], budget.remaining()
        ),
        "openssl": lambda: system.run_command([switches.openssl, "version"], budget.remaining()),
        "spaces": lambda: _spaces(system),
    }
    got = gather(calls, budget)
    units: list[UnitState] = []
    shown = got["units"]
    if isinstance(shown, CommandResult) and shown.ok:
        units = [u for u in parse_unit_show(shown.stdout, AGENT_UNITS) if u.present]
    else:
        notes.append(f"systemctl: {why_not(shown)}")
    program = _read(system, AGENT_PROGRAM)
    shebang = program.split("\n", 1)[0] if program else None
    python = interpreter(units[0].exec_start if units else (), shebang)
    import_error: str | None = None
    tested = False
    if python and (program is not None or units):
        done = system.run_command([python, "-c", IMPORT_PROBE], budget.remaining())
        if done.timed_out:
            notes.append(f"the import test did not finish within the budget: {done.error}")
        else:
            tested = True
            if not done.ok:
                import_error = (
                    _last_line(done.stderr) or done.error or "exit " + str(done.returncode)
                )
    else:
        notes.append("the agent's Python is not known (no unit ExecStart, no waagent script)")
    openssl = got["openssl"]
    version, openssl_error = None, None
    if isinstance(openssl, CommandResult) and openssl.ok and openssl.stdout.strip():
        version = openssl.stdout.strip().splitlines()[0]
    elif isinstance(openssl, CommandResult):
        if openssl.error and openssl.error.endswith("is not installed"):
            openssl_error = "is not installed"
        elif openssl.error:
            openssl_error = f"could not run ({openssl.error})"
        else:
            openssl_error = f"fails: {_last_line(openssl.stderr) or f'exit {openssl.returncode}'}"
    else:
        notes.append("openssl: did not finish within the budget")
    mountinfo = _read(system, MOUNTINFO)
    lib_mount = mount_of(AGENT_LIB, parse_mountinfo(mountinfo)) if mountinfo else None
    spaces = got["spaces"]
    return LinuxAgentHealthFacts(
        installed=conf_text is not None or bool(units),
        units=tuple(units),
        python=python,
        import_error=import_error,
        import_tested=tested,
        openssl=switches.openssl,
        openssl_version=version,
        openssl_error=openssl_error,
        switches=switches,
        lib_mount=lib_mount,
        spaces=tuple(spaces) if isinstance(spaces, list) else (),
        notes=tuple(notes),
    )


def _spaces(system: System) -> list[Space]:
    """Space where the agent writes: its directory (or the nearest one that exists) and the
    logs; one entry per filesystem."""
    found: list[Space] = []
    seen: set[tuple[int, int, int]] = set()
    for path in (AGENT_LIB, AGENT_LOGS):
        here = path
        while True:
            try:
                usage = system.fs_usage(here)
                break
            except FileNotFoundError:
                if here == "/":
                    usage = None
                    break
                here = posixpath.dirname(here) or "/"
            except OSError:
                usage = None
                break
        if usage is None:
            continue
        key = (usage.blocks, usage.blocks_free, usage.files)
        if key in seen:
            continue
        seen.add(key)
        size = usage.blocks * usage.block_size
        found.append(
            Space(
                path,
                size,
                usage.blocks_available * usage.block_size,
                (usage.blocks - usage.blocks_free) * usage.block_size,
                usage.files,
                usage.files_available,
            )
        )
    return found


def _read(system: System, path: str) -> str | None:
    try:
        return system.read_text(path)
    except OSError:
        return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------------------
# Windows


def windows_problems(facts: WindowsAgentHealthFacts) -> list[Problem]:
    found: list[Problem] = []
    for name, state in facts.services.items():
        start = state.get("StartType", "")
        if start and start != "Automatic":
            found.append(
                Problem(
                    f"{name} starts {start}, not Automatic: it does not come back after a restart",
                    f"`Set-Service -Name {name} -StartupType Automatic; Start-Service {name}`.",
                )
            )
    now = facts.now
    recent = [
        c for c in facts.crashes if c.time is None or now is None or now - c.time <= CRASH_WINDOW
    ]
    by_service: dict[str, list[Crash]] = {}
    for crash in recent:
        by_service.setdefault(crash.service, []).append(crash)
    for name, crashes in by_service.items():
        last = max(crashes, key=lambda c: c.time or datetime.min)
        when = last.time.isoformat(sep=" ") if last.time else "?"
        found.append(
            Problem(
                f"{name} terminated unexpectedly {len(crashes)} time(s) in the last day "
                f"(events {', '.join(sorted({c.event_id for c in crashes}))}, last {when})",
                "Read C:\\WindowsAzure\\Logs\\WaAppAgent.log and the System and Application "
                "event logs around that time for why; reinstall the guest agent if it keeps "
                "crashing.",
            )
        )
    cert = facts.certificate
    if cert is None:
        found.append(
            Problem(
                f"no {CERT_NAME} in Cert:\\LocalMachine\\My: extension settings cannot be "
                "decrypted",
                f"Troubleshoot the extension certificate as Microsoft describes: {CERT_GUIDE}",
            )
        )
    elif now is not None and (
        (cert.not_before is not None and now < cert.not_before)
        or (cert.not_after is not None and now >= cert.not_after)
    ):
        period = (
            f"{cert.not_before.isoformat(sep=' ') if cert.not_before else '?'} to "
            f"{cert.not_after.isoformat(sep=' ') if cert.not_after else '?'}"
        )
        found.append(
            Problem(
                f"the {CERT_NAME} ({cert.thumbprint}) is valid {period}, not now "
                f"({now.isoformat(sep=' ')}): extension settings cannot be decrypted",
                f"Update the extension certificate as Microsoft describes: {CERT_GUIDE}",
            )
        )
    return found


def judge_windows(facts: WindowsAgentHealthFacts) -> Outcome:
    if not facts.services:
        return Outcome(
            Status.SKIP,
            "no Windows guest agent service is installed here"
            + (f" ({'; '.join(facts.notes)})" if facts.notes else ""),
            facts,
        )
    ok = (
        f"{', '.join(facts.services)} start automatically, no crash in the last day, the "
        f"{CERT_NAME} is in date"
    )
    return _verdict(windows_problems(facts), facts, ok)


def collect_windows(ctx: CheckContext) -> WindowsAgentHealthFacts:
    budget = min(BUDGET_S * 2, ctx.deadline.remaining())  # PowerShell starts slowly
    done = ctx.system.run_command(
        ["powershell", "-NoProfile", "-NonInteractive", "-Command", WINDOWS_SCRIPT], budget
    )
    if not done.ok and not done.stdout:
        return WindowsAgentHealthFacts({}, notes=(f"powershell: {why_not(done)}",))
    sections = split_sections(done.stdout)
    services = {
        row["Name"]: {"Status": row.get("Status", ""), "StartType": row.get("StartType", "")}
        for row in parse_format_table(sections.get("services", ""))
        if row.get("Name") in WINDOWS_SERVICES
    }
    return WindowsAgentHealthFacts(
        services,
        tuple(parse_crash_events(sections.get("events", ""), WINDOWS_SERVICES)),
        tuple(parse_certificates(sections.get("cert", ""))),
        parse_powershell_time(sections.get("now", "").strip()),
    )


# ---------------------------------------------------------------------------------------


def _verdict(problems: list[Problem], facts: AgentHealthFacts, ok: str) -> Outcome:
    if not problems:
        return Outcome(Status.OK, ok, facts)
    fixes = " ".join(dict.fromkeys(p.fix for p in problems[:3]))
    return Outcome(Status.WARN, "; ".join(p.finding for p in problems), facts, fixes)


def run_agent_health(ctx: CheckContext) -> Outcome:
    if ctx.system.windows:
        return judge_windows(collect_windows(ctx))
    if not ctx.system.linux:
        return Outcome(Status.SKIP, f"not looked at on {ctx.system.platform}")
    return judge_linux(collect_linux(ctx))


AGENT_HEALTH = CheckSpec(
    "agent-health",
    "What the guest agent needs besides the network",
    run_agent_health,
    explain="""\
Looks at what stops the guest agent although the network is fine. Linux: its unit
(`systemctl show`: masked, disabled, failed), whether its Python imports its package
azurelinuxagent, the mount of /var/lib/waagent (noexec: extensions cannot run), free space
and inodes there and in /var/log, `openssl version` (the agent decrypts its certificates
with it), Extensions.Enabled and auto-update in /etc/waagent.conf. Windows: the RdAgent
and WindowsAzureGuestAgent start types, their crash events 7031/7034 in the last day, and
the TenantEncryptionCert in LocalMachine\\My (present, in date).
- ok: none of these is wrong.
- warn: one or more is (the finding lists them, the most disabling first).
- skip: no guest agent is installed.
Fix: the row's fix line: unmask/enable/start the unit, reinstall the agent package,
remount with exec, free space, install openssl, set the switch to y, set the services to
Automatic, update the extension certificate.""",
    facts=AgentHealthFacts,
    context=True,
    budget_s=BUDGET_S * 2,
    cause_weight=40,
    cause_prefix="Guest agent health: ",
)

SPECS = (AGENT_HEALTH,)
