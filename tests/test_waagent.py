"""The Linux guest agent's files: waagent.conf, waagent.log, `waagent --version`, and the
GuestProxyAgent's status.json."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import fixture_text
from wirecheck.platform.waagent import (
    conf_proxy,
    connectivity_errors,
    firewall_enabled,
    log_version,
    parse_conf,
    parse_log,
    parse_proxy_agent_status,
    parse_version_output,
)


def test_conf() -> None:
    conf = parse_conf(
        "# comment\nOS.EnableFirewall=n\nHttpProxy.Host=10.0.0.5 # our proxy\n"
        "HttpProxy.Port=3128\nResourceDisk.Format=y\nOS.EnableFirewall=y\n"
    )
    assert conf["HttpProxy.Host"] == "10.0.0.5"
    assert firewall_enabled(conf)  # the last assignment wins
    assert conf_proxy(conf) == "10.0.0.5:3128"


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("", False),  # the agent's default (conf.enable_firewall) is off
        ("OS.EnableFirewall=y", True),
        ("OS.EnableFirewall = Y", True),
        ("OS.EnableFirewall=n", False),
        ("OS.EnableFirewall=False", False),  # not a switch value: the default, off
        ("OS.EnableFirewall=yes", False),  # likewise: the agent takes y or n only
    ],
)
def test_firewall_setting(text: str, enabled: bool) -> None:
    assert firewall_enabled(parse_conf(text)) is enabled


@pytest.mark.parametrize(
    ("text", "proxy"),
    [
        ("", None),
        ("HttpProxy.Host=None\nHttpProxy.Port=None", None),
        ("HttpProxy.Host=proxy.corp", "proxy.corp"),
    ],
)
def test_conf_proxy(text: str, proxy: str | None) -> None:
    assert conf_proxy(parse_conf(text)) == proxy


def test_log_fixture_errors_with_time_and_version() -> None:
    entries = parse_log(fixture_text("waagent.log"))
    assert len(entries) == 11
    assert log_version(entries) == "2.14.0.1"
    errors = connectivity_errors(entries)
    assert [e.time for e in errors] == [
        datetime(2026, 10, 2, 9, 15, 40, 552301, tzinfo=timezone.utc),
        datetime(2026, 10, 2, 9, 16, 2, 118765, tzinfo=timezone.utc),
        datetime(2026, 10, 2, 9, 17, 45, 4120, tzinfo=timezone.utc),
        datetime(2026, 10, 2, 9, 18, 1, 801554, tzinfo=timezone.utc),
    ]
    assert errors[1].level == "ERROR" and "Status Code 503" in errors[1].message
    assert errors[-1].to_text().startswith("2026-10-02T09:18:01Z WARNING")
    assert len(connectivity_errors(entries, last=2)) == 2


def test_old_log_format_and_noise() -> None:
    entries = parse_log(
        "2019/10/02 07:41:12.018232 INFO Daemon Azure Linux Agent Version:2.2.45\n"
        "2019/10/02 07:42:00.000001 WARNING ExtHandler Fetch failed: [HttpError] timed out\n"
        "2019/10/02 07:43:00.000001 WARNING ExtHandler Disk is almost full\n"
        "  a continuation line\n"
    )
    assert log_version(entries) == "2.2.45"
    assert [e.message for e in connectivity_errors(entries)] == [
        "ExtHandler Fetch failed: [HttpError] timed out"
    ]


def test_version_output() -> None:
    text = (
        "WALinuxAgent-2.2.45 running on ubuntu 18.04\nPython: 3.6.9\nGoal state agent: 2.14.0.1\n"
    )
    assert parse_version_output(text) == {"installed": "2.2.45", "goal_state_agent": "2.14.0.1"}
    assert parse_version_output("command not found") == {}


def test_proxy_agent_status() -> None:
    status = parse_proxy_agent_status(fixture_text("proxy-agent-status.json"))
    assert (status.version, status.overall) == ("1.0.30", "SUCCESS")
    assert status.redirecting
    assert status.problems == ("telemetryLoggerStatus: Telemetry logger stopped: no events",)
    with pytest.raises(ValueError):
        parse_proxy_agent_status('{"something": "else"}')
    with pytest.raises(ValueError):
        parse_proxy_agent_status("not json")
