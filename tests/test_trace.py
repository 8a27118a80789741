"""Traceroute hops, schedule and verdict: rendering (byte for byte against real
`traceroute -T`), matching, scheduling and the verdict.

The traceroute-T-*.txt fixtures are real output of traceroute 2.1.2 (`traceroute -T` and
`traceroute -T -n`), captured in lab namespaces like the ones tests/test_traceroute_netns.py
builds: a target owning 168.63.129.16, an appliance 10.1.0.254 named
`appliance.lab.internal` in the client's hosts file, a lost ICMP (`statistic` DROP rule on
the appliance), an `icmp-admin-prohibited` REJECT, and a DROP on the target's port 80.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_text
from tests.traceroute_text import parse_traceroute
from wirecheck.checks.trace import classify
from wirecheck.errors import ParseError
from wirecheck.model import Status
from wirecheck.net.traceroute.hops import (
    Hop,
    ProbeCell,
    Reply,
    ReplyKind,
    make_hop,
    render_hop,
    render_traceroute,
    unreachable_flag,
)
from wirecheck.net.traceroute.schedule import ProbeBook, SentProbe, TracePlan, TraceState

TARGET = "168.63.129.16"
APPLIANCE = "10.1.0.254"
NAMES = {APPLIANCE: "appliance.lab.internal"}

NUMERIC = [
    "traceroute-T-n-healthy.txt",
    "traceroute-T-n-extra-hop.txt",
    "traceroute-T-n-lost-probe.txt",
    "traceroute-T-n-prohibited.txt",
    "traceroute-T-n-blackhole.txt",
]
NAMED = ["traceroute-T-healthy.txt", "traceroute-T-extra-hop.txt"]


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_rendering_matches_real_traceroute_byte_for_byte(name: str) -> None:
    real = fixture_text(name)
    target, max_hops, hops = parse_traceroute(real)
    assert render_traceroute(target, hops, max_hops) == real


@pytest.mark.parametrize("name", NAMED)
def test_named_rendering_matches_real_traceroute_byte_for_byte(name: str) -> None:
    real = fixture_text(name)
    target, max_hops, hops = parse_traceroute(real)
    assert render_traceroute(target, hops, max_hops, names=NAMES) == real


def test_rendering_from_replies_matches_the_real_lost_probe_row() -> None:
    # Built from engine replies (not parsed text): the lost second probe of hop 1.
    hop1 = make_hop(
        1,
        [
            Reply(1, 0, APPLIANCE, 0.036, ReplyKind.TIME_EXCEEDED),
            None,
            Reply(1, 2, APPLIANCE, 0.009, ReplyKind.TIME_EXCEEDED),
        ],
        TARGET,
    )
    hop2 = make_hop(
        2,
        [Reply(2, a, TARGET, rtt, ReplyKind.RST) for a, rtt in enumerate((0.021, 0.012, 0.011))],
        TARGET,
    )
    assert render_traceroute(TARGET, [hop1, hop2], 30) == fixture_text(
        "traceroute-T-n-lost-probe.txt"
    )
    assert (hop1.kind, hop2.kind, hop2.final) == ("router", "target", True)


def test_row_with_two_addresses_repeats_the_address_only_when_it_changes() -> None:
    hop = Hop(
        3,
        (ProbeCell("10.0.0.1", 1.0), ProbeCell("10.0.0.2", 2.0), ProbeCell("10.0.0.2", 3.0)),
        "router",
    )
    assert render_hop(hop) == " 3  10.0.0.1  1.000 ms 10.0.0.2  2.000 ms  3.000 ms"
    assert render_hop(hop, {}) == (
        " 3  10.0.0.1 (10.0.0.1)  1.000 ms 10.0.0.2 (10.0.0.2)  2.000 ms  3.000 ms"
    )
    assert hop.to_dict()["addresses"] == ["10.0.0.1", "10.0.0.2"]


def test_star_first_then_answer_prints_the_address() -> None:
    # As in real output: " 6  * 168.63.129.16 (168.63.129.16)  0.077 ms  0.020 ms"
    hop = Hop(6, (ProbeCell(), ProbeCell(TARGET, 0.077), ProbeCell(TARGET, 0.020)), "target")
    assert render_hop(hop, {}) == " 6  * 168.63.129.16 (168.63.129.16)  0.077 ms  0.020 ms"


_cells = st.one_of(
    st.just(ProbeCell()),
    st.builds(
        ProbeCell,
        st.sampled_from(["10.1.0.254", "10.9.0.2", TARGET]),
        st.floats(min_value=0, max_value=9999, allow_nan=False).map(lambda v: round(v, 3)),
        st.sampled_from(["", "!H", "!N", "!X"]),
    ),
)


@given(st.lists(st.lists(_cells, min_size=3, max_size=3), min_size=1, max_size=8))
def test_render_and_parse_are_inverse(rows: list[list[ProbeCell]]) -> None:
    hops = [Hop(ttl, tuple(cells), "none") for ttl, cells in enumerate(rows, 1)]
    text = render_traceroute(TARGET, hops, 8)
    _, max_hops, parsed = parse_traceroute(text)
    assert max_hops == 8
    assert [h.cells for h in parsed] == [h.cells for h in hops]
    assert render_traceroute(TARGET, parsed, 8) == text


@pytest.mark.parametrize(
    ("code", "flag"),
    [(0, "!N"), (1, "!H"), (2, "!P"), (3, ""), (4, "!F"), (9, "!X"), (13, "!X"), (99, "!<99>")],
)
def test_unreachable_flags_are_traceroutes(code: int, flag: str) -> None:
    assert unreachable_flag(code) == flag


# ---------------------------------------------------------------------------------------
# Matching


def _book() -> ProbeBook:
    book = ProbeBook(TARGET, 80)
    book.add(SentProbe(1, 0, 40001, 1000, 0.0))
    book.add(SentProbe(2, 0, 40002, 0xFFFFFFFF, 0.0))
    return book


def test_icmp_error_is_matched_by_quoted_ports_and_sequence() -> None:
    book = _book()
    probe = book.match_icmp(TARGET, 40001, 80, 1000)
    assert probe is not None and probe.ttl == 1
    assert book.match_icmp(TARGET, 40001, 80, 1001) is None  # another packet on that port
    assert book.match_icmp(TARGET, 40001, 443, 1000) is None  # another destination port
    assert book.match_icmp("10.0.0.9", 40001, 80, 1000) is None  # quoted to elsewhere


@pytest.mark.parametrize(
    ("src", "sport", "dport", "ack", "flags", "expected"),
    [
        (TARGET, 80, 40001, 1001, "SA", (1, ReplyKind.SYN_ACK)),
        (TARGET, 80, 40001, 1001, "RA", (1, ReplyKind.RST)),
        (TARGET, 80, 40002, 0, "SA", (2, ReplyKind.SYN_ACK)),  # seq + 1 wraps to 0
        (TARGET, 80, 40001, 0, "R", (1, ReplyKind.RST)),  # a bare RST carries no ack
        (TARGET, 80, 40001, 5555, "SA", None),  # acknowledges something else
        ("10.1.0.254", 80, 40001, 1001, "SA", None),  # not from the target
        (TARGET, 443, 40001, 1001, "SA", None),  # not from the probed port
        (TARGET, 80, 40009, 1001, "SA", None),  # not one of our ports
        (TARGET, 80, 40001, 1001, "A", None),  # a plain ACK answers nothing
    ],
)
def test_tcp_answer_matching(
    src: str,
    sport: int,
    dport: int,
    ack: int,
    flags: str,
    expected: tuple[int, ReplyKind] | None,
) -> None:
    found = _book().match_tcp(src, sport, dport, ack, "S" in flags, "R" in flags, "A" in flags)
    assert (None if found is None else (found[0].ttl, found[1])) == expected


# ---------------------------------------------------------------------------------------
# Scheduling


def _reply(ttl: int, attempt: int, address: str, kind: ReplyKind, rtt: float = 0.1) -> Reply:
    return Reply(ttl, attempt, address, rtt, kind)


def test_first_wave_goes_out_at_once_then_only_up_to_the_target() -> None:
    state = TraceState(TracePlan(max_hops=8, wave=4), TARGET)
    first = state.due(0.0)
    assert first == [(1, 0), (2, 0), (3, 0), (4, 0)]
    for ttl, attempt in first:
        state.sent(ttl, attempt, 0.0)
    for ttl in (1, 2, 3, 4):
        state.answered(_reply(ttl, 0, TARGET, ReplyKind.SYN_ACK))
    assert state.final_ttl == 1
    assert state.due(0.001) == [(1, 1)]  # nothing more for TTLs past the target
    state.sent(1, 1, 0.001)
    state.answered(_reply(1, 1, TARGET, ReplyKind.SYN_ACK))
    assert state.due(0.002) == [(1, 2)]
    state.sent(1, 2, 0.002)
    assert not state.done()
    state.answered(_reply(1, 2, TARGET, ReplyKind.SYN_ACK))
    assert state.done()
    hops = state.hops()
    assert [h.kind for h in hops] == ["target"]


def test_unanswered_attempt_lets_the_next_go_after_the_stagger() -> None:
    state = TraceState(TracePlan(max_hops=1, wave=1, stagger_s=0.05, wait_s=1.0), TARGET)
    state.sent(*state.due(0.0)[0], 0.0)
    assert state.due(0.01) == []
    assert state.next_expiry() == pytest.approx(0.05)
    assert state.due(0.05) == [(1, 1)]


def test_silent_hop_is_given_up_near_the_targets_round_trip() -> None:
    # traceroute's NEAR rule: a later hop answered in 0.1 ms, so hop 1 is waited for
    # 10 x (0.1 ms + 1 ms), not the full wait.
    state = TraceState(TracePlan(max_hops=4, wave=4, wait_s=1.0), TARGET)
    for ttl, attempt in state.due(0.0):
        state.sent(ttl, attempt, 0.0)
    state.answered(_reply(2, 0, TARGET, ReplyKind.SYN_ACK, rtt=0.1))
    assert state.timeout_for(1) == pytest.approx(0.011)
    state.expire(0.012)
    assert state.due(0.012)[:1] == [(1, 1)]


def test_blackhole_moves_to_the_next_wave_then_stops_at_max_hops() -> None:
    plan = TracePlan(max_hops=6, wave=3, probes_per_hop=1, wait_s=0.5)
    state = TraceState(plan, TARGET)
    now = 0.0
    sent: list[tuple[int, int]] = []
    while not state.done():
        for ttl, attempt in state.due(now):
            state.sent(ttl, attempt, now)
            sent.append((ttl, attempt))
        now += 0.25
        assert now < 5, "the schedule must end on its own"
    assert sent == [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]
    assert [h.kind for h in state.hops()] == ["none"] * 6
    assert now == pytest.approx(1.25)  # two waves of one wait each, not six waits


def test_stop_ends_the_trace() -> None:
    state = TraceState(TracePlan(), TARGET)
    state.stop("EPERM")
    assert state.done() and state.due(0.0) == []


def test_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_hops"):
        TracePlan(max_hops=0)
    with pytest.raises(ValueError, match="wait_s"):
        TracePlan(wait_s=0)


# ---------------------------------------------------------------------------------------
# The verdict


def _hops(name: str) -> list[Hop]:
    return parse_traceroute(fixture_text(name))[2]


def test_verdict_ok_when_the_target_answers_at_hop_1() -> None:
    verdict = classify(_hops("traceroute-T-n-healthy.txt"), TARGET, 80)
    assert verdict.status is Status.OK
    assert "hop 1" in verdict.finding and verdict.fix is None


def test_verdict_warns_and_names_the_hops_in_between() -> None:
    verdict = classify(_hops("traceroute-T-n-extra-hop.txt"), TARGET, 80)
    assert verdict.status is Status.WARN
    assert "hop 2" in verdict.finding and APPLIANCE in verdict.finding
    assert verdict.details == (f"hop 1 {APPLIANCE}",)
    assert verdict.fix and "ip route get 168.63.129.16" in verdict.fix


def test_verdict_names_a_silent_hop_in_between() -> None:
    hops = [
        Hop(1, (ProbeCell(),) * 3, "none"),
        Hop(2, (ProbeCell(TARGET, 0.2),) * 3, "target", final=True),
    ]
    verdict = classify(hops, TARGET, 32526)
    assert verdict.status is Status.WARN
    assert "hop 1 silent (* * *)" in verdict.finding


def test_verdict_fails_with_what_the_last_answering_hop_said() -> None:
    verdict = classify(_hops("traceroute-T-n-blackhole.txt"), TARGET, 80)
    assert verdict.status is Status.FAIL
    assert "never answered" in verdict.finding
    assert f"hop 1 ({APPLIANCE}): time exceeded" in verdict.finding


def test_verdict_fails_on_a_prohibited_hop() -> None:
    verdict = classify(_hops("traceroute-T-n-prohibited.txt"), TARGET, 32526)
    assert verdict.status is Status.FAIL
    assert "administratively prohibited" in verdict.finding and "(!X)" in verdict.finding
    assert "hop 2" in verdict.finding


def test_verdict_fails_when_nothing_answers() -> None:
    hops = [Hop(t, (ProbeCell(),) * 3, "none") for t in (1, 2)]
    verdict = classify(hops, TARGET, 80, deadline_hit=True)
    assert verdict.status is Status.FAIL
    assert "nothing answered" in verdict.finding and "until the deadline" in verdict.finding
    assert verdict.fix and "iptables-save" in verdict.fix


def test_verdict_fails_when_probes_cannot_be_sent() -> None:
    reason = "sending a probe to 168.63.129.16:80 failed with EPERM (Operation not permitted)"
    verdict = classify([], TARGET, 80, stopped_reason=reason)
    assert verdict.status is Status.FAIL
    assert "EPERM" in verdict.finding
    assert verdict.fix and "local firewall rule" in verdict.fix


def test_hop_json_shape() -> None:
    hop = make_hop(
        1,
        [Reply(1, 0, APPLIANCE, 0.5, ReplyKind.UNREACHABLE, icmp_code=13), None, None],
        TARGET,
    )
    assert hop.to_dict() == {
        "ttl": 1,
        "address": APPLIANCE,
        "rtts_ms": [0.5],
        "kind": "router",
        "flag": "!X",
    }
    assert hop.final


@pytest.mark.parametrize("text", ["", "hello\n", "traceroute to x (x), many hops max\n"])
def test_parse_traceroute_refuses_other_text(text: str) -> None:
    with pytest.raises(ParseError, match="traceroute -T"):
        parse_traceroute(text)
