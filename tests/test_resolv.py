"""/etc/resolv.conf parsing and the choice of the DNS question, on tables of inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wirecheck.platform.resolv import (
    DEFAULT_DNS_NAME,
    DnsQuestion,
    ResolverConf,
    choose_question,
    parse_resolv_conf,
)

AZURE_RESOLV_CONF = """\
# This file is managed by man:systemd-resolved(8). Do not edit.
nameserver 127.0.0.53
options edns0 trust-ad
search abcdefgh.ax.internal.cloudapp.net
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ResolverConf()),
        (AZURE_RESOLV_CONF, ResolverConf(("127.0.0.53",), ("abcdefgh.ax.internal.cloudapp.net",))),
        (
            "nameserver 168.63.129.16\nnameserver 10.0.0.1\n",
            ResolverConf(("168.63.129.16", "10.0.0.1"), ()),
        ),
        ("domain corp.example\n", ResolverConf((), ("corp.example",))),
        # The last search/domain line wins, as in glibc.
        ("search a.example b.example\ndomain c.example\n", ResolverConf((), ("c.example",))),
        (
            "domain c.example\nsearch a.example b.example\n",
            ResolverConf((), ("a.example", "b.example")),
        ),
        # Comments (# and ;) anywhere, tabs, trailing dots, blank and broken lines.
        (
            "  # nameserver 10.9.9.9\n; search evil.example\nnameserver\t10.0.0.2  # primary\n"
            "search\tcorp.example. ; old\nsearch\n\nnameserver\n",
            ResolverConf(("10.0.0.2",), ("corp.example",)),
        ),
        ("options ndots:5 timeout:1\n", ResolverConf()),
        ("NAMESERVER 10.0.0.1\n", ResolverConf()),  # keywords are lower case
        ("nameserver 10.0.0.1 10.0.0.2\n", ResolverConf(("10.0.0.1",), ())),
        ("search .\n", ResolverConf((), ("",))),  # the root: no usable suffix
        (
            "search a.example\r\nnameserver 10.0.0.1\r\n",
            ResolverConf(("10.0.0.1",), ("a.example",)),
        ),
    ],
)
def test_parse_resolv_conf(text: str, expected: ResolverConf) -> None:
    assert parse_resolv_conf(text) == expected


@pytest.mark.parametrize(
    ("hostname", "suffixes", "fallback", "expected"),
    [
        # Azure's own suffix first, whatever the order in resolv.conf.
        (
            "vm1",
            ("corp.example", "x.internal.cloudapp.net"),
            None,
            DnsQuestion("vm1.x.internal.cloudapp.net", own_name=True),
        ),
        ("vm1", ("corp.example",), None, DnsQuestion("vm1.corp.example", own_name=True)),
        ("vm1", ("", "corp.example"), None, DnsQuestion("vm1.corp.example", own_name=True)),
        # An FQDN hostname contributes its short name only.
        (
            "vm1.other.example",
            ("x.internal.cloudapp.net",),
            None,
            DnsQuestion("vm1.x.internal.cloudapp.net", own_name=True),
        ),
        ("vm1", (), None, DnsQuestion(DEFAULT_DNS_NAME, own_name=False)),
        ("vm1", (), "probe.example.org", DnsQuestion("probe.example.org", own_name=False)),
        ("vm1", ("",), "probe.example.org", DnsQuestion("probe.example.org", own_name=False)),
        ("", ("corp.example",), None, DnsQuestion(DEFAULT_DNS_NAME, own_name=False)),
        (".", ("corp.example",), None, DnsQuestion(DEFAULT_DNS_NAME, own_name=False)),
    ],
)
def test_choose_question(
    hostname: str, suffixes: tuple[str, ...], fallback: str | None, expected: DnsQuestion
) -> None:
    assert choose_question(hostname, suffixes, fallback) == expected


@given(st.text(max_size=400))
def test_parse_resolv_conf_takes_any_text(text: str) -> None:
    conf = parse_resolv_conf(text)
    assert all(server and not server.isspace() for server in conf.nameservers)
    assert all("#" not in part and ";" not in part for part in conf.nameservers + conf.search)


@given(
    st.text(max_size=40),
    st.lists(st.text(max_size=20), max_size=4),
    st.none() | st.text(min_size=1),
)
def test_choose_question_always_asks_something(
    hostname: str, suffixes: list[str], fallback: str | None
) -> None:
    question = choose_question(hostname, tuple(suffixes), fallback)
    assert question.name
    if question.own_name:
        assert question.name.startswith(hostname.split(".", 1)[0] + ".")
