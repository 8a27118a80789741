"""Failure windows: when they open and close, which probes they name, what they keep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wirecheck.watch.windows import MAX_CAPTURES, Changes, Outcome, Ring, WindowBook

UP: Outcome = (True, "")


def down(finding: str = "timed out") -> Outcome:
    return (False, finding)


def feed(book: WindowBook, rounds: Sequence[Mapping[str, Outcome]]) -> list[Changes]:
    return [
        book.observe(number, 10.0 * number, outcomes) for number, outcomes in enumerate(rounds, 1)
    ]


def test_a_window_runs_from_the_first_failing_round_to_the_first_round_all_up() -> None:
    book = WindowBook()
    changes = feed(
        book,
        [
            {"a": UP, "b": UP},
            {"a": UP, "b": down("b timed out")},
            {"a": UP, "b": down("b timed out again")},
            {"a": UP, "b": UP},
            {"a": UP, "b": UP},
        ],
    )
    [window] = list(book.kept)
    assert (window.start, window.end, window.start_round, window.end_round) == (20.0, 40.0, 2, 4)
    assert window.probes == ["b"] and window.findings == {"b": "b timed out"}
    assert window.rounds_failing == 2 and window.duration_s() == 20.0
    assert [c.went_down for c in changes] == [(), ("b",), (), (), ()]
    assert [c.came_up for c in changes] == [(), (), (), ("b",), ()]
    assert changes[1].opened is window and changes[3].closed is window
    assert book.current is None and book.total == 1 and book.down_s(100.0) == 20.0


def test_a_second_probe_failing_inside_a_window_joins_it() -> None:
    book = WindowBook()
    changes = feed(
        book,
        [
            {"a": down(), "b": UP},
            {"a": down(), "b": down("b refused")},
            {"a": UP, "b": down("b refused")},
            {"a": UP, "b": UP},
        ],
    )
    [window] = list(book.kept)
    assert window.probes == ["a", "b"] and window.start == 10.0 and window.end == 40.0
    assert [c.any for c in changes] == [True, True, True, True]


def test_failing_from_the_first_round_opens_a_window_at_once() -> None:
    book = WindowBook()
    feed(book, [{"a": down()}])
    assert book.current is not None and book.current.start == 10.0
    assert book.current.to_dict(35.0)["ongoing"] is True
    assert book.current.to_dict(35.0)["duration_s"] == 25.0


def test_a_skipped_probe_keeps_its_state() -> None:
    book = WindowBook()
    changes = feed(book, [{"a": down()}, {"a": (None, "skipped")}, {"a": UP}])
    assert book.current is None and book.total == 1
    assert [c.any for c in changes] == [True, False, True]
    assert next(iter(book.kept)).end == 30.0


def test_only_the_newest_windows_are_kept_and_all_are_counted() -> None:
    book = WindowBook(keep=3)
    feed(book, [{"a": down()} if n % 2 else {"a": UP} for n in range(1, 21)])
    assert book.total == 10
    assert [w.number for w in book.kept] == [8, 9, 10]


def test_a_window_keeps_its_first_captures_and_the_latest() -> None:
    book = WindowBook()
    feed(book, [{"a": down()}])
    window = book.current
    assert window is not None
    for number in range(MAX_CAPTURES + 3):
        window.attach({"n": number}, {"summary": f"cause {number}"})
    assert [c["n"] for c in window.captures] == [*range(MAX_CAPTURES - 1), MAX_CAPTURES + 2]
    assert window.captures_dropped == 3
    assert window.first_cause == {"summary": "cause 0"}


def test_ring_keeps_the_last_items_oldest_first() -> None:
    ring: Ring[int] = Ring(3)
    assert list(ring) == [] and len(ring) == 0
    for number in range(1, 6):
        ring.append(number)
    assert list(ring) == [3, 4, 5] and len(ring) == 3


def test_a_window_ends_when_its_probe_was_answered_not_when_the_round_began() -> None:
    """A SYN dropped at the round's start and retransmitted after the fault ended is
    answered seconds into the round: that is when the fault was over."""
    book = WindowBook()
    book.observe(1, 10.0, {"a": UP, "b": down()})
    book.observe(2, 20.0, {"a": UP, "b": UP}, took={"a": 0.001, "b": 2.0})
    [window] = list(book.kept)
    assert window.end == 22.0 and window.duration_s() == 12.0
