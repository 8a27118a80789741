"""The check catalogue, in the order rows are shown."""

from __future__ import annotations

from wirecheck.checks.base import CheckSpec
from wirecheck.checks.dns_checks import DNS_REVERSE, DNS_TCP, DNS_UDP
from wirecheck.checks.egress import EGRESS_NIC
from wirecheck.checks.endpoint import ENDPOINT
from wirecheck.checks.firewall import FIREWALL
from wirecheck.checks.guest_agent import GUEST_AGENT
from wirecheck.checks.imds import IMDS
from wirecheck.checks.privileges import PRIVILEGES
from wirecheck.checks.proxy import PROXY
from wirecheck.checks.tcp import TCP_80, TCP_32526
from wirecheck.checks.trace import TRACE_80, TRACE_32526
from wirecheck.checks.wire import WIRE_VERSIONS

ALL_CHECKS: tuple[CheckSpec, ...] = (
    TCP_80,
    TCP_32526,
    WIRE_VERSIONS,
    DNS_UDP,
    DNS_TCP,
    DNS_REVERSE,
    TRACE_80,
    TRACE_32526,
    EGRESS_NIC,
    PRIVILEGES,
    PROXY,
    FIREWALL,
    ENDPOINT,
    GUEST_AGENT,
    IMDS,
)

BY_ID = {spec.id: spec for spec in ALL_CHECKS}


def select(only: frozenset[str], skip: frozenset[str]) -> tuple[CheckSpec, ...]:
    """The checks to run; unknown ids are an error that lists the known ones."""
    unknown = sorted((only | skip) - BY_ID.keys())
    if unknown:
        from wirecheck.errors import UsageError

        raise UsageError(f"unknown check id(s): {', '.join(unknown)}; known: {', '.join(BY_ID)}")
    chosen = tuple(
        spec for spec in ALL_CHECKS if (not only or spec.id in only) and spec.id not in skip
    )
    if not chosen:
        from wirecheck.errors import UsageError

        raise UsageError("--only and --skip leave no check to run")
    return chosen
