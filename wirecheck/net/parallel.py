"""Run a few blocking calls at once and stop waiting at a deadline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from wirecheck.model import Deadline

T = TypeVar("T")


def gather(
    calls: Mapping[str, Callable[[], T]],
    deadline: Deadline,
    errors: dict[str, Exception] | None = None,
) -> dict[str, T | None]:
    """Each call's return value, or None for a call that raised or was not done by the deadline.

    `errors`, when given, receives the exception of each call that raised, by key, so that
    a caller can tell a failure (often a bug) from a call that ran out of time.

    Daemon threads, not an executor: an executor's threads are joined at interpreter exit,
    so one call stuck in a C library (glibc's resolver) would hold the process open.
    """
    results: dict[str, T | None] = dict.fromkeys(calls)
    done = {key: threading.Event() for key in calls}

    def _run(key: str, call: Callable[[], T]) -> None:
        try:
            results[key] = call()
        except Exception as exc:
            results[key] = None
            if errors is not None:
                errors[key] = exc
        finally:
            done[key].set()

    for key, call in calls.items():
        threading.Thread(target=_run, args=(key, call), daemon=True).start()
    for event in done.values():
        event.wait(deadline.remaining())
    return {key: results[key] if done[key].is_set() else None for key in calls}
