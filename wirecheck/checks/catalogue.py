"""The check catalogue: one line per check, in the order rows are shown.

Each line names a check and the module under `wirecheck.checks` that declares it (its
`CheckSpec`, in the module's `SPECS`). Modules are imported only when one of their checks
is asked for, so `wirecheck run --only tcp-80` loads tcp-80's code and nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from wirecheck.checks.base import CheckSpec
from wirecheck.errors import UsageError

CATALOGUE: tuple[tuple[str, str], ...] = (
    ("tcp-80", "tcp"),
    ("tcp-32526", "tcp"),
    ("wire-versions", "wire"),
    ("dns-udp", "dns"),
    ("dns-tcp", "dns"),
    ("dns-reverse", "dns"),
    ("trace-80", "trace"),
    ("trace-32526", "trace"),
    ("egress-nic", "egress"),
    ("privileges", "privileges"),
    ("proxy", "proxy"),
    ("firewall", "firewall"),
    ("endpoint", "endpoint"),
    ("guest-agent", "guest_agent"),
    ("agent-health", "agent_health"),
    ("imds", "imds"),
    ("resolver", "resolver"),
    ("conntrack", "conntrack"),
)
IDS: tuple[str, ...] = tuple(check_id for check_id, _ in CATALOGUE)
_MODULES = dict(CATALOGUE)


def load(check_id: str) -> CheckSpec:
    """The spec of one check, importing its module; KeyError for an unknown id."""
    module = importlib.import_module(f"wirecheck.checks.{_MODULES[check_id]}")
    specs: tuple[CheckSpec, ...] = module.SPECS
    return next(spec for spec in specs if spec.id == check_id)


def load_all(ids: Iterable[str] = IDS) -> tuple[CheckSpec, ...]:
    """The specs of `ids` (default: every check), in catalogue order."""
    wanted = set(ids)
    return tuple(load(check_id) for check_id in IDS if check_id in wanted)


def select(only: frozenset[str], skip: frozenset[str]) -> tuple[CheckSpec, ...]:
    """The checks to run; unknown ids are an error that lists the known ones."""
    unknown = sorted((only | skip) - set(IDS))
    if unknown:
        raise UsageError(f"unknown check id(s): {', '.join(unknown)}; known: {', '.join(IDS)}")
    chosen = [i for i in IDS if (not only or i in only) and i not in skip]
    if not chosen:
        raise UsageError("--only and --skip leave no check to run")
    return load_all(chosen)
