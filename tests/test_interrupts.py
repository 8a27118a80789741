"""Signals as `Interrupted`, held back inside `held()` until the block is over."""

from __future__ import annotations

import gc
import os
import signal
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from wirecheck.report import interrupts
from wirecheck.report.files import write_atomic


@pytest.fixture
def installed() -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in interrupts.SIGNALS}
    hook = sys.unraisablehook
    interrupts.install()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook
        interrupts._State.signalled = interrupts._State.pending = None


def test_a_signal_is_an_interrupted_with_its_exit_code(installed: None) -> None:
    with pytest.raises(interrupts.Interrupted) as caught:
        os.kill(os.getpid(), signal.SIGTERM)  # handled before the next line runs
    assert caught.value.signum == signal.SIGTERM and caught.value.exit_code == 143


def test_a_signal_inside_held_is_raised_when_the_block_ends(installed: None) -> None:
    done = []
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.held():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("the block ran to its end")
    assert done == ["the block ran to its end"]
    assert caught.value.exit_code == 130


def test_a_report_write_finishes_before_the_signal_is_raised(
    installed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync_then_signal(fd: int) -> None:
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGTERM)  # lands between the write and the rename

    monkeypatch.setattr(os, "fsync", fsync_then_signal)
    with pytest.raises(interrupts.Interrupted):
        write_atomic(tmp_path / "r.txt", b"whole")
    assert (tmp_path / "r.txt").read_bytes() == b"whole"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_without_install_held_holds_nothing_back() -> None:
    """A library use (no install): Python's own KeyboardInterrupt goes through at once."""
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        raise KeyboardInterrupt
    assert interrupts._State.depth == 0 and interrupts._State.pending is None


def test_a_signal_swallowed_by_a_callback_is_raised_at_the_next_step(installed: None) -> None:
    """A handler runs between any two bytecodes, a weakref callback's too, where Python
    "ignores" what it raises: it is not printed, and raise_if_signalled() raises it."""

    class Thing:
        pass

    thing = Thing()
    ref = weakref.ref(thing, lambda _ref: os.kill(os.getpid(), signal.SIGTERM))
    assert ref() is thing
    del thing  # the callback runs, and the Interrupted raised in it is swallowed, silently
    gc.collect()
    assert ref() is None
    with pytest.raises(interrupts.Interrupted) as caught:
        interrupts.raise_if_signalled()
    assert caught.value.exit_code == 143
