"""The firewall analysis and parsers are linear: graph walks checked against the old
fixed point on random rule sets, work counted on big generated rulesets (no timing), and
the text prefilter held to the parser's reading."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirecheck.checks.catalogue import load_all
from wirecheck.checks.firewall import Flow, _sort_rules, assess, flows
from wirecheck.lab.bulk import iptables_restore_text
from wirecheck.model import RunConfig, Status
from wirecheck.platform.firewall.assess import (
    FlowPaths,
    jumps_into,
    reachable_chains,
    touches,
    touches_path,
)
from wirecheck.platform.firewall.model import IN_HOOKS, OUT_HOOKS, Cond, Match, Rule, Snapshot
from wirecheck.platform.firewall.parsers import (
    _shell_words,
    parse_iptables_rules,
    parse_iptables_save,
    parse_iptables_spec,
)
from wirecheck.platform.firewall.relevance import Interest, keep_relevant, may_enter, may_matter

TARGET, IMDS = "168.63.129.16", "169.254.169.254"
INTEREST = Interest((TARGET, IMDS), (80, 32526, 53))


# --- the old algorithms, kept here as the oracle ----------------------------------------------


def old_reachable_chains(
    rules: Sequence[Rule], hooks: Mapping[str, frozenset[str]]
) -> dict[str, str]:
    direction: dict[str, str] = {}
    for rule in rules:
        name = f"{rule.table} {rule.chain}"
        hook = next(iter(hooks.get(name, frozenset({rule.chain}))), rule.chain)
        if hook in OUT_HOOKS:
            direction[name] = "out"
        elif hook in IN_HOOKS:
            direction[name] = "in"
    changed = True
    while changed:
        changed = False
        for rule in rules:
            here = direction.get(f"{rule.table} {rule.chain}")
            if not here or not rule.verdict:
                continue
            there = f"{rule.table} {rule.verdict}"
            if there not in direction:
                if any(f"{r.table} {r.chain}" == there for r in rules):
                    direction[there] = here
                    changed = True
            elif direction[there] != here and direction[there] != "both":
                direction[there] = "both"
                changed = True
    return direction


def old_touches_path(
    rule: Rule,
    callers: Mapping[str, Sequence[Rule]],
    address: str,
    protocol: str,
    port: int,
    direction: str = "out",
    seen: frozenset[str] = frozenset(),
) -> bool:
    if not touches(rule, address, protocol, port, direction):
        return False
    here = f"{rule.table} {rule.chain}"
    entries = callers.get(here)
    if not entries:
        return True
    if here in seen:
        return False
    return any(
        old_touches_path(c, callers, address, protocol, port, direction, seen | {here})
        for c in entries
    )


# --- random small rule sets ---------------------------------------------------------------------

CHAINS = ("OUTPUT", "INPUT", "FORWARD", "POSTROUTING", "PREROUTING", "A", "B", "C", "D", "E")
NETWORKS = (None, "168.63.129.16/32", "168.63.0.0/16", "10.0.0.0/8", "169.254.169.254/32")
PORTS = (None, "80", "53", "32526", "1000-2000")


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    table = draw(st.sampled_from(("filter", "nat")))
    chain = draw(st.sampled_from(CHAINS))
    verdict = draw(st.sampled_from((*CHAINS, "ACCEPT", "DROP", None)))
    daddr = draw(st.sampled_from(NETWORKS))
    saddr = draw(st.sampled_from(NETWORKS))
    dport = draw(st.sampled_from(PORTS))
    match = Match(
        daddr=Cond((daddr,), draw(st.booleans())) if daddr else None,
        saddr=Cond((saddr,)) if saddr else None,
        protocol=Cond(("tcp",)) if dport else None,
        dport=Cond((dport,)) if dport else None,
    )
    return Rule("iptables", table, chain, f"-A {chain}", verdict, match)


HOOK_CHOICES = st.dictionaries(
    st.sampled_from([f"{t} {c}" for t in ("filter", "nat") for c in CHAINS]),
    st.sampled_from([frozenset({"output"}), frozenset({"input"}), frozenset({"forward"})]),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(rules(), max_size=25), HOOK_CHOICES)
def test_the_chain_walk_agrees_with_the_old_fixed_point(
    found: list[Rule], hooks: dict[str, frozenset[str]]
) -> None:
    assert reachable_chains(found, hooks) == old_reachable_chains(found, hooks)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(rules(), max_size=20),
    st.sampled_from([(TARGET, "tcp", 80), (TARGET, "udp", 53), (IMDS, "tcp", 80)]),
    st.sampled_from(["out", "in"]),
)
def test_flow_paths_agree_with_the_old_recursion(
    found: list[Rule], flow: tuple[str, str, int], direction: str
) -> None:
    callers = jumps_into(found)
    paths = FlowPaths(found)
    for rule in found:
        expected = old_touches_path(rule, callers, *flow, direction)
        assert touches_path(rule, callers, *flow, direction) == expected
        assert paths.touches_path(rule, *flow, direction) == expected


@pytest.mark.parametrize(
    ("rules_", "expected"),
    [
        ([], {}),
        (
            [
                Rule("iptables", "filter", "OUTPUT", "", "A"),
                Rule("iptables", "filter", "INPUT", "", "A"),
                Rule("iptables", "filter", "A", "", "B"),
                Rule("iptables", "filter", "B", "", "A"),  # a loop
                Rule("iptables", "filter", "FORWARD", "", "C"),
                Rule("iptables", "filter", "C", "", "DROP"),
                Rule("iptables", "filter", "D", "", None),  # nothing enters it
            ],
            {
                "filter OUTPUT": "out",
                "filter INPUT": "in",
                "filter A": "both",
                "filter B": "both",
            },
        ),
        (  # nft: a base chain's hook, not its name, says the direction
            [
                Rule("nftables", "inet t", "mychain", "", "x"),
                Rule("nftables", "inet t", "x", "", None),
            ],
            {"inet t mychain": "out", "inet t x": "out"},
        ),
    ],
)
def test_reachable_chains_table(rules_: list[Rule], expected: dict[str, str]) -> None:
    hooks = {"inet t mychain": frozenset({"output"})}
    assert reachable_chains(rules_, hooks) == expected


# --- big rulesets: linear work, complete results ---------------------------------------------


def _chain_of_jumps(length: int) -> list[Rule]:
    """OUTPUT -> C0 -> C1 -> ... each chain jumped into from every chain before it: the
    old recursion over callers visits exponentially many paths; the walk each jump once."""
    found = []
    chains = ["OUTPUT"] + [f"C{i}" for i in range(length)]
    for i, chain in enumerate(chains[1:], 1):
        found += [Rule("iptables", "filter", before, "", chain) for before in chains[:i]]
    found.append(Rule("iptables", "filter", chains[-1], "", "DROP", Match(daddr=Cond((TARGET,)))))
    return found


def test_flow_paths_look_at_each_jump_once_per_flow() -> None:
    found = _chain_of_jumps(60)  # 1830 jumps
    paths = FlowPaths(found)
    jumps = sum(1 for r in found if r.verdict != "DROP")
    for rule in found:
        paths.touches_path(rule, TARGET, "tcp", 80, "out")
        paths.touches_path(rule, IMDS, "tcp", 80, "out")
    assert paths.touches_path(found[-1], TARGET, "tcp", 80, "out")
    assert not paths.touches_path(found[-1], IMDS, "tcp", 80, "out")
    assert paths.jumps_evaluated <= 2 * jumps  # two flows, each jump looked at once


def _flows() -> list[Flow]:
    return flows(load_all(), RunConfig())


def test_a_drop_deep_in_a_generated_ruleset_is_found_and_counted() -> None:
    guard = (
        "-A OUTPUT -d 168.63.129.16/32 -j GUARD",
        "-A GUARD -p tcp -m tcp --dport 32526 -j DROP",
    )
    text = iptables_restore_text(20_000, guard).replace("COMMIT", "")
    before = Snapshot(tuple(parse_iptables_save(text)), ("iptables-save -c",))
    assert len(before.rules) > 20_000  # every rule read, none capped
    counted = text.replace(
        "-A GUARD -p tcp -m tcp --dport 32526 -j DROP",
        "[3:180] -A GUARD -p tcp -m tcp --dport 32526 -j DROP",
    )
    after = Snapshot(tuple(parse_iptables_save(counted)), ("iptables-save -c",))
    outcome = assess(before, after, _flows(), {"tcp-32526"}, {"tcp-32526"}, TARGET)
    assert outcome.status is Status.FAIL
    assert "-A GUARD -p tcp -m tcp --dport 32526 -j DROP" in outcome.finding
    assert "counted 3 packets" in outcome.finding


def test_the_relevant_rules_of_a_generated_ruleset_give_the_same_verdict() -> None:
    """The prefilter keeps what the analysis needs: the same rows and verdict from 20k
    rules as from the handful it keeps."""
    guard = ("-A OUTPUT -d 168.63.129.16/32 -j GUARD", "-A GUARD -p udp --dport 53 -j DROP")
    text = iptables_restore_text(20_000, guard)
    everything = Snapshot(tuple(parse_iptables_save(text)), ("iptables-save -c",))
    kept = Snapshot(tuple(parse_iptables_save(text, interest=INTEREST)), ("iptables-save -c",))
    assert len(kept.rules) < 40 < 20_000 < len(everything.rules)
    traffic = _flows()
    full = _sort_rules(everything, False, {}, traffic, {"dns-udp"}, {"dns-udp"}, TARGET)
    few = _sort_rules(kept, False, {}, traffic, {"dns-udp"}, {"dns-udp"}, TARGET)
    assert [(s.rule.key, s.probes) for s in full.seen] == [(s.rule.key, s.probes) for s in few.seen]
    assert [s.rule.key for s in full.suspects] == [s.rule.key for s in few.suspects]
    assert full.suspects  # the guard DROP itself


# --- the text prefilter never drops what the parser would keep ---------------------------------

WORDS = st.sampled_from(
    [
        "-d 168.63.129.16/32",
        "-d 10.0.0.0/8",
        "! -d 168.63.0.0/16",
        "-d ! 10.1.0.0/16",
        "-s 169.254.169.254",
        "-s 10.2.0.1/32",
        "-d 0.0.0.0/0",
        "-p tcp",
        "-p udp",
        "-m tcp --dport 80",
        "--dport 8080",
        "! --dport 53",
        "--dport 1000:2000",
        "-m multiport --dports 443,32526",
        "--sport 53",
        '-m comment --comment "-d 168.63.129.16"',
        "-m comment --comment plain",
        "-m conntrack --ctstate NEW",
        "-o eth0",
        "-d vm.example",
        "--dport http",
    ]
)
TARGETS = st.sampled_from(
    [
        "-j DROP",
        "-j REJECT --reject-with tcp-reset",
        "-j ACCEPT",
        "-j KUBE-X",
        "-g KUBE-Y",
        "-j DNAT --to-destination 168.63.129.16:80",
        '-j LOG --log-prefix "-d 168.63.129.16"',
        "",
    ]
)


def _matters_to_the_analysis(rule: Rule) -> bool:
    """What the firewall check asks of a rule, for any of its flows and directions."""
    for address in (TARGET, IMDS):
        for port in (80, 32526, 53):
            named = any(
                v
                for v in [rule.match.daddr, rule.match.saddr]
                if v
                and not v.negated
                and any(
                    x != "0.0.0.0/0"
                    and touches(
                        Rule("iptables", "f", "c", "", None, Match(daddr=Cond((x,)))),
                        address,
                        "tcp",
                        port,
                    )
                    for x in v.values
                )
            ) or any(
                c
                and not c.negated
                and touches(
                    Rule("iptables", "f", "c", "", None, Match(dport=Cond(c.values))),
                    address,
                    "tcp",
                    port,
                )
                for c in (rule.match.dport, rule.match.sport)
            )
            stops = rule.blocking and not rule.match.unknown
            if (
                named
                or (stops and touches(rule, address, "tcp", port))
                or (stops and touches(rule, address, "udp", port))
            ):
                return True
    return False


@settings(max_examples=500, deadline=None)
@given(st.lists(WORDS, max_size=5), TARGETS)
def test_the_prefilter_keeps_every_rule_that_can_matter(words: list[str], target: str) -> None:
    spec = " ".join([*words, target]).strip()
    match, verdict = parse_iptables_spec(spec)
    rule = Rule("iptables", "filter", "OUTPUT", f"-A OUTPUT {spec}", verdict, match)
    if _matters_to_the_analysis(rule):
        assert may_matter(spec, INTEREST), spec


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, max_size=5))
def test_a_jump_the_prefilter_would_not_follow_touches_no_packet_of_ours(words: list[str]) -> None:
    spec = " ".join([*words, "-j NEXT"])
    match, verdict = parse_iptables_spec(spec)
    rule = Rule("iptables", "nat", "OUTPUT", f"-A OUTPUT {spec}", verdict, match)
    if any(
        touches(rule, a, proto, p, "out")
        for a in (TARGET, IMDS)
        for p in (80, 32526, 53)
        for proto in ("tcp", "udp")
    ):
        assert may_enter(spec, INTEREST), spec


def test_jumps_into_a_chain_that_matters_are_kept() -> None:
    rules_ = [
        ("OUTPUT", "-j A"),
        ("A", "-d 10.0.0.0/8 -j B"),
        ("B", "-d 168.63.129.16/32 -j DROP"),
        ("OUTPUT", "-d 10.9.0.0/16 -j C"),
        ("C", "-d 10.9.0.1/32 -j DNAT --to-destination 10.9.0.2"),
    ]
    assert keep_relevant(rules_, INTEREST) == [True, True, True, False, False]


# --- shell words without shlex ----------------------------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab -\"'\\$\t", max_size=16))
def test_shell_words_split_as_shlex_does(text: str) -> None:
    try:
        expected = shlex.split(text)
    except ValueError:
        expected = text.split()
    assert _shell_words(text) == expected


# --- `iptables -S -v` -----------------------------------------------------------------------------

RULES_V = """\
-P INPUT ACCEPT -c 0 0
-P OUTPUT DROP -c 12 720
-N GUARD
-A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 32526 -c 5 300 -j DROP
-A OUTPUT -m comment --comment "a -c 1 2 inside" -c 7 8 -j LOG --log-prefix "x -c 3 4"
-A OUTPUT -d 10.0.0.1/32 -c 9 10
-A GUARD -c 1 60 -j RETURN
"""


def test_iptables_rules_v_reads_counters_wherever_they_stand() -> None:
    found = parse_iptables_rules(RULES_V, "filter")
    rows = [(r.chain, r.text, r.verdict, r.packets, r.bytes, r.policy) for r in found]
    assert rows == [
        ("INPUT", "-P INPUT ACCEPT", "ACCEPT", 0, 0, True),
        ("OUTPUT", "-P OUTPUT DROP", "DROP", 12, 720, True),
        (
            "OUTPUT",
            "-A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 32526 -j DROP",
            "DROP",
            5,
            300,
            False,
        ),
        (
            "OUTPUT",
            '-A OUTPUT -m comment --comment "a -c 1 2 inside" -j LOG --log-prefix "x -c 3 4"',
            "LOG",
            7,
            8,
            False,
        ),
        ("OUTPUT", "-A OUTPUT -d 10.0.0.1/32", None, 9, 10, False),
        ("GUARD", "-A GUARD -j RETURN", "RETURN", 1, 60, False),
    ]
    # The same keys and removal commands as iptables-save gives the same rules.
    save = parse_iptables_save(
        "*filter\n[5:300] -A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 32526 -j DROP\n"
    )
    assert found[2].key == save[0].key and found[2].remove == save[0].remove


def test_a_huge_save_is_read_whole() -> None:
    """No cap: 50k rules in, 50k rules (and the policies) out."""
    text = iptables_restore_text(50_000)
    found = parse_iptables_save(text)
    assert sum(not r.policy for r in found) == text.count("\n-A ")
