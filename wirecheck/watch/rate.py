"""How often watch may ask the platform: a hard cap on requests per second, and the
schedule of rounds that keeps to it. Pure: the clock is passed in.

WireServer throttles clients that ask too often, and the platform address serves every VM
on the host: watch must never hammer it, whatever --interval says. Each probe of a round
is one request (a TCP connect, an HTTP GET, a DNS question), so a round of N probes every
S seconds sends N / S requests a second; the interval is raised until that is at most
MAX_REQUESTS_PER_S. Rounds never catch up after a late one: the next round starts one
interval after the previous one started, or later, never sooner.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# Requests a second to the platform, all probes of a round together.
MAX_REQUESTS_PER_S = 2.0
# Below this an interval is not a gentle watch but a flood, whatever the probe count.
MIN_INTERVAL_S = 0.5
DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Pace:
    """The interval asked for and the one used."""

    requested_s: float
    interval_s: float
    requests_per_round: int

    @property
    def raised(self) -> bool:
        return self.interval_s > self.requested_s

    @property
    def requests_per_s(self) -> float:
        return self.requests_per_round / self.interval_s

    def note(self) -> str:
        """Why the interval was raised (empty when it was not)."""
        if not self.raised:
            return ""
        return (
            f"--interval {self.requested_s:g} s raised to {self.interval_s:g} s: "
            f"{self.requests_per_round} request(s) a round must stay within "
            f"{MAX_REQUESTS_PER_S:g} requests a second to the platform"
        )


def pace(requested_s: float, requests_per_round: int) -> Pace:
    """The interval to use: the one asked for, raised to respect the cap and the floor."""
    if not math.isfinite(requested_s) or requested_s <= 0:
        raise ValueError(f"an interval must be a positive number of seconds, not {requested_s}")
    if requests_per_round < 1:
        raise ValueError("a round sends at least one request")
    needed = requests_per_round / MAX_REQUESTS_PER_S
    # Rounded up to the millisecond so that N / interval never exceeds the cap by a hair.
    floor = math.ceil(max(needed, MIN_INTERVAL_S) * 1000) / 1000
    return Pace(requested_s, max(requested_s, floor), requests_per_round)


class Schedule:
    """When each round starts: one interval after the previous round's start at the
    earliest, and at once when a round (and its evidence capture) ran past that."""

    def __init__(self, interval_s: float, first_at: float) -> None:
        self.interval_s = interval_s
        self._due = first_at

    def due(self) -> float:
        """The earliest time (monotonic) the next round may start."""
        return self._due

    def started(self, at: float) -> None:
        """A round started at `at` (>= due()); the next one is due one interval later."""
        if at < self._due:
            raise ValueError(f"a round started at {at}, before it was due at {self._due}")
        self._due = at + self.interval_s


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_S = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d` -> seconds; ValueError naming the forms otherwise."""
    found = _DURATION.match(text)
    seconds = float(found.group(1)) * _UNIT_S[(found.group(2) or "").lower()] if found else 0.0
    if not found or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(
            f"{text!r} is not a duration; give seconds or a number with s, m, h or d "
            "(90, 90s, 15m, 2h, 1d)"
        )
    return seconds
