"""Answers and hops of a TCP traceroute, and the text `traceroute -T` prints. Pure.

An engine reports `Reply`s matched to their probes; `make_hop` turns a TTL's replies into
one row, and `render_traceroute` prints the rows byte for byte as traceroute 2.x does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from wirecheck.strenum import StrEnum

# What `traceroute -T` sends: a 20-byte IP header and a 40-byte TCP SYN with options.
PACKET_BYTES = 60

HopKind = Literal["router", "target", "none"]


class ReplyKind(StrEnum):
    TIME_EXCEEDED = "time-exceeded"  # ICMP 11 from a router on the way
    SYN_ACK = "syn-ack"  # the target's port is open
    RST = "rst"  # the target (or something speaking for it) reset: port closed or rejected
    UNREACHABLE = "unreachable"  # ICMP 3 (the code says what), from a router or the target


ICMP_TIME_EXCEEDED = 11
ICMP_DEST_UNREACH = 3
ICMP_PORT_UNREACH = 3

# traceroute's marks for ICMP destination-unreachable codes (RFC 792/1812); port
# unreachable means the destination itself answered and gets no mark.
_UNREACH_FLAGS = {
    0: "!N",
    1: "!H",
    2: "!P",
    3: "",
    5: "!S",
    6: "!N",
    7: "!H",
    8: "!H",
    9: "!X",
    10: "!X",
    11: "!N",
    12: "!H",
    13: "!X",
    14: "!V",
    15: "!C",
}


def unreachable_flag(code: int) -> str:
    """The mark traceroute prints after the time for an ICMP unreachable with this code."""
    if code == 4:
        return "!F"
    return _UNREACH_FLAGS.get(code, f"!<{code}>")


@dataclass(frozen=True)
class Reply:
    """One answer, already matched to the probe (ttl, attempt) it answers."""

    ttl: int
    attempt: int
    address: str
    rtt_ms: float
    kind: ReplyKind
    icmp_code: int | None = None

    @property
    def flag(self) -> str:
        if self.kind is ReplyKind.UNREACHABLE and self.icmp_code is not None:
            return unreachable_flag(self.icmp_code)
        return ""

    @property
    def final(self) -> bool:
        """Whether this answer ends the trace: the target spoke, or something said "no
        further" (traceroute stops at any unreachable too)."""
        return self.kind is not ReplyKind.TIME_EXCEEDED


# ---------------------------------------------------------------------------------------
# Hops


@dataclass(frozen=True)
class ProbeCell:
    """One column of a traceroute row: who answered, how fast, and traceroute's mark."""

    address: str | None = None
    rtt_ms: float | None = None
    flag: str = ""


@dataclass(frozen=True)
class Hop:
    ttl: int
    cells: tuple[ProbeCell, ...]
    kind: HopKind
    final: bool = False  # the trace ends here: the target answered, or a router said no

    @property
    def address(self) -> str | None:
        return next((c.address for c in self.cells if c.address), None)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.address for c in self.cells if c.address))

    @property
    def flag(self) -> str:
        return next((c.flag for c in self.cells if c.flag), "")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ttl": self.ttl,
            "address": self.address,
            "rtts_ms": [round(c.rtt_ms, 3) for c in self.cells if c.rtt_ms is not None],
            "kind": self.kind,
        }
        if len(self.addresses) > 1:
            data["addresses"] = list(self.addresses)
        if self.flag:
            data["flag"] = self.flag
        return data


def make_hop(ttl: int, replies: Sequence[Reply | None], target: str) -> Hop:
    cells = tuple(
        ProbeCell(r.address, r.rtt_ms, r.flag) if r is not None else ProbeCell() for r in replies
    )
    answered = [r for r in replies if r is not None]
    kind: HopKind
    if not answered:
        kind = "none"
    elif any(r.address == target and r.kind is not ReplyKind.TIME_EXCEEDED for r in answered):
        kind = "target"
    else:
        kind = "router"
    return Hop(ttl, cells, kind, final=any(r.final for r in answered))


# ---------------------------------------------------------------------------------------
# Rendering: byte for byte what traceroute 2.x (Butskoy, Debian/Ubuntu/RHEL) prints


def render_traceroute(
    target: str,
    hops: Sequence[Hop],
    max_hops: int,
    *,
    names: Mapping[str, str] | None = None,
    target_name: str | None = None,
    packet_bytes: int = PACKET_BYTES,
) -> str:
    """`traceroute -T` output: `names` given (address -> name, missing = no name) renders
    the default form `name (address)`; `names=None` renders the `-n` form."""
    lines = [
        f"traceroute to {target_name or target} ({target}), {max_hops} hops max, "
        f"{packet_bytes} byte packets"
    ]
    lines += [render_hop(hop, names) for hop in hops]
    return "\n".join(lines) + "\n"


def render_hop(hop: Hop, names: Mapping[str, str] | None = None) -> str:
    line = f"{hop.ttl:2d} "
    previous: str | None = None  # the last answering address in this row
    for cell in hop.cells:
        if cell.address is None:
            line += " *"
        else:
            # traceroute repeats the address only when it differs from the row's last one.
            if cell.address != previous:
                if names is None:
                    line += f" {cell.address}"
                else:
                    line += f" {names.get(cell.address, cell.address)} ({cell.address})"
            previous = cell.address
        if cell.rtt_ms is not None:
            line += f"  {cell.rtt_ms:.3f} ms"
        if cell.flag:
            line += f" {cell.flag}"
    return line
