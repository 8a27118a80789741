"""The machine facts several checks read, each declared once as a `Source` with its own
time budget: the runner's `MachineFacts` reads each at most once per run and shares it."""

from __future__ import annotations

from wirecheck.platform.budget import Cutoff
from wirecheck.platform.leases import LeaseScan, scan_leases
from wirecheck.platform.routes import (
    KernelRoute,
    Nic,
    RouteTable,
    kernel_route,
    linux_nics,
    read_route_table,
)
from wirecheck.platform.sources import Source, Subject
from wirecheck.system import System


def _routes(system: System, until: Cutoff, subject: Subject) -> RouteTable:
    return read_route_table(system, until, subject.addresses)


def _kernel_route(system: System, until: Cutoff, subject: Subject) -> KernelRoute | str:
    return kernel_route(system, subject.target, until.remaining())


def _nics(system: System, until: Cutoff, subject: Subject) -> list[Nic]:
    return linux_nics(system, until.remaining(), until)


def _leases(system: System, until: Cutoff, subject: Subject) -> LeaseScan:
    return scan_leases(system, subject.now, until)


# Every table's routes, kept where they can carry traffic to the target or IMDS (egress-nic,
# endpoint, imds): 100k routes take ~0.3 s to list and scan.
ROUTES = Source("the route table", 3.0, _routes)
# `ip route get <target>` (egress-nic, the trace checks' raw engine).
KERNEL_ROUTE = Source("the kernel's route to the target", 1.0, _kernel_route)
# `ip -j addr show` and each NIC's driver (egress-nic).
NICS = Source("the network interfaces", 1.5, _nics)
# The DHCP lease files (endpoint, egress-nic).
LEASES = Source("the DHCP leases", 3.0, _leases)
