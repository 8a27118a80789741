"""egress-nic: which interface and source address packets to the target really leave by,
versus the primary NIC.

Evidence, strongest last: the kernel's route lookup for the target (interface, source,
gateway), the local address of the connected `tcp-80` socket, and, as root on Linux, the
interface on which a SYN to the target was actually captured. The primary NIC comes from
`wirecheck.checks.egress.primary_nic`. Collecting is per OS; the verdict (`judge`) is pure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from wirecheck.checks.base import CheckContext, CheckSpec, Degradation, Outcome, Traffic
from wirecheck.checks.egress.collect import (
    CaptureFn,
    capture_with_packet_socket,
    collect_linux,
    collect_windows,
    psutil_nics,
)
from wirecheck.checks.egress.judge import EgressFacts, judge
from wirecheck.model import Status
from wirecheck.platform.routes import Nic


def run_egress(
    ctx: CheckContext,
    capture: CaptureFn = capture_with_packet_socket,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    adapters: Callable[[], list[Nic]] = psutil_nics,
) -> Outcome:
    if ctx.system.linux:
        facts = collect_linux(ctx, capture, now(), ctx.config.ports.http)
    elif ctx.system.windows:
        facts = collect_windows(ctx, adapters)
    else:
        return Outcome(
            Status.SKIP,
            f"egress NIC evidence is collected on Linux and Windows, not on {ctx.system.platform}",
        )
    return judge(facts)


def _run(ctx: CheckContext) -> Outcome:
    return run_egress(ctx)


EGRESS_NIC = CheckSpec(
    "egress-nic",
    "Traffic to the platform leaves by the primary NIC",
    _run,
    explain="""\
Finds the primary NIC from the signals (the lowest-metric default route; the interface
whose DHCP lease has option 245 and the /32 routes to the platform addresses; the NICs
IMDS lists, matched by MAC, VFs skipped) and says which it used. Then proves which NIC
packets to the target leave by: the kernel's route lookup (`ip route get`), the local
address of tcp-80's connected socket, and as root the interface a SYN to the target was
captured on.
- ok: every piece of evidence names the primary NIC.
- warn: the traffic leaves by the NIC the best signal calls primary, but the signals
  disagree (e.g. the default route and the DHCP lease are on different NICs).
- fail: the traffic leaves by another NIC: the finding names the route lines at fault and
  the fix gives the commands (delete the wrong route, add the /32 via the primary's
  gateway, then remove it from the persistent network configuration).
- skip: no evidence could be had here (no route tool, not Linux/Windows).""",
    facts=EgressFacts,
    traffic=(Traffic("target", "tcp", "http"),),  # the SYN it captures, as root
    without_root=(
        Degradation("no packet capture: the interface comes from the route lookup and socket only"),
        Degradation("no packet capture without Administrator", windows=True),
    ),
)

SPECS = (EGRESS_NIC,)
