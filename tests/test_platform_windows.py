"""Windows parsers on samples in the layout netsh and sc print (English)."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_text
from wirecheck.platform.firewall.assess import touches
from wirecheck.platform.firewall.model import Cond
from wirecheck.platform.windows import (
    parse_firewall_rules,
    parse_sc_query,
    parse_winhttp_proxy,
    winhttp_bypassed,
)

WS = "168.63.129.16"


def test_winhttp_proxy_and_direct() -> None:
    proxy = parse_winhttp_proxy(fixture_text("windows-netsh-winhttp-proxy.txt"))
    assert (proxy.server, proxy.bypass) == ("10.0.0.5:3128", "<local>;*.contoso.com")
    direct = parse_winhttp_proxy(fixture_text("windows-netsh-winhttp-direct.txt"))
    assert (direct.server, direct.bypass) == (None, None)


@pytest.mark.parametrize(
    ("bypass", "host", "expected"),
    [
        ("<local>;*.contoso.com", WS, False),
        ("<local>;168.63.129.16", WS, True),
        ("168.63.*", WS, True),
        ("<local>", "wireserver", True),
        ("*.contoso.com", "a.contoso.com", True),
        (None, WS, False),
        ("", WS, False),
    ],
)
def test_winhttp_bypass(bypass: str | None, host: str, expected: bool) -> None:
    assert winhttp_bypassed(bypass, host) is expected


def test_firewall_rules_enabled_only_with_matches() -> None:
    rules = parse_firewall_rules(fixture_text("windows-netsh-firewall-rules.txt"))
    assert [(r.text.split('"')[1], r.chain, r.verdict) for r in rules] == [
        ("Block WireServer host plugin", "OUTPUT", "BLOCK"),
        ("Allow web", "OUTPUT", "ALLOW"),
        ("Block platform range", "OUTPUT", "BLOCK"),
        ("Inbound from platform", "INPUT", "ALLOW"),
    ]
    block, web, dns, inbound = rules
    assert block.blocking and not web.blocking
    assert block.match.daddr == Cond(("168.63.129.16/32",))
    assert touches(block, WS, "tcp", 32526) and not touches(block, WS, "tcp", 80)
    assert touches(web, WS, "tcp", 443)
    assert dns.match.daddr == Cond(("168.63.129.0/24",))
    assert touches(dns, WS, "udp", 53) and not touches(dns, WS, "tcp", 53)
    assert inbound.match.saddr == Cond(("168.63.129.16/32",)) and inbound.match.daddr is None
    assert (
        block.remove
        == 'netsh advfirewall firewall set rule name="Block WireServer host plugin" new enable=no'
    )


def test_sc_query_states() -> None:
    running = parse_sc_query(fixture_text("windows-sc-query-running.txt"), "WindowsAzureGuestAgent")
    assert (running.installed, running.state) == (True, "RUNNING")
    stopped = parse_sc_query(fixture_text("windows-sc-query-stopped.txt"), "RdAgent")
    assert (stopped.installed, stopped.state) == (True, "STOPPED")
    missing = parse_sc_query(fixture_text("windows-sc-query-missing.txt"), "GuestProxyAgent")
    assert (missing.installed, missing.state) == (False, None)
