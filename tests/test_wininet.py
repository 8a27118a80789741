"""WinINET proxy settings from recorded `reg query` output (CRLF, four-space columns)."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_text
from wirecheck.platform.wininet import (
    HKCU_SETTINGS,
    HKLM_SETTINGS,
    POLICY_SETTINGS,
    WinInetProxy,
    catches,
    parse_reg_query,
    per_machine,
    values_of,
    wininet_proxy,
)


def test_reg_query_values_and_subkeys() -> None:
    keys = parse_reg_query(fixture_text("reg-query-hkcu-internet-settings.txt"))
    values = values_of(keys, HKCU_SETTINGS)
    assert values["ProxyEnable"].number() == 1
    assert values["ProxyServer"].data == "198.51.100.10:3128"
    assert values["User Agent"].data == "Mozilla/4.0 (compatible; MSIE 8.0; Win32)"
    assert values["ZonesSecurityUpgrade"].kind == "REG_BINARY"
    assert len(keys) == 5  # the key and its four subkeys, listed without values
    assert parse_reg_query(fixture_text("reg-query-hklm-internet-settings-not-found.txt")) == {}
    winhttp = parse_reg_query(fixture_text("reg-query-hklm-winhttpsettings-default.txt"))
    assert next(iter(winhttp.values()))["WinHttpSettings"].kind == "REG_BINARY"


def test_the_policy_decides_per_machine() -> None:
    policy = parse_reg_query(fixture_text("reg-query-hklm-policies-proxysettingsperuser.txt"))
    assert per_machine(values_of(policy, POLICY_SETTINGS))
    assert not per_machine({})


def test_hklm_protocol_specific_server() -> None:
    keys = parse_reg_query(fixture_text("reg-query-hklm-internet-settings-proxy.txt"))
    proxy = wininet_proxy(values_of(keys, HKLM_SETTINGS), "WinINET (HKLM)")
    assert proxy is not None and proxy.server_for_http() == "198.51.100.10:3128"
    assert not catches(proxy, "168.63.129.16")  # listed in ProxyOverride
    assert catches(proxy, "169.254.169.254")  # `<local>` covers dot-less names only


@pytest.mark.parametrize(
    ("server", "override", "host", "caught"),
    [
        ("p:3128", "", "169.254.169.254", True),
        ("p:3128", "169.254.*", "169.254.169.254", False),
        ("p:3128", "<local>", "wireserver", False),
        ("https=p:3128", "", "169.254.169.254", False),  # http:// goes direct
        ("", "", "169.254.169.254", False),
    ],
)
def test_catches(server: str, override: str, host: str, caught: bool) -> None:
    assert catches(WinInetProxy("x", True, server, override), host) is caught
    assert not catches(WinInetProxy("x", False, server, override), host)
