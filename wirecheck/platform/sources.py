"""The machine's state, each piece read once per run and shared by every check that needs it.

A `Source` declares one piece (the route table, the NICs, the DHCP leases, the kernel's
route to the target; and, declared by the firewall reader, the iptables nat table): its
reader and its own time budget. The run
holds one `MachineFacts`: the first check that asks for a source starts its reader in a
thread of its own; every check that asks (the first included) waits for it, each only as
long as its own deadline allows. A reader gets a `Cutoff`: its budget, never past the
run's deadline, and cancelled when the run ends; commands are killed at it and long loops
stop at it (`budget.checked`), so a reader nobody waits for any more does not go on
taking the CPU from the checks that are still running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Generic, TypeVar

from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Deadline
from wirecheck.platform.budget import Cutoff, OutOfTime
from wirecheck.system import System

T = TypeVar("T")


@dataclass(frozen=True)
class Subject:
    """What this run asks about: readers keep what matters to it (the routes that cover
    these addresses, say) rather than everything they read."""

    target: str = PLATFORM_ADDRESS
    imds: str = IMDS_ADDRESS
    ports: tuple[int, ...] = (80, 32526, 53)  # the ports the probes send to
    # The time leases are judged at (expired or current): the run's start.
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.target, self.imds)))


@dataclass(frozen=True)
class Source(Generic[T]):
    """One piece of machine state: how to read it, and how long that may take."""

    name: str  # for notes: "the route table"
    budget_s: float  # from when its reader starts; never past the run's deadline
    read: Callable[[System, Cutoff, Subject], T]


@dataclass(frozen=True)
class Got(Generic[T]):
    """What a check got from a source: the value, or why there is none."""

    value: T | None
    why: str = ""  # empty when there is a value


class _Reading(Generic[T]):
    def __init__(self, cutoff: Cutoff) -> None:
        self.cutoff = cutoff
        self.done = threading.Event()
        self.got: Got[T] = Got(None, "not read yet")


class MachineFacts:
    """The run's sources, each read at most once, by the first check that asks."""

    def __init__(self, system: System, deadline: Deadline, subject: Subject | None = None) -> None:
        self.system = system
        self.deadline = deadline  # the run's: no reader outlives it
        self.subject = subject or Subject()
        self._readings: dict[str, _Reading[object]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.reads: dict[str, int] = {}  # how many times each source was read (tests)

    def start(self, source: Source[T]) -> None:
        """Start reading `source` if nobody has yet; do not wait for it."""
        self._reading(source)

    def get(self, source: Source[T], wait: Deadline) -> Got[T]:
        """The source's value, read once per run; waits at most until `wait` expires."""
        reading = self._reading(source)
        if not reading.done.wait(max(0.0, wait.remaining())):
            return Got(None, f"{source.name}: still being read when this check's time ran out")
        return reading.got

    def close(self) -> None:
        """The run is over: every reader still going stops at its next look at the clock."""
        with self._lock:
            self._closed = True
            readings = list(self._readings.values())
        for reading in readings:
            reading.cutoff.cancel()

    def _reading(self, source: Source[T]) -> _Reading[T]:
        with self._lock:
            found = self._readings.get(source.name)
            if found is not None:
                return found  # type: ignore[return-value]  # one source per name
            cutoff = Cutoff(min(source.budget_s, self.deadline.remaining()))
            if self._closed:
                cutoff.cancel()
            reading: _Reading[T] = _Reading(cutoff)
            self._readings[source.name] = reading  # type: ignore[assignment]
            self.reads[source.name] = self.reads.get(source.name, 0) + 1
        threading.Thread(
            target=self._read, args=(source, reading), name=f"read-{source.name}", daemon=True
        ).start()
        return reading

    def _read(self, source: Source[T], reading: _Reading[T]) -> None:
        budget = f"{source.budget_s:g} s"
        try:
            reading.got = Got(source.read(self.system, reading.cutoff, self.subject))
        except OutOfTime:
            why = "the run ended" if reading.cutoff.cancelled else f"its {budget} budget ran out"
            reading.got = Got(None, f"{source.name}: not read in full ({why})")
        except Exception as exc:  # a reader's bug must not sink the checks that wait on it
            reading.got = Got(None, f"{source.name}: {type(exc).__name__}: {exc}")
        finally:
            reading.done.set()
