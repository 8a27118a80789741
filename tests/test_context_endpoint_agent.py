"""endpoint and guest-agent, on a made-up machine."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, ok
from wirecheck.checks.endpoint import run_endpoint
from wirecheck.checks.fetch import Fetch
from wirecheck.checks.guest_agent import (
    agent_process,
    parse_systemctl_show,
    run_guest_agent,
    split_cmdline,
)
from wirecheck.checks.wire import WireFacts
from wirecheck.model import CheckResult, Status
from wirecheck.net.errors import NetOutcome
from wirecheck.system import CommandResult

WS = "168.63.129.16"
NOW = datetime(2026, 10, 2, 12, 0, tzinfo=timezone.utc)
LEASES = "/var/lib/dhcp/dhclient.eth0.leases"


def _lease_machine(leases: str, **files: str) -> FakeMachine:
    return FakeMachine(
        files={LEASES: leases, "/proc/net/route": fixture_text("proc-net-route"), **files},
        dirs={"/var/lib/dhcp": ["dhclient.eth0.leases"]},
    )


# ---------------------------------------------------------------------------------------
# endpoint


def test_option_245_is_the_target() -> None:
    outcome = run_endpoint(context(_lease_machine(fixture_text("dhclient.leases"))), lambda: NOW)
    assert outcome.status is Status.OK
    assert outcome.finding == (
        f"WireServer endpoint {WS}, as the agent would find it (option 245 on eth0 = {WS} in "
        f"{LEASES}); "
        f"/32 route: {WS}/32 via 10.1.0.1 dev eth0 metric 100"
    )
    assert outcome.evidence["expired_leases_ignored"] == 0  # the older block is superseded
    assert outcome.evidence["agent_would_use"] == WS


def test_a_lease_naming_another_endpoint_warns() -> None:
    other = fixture_text("dhclient.leases").replace("a8:3f:81:10", "a:1:0:63")
    outcome = run_endpoint(context(_lease_machine(other)), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        f"the guest agent would look for WireServer at 10.1.0.99, not at the target {WS}"
    )
    assert outcome.fix and "`wirecheck --target 10.1.0.99`" in outcome.fix
    assert "DHCP server other than Azure's" in outcome.fix
    assert outcome.evidence["agent_would_use"] == "10.1.0.99"


def test_a_bug_in_the_lease_scan_surfaces_as_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not as "did not finish in time": an error row that names the exception."""

    def broken(*_args: object) -> object:
        raise KeyError("lease field")

    monkeypatch.setattr("wirecheck.platform.machine.scan_leases", broken)
    outcome = run_endpoint(context(_lease_machine("")), lambda: NOW)
    assert outcome.status is Status.ERROR
    assert outcome.finding == (
        "could not read the DHCP lease files: the DHCP leases: KeyError: 'lease field'"
    )


def test_a_stale_cached_endpoint_warns() -> None:
    machine = _lease_machine(
        fixture_text("dhclient.leases"), **{"/var/lib/waagent/WireServerEndpoint": "10.0.0.9\n"}
    )
    outcome = run_endpoint(context(machine), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.evidence["agent_would_use"] == "10.0.0.9"
    assert outcome.fix and "delete it and restart the agent" in outcome.fix


def test_no_endpoint_anywhere_warns_with_the_fallback() -> None:
    outcome = run_endpoint(context(FakeMachine()), lambda: NOW)
    assert outcome.status is Status.WARN
    assert f"the agent falls back to {WS}" in outcome.finding
    assert outcome.evidence["leases"] == []


def test_only_expired_leases_count_as_none() -> None:
    later = datetime(2200, 1, 1, tzinfo=timezone.utc)
    machine = _lease_machine(fixture_text("dhclient.leases"))
    del machine.files["/proc/net/route"]  # no /32 route either
    outcome = run_endpoint(context(machine), lambda: later)
    assert outcome.status is Status.WARN
    assert outcome.evidence["expired_leases_ignored"] == 1  # the newest block, expired


def test_endpoint_is_skipped_on_windows() -> None:
    assert run_endpoint(context(FakeMachine(), platform="win32")).status is Status.SKIP


# ---------------------------------------------------------------------------------------
# guest-agent

SHOW = (
    "systemctl",
    "show",
    "-p",
    "Id",
    "-p",
    "LoadState",
    "-p",
    "ActiveState",
    "-p",
    "SubState",
    "walinuxagent.service",
    "waagent.service",
    "azure-proxy-agent.service",
)
TAIL = ("tail", "-c", "1048576", "/var/log/waagent.log")


def _show(agent: str = "active", proxy_agent: str | None = None) -> str:
    blocks = [
        f"Id=walinuxagent.service\nLoadState=loaded\nActiveState={agent}\nSubState=running\n",
        "Id=waagent.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n",
        "Id=azure-proxy-agent.service\n"
        + (
            f"LoadState=loaded\nActiveState={proxy_agent}\n"
            if proxy_agent
            else "LoadState=not-found\nActiveState=inactive\n"
        ),
    ]
    return "\n".join(blocks)


def _agent_machine() -> FakeMachine:
    return FakeMachine(
        files={"/etc/waagent.conf": "OS.EnableFirewall=y\n"},
        commands={
            SHOW: ok(_show()),
            ("waagent", "--version"): ok(
                "WALinuxAgent-2.2.45 running on ubuntu\nGoal state agent: 2.14.0.1\n"
            ),
            TAIL: ok(fixture_text("waagent.log")),
        },
    )


def test_parse_systemctl_show_blocks() -> None:
    units = parse_systemctl_show(_show())
    assert units["walinuxagent.service"]["ActiveState"] == "active"
    assert units["waagent.service"]["LoadState"] == "not-found"


def test_running_agent_with_recent_errors_warns_with_the_last_one() -> None:
    outcome = run_guest_agent(context(_agent_machine()), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        "walinuxagent.service 2.14.0.1 is running; 4 connectivity error(s) in its log in the last "
        "24 h, last: 2026-10-02T09:18:01Z WARNING EnvHandler"
    )
    assert outcome.evidence["waagent_version"] == {
        "installed": "2.2.45",
        "goal_state_agent": "2.14.0.1",
    }
    assert len(outcome.evidence["log_errors"]) == 4


def test_old_errors_are_history() -> None:
    later = datetime(2026, 10, 9, tzinfo=timezone.utc)
    outcome = run_guest_agent(context(_agent_machine()), lambda: later)
    assert outcome.status is Status.OK
    assert "no recent connectivity errors in its log (older errors: 4" in outcome.finding


def test_installed_but_stopped() -> None:
    machine = _agent_machine()
    machine.commands[SHOW] = ok(_show(agent="failed"))
    outcome = run_guest_agent(context(machine), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith("the guest agent is installed but not running (failed)")
    assert outcome.fix and "systemctl start walinuxagent.service" in outcome.fix


def test_not_installed_is_a_skip() -> None:
    machine = FakeMachine(
        commands={SHOW: ok(_show().replace("LoadState=loaded", "LoadState=not-found"))}
    )
    outcome = run_guest_agent(context(machine), lambda: NOW)
    assert outcome.status is Status.SKIP


def test_guest_proxy_agent_says_the_trace_is_the_path_evidence() -> None:
    machine = _agent_machine()
    machine.commands[SHOW] = ok(_show(proxy_agent="active"))
    machine.files["/var/log/azure-proxy-agent/status.json"] = fixture_text(
        "proxy-agent-status.json"
    )
    later = datetime(2026, 10, 9, tzinfo=timezone.utc)
    outcome = run_guest_agent(context(machine), lambda: later)
    assert outcome.status is Status.OK
    assert "a TCP connect to 80/32526 may end at its local listener" in outcome.finding
    gpa = outcome.evidence["guest_proxy_agent"]
    assert gpa["service"] == "active" and gpa["version"] == "1.0.30"


def test_reply_header_alone_reveals_the_guest_proxy_agent() -> None:
    fetch = Fetch("http://x/", NetOutcome.CONNECTED, 1.0, True, http_status=200)
    facts = WireFacts(dataclasses.replace(fetch, proxy_agent_header=True))
    wire = CheckResult("wire-versions", "w", Status.OK, "ok", facts.evidence(), facts=facts)
    ctx = context(_agent_machine(), results=[wire])
    outcome = run_guest_agent(ctx, lambda: datetime(2026, 10, 9, tzinfo=timezone.utc))
    assert "the trace rows are the path evidence" in outcome.finding
    assert outcome.evidence["guest_proxy_agent"]["reply_header_seen"] is True


def test_without_systemd_the_process_is_found_in_proc() -> None:
    machine = FakeMachine(
        dirs={"/proc": ["1", "42", "self", "77", "78", "79", "80"]},
        files={
            "/proc/1/cmdline": "/sbin/init\0",
            "/proc/42/cmdline": "python3\0-u\0/usr/sbin/waagent\0-daemon\0",
            "/proc/77/cmdline": "bash\0",
            # The lab's own test run and an admin's editor are not the agent.
            "/proc/78/cmdline": "python\0-m\0pytest\0tests/test_waagent.py\0",
            "/proc/79/cmdline": "vim\0/etc/waagent.conf\0",
            "/proc/80/cmdline": "",  # a kernel thread
        },
    )
    outcome = run_guest_agent(context(machine), lambda: NOW)
    assert outcome.status is Status.OK
    assert outcome.evidence["processes"] == ["python3 -u /usr/sbin/waagent -daemon"]
    assert outcome.evidence["log"].startswith("/var/log/waagent.log")
    assert "guest_proxy_agent" not in outcome.evidence


def test_a_process_that_only_mentions_waagent_is_no_agent() -> None:
    machine = FakeMachine(
        dirs={"/proc": ["78", "79"]},
        files={
            "/proc/78/cmdline": "/usr/bin/python3\0-m\0pytest\0/work/waagent/tests\0-k\0daemon\0",
            "/proc/79/cmdline": "tail\0-f\0/var/log/waagent.log\0",
        },
    )
    outcome = run_guest_agent(context(machine), lambda: NOW)
    assert outcome.status is Status.SKIP
    assert "processes" not in outcome.evidence


def test_config_alone_is_installed_but_not_running() -> None:
    machine = FakeMachine(dirs={"/proc": []}, files={"/etc/waagent.conf": "OS.EnableFirewall=y\n"})
    outcome = run_guest_agent(context(machine), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding == (
        "the guest agent is installed but not running (/etc/waagent.conf is there, no "
        "walinuxagent/waagent service or process is)"
    )


def test_a_guest_proxy_agent_process_is_not_the_guest_agent() -> None:
    machine = FakeMachine(
        dirs={"/proc": ["90"]}, files={"/proc/90/cmdline": "/usr/sbin/azure-proxy-agent\0"}
    )
    outcome = run_guest_agent(context(machine), lambda: NOW)
    assert outcome.status is Status.SKIP  # the Linux agent itself is not there
    assert "the trace rows are the path evidence" in outcome.finding
    assert outcome.evidence["guest_proxy_agent_processes"] == ["/usr/sbin/azure-proxy-agent"]


# Command lines as `ps -eo args` shows them on Azure VMs and on machines that only look alike.
AGENT_CMDLINES = [
    # The daemon, as the distributions' units start it.
    ("/usr/bin/python3 -u /usr/sbin/waagent -daemon", "guest-agent"),
    ("/usr/bin/python3 /usr/sbin/waagent -daemon", "guest-agent"),
    ("/usr/bin/python -u /usr/sbin/waagent -daemon", "guest-agent"),
    ("/usr/libexec/platform-python -u /usr/sbin/waagent -daemon", "guest-agent"),
    ("/usr/share/oem/python/bin/python /usr/share/oem/bin/waagent -daemon", "guest-agent"),
    ("/usr/bin/python3.12 -W ignore -u /usr/sbin/waagent --daemon", "guest-agent"),
    ("/usr/sbin/waagent -daemon", "guest-agent"),
    # The extension handler: from an auto-updated egg (relative to its directory) or not.
    ("python3 -u bin/WALinuxAgent-2.8.0.11-py2.7.egg -run-exthandlers", "guest-agent"),
    ("/usr/bin/python3 -u bin/WALinuxAgent-2.15.0.1-py3.12.egg -run-exthandlers", "guest-agent"),
    (
        "/usr/bin/python3 -u /var/lib/waagent/WALinuxAgent-2.9.1.1/bin/"
        "WALinuxAgent-2.9.1.1-py3.8.egg -run-exthandlers",
        "guest-agent",
    ),
    ("/usr/bin/python3 -u /usr/sbin/waagent -run-exthandlers", "guest-agent"),
    ("/usr/sbin/azure-proxy-agent", "proxy-agent"),
    # One-off agent commands are not the agent running.
    ("/usr/bin/python3 /usr/sbin/waagent -version", None),
    ("python3 /usr/sbin/waagent -deprovision+user -force", None),
    ("/usr/bin/python3 -u /usr/sbin/waagent -collect-logs -full", None),
    # Lines that merely mention it.
    ("/usr/bin/python3 -m pytest tests/test_waagent.py", None),
    ("python -m pytest /home/dev/waagent-daemon/tests -k daemon", None),
    ("/usr/bin/python3 -c import waagent; waagent.run('-daemon')", None),
    ("/usr/bin/python3 -mpytest /usr/sbin/waagent -daemon", None),
    ("python3 /home/dev/waagent-tools/waagent.py -daemon", None),
    ("python3 /home/dev/WALinuxAgent/setup.py -daemon", None),
    ("vim /etc/waagent.conf", None),
    ("tail -f /var/log/waagent.log", None),
    ("grep -i waagent /var/log/syslog", None),
    ("less /usr/sbin/waagent", None),
    ("sudo systemctl restart walinuxagent", None),
    ("journalctl -u walinuxagent -f", None),
    ("/bin/sh -c ps aux | grep waagent -daemon", None),
    ("bash /var/lib/waagent/Microsoft.CPlat.Core.RunCommandLinux-1.0.1/bin/run-command-shim", None),
    ("iptables -w -t security -A OUTPUT -d 168.63.129.16 -p tcp -j DROP", None),
    ("python3", None),
    ("python3 -u", None),
    ("python3 -", None),
    ("", None),
]


@pytest.mark.parametrize(("line", "kind"), AGENT_CMDLINES)
def test_agent_process_is_told_by_program_and_mode(line: str, kind: str | None) -> None:
    assert agent_process(split_cmdline(line.replace(" ", "\0") + "\0")) == kind


def test_split_cmdline() -> None:
    assert split_cmdline("python3\0-u\0/usr/sbin/waagent\0-daemon\0") == [
        "python3",
        "-u",
        "/usr/sbin/waagent",
        "-daemon",
    ]
    # A process that rewrote its title into one string.
    assert split_cmdline("sshd: alice [priv]") == ["sshd:", "alice", "[priv]"]
    assert split_cmdline("") == []


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\0")), max_size=6))
def test_agent_process_never_raises(argv: list[str]) -> None:
    assert agent_process(argv) in (None, "guest-agent", "proxy-agent")


def test_windows_services() -> None:
    def sc(name: str, sample: str) -> tuple[tuple[str, ...], CommandResult]:
        return ("sc", "query", name), ok(fixture_text(sample))

    running = FakeMachine(
        commands=dict(
            [
                sc("WindowsAzureGuestAgent", "windows-sc-query-running.txt"),
                sc("RdAgent", "windows-sc-query-running.txt"),
                sc("GuestProxyAgent", "windows-sc-query-missing.txt"),
            ]
        )
    )
    outcome = run_guest_agent(context(running, platform="win32"))
    assert outcome.status is Status.OK
    assert outcome.evidence["GuestProxyAgent"] == "not installed"
    stopped = FakeMachine(
        commands=dict(
            [
                sc("WindowsAzureGuestAgent", "windows-sc-query-running.txt"),
                sc("RdAgent", "windows-sc-query-stopped.txt"),
                sc("GuestProxyAgent", "windows-sc-query-running.txt"),
            ]
        )
    )
    outcome = run_guest_agent(context(stopped, platform="win32"))
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith("not running: RdAgent")
    assert "local listener" in outcome.finding
