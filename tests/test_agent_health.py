"""agent-health on made-up machines, from recorded outputs (systemctl, mountinfo, PowerShell)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, failed, ok
from wirecheck.checks.agent_health import (
    IMPORT_PROBE,
    WINDOWS_SCRIPT,
    LinuxAgentHealthFacts,
    WindowsAgentHealthFacts,
    run_agent_health,
)
from wirecheck.model import Status
from wirecheck.platform.agent_health import (
    Space,
    exec_argv,
    interpreter,
    mount_of,
    parse_format_list,
    parse_mountinfo,
    parse_unit_show,
    space_problem,
)
from wirecheck.system import CommandResult, FsUsage

SHOW = (
    "systemctl",
    "show",
    *("-p", "Id", "-p", "LoadState", "-p", "ActiveState", "-p", "SubState"),
    *("-p", "UnitFileState", "-p", "FragmentPath", "-p", "ExecStart"),
    "walinuxagent.service",
    "waagent.service",
)
EXEC_START = (
    "ExecStart={ path=/usr/bin/python3 ; argv[]=/usr/bin/python3 -u /usr/sbin/waagent -daemon "
    "; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; "
    "status=0/0 }"
)
IMPORT = ("/usr/bin/python3", "-c", IMPORT_PROBE)
OPENSSL = ("openssl", "version")
GIB = 2**30
ROOMY = FsUsage(4096, 30 * GIB // 4096, 20 * GIB // 4096, 19 * GIB // 4096, 2_000_000, 1_900_000)


def _show(state: str) -> str:
    """A recorded unit state for walinuxagent.service, and waagent.service not found."""
    recorded = fixture_text(f"systemctl-show-waagent-{state}.txt")
    return (
        f"Id=walinuxagent.service\n{recorded}{EXEC_START}\n\n"
        "Id=waagent.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n"
    )


def _healthy() -> FakeMachine:
    return FakeMachine(
        files={
            "/etc/waagent.conf": "OS.EnableFirewall=y\n",
            "/proc/self/mountinfo": fixture_text("proc-self-mountinfo-var-noexec.txt").replace(
                "nodev,noexec,relatime shared:5", "nodev,relatime shared:5"
            ),
        },
        filesystems={"/var/lib/waagent": ROOMY, "/var/log": ROOMY},
        commands={
            SHOW: ok(_show("disabled").replace("UnitFileState=disabled", "UnitFileState=enabled")),
            IMPORT: ok(),
            OPENSSL: ok("OpenSSL 3.0.13 30 Jan 2024 (Library: OpenSSL 3.0.13 30 Jan 2024)\n"),
        },
    )


def _run(machine: FakeMachine) -> tuple[Status, str, str | None]:
    outcome = run_agent_health(context(machine))
    return outcome.status, outcome.finding, outcome.fix


def test_healthy_agent_surroundings() -> None:
    status, finding, _ = _run(_healthy())
    assert status is Status.OK
    assert finding == (
        "the agent's surroundings are sound: its unit is enabled and not failed, its Python "
        "imports its package, /var/lib/waagent is executable with room to write, openssl "
        "works, extensions and auto-update are on"
    )


@pytest.mark.parametrize(
    ("state", "finding", "fix"),
    [
        (
            "masked",
            "the agent's unit walinuxagent.service is masked: it cannot start",
            "`systemctl unmask walinuxagent.service && systemctl enable --now "
            "walinuxagent.service`",
        ),
        (
            "failed",
            "the agent's unit walinuxagent.service failed",
            "`journalctl -u walinuxagent.service` says why",
        ),
        (
            "disabled",
            "the agent's unit walinuxagent.service is disabled: it does not start at boot",
            "`systemctl enable --now walinuxagent.service`",
        ),
    ],
)
def test_unit_states(state: str, finding: str, fix: str) -> None:
    machine = _healthy()
    machine.commands[SHOW] = ok(_show(state))
    status, said, how = _run(machine)
    assert status is Status.WARN
    assert said == finding
    assert how and fix in how


def test_the_agents_python_cannot_import_its_package() -> None:
    machine = _healthy()
    machine.commands[IMPORT] = failed(
        'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
        "ModuleNotFoundError: No module named 'azurelinuxagent'\n"
    )
    status, finding, fix = _run(machine)
    assert status is Status.WARN
    assert finding == (
        "the agent's Python (/usr/bin/python3) cannot import its package azurelinuxagent "
        "(ModuleNotFoundError: No module named 'azurelinuxagent'): the agent cannot start"
    )
    assert fix and fix.startswith("Reinstall the agent package")


def test_var_mounted_noexec() -> None:
    machine = _healthy()
    machine.files["/proc/self/mountinfo"] = fixture_text("proc-self-mountinfo-var-noexec.txt")
    status, finding, fix = _run(machine)
    assert (status, finding) == (
        Status.WARN,
        "/var/lib/waagent is on /var, mounted noexec: the agent cannot run extensions from it",
    )
    assert fix == (
        "Remount it with exec (`mount -o remount,exec /var`) and remove noexec from its "
        "/etc/fstab line."
    )


def test_full_disk_and_inodes() -> None:
    machine = _healthy()
    machine.filesystems["/var/lib/waagent"] = FsUsage(4096, 262144, 0, 0, 65536, 60000)
    machine.filesystems["/var/log"] = FsUsage(4096, 524288, 400000, 390000, 65536, 0)
    status, finding, _ = _run(machine)
    assert status is Status.WARN
    assert finding == (
        "/var/lib/waagent has 0 bytes free of 1.0 GiB (100% used): the agent cannot write its "
        "state, extensions or logs; /var/log has 0 free inodes of 65536 (100% used): no new "
        "file can be created there: the agent cannot write its state, extensions or logs"
    )


def test_a_missing_directory_is_measured_where_it_would_be() -> None:
    machine = _healthy()
    del machine.filesystems["/var/lib/waagent"]
    machine.filesystems["/var/lib"] = FsUsage(4096, 1000, 1000, 1000, 100_000, 100_000)
    outcome = run_agent_health(context(machine))
    facts = outcome.facts
    assert isinstance(facts, LinuxAgentHealthFacts)
    assert [s.path for s in facts.spaces] == ["/var/lib/waagent", "/var/log"]


def test_openssl_missing_and_switches_off() -> None:
    machine = _healthy()
    del machine.commands[OPENSSL]
    machine.files["/etc/waagent.conf"] = "Extensions.Enabled=n\nAutoUpdate.Enabled=n\n"
    status, finding, fix = _run(machine)
    assert status is Status.WARN
    assert finding == (
        "openssl (openssl) is not installed: the agent cannot read its certificates or "
        "extension settings; Extensions.Enabled=n in /etc/waagent.conf: no VM extension runs; "
        "auto-update is off in /etc/waagent.conf (AutoUpdate.Enabled or "
        "AutoUpdate.UpdateToLatestVersion=n): the agent keeps its installed version"
    )
    assert fix and "Set Extensions.Enabled=y in /etc/waagent.conf" in fix


def test_update_to_latest_overrides_auto_update_enabled() -> None:
    machine = _healthy()
    machine.files["/etc/waagent.conf"] = (
        "AutoUpdate.Enabled=n\nAutoUpdate.UpdateToLatestVersion=y\n"
    )
    assert _run(machine)[0] is Status.OK


def test_no_agent_is_a_skip() -> None:
    machine = FakeMachine(commands={OPENSSL: ok("OpenSSL 3\n")})
    status, finding, _ = _run(machine)
    assert status is Status.SKIP
    assert finding.startswith("no Linux guest agent here")


def test_python_from_the_scripts_first_line_when_there_is_no_unit() -> None:
    machine = _healthy()
    del machine.commands[SHOW]
    machine.files["/usr/sbin/waagent"] = "#!/usr/bin/env python3\nimport sys\n"
    machine.commands[("python3", "-c", IMPORT_PROBE)] = ok()
    outcome = run_agent_health(context(machine))
    facts = outcome.facts
    assert isinstance(facts, LinuxAgentHealthFacts)
    assert (facts.python, facts.import_tested, facts.import_error) == ("python3", True, None)


def test_parsers() -> None:
    assert exec_argv(EXEC_START) == ("/usr/bin/python3", "-u", "/usr/sbin/waagent", "-daemon")
    assert interpreter(("/usr/bin/python3.12", "-u", "x"), None) == "/usr/bin/python3.12"
    assert interpreter(("/usr/sbin/waagent",), "#!/usr/libexec/platform-python -u") == (
        "/usr/libexec/platform-python"
    )
    mounts = parse_mountinfo(fixture_text("proc-self-mountinfo-var-noexec.txt"))
    assert mounts[-1].point == "/var/lib/docker data"
    assert [m.point for m in (mount_of(p, mounts) for p in ("/var/lib/waagent", "/var2")) if m] == [
        "/var",
        "/",
    ]
    (masked,) = parse_unit_show(fixture_text("systemctl-show-waagent-masked.txt"), ["w.service"])
    assert (masked.name, masked.masked, masked.present) == ("w.service", True, True)
    assert space_problem(Space("/x", 10 * GIB, 5 * GIB, 5 * GIB, 100_000, 90_000)) is None


# ---------------------------------------------------------------------------------------
# Windows

POWERSHELL = ("powershell", "-NoProfile", "-NonInteractive", "-Command", WINDOWS_SCRIPT)
GOOD_SERVICES = fixture_text("windows-get-service-agents.txt").replace(
    "Stopped    Manual", "Running Automatic"
)


def _windows(
    services: str = GOOD_SERVICES,
    events: str = "",
    cert: str | None = None,
    now: str = "2026-10-02T10:00:00",
) -> FakeMachine:
    sections: Sequence[tuple[str, str]] = (
        ("services", services),
        ("events", events),
        ("cert", fixture_text("windows-tenantencryptioncert.txt") if cert is None else cert),
        ("now", now),
    )
    stdout = "\r\n".join(f"### {name}\r\n{text}" for name, text in sections)
    return FakeMachine(commands={POWERSHELL: CommandResult(POWERSHELL, 0, stdout)})


def _run_windows(machine: FakeMachine) -> tuple[Status, str, str | None]:
    outcome = run_agent_health(context(machine, platform="win32"))
    return outcome.status, outcome.finding, outcome.fix


def test_windows_healthy() -> None:
    status, finding, _ = _run_windows(_windows())
    assert status is Status.OK
    assert finding == (
        "RdAgent, WindowsAzureGuestAgent start automatically, no crash in the last day, the "
        "TenantEncryptionCert is in date"
    )


def test_windows_manual_start_and_crashes() -> None:
    machine = _windows(
        fixture_text("windows-get-service-agents.txt"),
        fixture_text("windows-get-winevent-7031-7034.txt"),
    )
    status, finding, fix = _run_windows(machine)
    assert status is Status.WARN
    assert finding == (
        "WindowsAzureGuestAgent starts Manual, not Automatic: it does not come back after a "
        "restart; WindowsAzureGuestAgent terminated unexpectedly 1 time(s) in the last day "
        "(events 7031, last 2026-10-02 09:15:40); RdAgent terminated unexpectedly 1 time(s) in "
        "the last day (events 7034, last 2026-10-02 09:12:03)"
    )
    assert fix and fix.startswith(
        "`Set-Service -Name WindowsAzureGuestAgent -StartupType Automatic; "
        "Start-Service WindowsAzureGuestAgent`."
    )


def test_windows_old_crashes_do_not_count() -> None:
    machine = _windows(
        events=fixture_text("windows-get-winevent-7031-7034.txt"), now="2026-10-05T10:00:00"
    )
    assert _run_windows(machine)[0] is Status.OK


def test_windows_certificate_missing_or_expired() -> None:
    status, finding, fix = _run_windows(_windows(cert=""))
    assert (status, finding) == (
        Status.WARN,
        "no TenantEncryptionCert in Cert:\\LocalMachine\\My: extension settings cannot be "
        "decrypted",
    )
    assert fix and "troubleshoot-extension-certificates-issues-windows-vm" in fix
    status, finding, _ = _run_windows(_windows(now="2027-10-01T08:00:00"))
    assert finding == (
        "the TenantEncryptionCert (0123456789ABCDEF0123456789ABCDEF01234567) is valid "
        "2026-10-01 07:38:12 to 2027-10-01 07:38:12, not now (2027-10-01 08:00:00): extension "
        "settings cannot be decrypted"
    )


def test_windows_newest_certificate_counts() -> None:
    recorded = fixture_text("windows-tenantencryptioncert.txt")
    old = recorded.replace("0123456789ABCDEF", "FFFFFFFFFFFFFFFF", 1).replace("2026", "2024")
    facts = run_agent_health(context(_windows(cert=old + recorded), platform="win32")).facts
    assert isinstance(facts, WindowsAgentHealthFacts)
    assert facts.certificate is not None
    assert facts.certificate.not_before == datetime(2026, 10, 1, 7, 38, 12)


def test_windows_without_the_agent_is_a_skip() -> None:
    status, finding, _ = _run_windows(_windows(services=""))
    assert status is Status.SKIP
    assert finding == "no Windows guest agent service is installed here"
    status, finding, _ = _run_windows(FakeMachine())
    assert (status, finding) == (
        Status.SKIP,
        "no Windows guest agent service is installed here (powershell: powershell is not "
        "installed)",
    )


def test_format_list_continuation_lines() -> None:
    text = "Id      : 7031\r\nMessage : The RdAgent service\r\n          terminated.\r\n\r\n"
    assert parse_format_list(text) == [{"Id": "7031", "Message": "The RdAgent service terminated."}]
