"""TCP traceroute engines behind one interface.

- `raw` (root, Linux; used where the GuestProxyAgent is, or when asked for): half-open SYN
  probes built with scapy, sent on a raw socket bound to the interface and source address
  the kernel's route lookup chose (scapy's own routing ignores policy routing), answers
  read from raw ICMP and TCP sockets.
- `kernel` (any user, Linux; the default): one non-blocking TCP socket per probe with
  `IP_TTL`, ICMP errors read from the socket's error queue (`IP_RECVERR`).

Both only send probes and report matched answers; `drive` runs the shared schedule from
`schedule.TraceState` under the run's deadline. scapy is imported by the raw engine only.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from wirecheck.errors import WirecheckError
from wirecheck.model import Deadline
from wirecheck.net.traceroute.hops import Hop, Reply
from wirecheck.net.traceroute.schedule import TracePlan, TraceState

RAW, KERNEL = "raw", "kernel"


@dataclass(frozen=True)
class TraceRequest:
    target: str  # an IPv4 address
    port: int
    plan: TracePlan = field(default_factory=TracePlan)
    interface: str | None = None  # from the kernel's route lookup (the raw engine needs it)
    source: str | None = None


@dataclass(frozen=True)
class TraceRun:
    engine: str
    hops: tuple[Hop, ...]
    max_hops: int
    stopped_reason: str | None = None  # the probes could not be sent (and why)
    deadline_hit: bool = False  # the run's deadline ended the trace, not its answers
    duration_s: float = 0.0
    probes_sent: int = 0


class Prober(Protocol):
    """What an engine does on the wire; the schedule is not its business."""

    def send(self, ttl: int, attempt: int) -> None:
        """Send one probe now; raises OSError when the kernel refuses to send it."""

    def poll(self, timeout_s: float) -> list[Reply]:
        """Answers that arrived within `timeout_s`, matched to their (ttl, attempt)."""

    def close(self) -> None: ...


class Engine(Protocol):
    name: str

    def trace(self, request: TraceRequest, deadline: Deadline) -> TraceRun: ...


class EngineUnavailable(WirecheckError):
    """This engine cannot run here; the message says why and what would fix it."""


def choose_engine(
    is_root: bool,
    platform: str = sys.platform,
    wanted: str = "auto",
    proxy_agent: bool = False,
) -> tuple[str | None, str]:
    """The engine to use here and why; (None, reason and fix) where none can run.

    Both engines find the same hops. The raw engine costs a scapy import (~0.3 s of CPU),
    so `auto` pays for it only where it sees what the kernel engine cannot: with the
    GuestProxyAgent installed, its eBPF hook may redirect a TCP connect to a local
    listener, while raw packets still go to the wire.
    """
    if platform.startswith("linux"):
        if not is_root:
            why = "not root: unprivileged probes (one TCP socket per TTL, IP_RECVERR)"
            if wanted == RAW:
                why += "; the raw engine needs root"
            return KERNEL, why
        if wanted == RAW:
            return RAW, "raw engine asked for: half-open SYN probes on a raw socket"
        if wanted == KERNEL:
            return KERNEL, "kernel engine asked for: one TCP socket per TTL, IP_RECVERR"
        if proxy_agent:
            return RAW, (
                "the GuestProxyAgent is installed and may redirect TCP connects: "
                "half-open SYN probes on a raw socket, which it does not redirect"
            )
        return KERNEL, "one TCP socket per TTL, IP_RECVERR (no GuestProxyAgent to bypass)"
    if platform == "win32":
        return None, (
            "TCP traceroute is not available on Windows in this version of wirecheck: "
            "raw probes need the Npcap driver and wirecheck's raw engine is Linux-only"
        )
    return None, f"TCP traceroute is not available on {platform}: both engines need Linux"


def drive(
    prober: Prober,
    engine: str,
    request: TraceRequest,
    deadline: Deadline,
    clock: Callable[[], float] = time.monotonic,
) -> TraceRun:
    """Run the schedule: send what is due, wait for answers or the next expiry, until done
    or the deadline. Probes still in flight at the deadline become `*`."""
    started = clock()
    state = TraceState(request.plan, request.target)
    sent = 0
    deadline_hit = False
    try:
        while True:
            now = clock()
            for ttl, attempt in state.due(now):
                try:
                    prober.send(ttl, attempt)
                except OSError as exc:
                    state.stop(_send_error(exc, request))
                    break
                state.sent(ttl, attempt, clock())
                sent += 1
            if state.done():
                break
            remaining = deadline.remaining()
            if remaining <= 0:
                deadline_hit = True
                break
            expiry = state.next_expiry()
            wait = remaining if expiry is None else max(0.0, min(remaining, expiry - clock()))
            for reply in prober.poll(wait):
                state.answered(reply)
    finally:
        prober.close()
    return TraceRun(
        engine,
        tuple(state.hops()),
        request.plan.max_hops,
        state.stopped_reason,
        deadline_hit,
        clock() - started,
        sent,
    )


def _send_error(exc: OSError, request: TraceRequest) -> str:
    code = exc.errno
    name = errno.errorcode.get(code, str(code)) if code is not None else type(exc).__name__
    text = os.strerror(code) if code is not None else str(exc)
    return f"sending a probe to {request.target}:{request.port} failed with {name} ({text})"
