"""The facts classes the diagnosis reads, named by where they live and loaded only when a
row of that check is read.

The diagnosis reads many checks' facts; importing every check module for their classes
would make a run of one check (`--only tcp-80`) load them all. A row's facts exist only
if its check ran, and then its module is loaded already: reading them costs nothing more.
`tests/test_diagnose.py` checks that each kind names a real class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Generic

from wirecheck.model import F

if TYPE_CHECKING:
    from wirecheck.checks.conntrack import ConntrackFacts
    from wirecheck.checks.egress.judge import EgressFacts
    from wirecheck.checks.endpoint import EndpointFacts
    from wirecheck.checks.firewall import FirewallFacts
    from wirecheck.checks.guest_agent import LinuxAgentFacts
    from wirecheck.checks.imds import ImdsFacts
    from wirecheck.checks.privileges import PrivilegesFacts
    from wirecheck.checks.tcp import ConnectFacts
    from wirecheck.checks.trace import TraceFacts
    from wirecheck.checks.wire import WireFacts


class Kind(Generic[F]):
    """A facts class by module and name, imported on first use."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name
        self._loaded: type[F] | None = None

    def load(self) -> type[F]:
        if self._loaded is None:
            self._loaded = getattr(importlib.import_module(self.module), self.name)
        return self._loaded

    def __repr__(self) -> str:
        return f"Kind({self.module}.{self.name})"


CONNECT: Kind[ConnectFacts] = Kind("wirecheck.checks.tcp", "ConnectFacts")
WIRE: Kind[WireFacts] = Kind("wirecheck.checks.wire", "WireFacts")
TRACE: Kind[TraceFacts] = Kind("wirecheck.checks.trace", "TraceFacts")
EGRESS: Kind[EgressFacts] = Kind("wirecheck.checks.egress.judge", "EgressFacts")
PRIVILEGES: Kind[PrivilegesFacts] = Kind("wirecheck.checks.privileges", "PrivilegesFacts")
FIREWALL: Kind[FirewallFacts] = Kind("wirecheck.checks.firewall", "FirewallFacts")
ENDPOINT: Kind[EndpointFacts] = Kind("wirecheck.checks.endpoint", "EndpointFacts")
LINUX_AGENT: Kind[LinuxAgentFacts] = Kind("wirecheck.checks.guest_agent", "LinuxAgentFacts")
IMDS: Kind[ImdsFacts] = Kind("wirecheck.checks.imds", "ImdsFacts")
CONNTRACK: Kind[ConntrackFacts] = Kind("wirecheck.checks.conntrack", "ConntrackFacts")
ALL = (CONNECT, WIRE, TRACE, EGRESS, PRIVILEGES, FIREWALL, ENDPOINT, LINUX_AGENT, IMDS, CONNTRACK)
