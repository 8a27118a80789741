"""MachineFacts: each source read once per run, shared, within its own budget; a reader
nobody waits for stops; the runner closes it at the end. No timing thresholds: the tests
count reads and items, and bound every wait generously."""

from __future__ import annotations

import itertools
import threading

import pytest

from tests.context_fakes import FakeMachine, context, ok
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Deadline, RunConfig, Status
from wirecheck.platform.budget import Cutoff, OutOfTime, checked
from wirecheck.platform.machine import ROUTES
from wirecheck.platform.routes import IP_ROUTE_ALL, RouteTable
from wirecheck.platform.sources import MachineFacts, Source, Subject
from wirecheck.runner import run_checks
from wirecheck.system import System

GENEROUS_S = 30.0  # a bound on waits that only a bug reaches


def _machine(seconds: float = GENEROUS_S) -> MachineFacts:
    return MachineFacts(FakeMachine().system(), Deadline(seconds), Subject())


def test_many_callers_at_once_read_a_source_once() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def read(system: System, until: Cutoff, subject: Subject) -> str:
        calls.append(1)
        gate.wait(GENEROUS_S)
        return "the table"

    source = Source("slow", 10.0, read)
    machine = _machine()
    got: list[object] = []
    waiters = [
        threading.Thread(target=lambda: got.append(machine.get(source, Deadline(GENEROUS_S))))
        for _ in range(8)
    ]
    for waiter in waiters:
        waiter.start()
    gate.set()
    for waiter in waiters:
        waiter.join(GENEROUS_S)
    assert calls == [1] and machine.reads == {"slow": 1}
    assert [g.value for g in got] == ["the table"] * 8  # type: ignore[attr-defined]


def _endless(counted: list[int]) -> Source[None]:
    def read(system: System, until: Cutoff, subject: Subject) -> None:
        for index in checked(itertools.count(), until, every=64):
            counted.append(index)

    return Source("endless", 0.05, read)


def test_a_reader_past_its_budget_stops_by_itself_and_says_so() -> None:
    counted: list[int] = []
    machine = _machine()
    got = machine.get(_endless(counted), Deadline(GENEROUS_S))
    assert got.value is None
    assert got.why == "endless: not read in full (its 0.05 s budget ran out)"
    seen = len(counted)
    machine.get(_endless(counted), Deadline(GENEROUS_S))  # the same source: not read again
    assert len(counted) == seen and machine.reads == {"endless": 1}


def test_a_caller_with_less_time_leaves_and_the_reader_goes_on_for_the_others() -> None:
    gate = threading.Event()

    def read(system: System, until: Cutoff, subject: Subject) -> str:
        gate.wait(GENEROUS_S)
        return "done"

    source = Source("held", 10.0, read)
    machine = _machine()
    early = machine.get(source, Deadline(0.0))
    assert early.value is None and "still being read" in early.why
    gate.set()
    assert machine.get(source, Deadline(GENEROUS_S)).value == "done"


def test_closing_the_run_cancels_a_reader_nobody_waits_for() -> None:
    counted: list[int] = []
    started = threading.Event()

    def read(system: System, until: Cutoff, subject: Subject) -> None:
        started.set()
        for index in checked(itertools.count(), until, every=64):
            counted.append(index)

    source = Source("long", 60.0, read)
    machine = _machine(60)
    machine.start(source)
    assert started.wait(GENEROUS_S)
    machine.close()
    got = machine.get(source, Deadline(GENEROUS_S))
    assert got.why == "long: not read in full (the run ended)"
    stopped_at = len(counted)
    assert machine.get(source, Deadline(GENEROUS_S)).why == got.why
    assert len(counted) == stopped_at  # it is not running any more


def test_a_reader_that_fails_names_its_error() -> None:
    def read(system: System, until: Cutoff, subject: Subject) -> None:
        raise ValueError("unexpected output")

    got = _machine().get(Source("broken", 1.0, read), Deadline(GENEROUS_S))
    assert got.value is None and got.why == "broken: ValueError: unexpected output"


def test_a_budget_never_outlives_the_run() -> None:
    seen: list[float] = []

    def read(system: System, until: Cutoff, subject: Subject) -> None:
        seen.append(until.remaining())

    MachineFacts(FakeMachine().system(), Deadline(0.5)).get(
        Source("budget", 100.0, read), Deadline(GENEROUS_S)
    )
    assert 0 < seen[0] <= 0.5


def test_checked_raises_once_the_deadline_has_passed() -> None:
    spent = Cutoff(10)
    spent.cancel()
    with pytest.raises(OutOfTime):
        list(checked(range(10), spent))
    assert list(checked(range(3), None)) == [0, 1, 2]


# --- through the runner -------------------------------------------------------------------------


def _asking(check_id: str) -> CheckSpec:
    def run(ctx: CheckContext) -> Outcome:
        table = ctx.fact(ROUTES).value
        assert isinstance(table, RouteTable)
        return Outcome(Status.OK, f"{len(table.routes)} route(s) kept of {table.total}")

    return CheckSpec(check_id, check_id, run, explain="a test check\n- ok: always")


def test_two_checks_asking_for_the_routes_run_ip_route_once() -> None:
    routes = '[{"dst": "default", "gateway": "10.1.0.1", "dev": "eth0"}]'
    machine = FakeMachine(commands={IP_ROUTE_ALL: ok(routes)})
    results = run_checks(
        [_asking("first"), _asking("second")], RunConfig(timeout_s=5), system=machine.system()
    )
    assert [r.finding for r in results] == ["1 route(s) kept of 1"] * 2
    assert machine.ran.count(IP_ROUTE_ALL) == 1


def test_a_context_outside_a_run_reads_for_itself() -> None:
    machine = FakeMachine(commands={IP_ROUTE_ALL: ok("[]")})
    got = context(machine).fact(ROUTES)
    assert isinstance(got.value, RouteTable) and got.value.total == 0
