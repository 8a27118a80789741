"""The guest agent's own firewall rules, reviewed against the set its version installs, on
rule sets recorded with iptables 1.8.9 and nftables 1.0.6 (real probes as root and as
uid 65534 made the counters), firewalld's direct.xml and the listing of WALinuxAgent #976."""

from __future__ import annotations

import re

import pytest

from tests.conftest import fixture_text
from wirecheck.platform.firewall.agent_rules import (
    AgentReview,
    classify,
    expected_set,
    review,
    rule_text,
)
from wirecheck.platform.firewall.model import Rule
from wirecheck.platform.firewall.parsers import (
    parse_firewalld_direct,
    parse_iptables_list,
    parse_iptables_save,
    parse_iptables_spec,
    parse_nft_json,
    parse_nft_text,
)

WS = "168.63.129.16"


def _listed(name: str) -> list[Rule]:
    return parse_iptables_list(fixture_text(name), "security")


def _saved(name: str) -> list[Rule]:
    return parse_iptables_save(fixture_text(name))


def _zeroed(rules: list[Rule]) -> dict[str, int]:
    """The counters before the probes: every rule at zero."""
    return {r.key: 0 for r in rules if r.packets is not None}


def _review(rules: list[Rule], version: str | None = None) -> AgentReview:
    found = review(rules, WS, version, _zeroed(rules))
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("name", "problems", "dropped_root"),
    [
        ("iptables-security-correct.txt", [], False),
        (
            "iptables-security-drop-before-uid0.txt",
            ["the DROP comes before the TCP 53 ACCEPT", "the DROP comes before the uid-0 ACCEPT"],
            True,
        ),
        ("iptables-security-drop-without-uid0.txt", ["the uid-0 ACCEPT is missing"], True),
        (
            "iptables-security-duplicated.txt",
            [
                "the TCP 53 ACCEPT is there 2 times",
                "the uid-0 ACCEPT is there 2 times",
                "the DROP is there 2 times",
            ],
            False,
        ),
        (
            "iptables-security-issue976-mixed.txt",
            [
                "the TCP 53 ACCEPT is missing",
                "the uid-0 ACCEPT is there 2 times",
                "a plain DROP without a state match (left by agents 2.2.15-2.2.16) is still there",
                "a ctstate INVALID,NEW ACCEPT (left by agents 2.2.20-2.2.25) is still there",
                "the DROP is missing",
            ],
            False,
        ),
        (
            "iptables-security-legacy-accept-before-drop.txt",
            [
                "the TCP 53 ACCEPT is missing",
                "a ctstate INVALID,NEW ACCEPT (left by agents 2.2.20-2.2.25) is still there",
            ],
            False,
        ),
        # The complete set in order; a process that is uid 0 only inside a user namespace
        # (65534 outside) was dropped: the review cannot name a wrong rule.
        ("iptables-security-userns-root-dropped.txt", [], False),
    ],
)
def test_recorded_sets_against_the_current_agents(
    name: str, problems: list[str], dropped_root: bool
) -> None:
    found = _review(_listed(name))
    assert list(found.problems) == problems
    # With counters from zero, "dropped root" means: the DROP counted and no uid-0 ACCEPT
    # ahead of it did (the correct set's DROP counted the uid-65534 probes only).
    assert found.dropped_root is dropped_root
    assert found.where == "iptables security/OUTPUT"


def test_the_save_form_reviews_like_the_listing_and_deletes_by_spec() -> None:
    listed = _review(_listed("iptables-security-drop-before-uid0.txt"))
    saved = _review(_saved("iptables-save-security-drop-before-uid0.txt"))
    assert saved.problems == listed.problems
    assert [r.kind for r in saved.rules] == ["drop", "dns-accept", "uid0-accept"]
    assert saved.drop_counted == 7
    fix = saved.fix()
    assert fix.startswith(
        "Delete the agent's rules, every copy: `iptables -t security -D OUTPUT -d "
        f"{WS}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP`; "
    )
    assert "`systemctl restart walinuxagent`" in fix
    assert "in order (the TCP 53 ACCEPT, the uid-0 ACCEPT, the DROP" in fix
    assert "Note that a restart alone does not repair it: they reset the set when some" in fix
    assert "the installed version is unknown" in fix
    missing = _review(_listed("iptables-security-drop-without-uid0.txt"), "2.11.1.4").fix()
    assert "that stays missing means the agent is not running or does not manage" in missing


def test_listed_rules_are_deleted_by_position_last_first() -> None:
    fix = _review(_listed("iptables-security-duplicated.txt")).fix()
    positions = [int(p) for p in re.findall(r"-D OUTPUT (\d+)`", fix)]
    assert positions == [6, 5, 4, 3, 2, 1]


def test_the_version_decides_the_expected_set_and_what_a_restart_does() -> None:
    assert expected_set("2.15.0.1").kinds == ("dns-accept", "uid0-accept", "drop")
    assert expected_set("2.11.1.4").label == "agents 2.8.0.11 to 2.12"
    assert expected_set("2.2.45").kinds == ("uid0-accept", "drop")
    assert "a restart alone repairs the order" in expected_set("2.2.45").restart
    assert expected_set("2.2.16").kinds == ("uid0-accept", "plain-drop")
    assert expected_set("2.2.18").kinds == ()
    assert expected_set(None) == expected_set("2.15.0.1")
    assert expected_set("garbage") == expected_set(None)
    # Agents before 2.7.0.6 add no DNS ACCEPT: its absence is not a problem for them.
    two_rules = [r for r in _listed("iptables-security-correct.txt") if "dpt:53" not in r.text]
    assert _review(two_rules, "2.2.53").problems == ()
    assert _review(two_rules, "2.9.1.1").problems == ("the TCP 53 ACCEPT is missing",)


def test_iptables_L_without_n_names_services_and_users() -> None:
    # WALinuxAgent #3280's layout: `tcp dpt:domain`, `owner UID match root`, `4324K`.
    rules = _listed("iptables-security-L-v-names.txt")
    assert [classify(r, WS) for r in rules if not r.policy] == [
        "dns-accept",
        "uid0-accept",
        "drop",
    ]
    assert rules[2].bytes == 4324000


def test_the_976_listing_with_protocol_names() -> None:
    rules = _listed("iptables-security-issue976-original.txt")
    assert [classify(r, WS) for r in rules if not r.policy] == [
        "uid0-accept",
        "plain-drop",
        "uid0-accept",
        "state-accept",
    ]


@pytest.mark.parametrize(
    ("name", "parse"),
    [
        ("nft-walinuxagent.json", lambda t: parse_nft_json(t)[0]),
        ("nft-walinuxagent-nft1.0.6.txt", lambda t: parse_nft_text(t)[0]),
    ],
)
def test_the_nft_rule_is_complete(name: str, parse: object) -> None:
    rules = parse(fixture_text(name))  # type: ignore[operator]
    found = _review(rules)
    assert found.where == "nftables table ip walinuxagent"
    assert found.problems == ()
    assert found.drop_counted == 3
    assert found.fix().startswith("Collect `wirecheck bundle`")


def test_an_nft_rule_without_the_uid_match_drops_root_too() -> None:
    text = fixture_text("nft-walinuxagent-nft1.0.6.txt").replace("meta skuid != 0 ", "")
    found = _review(parse_nft_text(text)[0])
    assert found.problems == (
        "its rule lacks part of `tcp dport != 53 skuid != 0 ct state invalid,new` (so it drops "
        "more than non-root connections)",
    )
    assert "`nft delete table ip walinuxagent`" in found.fix()


def test_firewalld_keeps_a_stale_duplicate_that_comes_back_at_boot() -> None:
    stale = parse_firewalld_direct(fixture_text("firewalld-direct-rhel9-stale.xml"))
    live = _listed("iptables-security-drop-before-uid0.txt")
    found = _review(live + stale)
    assert found.persistent_problems == (
        "firewalld's permanent passthroughs hold the TCP 53 ACCEPT 2 times",
    )
    fix = found.fix()
    assert (
        "`firewall-cmd --permanent --direct --remove-passthrough ipv4 -t security -A OUTPUT "
        f"-d {WS} -p tcp --destination-port 53 -j ACCEPT`" in fix
    )
    assert fix.endswith("then `firewall-cmd --reload`.")
    clean = parse_firewalld_direct(fixture_text("firewalld-direct-agent.xml"))
    assert [classify(r, WS) for r in clean] == ["dns-accept", "uid0-accept", "drop"]
    assert _review(live + clean).persistent_problems == ()


def test_a_counter_that_went_down_was_reset_and_is_not_evidence() -> None:
    rules = _saved("iptables-save-security-drop-before-uid0.txt")
    higher = {r.key: (r.packets or 0) + 100 for r in rules if r.packets is not None}
    found = review(rules, WS, None, higher)
    assert found is not None and found.counters_reset
    assert found.drop_counted == 0 and not found.dropped_root
    assert "zeroed meanwhile" in found.to_dict()["counters"]


def test_no_agent_rules_no_review() -> None:
    assert review(_saved("iptables-save-security-correct.txt")[:3], WS) is None  # policies


def test_the_agents_rule_texts_parse_back_to_their_kinds() -> None:
    for kind in ("dns-accept", "uid0-accept", "drop", "plain-drop", "state-accept"):
        spec = rule_text(kind, WS)  # type: ignore[arg-type]
        match, verdict = parse_iptables_spec(spec.removeprefix("-A OUTPUT "))
        rule = Rule("iptables", "security", "OUTPUT", spec, verdict, match)
        assert classify(rule, WS) == kind


def test_the_2_2_15_set_is_what_those_agents_install_and_a_leftover_for_later_ones() -> None:
    rules = _listed("iptables-security-legacy-2.2.15-plain-drop.txt")
    assert [classify(r, WS) for r in rules if not r.policy] == ["uid0-accept", "plain-drop"]
    assert _review(rules, "2.2.16").problems == ()
    assert _review(rules, "2.9.1.1").problems == (
        "the TCP 53 ACCEPT is missing",
        "a plain DROP without a state match (left by agents 2.2.15-2.2.16) is still there",
        "the DROP is missing",
    )


def test_the_shared_nft_sample_without_the_meta_keyword() -> None:
    found = _review(parse_nft_text(fixture_text("nft-walinuxagent.txt"))[0])
    assert found.problems == ()
