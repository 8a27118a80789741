"""Connection tracking: is the table full, and does the kernel drop packets for it? Pure
parsers of what the kernel and its tools print.

When nf_conntrack's table is full, the kernel drops the first packet of every new
connection (a SYN to the platform included) and logs, rate-limited,
`nf_conntrack: table full, dropping packet` (modern kernels print the module prefix twice;
2.6 kernels end it with a period; a proposed variant names the netns). The counters:
/proc/sys/net/netfilter/nf_conntrack_count and _max, and per CPU in
/proc/net/stat/nf_conntrack (hex; `entries` is the global count, repeated on every row) or
`conntrack -S` (`drop=` and `early_drop=` per CPU).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
MAX = "/proc/sys/net/netfilter/nf_conntrack_max"
STAT = "/proc/net/stat/nf_conntrack"
UPTIME = "/proc/uptime"
# The per-CPU counters that mean "a packet was dropped because the table had no room".
DROP_COUNTERS = ("drop", "early_drop", "insert_failed")

TABLE_FULL = re.compile(
    r"nf_conntrack: (?:nf_conntrack: )?table full(?: in netns \d+)?, dropping packet\.?"
)
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[.,](\d+))?([+-]\d\d:?\d\d|Z)?\s")
_SINCE_BOOT = re.compile(r"^\[\s*(\d+(?:\.\d+)?)\]\s")


@dataclass(frozen=True)
class LogLine:
    text: str
    time: datetime | None  # None: the line does not say when (syslog without a year)


def table_full_lines(text: str, boot: datetime | None = None) -> list[LogLine]:
    """The `table full` lines of a kernel log: `dmesg` ([seconds since boot], turned into
    times when `boot` is known), `dmesg --time-format iso`, `journalctl -k -o short-iso`,
    or syslog (`Oct  2 09:15:31 host kernel: ...`, no year: no time)."""
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if not TABLE_FULL.search(line):
            continue
        found.append(LogLine(line, _time_of(line, boot)))
    return found


def _time_of(line: str, boot: datetime | None) -> datetime | None:
    iso = _ISO.match(line)
    if iso:
        stamp, fraction, zone = iso.groups()
        try:
            when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return None
        if fraction:
            when = when.replace(microsecond=int(fraction[:6].ljust(6, "0")))
        return when.replace(tzinfo=_zone(zone))
    since = _SINCE_BOOT.match(line)
    if since and boot is not None:
        return boot + timedelta(seconds=float(since.group(1)))
    return None


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def boot_time(uptime_text: str, now: datetime) -> datetime | None:
    """When the machine booted, from /proc/uptime."""
    try:
        return now - timedelta(seconds=float(uptime_text.split()[0]))
    except (ValueError, IndexError):
        return None


def recent(lines: Iterable[LogLine], now: datetime, window: timedelta) -> list[LogLine]:
    """Lines from within `window` before `now`; lines without a time are not recent."""
    return [line for line in lines if line.time is not None and now - line.time <= window]


def parse_stat(text: str) -> dict[str, int]:
    """/proc/net/stat/nf_conntrack: each counter summed over the CPUs, but `entries` (the
    global count, the same on every row) taken once. Any kernel's column set."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    header, rows = lines[0], lines[1:]
    totals: dict[str, int] = {}
    for row in rows:
        for name, value in zip(header, row):
            try:
                number = int(value, 16)
            except ValueError:
                continue
            if name == "entries":
                totals[name] = number
            else:
                totals[name] = totals.get(name, 0) + number
    return totals


def parse_conntrack_s(text: str) -> dict[str, int]:
    """`conntrack -S`: `cpu=N name=value ...` per CPU, summed."""
    totals: dict[str, int] = {}
    for name, value in re.findall(r"(\w+)=(\d+)", text):
        if name != "cpu":
            totals[name] = totals.get(name, 0) + int(value)
    return totals


def drops(counters: Mapping[str, int]) -> int:
    return sum(counters.get(name, 0) for name in DROP_COUNTERS)
