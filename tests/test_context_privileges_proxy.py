"""privileges and proxy, on a made-up machine."""

from __future__ import annotations

import os

import pytest

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, ok
from wirecheck.checks.privileges import effective_user, run_privileges
from wirecheck.checks.proxy import run_proxy
from wirecheck.model import Status
from wirecheck.platform.proxy import parse_env_file
from wirecheck.system import CommandResult

WS = "168.63.129.16"
IMDS = "169.254.169.254"
UNITS = ("walinuxagent.service", "waagent.service")


def _show(unit: str) -> tuple[str, ...]:
    return ("systemctl", "show", "-p", "Environment", "-p", "EnvironmentFiles", unit)


# ---------------------------------------------------------------------------------------
# privileges


def test_root_is_ok() -> None:
    outcome = run_privileges(context(FakeMachine(root=True)))
    assert outcome.status is Status.OK
    assert outcome.evidence == {"root": True}


def test_non_root_behind_the_agent_firewall() -> None:
    machine = FakeMachine(
        root=False,
        files={"/etc/waagent.conf": "Provisioning.Agent=auto\nOS.EnableFirewall=y\n"},
    )
    ctx = context(machine, planned=["tcp-80", "tcp-32526", "dns-udp", "trace-80", "privileges"])
    outcome = run_privileges(ctx, lambda: "alice")
    assert outcome.status is Status.WARN
    assert outcome.evidence["root"] is False
    assert outcome.evidence["user"] == "alice"
    assert outcome.evidence["agent_firewall"] == "enabled"
    degraded = outcome.evidence["degraded"]
    # Only checks in this run; the agent's firewall drops the TCP probes beyond port 53,
    # trace-80's among them (its engine is not root either).
    assert set(degraded) == {"tcp-80", "tcp-32526", "trace-80"}
    assert "expected" in degraded["tcp-80"] and "expected" in degraded["trace-80"]
    assert "TCP 80/32526 timeouts are expected" in outcome.finding
    assert outcome.fix == "Run as root: `sudo wirecheck`."


def test_root_inside_a_user_namespace_is_not_root_to_the_agents_firewall() -> None:
    # `setpriv --reuid=65534 unshare --user --map-root-user`: uid 0 here, 65534 outside.
    machine = FakeMachine(
        root=True,
        files={
            "/proc/self/uid_map": "         0      65534          1\n",
            "/etc/waagent.conf": "OS.EnableFirewall=y\n",
        },
    )
    outcome = run_privileges(context(machine, planned=["tcp-80"]), lambda: "root")
    assert outcome.status is Status.WARN
    assert outcome.evidence["user"] == "root inside a user namespace"
    assert outcome.evidence["user_namespace"].startswith("uid 0 here is uid 65534 outside")
    assert "TCP 80/32526 timeouts are expected" in outcome.finding
    assert outcome.fix and "outside the user namespace" in outcome.fix


def test_trace_rows_are_degraded_only_where_the_guest_proxy_agent_is() -> None:
    status = "/var/log/azure-proxy-agent/status.json"
    with_agent = FakeMachine(root=False, files={status: "{}"})
    outcome = run_privileges(context(with_agent, planned=["trace-80", "privileges"]))
    assert "GuestProxyAgent" in outcome.evidence["degraded"]["trace-80"]
    without = run_privileges(context(FakeMachine(root=False), planned=["trace-80"]))
    assert "trace-80" not in without.evidence["degraded"]


def test_the_user_is_the_effective_one_not_the_environments() -> None:
    # setpriv, su and `sudo -E` change the uid and leave $USER/$LOGNAME as they were.
    machine = FakeMachine(root=False, environ={"USER": "root", "LOGNAME": "root"})
    outcome = run_privileges(context(machine), lambda: "nobody")
    assert outcome.finding.startswith("not running as root (nobody): ")
    assert outcome.evidence["user"] == "nobody"


def test_effective_user_names_a_uid_from_the_password_database() -> None:
    pwd = pytest.importorskip("pwd")
    assert effective_user(0) == "root"
    known = {entry.pw_uid for entry in pwd.getpwall()}
    unused = next(uid for uid in range(4_000_000_000, 4_000_001_000) if uid not in known)
    assert effective_user(unused) == f"uid {unused}"
    # Without an argument: this process's effective uid, whatever $USER says.
    assert effective_user() == effective_user(os.geteuid())


@pytest.mark.parametrize("conf", ["OS.EnableFirewall=n\n", "Provisioning.Agent=auto\n"])
def test_non_root_with_the_agent_firewall_off_or_absent(conf: str) -> None:
    # A missing OS.EnableFirewall is off: the agent's own default.
    off = FakeMachine(root=False, files={"/etc/waagent.conf": conf})
    outcome = run_privileges(context(off))
    assert outcome.evidence["agent_firewall"] == "disabled"
    assert "tcp-80" not in outcome.evidence["degraded"]
    absent = run_privileges(context(FakeMachine(root=False), planned=["firewall"]))
    assert absent.evidence["agent_firewall"] == "absent"
    assert absent.status is Status.WARN and "firewall" in absent.evidence["degraded"]


def test_windows_not_administrator() -> None:
    outcome = run_privileges(
        context(FakeMachine(root=False, environ={"USERNAME": "bob"}), platform="win32")
    )
    assert outcome.status is Status.WARN
    assert "not running as Administrator (bob)" in outcome.finding
    assert "agent_firewall" not in outcome.evidence
    assert outcome.fix and "elevated" in outcome.fix


# ---------------------------------------------------------------------------------------
# proxy


def test_no_proxy_anywhere_is_ok() -> None:
    machine = FakeMachine(
        commands={_show(u): ok("Environment=\nEnvironmentFiles=\n") for u in UNITS}
    )
    outcome = run_proxy(context(machine))
    assert outcome.status is Status.OK
    assert outcome.finding == f"no proxy setting would catch http://{WS}/ or http://{IMDS}/"
    assert outcome.evidence["settings"] == []


def test_environment_proxy_warns_redacted_with_fix() -> None:
    machine = FakeMachine(environ={"HTTP_PROXY": "http://bob:s3cret@10.0.0.5:3128"})
    outcome = run_proxy(context(machine))
    assert outcome.status is Status.WARN
    assert "s3cret" not in str(outcome.evidence) and "s3cret" not in outcome.finding
    assert outcome.evidence["catching"] == [
        {"where": "environment", "name": "HTTP_PROXY", "value": "http://bob:***@10.0.0.5:3128"}
    ]
    assert outcome.fix and f"no_proxy=$no_proxy,{WS},169.254.169.254" in outcome.fix
    assert "systemctl is not installed" in str(outcome.evidence["notes"])


def test_excluded_by_no_proxy_is_ok() -> None:
    bypass = f"localhost,{WS},{IMDS}"
    machine = FakeMachine(environ={"http_proxy": "http://p:3128", "no_proxy": bypass})
    outcome = run_proxy(context(machine))
    assert outcome.status is Status.OK
    assert "excludes" in outcome.finding


def test_a_proxy_that_catches_imds_only_is_flagged() -> None:
    # /etc/environment as often written: no_proxy covers WireServer, not IMDS.
    values = parse_env_file(fixture_text("etc-environment-proxy-no-imds-bypass"))
    values["no_proxy"] += f",{WS}"
    outcome = run_proxy(context(FakeMachine(environ=values)))
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        f"a proxy would catch http://{IMDS}/: http_proxy=http://198.51.100.10:3128/ (environment); "
        "SDKs, scripts and the extensions the agent starts"
    )
    assert outcome.evidence["catching"] == []
    assert [c["name"] for c in outcome.evidence["catching_imds"]] == ["http_proxy"]
    assert outcome.fix and f"no_proxy=$no_proxy,{WS},{IMDS}" in outcome.fix


def test_a_cidr_only_bypass_is_noted() -> None:
    environ = {"http_proxy": "http://p:3128", "no_proxy": f"{WS},169.254.0.0/16"}
    outcome = run_proxy(context(FakeMachine(environ=environ)))
    assert outcome.status is Status.OK
    assert any("only by a CIDR entry" in n for n in outcome.evidence["notes"])


def test_agent_unit_environment_and_environment_file() -> None:
    machine = FakeMachine(
        commands={
            _show("walinuxagent.service"): ok(
                "Environment=LANG=C\n"
                "EnvironmentFiles=/etc/default/walinuxagent (ignore_errors=yes)\n"
            ),
            _show("waagent.service"): ok("Environment=\n"),
        },
        files={"/etc/default/walinuxagent": "http_proxy=http://10.0.0.5:3128\n"},
    )
    outcome = run_proxy(context(machine))
    assert outcome.status is Status.WARN
    assert outcome.evidence["catching"][0]["where"] == (
        "walinuxagent.service (/etc/default/walinuxagent)"
    )
    assert outcome.fix and "`systemctl edit walinuxagent.service`" in outcome.fix


def test_waagent_conf_proxy_is_a_note() -> None:
    machine = FakeMachine(
        files={"/etc/waagent.conf": "HttpProxy.Host=10.0.0.5\nHttpProxy.Port=3128\n"}
    )
    outcome = run_proxy(context(machine))
    assert outcome.status is Status.OK
    assert outcome.evidence["waagent_conf_proxy"] == "10.0.0.5:3128"
    assert any("extension downloads" in n for n in outcome.evidence["notes"])


def test_windows_winhttp_proxy() -> None:
    cmd = ("netsh", "winhttp", "show", "proxy")
    proxied = FakeMachine(commands={cmd: ok(fixture_text("windows-netsh-winhttp-proxy.txt"))})
    outcome = run_proxy(context(proxied, platform="win32"))
    assert outcome.status is Status.WARN
    assert outcome.evidence["catching"][0]["where"] == "WinHTTP"
    assert outcome.fix and "bypass-list" in outcome.fix
    direct = FakeMachine(commands={cmd: ok(fixture_text("windows-netsh-winhttp-direct.txt"))})
    assert run_proxy(context(direct, platform="win32")).status is Status.OK


REG = "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"
HKLM = ("reg", "query", REG)
HKCU = ("reg", "query", REG.replace("HKLM", "HKCU"))
POLICY = (
    "reg",
    "query",
    "HKLM\\Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings",
    "/v",
    "ProxySettingsPerUser",
)
NOT_FOUND = CommandResult((), 1, "", fixture_text("reg-query-hklm-internet-settings-not-found.txt"))
WINHTTP = ("netsh", "winhttp", "show", "proxy")


def test_windows_wininet_per_user_proxy_catches_both() -> None:
    machine = FakeMachine(
        commands={
            WINHTTP: ok(fixture_text("windows-netsh-winhttp-direct.txt")),
            HKLM: NOT_FOUND,
            HKCU: ok(fixture_text("reg-query-hkcu-internet-settings.txt")),
            POLICY: NOT_FOUND,
        }
    )
    outcome = run_proxy(context(machine, platform="win32"))
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        f"a proxy would catch http://{WS}/ and http://{IMDS}/: ProxyServer=198.51.100.10:3128 "
        "(WinINET (HKCU))"
    )
    assert (
        outcome.fix
        and '"HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet ' in outcome.fix
    )
    assert "(`<local>` does not cover them)" in outcome.fix
    assert not any("reg query" in n for n in outcome.evidence["notes"])  # not found is normal


def test_windows_wininet_machine_wide_policy_picks_hklm() -> None:
    machine = FakeMachine(
        commands={
            WINHTTP: ok(fixture_text("windows-netsh-winhttp-direct.txt")),
            HKLM: ok(fixture_text("reg-query-hklm-internet-settings-proxy.txt")),
            HKCU: ok(fixture_text("reg-query-hkcu-internet-settings.txt")),
            POLICY: ok(fixture_text("reg-query-hklm-policies-proxysettingsperuser.txt")),
        }
    )
    outcome = run_proxy(context(machine, platform="win32"))
    # HKLM's override lists WireServer, not IMDS; HKCU's proxy does not apply.
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        f"a proxy would catch http://{IMDS}/: "
        "ProxyServer=http=198.51.100.10:3128;https=198.51.100.10:3128 (WinINET (HKLM))"
    )
    assert "ProxySettingsPerUser=0" in str(outcome.evidence["notes"])
