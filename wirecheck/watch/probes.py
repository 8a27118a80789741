"""Which checks watch repeats: the probes that send one request each to the platform.

Context checks (firewall, egress-nic, ...) read the machine and are taken as evidence when
something changes, not every round; the traces send dozens of packets and run only in an
evidence capture.
"""

from __future__ import annotations

from collections.abc import Iterable

from wirecheck.checks.base import CheckSpec
from wirecheck.checks.catalogue import IDS, load_all, select
from wirecheck.errors import UsageError

DEFAULT_PROBES = ("tcp-80", "tcp-32526", "wire-versions", "dns-udp", "dns-tcp", "imds")


def watchable(spec: CheckSpec) -> bool:
    """It sends traffic of its own, one exchange a run, and is not a trace."""
    return bool(spec.traffic) and spec.probe != "trace"


def watch_specs(only: Iterable[str] = ()) -> tuple[CheckSpec, ...]:
    """The probes to repeat: `only` (validated), or the default ones."""
    wanted = frozenset(only) or frozenset(DEFAULT_PROBES)
    specs = select(wanted, frozenset())
    refused = [spec.id for spec in specs if not watchable(spec)]
    if refused:
        allowed = [spec.id for spec in load_all(IDS) if watchable(spec)]
        raise UsageError(
            f"watch repeats probes only, not {', '.join(refused)}; choose among "
            f"{', '.join(allowed)} (the traces and the context checks run in the evidence "
            "captured when something changes)"
        )
    return specs
