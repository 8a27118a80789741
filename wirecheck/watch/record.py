"""Everything watch keeps in memory about a run: per probe statistics, the timeline bins,
the failure windows, a few notes. Its size is fixed once the first rounds are in (the
windows and notes are bounded), so a watch of a month needs what a watch of a minute
does. Pure: rounds come in as samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wirecheck.model import CheckResult, Status
from wirecheck.watch.stats import ProbeStats
from wirecheck.watch.timeline import Timeline
from wirecheck.watch.windows import Changes, Ring, WindowBook

MAX_NOTES = 20


@dataclass(frozen=True)
class Sample:
    """One probe in one round."""

    probe: str
    status: str
    seconds: float
    finding: str = ""

    @property
    def up(self) -> bool | None:
        """Up when its row is ok; a skipped probe says nothing; anything else is down."""
        if self.status == Status.SKIP.value:
            return None
        return self.status == Status.OK.value

    @classmethod
    def of(cls, result: CheckResult) -> Sample:
        return cls(result.check_id, result.status.value, result.duration_s, result.finding)


class WatchRecord:
    __slots__ = (
        "cpu_children_s",
        "cpu_s",
        "ended_at",
        "host",
        "interval_s",
        "last_round_at",
        "notes",
        "probes",
        "requested_interval_s",
        "rounds",
        "started_at",
        "stats",
        "stop_reason",
        "target",
        "timeline",
        "version",
        "windows",
    )

    def __init__(
        self,
        target: str,
        probes: Sequence[str],
        interval_s: float,
        started_at: float,
        *,
        requested_interval_s: float | None = None,
        host: str = "",
        version: str = "",
    ) -> None:
        self.target = target
        self.probes = tuple(probes)
        self.interval_s = interval_s
        self.requested_interval_s = requested_interval_s or interval_s
        self.started_at = started_at  # unix time
        self.host = host
        self.version = version
        self.stats = {probe: ProbeStats() for probe in self.probes}
        self.timeline = Timeline(self.probes, interval_s)
        self.windows = WindowBook()
        self.rounds = 0
        self.last_round_at: float | None = None
        self.ended_at: float | None = None
        self.stop_reason = ""
        self.notes: Ring[str] = Ring(MAX_NOTES)
        self.cpu_s = 0.0  # this process, over the rounds
        self.cpu_children_s = 0.0  # the commands it ran (iptables-save, nft, ip)

    def add_round(self, at: float, samples: Sequence[Sample]) -> Changes:
        """One round that started at unix time `at`."""
        self.rounds += 1
        self.last_round_at = at
        elapsed = at - self.started_at
        for sample in samples:
            stats = self.stats.get(sample.probe)
            if stats is None:
                continue
            up = sample.up
            stats.add(sample.status, up, sample.seconds)
            if up is not None:
                self.timeline.add(elapsed, self.probes.index(sample.probe), up, sample.seconds)
        outcomes = {s.probe: (s.up, s.finding) for s in samples if s.probe in self.stats}
        took = {s.probe: s.seconds for s in samples}
        return self.windows.observe(self.rounds, at, outcomes, took)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def end(self) -> float:
        """When the watch ended, or its last round so far."""
        return self.ended_at or self.last_round_at or self.started_at

    @property
    def cpu_per_round_ms(self) -> float | None:
        return self.cpu_s / self.rounds * 1000 if self.rounds else None
