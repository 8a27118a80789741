"""Proxy settings: variables in any case, no_proxy forms, systemd environment."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirecheck.platform.proxy import (
    bypassed,
    catching_proxy,
    parse_env_file,
    parse_environment_files,
    parse_systemd_environment,
    proxy_variables,
)

WS = "168.63.129.16"


def test_variables_in_any_case() -> None:
    found = proxy_variables(
        {"Http_Proxy": "http://a:1", "HTTPS_PROXY": "http://b:2", "no_proxy": "x", "PATH": "/"},
        "environment",
    )
    assert [s.name for s in found] == ["HTTPS_PROXY", "Http_Proxy", "no_proxy"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"http_proxy": "http://p:3128"}, "http_proxy"),
        ({"HTTP_PROXY": "http://p:3128"}, "HTTP_PROXY"),
        ({"HTTP_PROXY": "http://u:3128", "http_proxy": "http://l:3128"}, "http_proxy"),
        ({"all_proxy": "socks5://p:1080"}, "all_proxy"),
        ({"https_proxy": "http://p:3128"}, None),  # WireServer is plain http
        ({"http_proxy": "http://p:3128", "no_proxy": f"localhost,{WS}"}, None),
        ({"http_proxy": "http://p:3128", "NO_PROXY": "168.63.0.0/16"}, None),
        ({"http_proxy": "http://p:3128", "no_proxy": "*"}, None),
        ({"http_proxy": "http://p:3128", "no_proxy": "169.254.169.254"}, "http_proxy"),
        ({}, None),
    ],
)
def test_catching_proxy(env: dict[str, str], expected: str | None) -> None:
    caught = catching_proxy(proxy_variables(env, "environment"), WS)
    assert (caught.name if caught else None) == expected


@pytest.mark.parametrize(
    ("no_proxy", "host", "expected"),
    [
        (f"{WS}", WS, True),
        (f" {WS} , x", WS, True),
        (f"{WS}:80", WS, True),
        ("168.63.129.0/24", WS, True),
        ("168.63.128.0/24", WS, False),
        (".internal.cloudapp.net", "vm.internal.cloudapp.net", True),
        ("internal.cloudapp.net", "vm.internal.cloudapp.net", True),
        ("cloudapp.net", "notcloudapp.net", False),
        ("*.example.com", "a.example.com", True),
        ("", WS, False),
    ],
)
def test_bypassed(no_proxy: str, host: str, expected: bool) -> None:
    assert bypassed(no_proxy, host) is expected


@given(st.text(max_size=200))
def test_bypassed_never_raises(text: str) -> None:
    assert bypassed(text, WS) in (True, False)


def test_systemd_show_output() -> None:
    text = (
        'Environment=http_proxy=http://10.0.0.5:3128 "NO_PROXY=a b" LANG=C\n'
        "EnvironmentFiles=/etc/default/walinuxagent (ignore_errors=yes)\n"
    )
    assert parse_systemd_environment(text) == {
        "http_proxy": "http://10.0.0.5:3128",
        "NO_PROXY": "a b",
        "LANG": "C",
    }
    assert parse_environment_files(text) == ["/etc/default/walinuxagent"]
    assert parse_systemd_environment("Environment=\n") == {}


def test_env_file() -> None:
    assert parse_env_file("# x\nexport http_proxy='http://p:1'\nNO_PROXY=\"a,b\"\n\n") == {
        "http_proxy": "http://p:1",
        "NO_PROXY": "a,b",
    }
