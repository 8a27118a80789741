"""Firewall parsers on recorded output: the shared Azure samples and the lab recordings
(tests/firewall_lab.py installed the rules in a namespace and captured these)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_text
from wirecheck.platform.firewall.assess import (
    agent_firewall,
    counter_increase,
    is_agent_rule,
    mentions,
    reachable_chains,
    touches,
)
from wirecheck.platform.firewall.model import Cond, Match, Rule, Snapshot
from wirecheck.platform.firewall.parsers import (
    parse_firewalld_direct,
    parse_iptables_list,
    parse_iptables_save,
    parse_iptables_spec,
    parse_nft_json,
    parse_nft_text,
)

WS = "168.63.129.16"


def _rules(rules: list[Rule], with_policies: bool = False) -> list[tuple[object, ...]]:
    return [
        (r.table, r.chain, r.verdict, r.packets) for r in rules if with_policies or not r.policy
    ]


# ---------------------------------------------------------------------------------------
# The shared samples


def test_iptables_security_sample_is_the_agent() -> None:
    rules = parse_iptables_list(fixture_text("iptables-security.txt"), "security")
    assert _rules(rules) == [
        ("security", "OUTPUT", "ACCEPT", 12),
        ("security", "OUTPUT", "ACCEPT", 4021),
        ("security", "OUTPUT", "DROP", 7),
    ]
    assert [is_agent_rule(r, WS) for r in rules if not r.policy] == [True, True, True]
    assert agent_firewall(rules, WS) == "iptables security/OUTPUT (3 of 3 rules)"
    policy = rules[0]
    assert policy.policy and policy.packets == 81234
    assert rules[3].remove == "iptables -t security -D OUTPUT 3"


def test_nft_walinuxagent_sample_is_the_agent() -> None:
    rules, hooks = parse_nft_text(fixture_text("nft-walinuxagent.txt"))
    (rule,) = rules
    assert (rule.table, rule.chain, rule.verdict, rule.packets) == (
        "ip walinuxagent",
        "output",
        "DROP",
        7,
    )
    assert rule.match.dport == Cond(("53",), negated=True)
    assert rule.match.uid == Cond(("0",), negated=True)
    assert rule.match.ctstate == Cond(("invalid", "new"))
    assert hooks == {"ip walinuxagent output": frozenset({"output"})}
    assert is_agent_rule(rule, WS)
    assert agent_firewall(rules, WS) == "nftables table ip walinuxagent"
    # The agent's rule drops non-root TCP to the platform except port 53.
    assert touches(rule, WS, "tcp", 80)
    assert not touches(rule, WS, "tcp", 53)
    assert not touches(rule, WS, "udp", 53)


# ---------------------------------------------------------------------------------------
# The lab recordings (iptables 1.8.9 nf_tables backend, nft 1.0.6)


def test_lab_iptables_save_all_tables_with_counters() -> None:
    rules = parse_iptables_save(fixture_text("lab-iptables-save-c.txt"))
    assert _rules(rules) == [
        ("security", "OUTPUT", "ACCEPT", 1),
        ("security", "OUTPUT", "ACCEPT", 0),
        ("security", "OUTPUT", "DROP", 0),
        ("filter", "OUTPUT", "DROP", 1),
        ("filter", "OUTPUT", "REJECT", 1),
        ("filter", "OUTPUT", "ACCEPT", 1),
        ("filter", "OUTPUT", "WIRE", 3),
        ("filter", "WIRE", "DROP", 2),
    ]
    assert [is_agent_rule(r, WS) for r in rules if not r.policy] == [True] * 3 + [False] * 5
    drop = rules[9]
    assert drop.text == f"-A OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP"
    assert (
        drop.remove
        == f"iptables -t filter -D OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP"
    )
    assert drop.match == Match(
        daddr=Cond((f"{WS}/32",)), protocol=Cond(("tcp",)), dport=Cond(("32526",))
    )
    wire = rules[-1]
    assert wire.match.dport == Cond(("80",)) and wire.match.daddr is None
    assert not wire.match.unknown  # a comment restricts nothing


def test_lab_iptables_list_matches_save() -> None:
    listed = parse_iptables_list(fixture_text("lab-iptables-L-filter.txt"), "filter")
    saved = [r for r in parse_iptables_save(fixture_text("lab-iptables-save-c.txt"))]
    assert _rules(listed) == _rules([r for r in saved if r.table == "filter"])
    # iptables-nft prints protocol numbers in -L: 6 is tcp, 17 udp, 0 all.
    assert [r.match.protocol for r in listed if not r.policy] == [
        Cond(("tcp",)),
        Cond(("udp",)),
        None,
        None,
        Cond(("tcp",)),
    ]
    assert listed[-1].remove == "iptables -t filter -D WIRE 1"


def test_iptables_list_skips_a_row_it_cannot_read_and_keeps_the_rest() -> None:
    text = (
        "Chain OUTPUT (policy ACCEPT 10 packets, 600 bytes)\n"
        "    pkts      bytes target     prot opt in     out     source               destination\n"
        # No opt column (some iptables builds): a target and 8 words, not a known layout.
        "       3      180 DROP       tcp  *      *       0.0.0.0/0            168.63.129.16\n"
        "       5      300 DROP       tcp  --  *      *       0.0.0.0/0            "
        "168.63.129.16        tcp dpt:32526\n"
    )
    policy, rule = parse_iptables_list(text, "filter")
    assert policy.policy and policy.verdict == "ACCEPT"
    assert (rule.verdict, rule.packets) == ("DROP", 5)


def test_lab_iptables_list_with_line_numbers() -> None:
    listed = parse_iptables_list(fixture_text("lab-iptables-L-security.txt"), "security")
    assert _rules(listed) == [
        ("security", "OUTPUT", "ACCEPT", 1),
        ("security", "OUTPUT", "ACCEPT", 0),
        ("security", "OUTPUT", "DROP", 0),
    ]
    assert all(is_agent_rule(r, WS) for r in listed if not r.policy)


def test_lab_nft_native_json() -> None:
    rules, hooks = parse_nft_json(fixture_text("lab-nft-native.json"))
    assert [(r.table, r.chain, r.verdict, r.packets) for r in rules] == [
        ("ip walinuxagent", "output", "DROP", 1),
        ("inet custom", "out", "DROP", 1),
        ("inet custom", "out", "REJECT", 1),
        ("inet custom", "out", "wire", 1),
        ("inet custom", "out", "DROP", None),
        ("inet custom", "out", "ACCEPT", None),
        ("inet custom", "wire", "RETURN", 1),
    ]
    assert hooks == {
        "ip walinuxagent output": frozenset({"output"}),
        "inet custom out": frozenset({"output"}),
    }
    agent, drop, reject, jump, by_set, _lo, _ret = rules
    assert is_agent_rule(agent, WS) and not is_agent_rule(drop, WS)
    assert drop.remove == "nft delete rule inet custom out handle 4"
    assert jump.match.daddr == Cond(("10.0.0.1", WS)) and jump.match.dport == Cond(("80", "443"))
    assert by_set.match.daddr == Cond(("10.9.9.9",))  # the named set, resolved
    assert "@blocked" in by_set.text
    assert not touches(by_set, WS, "tcp", 80)
    assert touches(reject, WS, "udp", 53) and not touches(reject, WS, "tcp", 53)


def test_lab_nft_text_agrees_with_json() -> None:
    from_text, _ = parse_nft_text(fixture_text("lab-nft-native.txt"))
    from_json, _ = parse_nft_json(fixture_text("lab-nft-native.json"))
    assert [(r.table, r.chain, r.verdict, r.packets) for r in from_text] == [
        (r.table, r.chain, r.verdict, r.packets) for r in from_json
    ]
    for text_rule, json_rule in zip(from_text, from_json):
        if "@" not in text_rule.text:
            assert text_rule.match.daddr == json_rule.match.daddr
            assert text_rule.match.dport == json_rule.match.dport


def test_lab_nft_of_iptables_tables_are_listed() -> None:
    rules, hooks = parse_nft_json(fixture_text("lab-nft-of-iptables.json"))
    assert {r.table for r in rules} == {"ip security", "ip filter"}
    assert hooks["ip security OUTPUT"] == frozenset({"output"})


# ---------------------------------------------------------------------------------------
# Decisions


def _rule(spec: str, table: str = "filter", chain: str = "OUTPUT", **kw: object) -> Rule:
    match, verdict = parse_iptables_spec(spec)
    return Rule("iptables", table, chain, spec, verdict, match, key=spec, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "protocol", "port", "expected"),
    [
        (f"-d {WS}/32 -p tcp --dport 32526 -j DROP", "tcp", 32526, True),
        (f"-d {WS}/32 -p tcp --dport 32526 -j DROP", "tcp", 80, False),
        (f"-d {WS}/32 -p tcp --dport 32526 -j DROP", "udp", 32526, False),
        (f"! -d {WS}/32 -j DROP", "tcp", 80, False),
        ("! -d 10.0.0.0/8 -j DROP", "tcp", 80, True),
        ("-d 168.63.0.0/16 -j DROP", "udp", 53, True),
        ("-d 10.0.0.0/8 -j DROP", "tcp", 80, False),
        ("-p tcp -m multiport --dports 80,443 -j DROP", "tcp", 80, True),
        ("-p tcp -m multiport --dports 80,443 -j DROP", "tcp", 32526, False),
        ("-p tcp --dport 30000:33000 -j DROP", "tcp", 32526, True),
        ("-p tcp ! --dport 53 -j DROP", "tcp", 53, False),
        ("-p tcp --dport ! 53 -j DROP", "tcp", 80, True),
        ("-p all -j DROP", "udp", 53, True),
        ("-p 17 -j DROP", "udp", 53, True),
        ("-j DROP", "tcp", 80, True),
    ],
)
def test_touches(spec: str, protocol: str, port: int, expected: bool) -> None:
    assert touches(_rule(spec), WS, protocol, port) is expected


def test_touches_replies_by_source() -> None:
    rule = _rule(f"-s {WS}/32 -p tcp --sport 80 -j DROP", chain="INPUT")
    assert touches(rule, WS, "tcp", 80, "in")
    assert not touches(rule, WS, "tcp", 32526, "in")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"-d {WS} -j DROP", True),
        ("-d 168.63.0.0/16 -j DROP", True),
        ("-d 0.0.0.0/0 -j DROP", False),
        ("-p tcp --dport 32526 -j DROP", True),
        ("-p tcp --dport 443 -j DROP", False),
        (f"! -d {WS} -j DROP", False),
        ("-o lo -j ACCEPT", False),
    ],
)
def test_mentions(spec: str, expected: bool) -> None:
    assert mentions(_rule(spec), WS, (80, 32526, 53)) is expected


def test_unknown_conditions_are_flagged() -> None:
    assert parse_iptables_spec("-m set --match-set bad dst -j DROP")[0].unknown
    assert parse_iptables_spec("-m mark --mark 0x1 -j DROP")[0].unknown
    assert not parse_iptables_spec('-p tcp -m comment --comment "x y" -j DROP')[0].unknown
    assert not parse_iptables_spec("-j REJECT --reject-with tcp-reset")[0].unknown


@pytest.mark.parametrize(
    ("spec", "table", "expected"),
    [
        (f"-d {WS}/32 -p tcp -m tcp --dport 53 -j ACCEPT", "security", True),
        (f"-d {WS}/32 -p tcp -m owner --uid-owner 0 -j ACCEPT", "security", True),
        (f"-d {WS}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP", "security", True),
        (f"-d {WS}/32 -p tcp -m state --state INVALID,NEW -j DROP", "security", True),
        (f"-d {WS}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP", "filter", False),
        (f"-d {WS}/32 -p tcp --dport 80 -j DROP", "security", False),
        (f"-d {WS}/32 -p tcp -m owner --uid-owner 1000 -j ACCEPT", "security", False),
        ("-d 10.1.1.1/32 -p tcp -m tcp --dport 53 -j ACCEPT", "security", False),
    ],
)
def test_agent_rule_recognition(spec: str, table: str, expected: bool) -> None:
    assert is_agent_rule(_rule(spec, table=table), WS) is expected


def test_reachable_chains_follow_jumps_by_direction() -> None:
    rules = [
        _rule("-d 168.63.0.0/16 -j WIRE"),
        _rule("-p tcp --dport 80 -j DROP", chain="WIRE"),
        _rule("-j SHARED", chain="INPUT"),
        _rule("-j SHARED"),
        _rule("-j DROP", chain="SHARED"),
        _rule("-j DROP", chain="ORPHAN"),
        _rule("-j DROP", chain="FORWARD"),
    ]
    assert reachable_chains(rules, {}) == {
        "filter OUTPUT": "out",
        "filter WIRE": "out",
        "filter INPUT": "in",
        "filter SHARED": "both",
    }


def test_counter_increase_by_key() -> None:
    before = Snapshot((_rule("-j DROP", packets=3), _rule("-j REJECT", packets=5)), ("x",))
    after = Snapshot(
        (
            _rule("-j DROP", packets=7),
            _rule("-j REJECT", packets=5),
            _rule("-p udp -j DROP", packets=2),  # new since the first snapshot
            _rule("-p tcp -j DROP", packets=None),  # no counter
        ),
        ("x",),
    )
    rose = counter_increase(before, after)
    assert [(c.rule.text, c.packets) for c in rose] == [("-j DROP", 4), ("-p udp -j DROP", 2)]


def test_firewalld_direct_rules() -> None:
    text = """<?xml version="1.0" encoding="utf-8"?>
<direct>
  <rule priority="0" table="filter" ipv="ipv4" chain="OUTPUT"
    >-d 168.63.129.16 -p tcp --dport 80 -j DROP</rule>
  <rule priority="0" table="filter" ipv="ipv6" chain="OUTPUT">-p tcp --dport 80 -j DROP</rule>
  <passthrough ipv="ipv4">-t filter -I OUTPUT -j ACCEPT</passthrough>
</direct>
"""
    passthrough, rule = parse_firewalld_direct(text)
    assert (passthrough.table, passthrough.chain, passthrough.verdict) == (
        "direct filter",
        "OUTPUT",
        "ACCEPT",
    )
    assert passthrough.remove == (
        "firewall-cmd --permanent --direct --remove-passthrough ipv4 -t filter -I OUTPUT -j ACCEPT"
    )
    assert (rule.source, rule.table, rule.chain, rule.verdict) == (
        "firewalld",
        "direct filter",
        "OUTPUT",
        "DROP",
    )
    assert touches(rule, WS, "tcp", 80)
    assert rule.remove.startswith("firewall-cmd --permanent --direct --remove-rule ipv4 filter")
    assert parse_firewalld_direct('<!DOCTYPE x [<!ENTITY a "b">]><direct/>') == []
    assert parse_firewalld_direct("not xml") == []


@given(st.text(max_size=500))
def test_text_parsers_never_raise(text: str) -> None:
    for rule in parse_iptables_save(text) + parse_iptables_list(text, "filter"):
        assert rule.source == "iptables"
    assert isinstance(parse_nft_text(text)[0], list)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
_EXPR = st.one_of(
    _JSON,
    st.fixed_dictionaries(
        {
            "match": st.fixed_dictionaries(
                {
                    "op": st.sampled_from(["==", "!=", "in", "<", 3]),
                    "left": st.one_of(
                        _JSON,
                        st.fixed_dictionaries(
                            {"payload": st.fixed_dictionaries({"protocol": _JSON, "field": _JSON})}
                        ),
                        st.fixed_dictionaries({"meta": st.fixed_dictionaries({"key": _JSON})}),
                    ),
                    "right": st.one_of(
                        _JSON,
                        st.fixed_dictionaries({"prefix": _JSON}),
                        st.fixed_dictionaries({"range": _JSON}),
                        st.fixed_dictionaries({"set": _JSON}),
                    ),
                }
            )
        }
    ),
)


@given(st.one_of(_JSON, st.lists(_EXPR, max_size=6)))
def test_nft_json_parser_never_raises_on_any_json(document: object) -> None:
    import json

    payload = {
        "nftables": [
            {"set": {"family": "ip", "table": "t", "name": "s", "elem": document}},
            {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": document}},
        ]
    }
    rules, _ = parse_nft_json(json.dumps(payload))
    assert len(rules) == 1
