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
    name_fault,
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


# --- names DNS cannot ask -------------------------------------------------------------------

LONG_LABEL = "h" * 64
SUFFIX = "abc.internal.cloudapp.net"


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("vm1.abc.internal.cloudapp.net", None),
        ("vm1.abc.internal.cloudapp.net.", None),  # absolute
        ("a" * 63 + ".example", None),  # a label of 63 is the most there may be
        (LONG_LABEL + ".example", "is 64 characters long (at most 63)"),
        (".".join(["a" * 49] * 5) + ".x", None),  # 251 characters: fits
        (".".join(["a" * 50] * 5) + ".xyz", "it is 258 characters long (at most 253)"),
        ("vm..example", "empty label"),
        ("", "it is empty"),
        ("vm\udcff.example", "holds '\\\\xff', which a host name cannot"),
        ("my vm.example", "holds ' ', which a host name cannot"),
    ],
)
def test_name_fault(name: str, fault: str | None) -> None:
    found = name_fault(name)
    if fault is None:
        assert found is None
    else:
        assert found is not None and fault in found


@pytest.mark.parametrize(
    ("hostname", "suffixes", "fallback", "asked", "source"),
    [
        (LONG_LABEL, (SUFFIX,), None, DEFAULT_DNS_NAME, "host name"),
        (LONG_LABEL, (SUFFIX,), "probe.example.org", "probe.example.org", "host name"),
        ("vm1", ("x" * 70 + ".example",), None, DEFAULT_DNS_NAME, "search domain"),
        # A bad search domain does not hide a good one after it: that one is asked.
        ("vm1", ("x" * 70 + ".example", "corp.example"), None, "vm1.corp.example", "search domain"),
        # 251 characters of suffix fit; with "vm1." the name does not.
        ("vm1", (".".join(["s" * 62] * 4),), None, DEFAULT_DNS_NAME, "host name and search domain"),
        ("vm1", (), "bad..name", DEFAULT_DNS_NAME, "--dns-name"),
    ],
)
def test_a_name_dns_cannot_ask_is_replaced_by_a_valid_one_and_said(
    hostname: str, suffixes: tuple[str, ...], fallback: str | None, asked: str, source: str
) -> None:
    question = choose_question(hostname, suffixes, fallback)
    assert question.name == asked
    assert name_fault(question.name) is None  # DNS is still probed, with a valid name
    assert question.problem is not None and question.problem.source == source
    assert question.problem.reason in question.problem.describe()
    assert question.problem.fix


def test_valid_names_have_no_problem() -> None:
    question = choose_question("vm1", (SUFFIX,), None)
    assert question == DnsQuestion(f"vm1.{SUFFIX}", own_name=True)
