"""TCP traceroute scheduling, free of I/O: which probes go out when, which probe an
answer belongs to, and when the trace is done.

The engines only send probes and report answers; every decision is made here, on plain
values and a clock passed in, so it is tested with tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from wirecheck.net.traceroute.hops import Hop, Reply, ReplyKind, make_hop

# Defaults for a target that should be one hop away (on Azure it is): the first wave covers the
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
