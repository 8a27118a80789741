"""The runner: every check at once under one deadline; nothing can hang or sink the run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.bounds import AMPLE_S, HANG_S, FakeClock, RecordingBoard, finishes
from tests.servers import (
    CORE_IDS,
    HOST,
    BlackholePort,
    DnsMode,
    FakeDnsServer,
    FakeHttpServer,
    fake_system,
)
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.checks.catalogue import load, select
from wirecheck.checks.tcp import ConnectFacts
from wirecheck.diagnose import NO_PROBLEM, diagnose
from wirecheck.model import CheckResult, Deadline, Ports, RunConfig, Status
from wirecheck.net import tcp
from wirecheck.net.errors import NetOutcome
from wirecheck.runner import PREPARE_SHARE, REPORT_GRACE_S, run_checks
from wirecheck.session import run_session

CORE = select(frozenset(CORE_IDS), frozenset())


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown: a check that 'never returns' ends once its test is over."""
    event = threading.Event()
    yield event
    event.set()


def spec(check_id: str, run: Callable[[CheckContext], Outcome], **kwargs: object) -> CheckSpec:
    return CheckSpec(check_id, f"title of {check_id}", run, explain="test check", **kwargs)  # type: ignore[arg-type]


def ok(finding: str = "fine") -> Callable[[CheckContext], Outcome]:
    return lambda ctx: Outcome(Status.OK, finding)


def hang(release: threading.Event) -> Callable[[CheckContext], Outcome]:
    def run(ctx: CheckContext) -> Outcome:
        release.wait(60)
        return Outcome(Status.OK, "too late")

    return run


def test_all_core_checks_against_silent_endpoints_end_near_the_deadline(
    release: threading.Event,
) -> None:
    """Five silent endpoints, one 2 s deadline: each check waits into that deadline and
    reports it itself, so the run ends with it, not after the sum of the timeouts."""

    def stuck_resolver(address: str) -> str | None:
        release.wait(60)  # glibc's resolver stuck on an unreachable server
        return None

    with BlackholePort() as http, BlackholePort() as plugin, FakeDnsServer(DnsMode.SILENT) as dns:
        config = RunConfig(
            target=HOST,
            timeout_s=2.0,
            ports=Ports(http=http.port, host_plugin=plugin.port, dns=dns.port),
        )
        deadline = Deadline(2.0)
        system = fake_system(reverse=stuck_resolver)
        results = finishes(lambda: run_checks(CORE, config, system=system, deadline=deadline))
    assert deadline.expired  # they waited for their silent endpoints until the deadline
    assert tuple(r.check_id for r in results) == CORE_IDS
    # Every row is its check's own verdict: a check still busy after the deadline and the
    # grace would be the runner's error row ("did not finish within ...") instead.
    assert {r.status for r in results} == {Status.FAIL}, [(r.check_id, r.finding) for r in results]
    assert not any("did not finish" in result.finding for result in results)
    for result in results[:2]:
        assert result.evidence["outcome"] == "timeout"
    assert "before the deadline" in results[2].finding or "timed out" in results[2].finding


def test_the_deadline_counts_from_the_configured_start() -> None:
    """The CLI passes the command's start: time spent before the checks is not added."""
    seen: list[float] = []

    def spy(ctx: CheckContext) -> Outcome:
        seen.append(ctx.deadline.remaining())
        return Outcome(Status.OK, "looked")

    with BlackholePort() as blackhole:
        config = RunConfig(
            target=HOST,
            timeout_s=2.0,
            ports=Ports(http=blackhole.port),
            started=time.monotonic() - 1.2,  # as if start-up had taken 1.2 s
        )
        specs = [load("tcp-80"), spec("spy", spy)]
        result, _spy = finishes(lambda: run_checks(specs, config, system=fake_system()))
    # The checks got what was left of 2 s counted from the start, not 2 s from now ...
    assert seen and seen[0] <= 2.0 - 1.2
    # ... and tcp-80 waited on the blackhole until then.
    assert result.evidence["outcome"] == "timeout"
    assert Deadline(2.0, start=config.started).expired


def test_five_blocking_probes_run_at_once() -> None:
    # Opens only when all five probes are running at the same moment: in sequence, the
    # first would wait there alone until the deadline.
    all_in = threading.Barrier(5)
    with BlackholePort() as blackhole:

        def probe(ctx: CheckContext) -> Outcome:
            try:
                all_in.wait(ctx.deadline.remaining())
            except threading.BrokenBarrierError:
                return Outcome(Status.ERROR, "not all five probes were running at once")
            result, _ = tcp.connect(HOST, blackhole.port, ctx.deadline.remaining())
            return Outcome(Status.FAIL, result.outcome.value)

        specs = [spec(f"probe-{n}", probe) for n in range(5)]
        results = finishes(lambda: run_checks(specs, RunConfig(target=HOST, timeout_s=1.0)))
    assert [r.finding for r in results] == ["timeout"] * 5


def test_control_characters_in_findings_and_fixes_are_escaped_once_for_all_checks() -> None:
    def quoting(ctx: CheckContext) -> Outcome:
        return Outcome(Status.WARN, "server said \x1b[2J\nhi", fix="see \x07 here")

    (result,) = run_checks([spec("quoting", quoting)], RunConfig(target=HOST, timeout_s=1))
    assert result.finding == "server said \\x1b[2J\\nhi"
    assert result.fix == "see \\x07 here"


def test_a_check_that_raises_becomes_an_error_row() -> None:
    def broken(ctx: CheckContext) -> Outcome:
        raise KeyError("missing-key")

    results = run_checks(
        [spec("first", ok()), spec("broken", broken), spec("last", ok())],
        RunConfig(timeout_s=1.0),
    )
    assert [r.status for r in results] == [Status.OK, Status.ERROR, Status.OK]
    error = results[1]
    assert (error.check_id, error.title) == ("broken", "title of broken")
    assert "KeyError" in error.finding and "missing-key" in error.finding
    assert error.fix


def test_a_check_that_never_returns_becomes_an_error_row_at_the_deadline(
    release: threading.Event,
) -> None:
    deadline, board = Deadline(0.3), RecordingBoard()
    specs = [spec("quick", ok()), spec("stuck", hang(release))]
    results = finishes(
        lambda: run_checks(specs, RunConfig(timeout_s=0.3), deadline=deadline, board=board)
    )
    assert results[0].status is Status.OK
    stuck = results[1]
    assert stuck.status is Status.ERROR
    assert "did not finish within the run's 0.3 s deadline" in stuck.finding
    assert stuck.fix and "--timeout" in stuck.fix
    # Given up at the deadline, not before; never waited for past the deadline and the grace
    # (the check itself is still stuck: only `finishes` would notice if the run waited on it).
    assert deadline.expired
    assert board.asked() and max(board.asked()) <= 0.3 + REPORT_GRACE_S


def test_many_stuck_checks_cost_one_grace_not_one_each(release: threading.Event) -> None:
    specs = [spec(f"stuck-{n}", hang(release)) for n in range(8)]
    board = RecordingBoard()
    results = finishes(lambda: run_checks(specs, RunConfig(timeout_s=0.3), board=board))
    assert {r.status for r in results} == {Status.ERROR}
    # None returns, so the runner waits out every timeout it asks for: together they come
    # to one deadline plus one grace, not a grace per check.
    assert len(board.asked()) == 8
    assert sum(board.asked()) <= 0.3 + REPORT_GRACE_S


def test_a_late_result_does_not_replace_the_error_row(release: threading.Event) -> None:
    seen: list[tuple[str, CheckResult | None]] = []
    results = run_checks(
        [spec("stuck", hang(release))],
        RunConfig(timeout_s=0.2),
        listener=lambda check_id, result: seen.append((check_id, result)),
    )
    release.set()  # the stuck check now returns "too late" ...
    for thread in threading.enumerate():
        if thread.name == "check-stuck":
            thread.join(HANG_S)  # ... and has tried to post it
    assert results[0].status is Status.ERROR
    finished = [result for _id, result in seen if result is not None]
    assert len(finished) == 1 and finished[0].status is Status.ERROR


def test_results_come_back_in_spec_order_whatever_the_finish_order() -> None:
    clock = FakeClock()

    def after(other: str | None, takes_s: float = 0.0) -> Callable[[CheckContext], Outcome]:
        """Finishes once `other` has posted its result, `takes_s` later on the run's clock."""

        def run(ctx: CheckContext) -> Outcome:
            waited = ctx.wait_for(other) if other else None
            clock.advance(takes_s)
            return Outcome(Status.OK, f"after {waited.check_id if waited else 'nothing'}")

        return run

    results = run_checks(
        [spec("slow", after("mid", 0.3)), spec("mid", after("fast")), spec("fast", after(None))],
        RunConfig(timeout_s=2.0),
        deadline=Deadline(2.0, clock),
    )
    assert [r.check_id for r in results] == ["slow", "mid", "fast"]
    assert [r.finding for r in results] == ["after mid", "after fast", "after nothing"]
    # Each row carries its own check's duration, read on the run's clock.
    assert [r.duration_s for r in results] == [0.3, 0.0, 0.0]


def test_listener_hears_every_start_and_one_result_each() -> None:
    seen: list[tuple[str, Status | None]] = []
    lock = threading.Lock()

    def listener(check_id: str, result: CheckResult | None) -> None:
        with lock:
            seen.append((check_id, result.status if result else None))

    run_checks([spec("a", ok()), spec("b", ok())], RunConfig(timeout_s=1.0), listener=listener)
    assert sorted(seen, key=str) == sorted(
        [("a", None), ("b", None), ("a", Status.OK), ("b", Status.OK)], key=str
    )
    assert seen.index(("a", None)) < seen.index(("a", Status.OK))


def test_wait_for_gets_another_checks_result_without_waiting_on_the_clock() -> None:
    board = RecordingBoard()

    def first(ctx: CheckContext) -> Outcome:
        # Done only once `second` waits for it: `second` gets it by waiting on the board.
        board.waited_for("first").wait(ctx.deadline.remaining())
        facts = ConnectFacts("127.0.0.1", 80, NetOutcome.CONNECTED, 1.0, None, ("127.0.0.1", 5555))
        return Outcome(Status.OK, "connected", facts)

    def second(ctx: CheckContext) -> Outcome:
        other = ctx.wait_for("first")
        assert other is not None
        facts = other.facts_as(ConnectFacts)
        assert facts is not None and facts.local_address is not None
        return Outcome(Status.OK, f"saw {':'.join(map(str, facts.local_address))}")

    deadline = Deadline(AMPLE_S)
    both = [spec("second", second), spec("first", first, facts=ConnectFacts)]
    results = finishes(
        lambda: run_checks(both, RunConfig(timeout_s=AMPLE_S), deadline=deadline, board=board)
    )
    assert results[0].finding == "saw 127.0.0.1:5555"
    assert board.asked("second")  # it waited, on the board ...
    assert not deadline.expired  # ... and had the result as soon as it was posted


def test_wait_for_a_check_not_in_the_run_is_none_at_once() -> None:
    def asks(ctx: CheckContext) -> Outcome:
        return Outcome(Status.OK, f"got {ctx.wait_for('tcp-80')}")

    board = RecordingBoard()
    results = run_checks([spec("asks", asks)], RunConfig(timeout_s=5), board=board)
    assert results[0].finding == "got None"
    assert board.asked("asks") == []  # at once: it never waited for a check not coming


def test_wait_for_a_stuck_check_ends_at_the_deadline(release: threading.Event) -> None:
    def asks(ctx: CheckContext) -> Outcome:
        return Outcome(Status.WARN, f"got {ctx.wait_for('stuck')}")

    deadline, board = Deadline(0.4), RecordingBoard()
    specs = [spec("asks", asks), spec("stuck", hang(release))]
    results = finishes(
        lambda: run_checks(specs, RunConfig(timeout_s=0.4), deadline=deadline, board=board)
    )
    assert results[0].finding == "got None"
    assert results[1].status is Status.ERROR
    # It was ready to wait for the stuck check until its deadline, no longer; it got its
    # None once that had passed.
    assert len(board.asked("asks")) == 1 and board.asked("asks")[0] <= 0.4
    assert deadline.expired


def test_an_expired_deadline_still_returns_a_row_per_check(release: threading.Event) -> None:
    results = run_checks(
        [spec("a", hang(release)), spec("b", ok())],
        RunConfig(timeout_s=1.0),
        deadline=Deadline(0.0),
    )
    assert [r.check_id for r in results] == ["a", "b"]
    assert results[0].status is Status.ERROR


def test_prepare_hooks_run_first_and_a_failed_hook_leaves_no_value(
    release: threading.Event,
) -> None:
    order: list[str] = []

    def prepare(ctx: CheckContext) -> object:
        order.append("prepare")
        return "before"

    def broken_prepare(ctx: CheckContext) -> object:
        raise OSError("no iptables")

    slices: list[float] = []

    def stuck_prepare(ctx: CheckContext) -> object:
        slices.append(ctx.deadline.remaining())
        release.wait(60)
        return "never"

    def report(ctx: CheckContext) -> Outcome:
        order.append("run")
        return Outcome(Status.OK, repr(sorted(ctx.prepared.items())))

    specs = [
        spec("a", report, prepare=prepare),
        spec("b", ok(), prepare=broken_prepare),
        spec("c", ok(), prepare=stuck_prepare),
    ]
    # The run's clock stands still: the hooks' slice is exactly their share of 2 s.
    deadline = Deadline(2.0, FakeClock())
    results = finishes(lambda: run_checks(specs, RunConfig(timeout_s=2.0), deadline=deadline))
    assert results[0].finding == "[('a', 'before')]"
    # A stuck hook gets a slice, not the run: the checks ran while it was still stuck.
    assert order == ["prepare", "run"]
    assert slices == [2.0 * PREPARE_SHARE]


def test_session_builds_a_report_with_a_healthy_diagnosis() -> None:
    with (
        FakeHttpServer() as http,
        FakeDnsServer(DnsMode.ANSWER, records={"vm1.abc.internal.cloudapp.net": "10.0.0.4"}) as dns,
    ):
        config = RunConfig(
            target=HOST,
            timeout_s=3.0,
            ports=Ports(http.port, http.port, dns.port),
            only=frozenset(CORE_IDS),
        )
        report = run_session(config, system=fake_system())
    assert report.exit_code == 0, [(r.check_id, r.finding) for r in report.results]
    assert report.causes == (NO_PROBLEM,)
    assert report.target == HOST
    assert report.facts["hostname"] == "vm1"
    assert report.facts["root"] is True
    assert report.version


def _row(check_id: str, status: Status) -> CheckResult:
    return CheckResult(check_id, f"title {check_id}", status, f"{status} finding", fix="do x")


def test_diagnosis_of_a_healthy_run_is_one_no_problem_cause() -> None:
    rows = [_row("tcp-80", Status.OK), _row("dns-udp", Status.OK), _row("x", Status.SKIP)]
    causes = diagnose(rows)
    assert len(causes) == 1
    assert "No problem found" in causes[0].summary


def test_diagnosis_puts_failures_first() -> None:
    rows = [
        _row("dns-reverse", Status.WARN),
        _row("tcp-80", Status.OK),
        _row("wire-versions", Status.ERROR),
        _row("dns-udp", Status.FAIL),
    ]
    causes = diagnose(rows)
    assert causes
    assert "No problem found" not in " ".join(c.summary for c in causes)
    assert causes[0].checks and causes[0].checks[0] == "dns-udp"
    warned = [n for n, c in enumerate(causes) if "dns-reverse" in c.checks]
    failed = [n for n, c in enumerate(causes) if "dns-udp" in c.checks]
    assert failed and (not warned or failed[0] < warned[0])
