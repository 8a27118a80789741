"""The firewall check: before/after snapshots, the probes' results, the verdict."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, failed, ok, result
from wirecheck.checks.base import Outcome
from wirecheck.checks.catalogue import load_all
from wirecheck.checks.firewall import assess, flows, prepare_firewall, run_firewall
from wirecheck.model import RunConfig, Status
from wirecheck.platform.firewall.model import Snapshot
from wirecheck.platform.firewall.parsers import parse_iptables_save
from wirecheck.system import CommandResult

WS = "168.63.129.16"
SAVE = fixture_text("lab-iptables-save-c.txt")
ZEROED = re.sub(r"\[\d+:\d+\]", "[0:0]", SAVE)
AGENT_ONLY = (
    "\n".join(line for line in SAVE.splitlines() if "*filter" not in line)
    .split("*security")[1]
    .split("COMMIT")[0]
)
AGENT_SAVE = f"*security{AGENT_ONLY}COMMIT\n"
PORT_RULE = f"-A OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP"


def _snapshot(text: str) -> Snapshot:
    return Snapshot(tuple(parse_iptables_save(text)), ("iptables-save -c",))


def _assess(
    before: str | None, after: str, failed_ids: Sequence[str], ran: Sequence[str]
) -> Outcome:
    return assess(
        _snapshot(before) if before is not None else None,
        _snapshot(after),
        flows(load_all(), RunConfig()),
        set(failed_ids),
        set(ran),
        WS,
    )


def test_rule_whose_counter_rose_while_its_probe_failed_is_named() -> None:
    outcome = _assess(
        ZEROED, SAVE, ["tcp-32526", "dns-udp", "tcp-80"], ["tcp-32526", "dns-udp", "tcp-80"]
    )
    assert outcome.status is Status.FAIL
    assert outcome.finding.startswith(
        f"iptables rule `{PORT_RULE}` (filter/OUTPUT) counted 1 packet"
    )
    assert outcome.fix and outcome.fix.startswith(
        f"Remove it: `iptables -t filter -D OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP`"
    )
    counted = {c["rule"]: c for c in outcome.evidence["counted"]}
    assert counted[PORT_RULE]["probes"] == ["tcp-32526"]
    wire = next(c for c in counted.values() if "block wire" in str(c["rule"]))
    assert wire["probes"] == ["tcp-80"] and wire["packets_during_probes"] == 2
    assert outcome.evidence["agent_firewall"] == "iptables security/OUTPUT (3 of 3 rules)"


def test_a_rule_counting_while_its_probe_succeeded_is_not_blamed() -> None:
    outcome = _assess(ZEROED, SAVE, [], ["tcp-32526", "tcp-80", "dns-udp"])
    assert outcome.status is Status.OK
    assert outcome.evidence["counted"] == []
    assert outcome.finding == (
        f"the guest agent's own rules (expected) and 4 rule(s) touch {WS} or its ports; "
        "none blocked a probe"
    )


def test_without_a_before_snapshot_a_matching_rule_is_a_suspect() -> None:
    outcome = _assess(None, SAVE, ["tcp-32526"], ["tcp-32526"])
    assert outcome.status is Status.WARN
    assert "no counter snapshot from before the probes" in outcome.finding
    assert outcome.evidence["counters"].startswith("after the probes only")


def test_a_blocking_rule_whose_probes_did_not_run_is_a_warning() -> None:
    outcome = _assess(ZEROED, ZEROED, [], [])
    assert outcome.status is Status.WARN
    assert "(the probes it matches did not run here)" in outcome.finding


def test_only_the_agent_rules_are_expected() -> None:
    outcome = _assess(AGENT_SAVE, AGENT_SAVE, [], ["tcp-80"])
    assert outcome.status is Status.OK
    assert outcome.finding == (
        f"only the guest agent's own rules touch {WS} (expected): "
        "iptables security/OUTPUT (3 of 3 rules)"
    )
    assert all(r["agent"] for r in outcome.evidence["rules"])


def test_the_agent_rule_counting_for_a_non_root_user_is_expected() -> None:
    after = AGENT_SAVE.replace(
        "[0:0] -A OUTPUT -d 168.63.129.16/32 -p tcp -m conntrack",
        "[4:240] -A OUTPUT -d 168.63.129.16/32 -p tcp -m conntrack",
    )
    outcome = _assess(AGENT_SAVE, after, ["tcp-80", "tcp-32526"], ["tcp-80", "tcp-32526"])
    assert outcome.status is Status.OK
    assert (
        "dropped 4 packet(s) of tcp-80, tcp-32526: expected for a non-root user" in outcome.finding
    )
    (counted,) = outcome.evidence["counted"]
    assert counted["agent"] is True


def test_no_rule_at_all() -> None:
    outcome = _assess("", "*filter\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n", [], ["tcp-80"])
    assert (outcome.status, outcome.finding) == (
        Status.OK,
        f"no local rule touches {WS} or its ports",
    )


def test_output_policy_drop_is_named_when_it_counted() -> None:
    before = "*filter\n:OUTPUT DROP [5:300]\n-A OUTPUT -o lo -j ACCEPT\nCOMMIT\n"
    after = before.replace("[5:300]", "[8:480]")
    outcome = _assess(before, after, ["tcp-80"], ["tcp-80"])
    assert outcome.status is Status.FAIL
    assert outcome.finding.startswith("the filter/OUTPUT chain's default policy (DROP) counted 3")
    assert outcome.fix and "iptables -t filter -P OUTPUT ACCEPT" in outcome.fix


def test_input_rules_count_only_when_they_name_the_platform() -> None:
    text = (
        "*filter\n:INPUT DROP [0:0]\n[9:1] -A INPUT -s 168.63.129.16/32 -p tcp --sport 80 -j DROP\n"
        "[9:1] -A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
    )
    outcome = _assess(text.replace("[9:1]", "[0:0]"), text, ["tcp-80"], ["tcp-80"])
    assert outcome.status is Status.FAIL
    assert "-A INPUT -s 168.63.129.16/32" in outcome.finding
    assert [r["chain"] for r in outcome.evidence["rules"]] == ["INPUT"]


# ---------------------------------------------------------------------------------------
# The check on a made-up machine


def _sequence(*outputs: str) -> Callable[[Sequence[str]], CommandResult]:
    """A command that prints each output in turn (the last one from then on)."""
    left = list(outputs)

    def answer(argv: Sequence[str]) -> CommandResult:
        return ok(left.pop(0) if len(left) > 1 else left[0])

    return answer


def test_run_with_the_prepared_snapshot_and_probe_results() -> None:
    machine = FakeMachine(
        commands={
            ("iptables-save", "-c"): _sequence(ZEROED, SAVE),
            ("nft", "-j", "list", "ruleset"): ok('{"nftables": []}'),
        }
    )
    before = prepare_firewall(context(machine))
    assert before is not None and before.sources == ("iptables-save -c", "nft -j list ruleset")
    ctx = context(
        machine,
        results=[result("tcp-32526", Status.FAIL, outcome="timeout")],
        prepared={"firewall": before},
    )
    outcome = run_firewall(ctx)
    assert outcome.status is Status.FAIL
    assert PORT_RULE in outcome.finding
    assert machine.ran.count(("iptables-save", "-c")) == 2


def test_missing_tools_are_notes_and_list_fallback() -> None:
    security = fixture_text("iptables-security.txt")
    machine = FakeMachine(
        commands={
            ("iptables", "-w", "-t", t, "-L", "-nxv"): ok(security if t == "security" else "")
            for t in ("raw", "mangle", "nat", "filter", "security")
        }
    )
    outcome = run_firewall(context(machine))
    assert outcome.status is Status.OK
    assert outcome.evidence["read"] == ["iptables -L -nxv"]
    assert outcome.evidence["notes"] == ["nft: nft is not installed: no nftables rules read"]
    assert "only the guest agent's own rules" in outcome.finding


def test_nothing_readable_is_a_skip_with_the_reason() -> None:
    denied = (
        "iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: "
        "Permission denied (you must be root)"
    )
    machine = FakeMachine(
        root=False,
        commands={
            ("iptables-save", "-c"): failed(denied, 4),
            ("nft", "-j", "list", "ruleset"): failed("Error: Operation not permitted"),
        },
    )
    outcome = run_firewall(context(machine))
    assert outcome.status is Status.SKIP
    assert "permission denied (reading firewall rules needs root)" in outcome.finding
    # firewalld's direct.xml is readable by anyone, but it is not the rules in force.
    with_direct = FakeMachine(
        root=False,
        commands=machine.commands,
        files={"/etc/firewalld/direct.xml": "<?xml version='1.0'?><direct/>"},
    )
    assert run_firewall(context(with_direct)).status is Status.SKIP
    bare = run_firewall(context(FakeMachine()))
    assert bare.status is Status.SKIP
    assert "iptables is not installed" in bare.finding and "nft is not installed" in bare.finding


def test_nft_tables_of_iptables_nft_are_listed_once() -> None:
    machine = FakeMachine(
        commands={
            ("iptables-save", "-c"): ok(SAVE),
            ("nft", "-j", "list", "ruleset"): ok(fixture_text("lab-nft-of-iptables.json")),
        }
    )
    outcome = run_firewall(context(machine))
    sources = {r["source"] for r in outcome.evidence["rules"]}
    assert sources == {"iptables"}


def test_native_nft_and_iptables_side_by_side() -> None:
    machine = FakeMachine(
        commands={
            ("iptables-save", "-c"): ok(""),
            ("nft", "-j", "list", "ruleset"): _sequence(
                re.sub(
                    r'"packets": \d+, "bytes": \d+',
                    '"packets": 0, "bytes": 0',
                    fixture_text("lab-nft-native.json"),
                ),
                fixture_text("lab-nft-native.json"),
            ),
        }
    )
    before = prepare_firewall(context(machine))
    ctx = context(
        machine,
        results=[result("tcp-32526", Status.FAIL, outcome="timeout"), result("dns-udp", Status.OK)],
        prepared={"firewall": before},
    )
    outcome = run_firewall(ctx)
    assert outcome.status is Status.FAIL
    assert outcome.fix and "`nft delete rule inet custom out handle 4`" in outcome.fix
    assert outcome.evidence["agent_firewall"] == "nftables table ip walinuxagent"


def test_windows_block_rule_matching_a_failed_probe_fails() -> None:
    cmd = ("netsh", "advfirewall", "firewall", "show", "rule", "name=all", "verbose")
    machine = FakeMachine(commands={cmd: ok(fixture_text("windows-netsh-firewall-rules.txt"))})
    assert prepare_firewall(context(machine, platform="win32")) is None
    failed_ctx = context(
        machine, results=[result("tcp-32526", Status.FAIL, outcome="timeout")], platform="win32"
    )
    outcome = run_firewall(failed_ctx)
    assert outcome.status is Status.FAIL
    assert 'Windows Firewall rule `"Block WireServer host plugin"' in outcome.finding
    assert outcome.fix and "enable=no" in outcome.fix
    healthy = context(
        machine,
        results=[
            result(i, Status.OK) for i in ("tcp-32526", "dns-udp", "dns-reverse", "trace-32526")
        ],
        platform="win32",
    )
    assert run_firewall(healthy).status is Status.OK


# ---------------------------------------------------------------------------------------
# The guest agent's own rules, running as root (sets recorded with iptables 1.8.9)

DROP_FIRST = fixture_text("iptables-save-security-drop-before-uid0.txt")
AGENT_DROP = f"-A OUTPUT -d {WS}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP"


def _agent_assess(after: str, root: bool | None, version: str | None = None) -> Outcome:
    return assess(
        _snapshot(ZERO_COUNTERS.sub("[0:0]", after)),
        _snapshot(after),
        flows(load_all(), RunConfig()),
        {"tcp-80", "tcp-32526"},
        {"tcp-80", "tcp-32526", "dns-udp"},
        WS,
        root=root,
        agent_version=version,
    )


ZERO_COUNTERS = re.compile(r"\[\d+:\d+\]")


def test_as_root_the_agents_drop_ahead_of_its_uid0_accept_is_the_failure() -> None:
    outcome = _agent_assess(DROP_FIRST, root=True, version="2.11.1.4")
    assert outcome.status is Status.FAIL
    assert outcome.finding == (
        f"running as root, the guest agent's own rule `{AGENT_DROP}` (iptables security/OUTPUT) "
        "counted 7 packet(s) while tcp-80, tcp-32526 failed: the DROP comes before the TCP 53 "
        "ACCEPT; the DROP comes before the uid-0 ACCEPT"
    )
    assert outcome.fix and "a restart alone does not repair it: they re-create the set" in (
        outcome.fix
    )
    agent = outcome.evidence["agent_rules"]
    assert agent["version"] == "2.11.1.4"
    assert [r["is"] for r in agent["rules_in_order"]] == [
        "the DROP",
        "the TCP 53 ACCEPT",
        "the uid-0 ACCEPT",
    ]
    assert [r["packets_during_probes"] for r in agent["rules_in_order"]] == [7, 0, 0]
    assert outcome.evidence["probes_ran_as"] == "root"


def test_for_a_non_root_user_the_same_count_is_expected() -> None:
    outcome = _agent_assess(DROP_FIRST, root=False)
    assert outcome.status is Status.OK
    assert "expected for a non-root user" in outcome.finding


def test_as_root_a_drop_behind_a_counting_uid0_accept_counted_other_users() -> None:
    outcome = _agent_assess(fixture_text("iptables-save-security-correct.txt"), root=True)
    assert outcome.status is Status.OK
    assert "its uid-0 ACCEPT let root's through" in outcome.finding


def test_root_in_a_user_namespace_is_not_root_to_the_rules() -> None:
    machine = FakeMachine(
        files={"/proc/self/uid_map": "         0      65534          1\n"},
        commands={
            ("iptables-save", "-c"): _sequence(ZERO_COUNTERS.sub("[0:0]", DROP_FIRST), DROP_FIRST),
            ("nft", "-j", "list", "ruleset"): ok('{"nftables": []}'),
        },
    )
    before = prepare_firewall(context(machine))
    ctx = context(
        machine,
        results=[result("tcp-80", Status.FAIL, outcome="timeout")],
        prepared={"firewall": before},
    )
    outcome = run_firewall(ctx)
    assert outcome.status is Status.OK  # the agent's DROP is expected for uid 65534
    assert outcome.evidence["probes_ran_as"] == "not root"
    assert outcome.evidence["user_namespace"].startswith("uid 0 here is uid 65534 outside")
