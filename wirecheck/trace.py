"""TCP traceroute logic, free of I/O: probe scheduling, probe/answer matching, hops,
the verdict, and the text `traceroute -T` prints.

The engines in `wirecheck.net.traceroute` only send probes and report answers; every
decision (what to send next, when a probe is lost, when the trace is done, what it means)
is made here, on plain values and a clock passed in, so it is tested with tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from wirecheck.errors import ParseError
from wirecheck.model import Status
from wirecheck.net.addresses import is_ipv4
from wirecheck.strenum import StrEnum

# Defaults for a target that should be one hop away (DESIGN 3): the first wave covers the
# target plus up to three appliances; a second wave only runs when nothing answered as
# the target in the first.
DEFAULT_MAX_HOPS = 8
DEFAULT_WAVE = 4
DEFAULT_PROBES_PER_HOP = 3
DEFAULT_WAIT_S = 1.0
# A hop's next attempt goes out when the previous one is answered, or after this long
# without an answer: healthy paths (answers in well under a millisecond) send no probe
# past the target's hop, and a blackholed path still finishes a wave in about one wait.
DEFAULT_STAGGER_S = 0.05
# traceroute's adaptive wait (`-w MAX,HERE,NEAR`, defaults 5,3,10): once an answer came from
# the same hop (HERE) or a later one (NEAR), a silent probe is given up after that many
# times the answer's round trip (plus traceroute's 1 ms precision), not after MAX.
HERE_FACTOR = 3.0
NEAR_FACTOR = 10.0
WAIT_PRECISION_S = 0.001
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
_FLAG_MEANING = {
    "!N": "network unreachable",
    "!H": "host unreachable",
    "!P": "protocol unreachable",
    "!S": "source route failed",
    "!X": "communication administratively prohibited (a filter)",
    "!V": "host precedence violation",
    "!C": "precedence cutoff",
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
# Matching answers to probes (the raw engine sees every packet and must pick ours)


@dataclass(frozen=True)
class SentProbe:
    ttl: int
    attempt: int
    sport: int
    seq: int
    sent_at: float  # the engine's clock, seconds


class ProbeBook:
    """The probes in flight, found again from the fields an answer carries."""

    def __init__(self, target: str, port: int) -> None:
        self.target = target
        self.port = port
        self._by_key: dict[tuple[int, int], SentProbe] = {}
        self._by_sport: dict[int, SentProbe] = {}

    def add(self, probe: SentProbe) -> None:
        self._by_key[(probe.sport, probe.seq)] = probe
        self._by_sport[probe.sport] = probe

    def match_icmp(
        self, quoted_dst: str, quoted_sport: int, quoted_dport: int, quoted_seq: int
    ) -> SentProbe | None:
        """The probe an ICMP error quotes (IP header + first 8 TCP bytes: ports and seq)."""
        if quoted_dst != self.target or quoted_dport != self.port:
            return None
        return self._by_key.get((quoted_sport, quoted_seq & 0xFFFFFFFF))

    def match_tcp(
        self, src: str, sport: int, dport: int, ack: int, syn: bool, rst: bool, has_ack: bool
    ) -> tuple[SentProbe, ReplyKind] | None:
        """The probe a SYN-ACK or RST from the target answers (it acknowledges seq + 1)."""
        if src != self.target or sport != self.port or not (syn or rst):
            return None
        probe = self._by_sport.get(dport)
        if probe is None:
            return None
        if has_ack and ack != (probe.seq + 1) & 0xFFFFFFFF:
            return None  # an answer to something else that used the same port
        if syn and has_ack:
            return probe, ReplyKind.SYN_ACK
        if rst:
            return probe, ReplyKind.RST
        return None


# ---------------------------------------------------------------------------------------
# Scheduling: which probes go out when, and when the trace is done


@dataclass(frozen=True)
class TracePlan:
    max_hops: int = DEFAULT_MAX_HOPS
    wave: int = DEFAULT_WAVE
    probes_per_hop: int = DEFAULT_PROBES_PER_HOP
    wait_s: float = DEFAULT_WAIT_S
    stagger_s: float = DEFAULT_STAGGER_S

    def __post_init__(self) -> None:
        if not 1 <= self.max_hops <= 64:
            raise ValueError(f"max_hops must be 1..64, not {self.max_hops}")
        if not 1 <= self.probes_per_hop <= 10:
            raise ValueError(f"probes_per_hop must be 1..10, not {self.probes_per_hop}")
        if self.wave < 1 or self.wait_s <= 0:
            raise ValueError(f"wave ({self.wave}) and wait_s ({self.wait_s}) must be positive")


@dataclass
class _Probe:
    sent_at: float | None = None
    reply: Reply | None = None
    lost: bool = False

    @property
    def resolved(self) -> bool:
        return self.reply is not None or self.lost


class TraceState:
    """The trace as it goes: send, answer, expire, done.

    Waves: attempt 0 for every TTL of a wave goes out at once; attempt k+1 for a TTL goes
    out when attempt k is answered, or after `stagger_s` without an answer, and only for
    TTLs up to the target's hop once that is known (the target is not loaded with
    connections from every later TTL).
    The next wave starts when the whole wave is accounted for and the target was not in it.
    """

    def __init__(self, plan: TracePlan, target: str) -> None:
        self.plan = plan
        self.target = target
        self.horizon = min(plan.wave, plan.max_hops)
        self._probes: dict[tuple[int, int], _Probe] = {}
        self.stopped_reason: str | None = None  # e.g. a send error; set by `stop`

    # -- what is known ------------------------------------------------------------------

    def _probe(self, ttl: int, attempt: int) -> _Probe:
        return self._probes.setdefault((ttl, attempt), _Probe())

    @property
    def final_ttl(self) -> int | None:
        """The lowest TTL at which the target (or a final unreachable) answered."""
        ttls = [key[0] for key, p in self._probes.items() if p.reply and p.reply.final]
        return min(ttls) if ttls else None

    def _last_ttl(self) -> int:
        return self.final_ttl or self.horizon

    def _hop_resolved(self, ttl: int) -> bool:
        return all(
            self._probe(ttl, a).resolved and self._probe(ttl, a).sent_at is not None
            for a in range(self.plan.probes_per_hop)
        )

    def done(self) -> bool:
        if self.stopped_reason is not None:
            return True
        last = self._last_ttl()
        if not all(self._hop_resolved(ttl) for ttl in range(1, last + 1)):
            return False
        return self.final_ttl is not None or self.horizon >= self.plan.max_hops

    # -- events -------------------------------------------------------------------------

    def due(self, now: float) -> list[tuple[int, int]]:
        """Probes to send now (ttl, attempt), after giving up on those waited for long enough."""
        self.expire(now)
        self._advance_wave()
        wanted: list[tuple[int, int]] = []
        if self.stopped_reason is not None:
            return wanted
        for ttl in range(1, self._last_ttl() + 1):
            for attempt in range(self.plan.probes_per_hop):
                probe = self._probe(ttl, attempt)
                if probe.sent_at is None:
                    wanted.append((ttl, attempt))
                    break
                if not probe.resolved and now - probe.sent_at < self.plan.stagger_s:
                    break  # this TTL's next attempt waits for this one, for a while
        return wanted

    def sent(self, ttl: int, attempt: int, at: float) -> None:
        self._probe(ttl, attempt).sent_at = at

    def answered(self, reply: Reply) -> None:
        probe = self._probe(reply.ttl, reply.attempt)
        if probe.reply is None:  # a retransmitted SYN may draw a second answer: keep the first
            probe.reply = reply
            probe.lost = False

    def stop(self, reason: str) -> None:
        self.stopped_reason = reason

    def _advance_wave(self) -> None:
        while (
            self.final_ttl is None
            and self.horizon < self.plan.max_hops
            and all(self._hop_resolved(ttl) for ttl in range(1, self.horizon + 1))
        ):
            self.horizon = min(self.horizon + self.plan.wave, self.plan.max_hops)

    def timeout_for(self, ttl: int) -> float:
        """How long a probe at `ttl` is waited for, given the answers so far (traceroute's rule)."""
        here = [
            p.reply.rtt_ms
            for (t, _), p in self._probes.items()
            if t == ttl and p.reply and p.reply.rtt_ms > 0
        ]
        if here:
            return min(self.plan.wait_s, (here[0] / 1000 + WAIT_PRECISION_S) * HERE_FACTOR)
        later = [
            p.reply.rtt_ms
            for (t, _), p in sorted(self._probes.items())
            if t > ttl and p.reply and p.reply.rtt_ms > 0
        ]
        if later:
            return min(self.plan.wait_s, (later[0] / 1000 + WAIT_PRECISION_S) * NEAR_FACTOR)
        return self.plan.wait_s

    def expire(self, now: float) -> None:
        for (ttl, _), probe in self._probes.items():
            late = probe.sent_at is not None and now - probe.sent_at >= self.timeout_for(ttl)
            if late and not probe.resolved:
                probe.lost = True

    def next_expiry(self) -> float | None:
        """When something is next due without an answer (a probe given up, or a hop's next
        attempt after the stagger), on the caller's clock."""
        times: list[float] = []
        for (ttl, attempt), probe in self._probes.items():
            if probe.sent_at is None or probe.resolved:
                continue
            times.append(probe.sent_at + self.timeout_for(ttl))
            following = self._probes.get((ttl, attempt + 1))
            if attempt + 1 < self.plan.probes_per_hop and (
                following is None or following.sent_at is None
            ):
                times.append(probe.sent_at + self.plan.stagger_s)
        return min(times) if times else None

    def hops(self) -> list[Hop]:
        """The rows traceroute would print: up to the target's hop, else every hop probed."""
        sent_ttls = [t for (t, _), p in self._probes.items() if p.sent_at is not None]
        last = self.final_ttl or (max(sent_ttls) if sent_ttls else 0)
        rows: list[Hop] = []
        for ttl in range(1, last + 1):
            replies = [
                self._probes[(ttl, a)].reply if (ttl, a) in self._probes else None
                for a in range(self.plan.probes_per_hop)
            ]
            rows.append(make_hop(ttl, replies, self.target))
        return rows


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


def parse_traceroute(text: str) -> tuple[str, int, list[Hop]]:
    """Read `traceroute -T [-n]` output back into (target, max_hops, hops).

    For tests and for support staff's pasted output; the inverse of `render_traceroute`
    for everything traceroute 2.x prints by default. Raises ParseError on anything else.
    """
    try:
        return _parse_traceroute(text)
    except (ValueError, IndexError) as exc:
        raise ParseError(f"not `traceroute -T` output ({exc}): {text[:80]!r}") from exc


def _parse_traceroute(text: str) -> tuple[str, int, list[Hop]]:
    lines = text.rstrip("\n").splitlines()
    header = lines[0].split()
    target = header[3].strip("(),")
    max_hops = int(header[4])
    hops: list[Hop] = []
    for line in lines[1:]:
        words = line.split()
        ttl = int(words[0])
        cells: list[ProbeCell] = []
        address: str | None = None
        index = 1
        while index < len(words):
            word = words[index]
            if word == "*":
                cells.append(ProbeCell())
                index += 1
                continue
            if index + 1 < len(words) and words[index + 1].startswith("("):
                address, index = words[index + 1].strip("()"), index + 2  # name (address)
                continue
            if is_ipv4(word):
                address, index = word, index + 1
                continue
            rtt = float(word)  # "0.123 ms"
            index += 2
            flag = ""
            if index < len(words) and words[index].startswith("!"):
                flag, index = words[index], index + 1
            cells.append(ProbeCell(address, rtt, flag))
        kind: HopKind = "none"
        if any(c.address == target for c in cells):
            kind = "target"
        elif any(c.address for c in cells):
            kind = "router"
        final = kind == "target" or any(c.flag for c in cells)
        hops.append(Hop(ttl, tuple(cells), kind, final))
    return target, max_hops, hops


# ---------------------------------------------------------------------------------------
# The verdict


@dataclass(frozen=True)
class TraceVerdict:
    status: Status
    finding: str
    fix: str | None = None
    details: tuple[str, ...] = field(default=())


def classify(
    hops: Sequence[Hop],
    target: str,
    port: int,
    *,
    stopped_reason: str | None = None,
    deadline_hit: bool = False,
) -> TraceVerdict:
    """ok: the target answered at hop 1; warn: it answered later (name the hops in between);
    fail: it never answered, with what the last answering hop said."""
    where = f"{target}:{port}"
    if stopped_reason is not None:
        return TraceVerdict(
            Status.FAIL,
            f"the trace to {where} could not send its probes: {stopped_reason}",
            _send_fix(stopped_reason, target, port),
        )
    final = next((h for h in hops if h.final), None)
    if final is not None and final.kind == "target":
        return _reached(final, hops, target, port)
    if final is not None:  # a router said the target is unreachable
        meaning = _FLAG_MEANING.get(final.flag, "port unreachable (it rejects the port itself)")
        return TraceVerdict(
            Status.FAIL,
            f"hop {final.ttl} ({final.address}) answered {meaning}"
            + (f" ({final.flag})" if final.flag else "")
            + f" for {where}; the target never answered",
            f"Hop {final.ttl} ({final.address}) refuses to forward to {target}: if it is this "
            "VM's gateway, the route or an NSG/appliance rule there blocks the platform "
            f"address; compare `ip route get {target}` with the primary NIC's gateway.",
        )
    answering = [h for h in hops if h.kind == "router"]
    waited = "until the deadline" if deadline_hit else f"within {len(hops)} hops"
    if not answering:
        return TraceVerdict(
            Status.FAIL,
            f"nothing answered the probes to {where} {waited}: no router and not the target",
            f"Packets to {where} are dropped before anything answers: look for a local rule "
            f"(`iptables-save -c | grep -e {target} -e {port}`, `nft list ruleset`), then an "
            f"NSG or a host-side block; `ip route get {target}` shows the way out.",
        )
    last = answering[-1]
    return TraceVerdict(
        Status.FAIL,
        f"the target {where} never answered ({waited}); the last hop that answered is "
        f"hop {last.ttl} ({last.address}): time exceeded, so packets got past it and were "
        "dropped later",
        f"Something after hop {last.ttl} ({last.address}) drops port {port} to {target}: an "
        "appliance, a firewall on it, or an NSG/UDR sending the platform address there; on "
        "Azure the platform is one hop away, so that hop should not be in the path at all.",
    )


def _reached(final: Hop, hops: Sequence[Hop], target: str, port: int) -> TraceVerdict:
    rtts = [c.rtt_ms for c in final.cells if c.rtt_ms is not None]
    took = f" in {min(rtts):.3f} ms" if rtts else ""
    how = "answered" if final.flag == "" else f"answered {final.flag}"
    if final.ttl == 1:
        return TraceVerdict(
            Status.OK, f"{target} {how} at hop 1{took}, directly: no hop in between"
        )
    between = [_describe(h) for h in hops if h.ttl < final.ttl]
    return TraceVerdict(
        Status.WARN,
        f"{target} {how} at hop {final.ttl}, not hop 1: in between " + ", ".join(between),
        f"On Azure the platform address is one hop away. The hop(s) in between are an "
        f"appliance or a wrong route: check `ip route get {target}` (it must leave by the "
        "primary NIC's gateway), the /32 route from DHCP, and any UDR or NVA for "
        f"{target} (port {port}).",
        tuple(between),
    )


def _describe(hop: Hop) -> str:
    if hop.kind == "none":
        return f"hop {hop.ttl} silent (* * *)"
    return f"hop {hop.ttl} {', '.join(hop.addresses)}"


def _send_fix(reason: str, target: str, port: int) -> str:
    if "EPERM" in reason or "EACCES" in reason:
        return (
            f"A local firewall rule forbids sending to {target}:{port} (the kernel refused the "
            f"probe): `iptables-save -c | grep -e {target} -e {port}` and `nft list ruleset` "
            "name it; remove it."
        )
    return (
        f"There is no usable way out to {target}: `ip route get {target}` must name the "
        "primary NIC and its gateway; renew DHCP on the primary NIC or restore the route."
    )
