"""conntrack: is the kernel's connection-tracking table full, dropping new connections?

A full table drops the first packet of every new connection, so probes to the platform
time out although no rule and no route is at fault. The drop counters are read before the
first probe (the runner's prepare hook) and again after the probes; the kernel log of the
last hour is searched for `nf_conntrack: table full, dropping packet`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Degradation, Outcome
from wirecheck.model import Deadline, Facts, Status
from wirecheck.platform.conntrack import (
    COUNT,
    MAX,
    STAT,
    UPTIME,
    LogLine,
    boot_time,
    drops,
    parse_conntrack_s,
    parse_stat,
    recent,
    table_full_lines,
)

RECENT = timedelta(hours=1)
NEARLY_FULL = 0.9  # of nf_conntrack_max
LOG_BUDGET_S = 1.5
RESERVE_S = 0.25  # the second reading is quick; keep this much of the deadline for it
MAX_LINES_SHOWN = 5


@dataclass(frozen=True)
class Counters:
    """The drop counters at one moment, and where they were read."""

    values: Mapping[str, int]
    source: str

    @property
    def drops(self) -> int:
        return drops(self.values)


@dataclass(frozen=True)
class ConntrackFacts(Facts):
    loaded: bool  # nf_conntrack is in use here
    count: int | None = None
    maximum: int | None = None
    before: Counters | None = None  # before the first probe
    after: Counters | None = None
    log_from: str = ""  # the command whose kernel log was searched
    table_full: tuple[LogLine, ...] = ()  # from the last hour
    notes: tuple[str, ...] = field(default=())

    @property
    def drops_during(self) -> int | None:
        """Packets dropped for want of room while the probes ran (None: not measured; a
        counter that went down was reset meanwhile, and tells nothing)."""
        if self.before is None or self.after is None or self.before.source != self.after.source:
            return None
        change = self.after.drops - self.before.drops
        return change if change >= 0 else None

    @property
    def dropping(self) -> bool:
        """The kernel says it drops: counters rose during the probes, or it logged so."""
        return bool(self.drops_during) or bool(self.table_full)

    @property
    def nearly_full(self) -> bool:
        return bool(
            self.count is not None and self.maximum and self.count >= NEARLY_FULL * self.maximum
        )

    def evidence(self) -> dict[str, Any]:
        if not self.loaded:
            return {"loaded": False, "notes": list(self.notes)}
        evidence: dict[str, Any] = {
            "entries": self.count,
            "max": self.maximum,
            "drops_during_probes": self.drops_during,
            "counters_from": self.after.source if self.after else None,
            "kernel_log_from": self.log_from or None,
            "table_full_last_hour": len(self.table_full),
        }
        if self.table_full:
            evidence["table_full_lines"] = [
                line.text for line in self.table_full[-MAX_LINES_SHOWN:]
            ]
        if self.notes:
            evidence["notes"] = list(self.notes)
        return evidence


def read_counters(ctx: CheckContext, timeout_s: float) -> Counters | None:
    """The drop counters: /proc/net/stat/nf_conntrack, else `conntrack -S`."""
    try:
        values = parse_stat(ctx.system.read_text(STAT))
        if values:
            return Counters(values, STAT)
    except OSError:
        pass
    done = ctx.system.run_command(["conntrack", "-S"], timeout_s)
    if done.ok and parse_conntrack_s(done.stdout):
        return Counters(parse_conntrack_s(done.stdout), "conntrack -S")
    return None


def prepare_conntrack(ctx: CheckContext) -> Counters | None:
    """The counters before any probe (Linux)."""
    if not ctx.system.linux:
        return None
    return read_counters(ctx, min(0.5, ctx.deadline.remaining()))


def _number(ctx: CheckContext, path: str) -> int | None:
    try:
        return int(ctx.system.read_text(path).strip())
    except (OSError, ValueError):
        return None


def _kernel_log(
    ctx: CheckContext, now: datetime, notes: list[str]
) -> tuple[str, tuple[LogLine, ...]]:
    """The `table full` lines of the last hour: dmesg (the ring buffer; root where
    kernel.dmesg_restrict is set), else the journal's kernel messages (asked for the last
    hour only). One after the other: the second only when the first says nothing."""
    budget = Deadline(min(LOG_BUDGET_S, ctx.deadline.remaining()))
    try:
        boot = boot_time(ctx.system.read_text(UPTIME), now)
    except OSError:
        boot = None
    why = []
    for source, argv in (
        ("dmesg", ["dmesg", "--time-format", "iso"]),
        (
            "journalctl -k",
            ["journalctl", "-k", "--since=-1h", "-o", "short-iso", "--no-pager", "-q"],
        ),
    ):
        if budget.expired:
            why.append(f"{source}: no time left")
            continue
        done = ctx.system.run_command(argv, budget.remaining())
        if done.ok and done.stdout.strip():
            lines = table_full_lines(done.stdout, boot)
            if source == "dmesg":
                lines = recent(lines, now, RECENT)
            return source, tuple(lines)
        why.append(f"{source}: {done.error or done.stderr.strip() or 'nothing logged'}")
    notes.append(f"the kernel log could not be read ({'; '.join(why)})")
    return "", ()


def _wait_for_probes(ctx: CheckContext) -> None:
    """Until the probes are done (they end by the deadline), less a moment to read again."""
    until = time.monotonic() + ctx.deadline.remaining() - RESERVE_S
    for spec in ctx.specs.values():
        if spec.probe:
            ctx.board.wait(spec.id, max(0.0, until - time.monotonic()))


def run_conntrack(
    ctx: CheckContext, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
) -> Outcome:
    if not ctx.system.linux:
        return Outcome(
            Status.SKIP, f"connection tracking is a Linux matter, not {ctx.system.platform}'s"
        )
    maximum = _number(ctx, MAX)
    if maximum is None:
        return Outcome(
            Status.OK,
            "connection tracking is not in use here (no nf_conntrack): it drops nothing",
            ConntrackFacts(False, notes=(f"{MAX}: not there",)),
        )
    notes: list[str] = []
    before = ctx.prepared.get("conntrack")
    before = before if isinstance(before, Counters) else None
    count = _number(ctx, COUNT)
    # "table full" is logged only when the kernel drops for want of room, which its drop
    # counters (since boot) count: with none, and room in the table, the log has nothing.
    if _may_have_dropped(before, count, maximum):
        log_from, table_full = _kernel_log(ctx, now(), notes)
    else:
        log_from, table_full = "", ()
        notes.append("kernel log not read: no drop for want of room since boot, and room left")
    _wait_for_probes(ctx)
    after = read_counters(ctx, max(ctx.deadline.remaining(), 0.2))
    facts = ConntrackFacts(
        True,
        count,
        maximum,
        before,
        after,
        log_from,
        table_full,
        tuple(notes),
    )
    return judge(facts)


def _may_have_dropped(before: Counters | None, count: int | None, maximum: int) -> bool:
    """Whether the kernel log can hold "table full" lines: the counters are unknown, show a
    drop since boot, or the table is nearly full."""
    if before is None or count is None:
        return True
    return before.drops > 0 or count >= NEARLY_FULL * maximum


def judge(facts: ConntrackFacts) -> Outcome:
    """The verdict from the counters and the log lines. Pure."""
    held = f"{facts.count} of {facts.maximum} entries" if facts.count is not None else "?"
    found = []
    if facts.drops_during:
        source = facts.after.source if facts.after else "the counters"
        found.append(
            f"it dropped {facts.drops_during} packet(s) for want of room during the probes "
            f"({source})"
        )
    if facts.table_full:
        last = facts.table_full[-1].text
        found.append(
            f"the kernel logged {len(facts.table_full)} 'table full, dropping packet' line(s) in "
            f"the last hour ({facts.log_from}; last: {last})"
        )
    if facts.dropping or facts.nearly_full:
        state = "full" if facts.dropping else "nearly full"
        return Outcome(
            Status.WARN,
            f"the connection-tracking table is {state} ({held}): "
            + ("; ".join(found) or "new connections will be dropped when it fills"),
            facts,
            fix=FIX,
        )
    measured = (
        "no drops during the probes"
        if facts.drops_during == 0
        else "drops during the probes not measured (no counters before them)"
    )
    if facts.log_from:
        logged = "no 'table full' in the kernel log of the last hour"
    elif any(note.startswith("kernel log not read: no drop") for note in facts.notes):
        logged = "no drop for want of room since boot"
    else:
        logged = "kernel log not read"
    return Outcome(
        Status.OK, f"the connection-tracking table holds {held}; {measured}; {logged}", facts
    )


FIX = (
    "Find what fills the table (`conntrack -L -o extended | awk '{print $7}' | sort | uniq -c | "
    "sort -rn | head`: the busiest sources), then raise the limit "
    "(`sysctl -w net.netfilter.nf_conntrack_max=<twice the current>` and the same in "
    "/etc/sysctl.d/), or exempt bulk flows from tracking (`iptables -t raw -A PREROUTING ... -j "
    "NOTRACK`)."
)

CONNTRACK = CheckSpec(
    "conntrack",
    "The connection-tracking table has room",
    run_conntrack,
    explain="""\
When the kernel's connection-tracking table (nf_conntrack) is full, it drops the first
packet of every new connection: probes to the platform time out although no rule or route
is at fault. Reads nf_conntrack_count and nf_conntrack_max, the drop counters
(/proc/net/stat/nf_conntrack or `conntrack -S`) before the first probe and after the
probes, and the kernel log of the last hour (`dmesg`, else `journalctl -k`) for
`nf_conntrack: table full, dropping packet`.
- ok: conntrack is not loaded, or the table has room: no drops during the probes and no
  such log line.
- warn: the table is full (drops counted during the probes, or logged in the last hour) or
  holds 90 % of its maximum.
- skip: not Linux.
Fix: find what fills it (`conntrack -L`), raise net.netfilter.nf_conntrack_max, or exempt
bulk flows with NOTRACK in the raw table.""",
    facts=ConntrackFacts,
    context=True,
    without_root=(
        Degradation("the kernel log (dmesg) may be readable only by root; the counters are not"),
    ),
    cause_weight=60,
    prepare=prepare_conntrack,
)

SPECS = (CONNTRACK,)
