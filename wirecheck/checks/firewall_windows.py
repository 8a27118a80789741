"""The firewall check's reading of Windows: Windows Firewall rules, the default outbound
policy of each profile, and WFP filters of other software that match the target. Windows
keeps no per-rule counters, so what it gives is rules that can block a probe that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from wirecheck.checks.base import CheckContext, Outcome
from wirecheck.model import Deadline, Status
from wirecheck.net.parallel import gather
from wirecheck.platform.firewall.model import Snapshot
from wirecheck.platform.windows import parse_firewall_rules
from wirecheck.platform.windows_firewall import (
    WindowsExtras,
    outbound_policy_rules,
    read_windows_extras,
)
from wirecheck.system import CommandResult

RULES_COMMAND = ("netsh", "advfirewall", "firewall", "show", "rule", "name=all", "verbose")
Flow = tuple[str, str, int]


def windows_snapshot(
    ctx: CheckContext,
    flows: Sequence[Flow],
    extras: Callable[[Deadline], WindowsExtras] | None = None,
) -> Snapshot | Outcome:
    """The rules that can block the probes' flows (`flows`: address, protocol, port), or a
    skip when the rules cannot be read."""
    deadline = Deadline(max(ctx.deadline.remaining(), 0.1))
    read_extras = extras or (
        lambda budget: read_windows_extras(ctx.system, ctx.config.target, budget)
    )
    failed: dict[str, Exception] = {}
    got = gather(
        {
            "rules": lambda: ctx.system.run_command(list(RULES_COMMAND), deadline.remaining()),
            "extras": lambda: read_extras(deadline),
        },
        deadline,
        failed,
    )
    for exc in failed.values():
        raise exc  # a bug: the runner makes it an error row that says so
    done = got["rules"]
    if not isinstance(done, CommandResult) or not done.ok:
        why = "it did not finish"
        if isinstance(done, CommandResult):
            why = done.why
        return Outcome(Status.SKIP, f"could not read the Windows Firewall rules: {why}")
    rules = parse_firewall_rules(done.stdout)
    sources = ["netsh advfirewall"]
    notes: list[str] = []
    more = got["extras"]
    if isinstance(more, WindowsExtras):
        rules += outbound_policy_rules(more.profiles, rules, flows)
        rules += more.wfp_rules
        sources += more.sources
        notes += more.notes
    else:
        notes.append("the default policies and WFP filters were not read in time")
    return Snapshot(tuple(rules), tuple(sources), tuple(notes))
