"""wire-versions: does WireServer answer `?comp=versions` with a protocol the agent can use?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome, ProbeFacts, Traffic
from wirecheck.checks.fetch import Fetch, proxy_agent_refusal
from wirecheck.checks.tcp import connect_fix
from wirecheck.errors import ParseError
from wirecheck.model import Status
from wirecheck.net import http
from wirecheck.net.errors import MEANING, NetOutcome
from wirecheck.platform.proxy_agent import ProxyAgentRefusal
from wirecheck.platform.versions import REQUIRED_VERSION, parse_versions

VERSIONS_PATH = "/?comp=versions"


@dataclass(frozen=True)
class WireFacts(ProbeFacts):
    fetch: Fetch
    body: str | None = None  # the answer, when a complete one came
    body_bytes: int | None = None
    preferred: tuple[str, ...] | None = None  # None: the body was not a versions list
    supported: tuple[str, ...] | None = None
    # The GuestProxyAgent answered itself (it runs here and the answer is its own refusal).
    proxy_agent_refusal: ProxyAgentRefusal | None = None

    @property
    def net_outcome(self) -> NetOutcome:
        return self.fetch.outcome

    def evidence(self) -> dict[str, Any]:
        evidence = self.fetch.evidence()
        if self.fetch.detail:
            evidence["detail"] = self.fetch.detail
        if self.fetch.http_status is not None:
            evidence.update(
                http_status=self.fetch.http_status, body_bytes=self.body_bytes, body=self.body
            )
        if self.fetch.proxy_agent_header:
            evidence["guest_proxy_agent_header"] = True
        if self.proxy_agent_refusal is not None:
            evidence["guest_proxy_agent_refusal"] = self.proxy_agent_refusal.describe()
        if self.preferred is not None and self.supported is not None:
            evidence.update(preferred=list(self.preferred), supported=list(self.supported))
        return evidence


def run_wire_versions(ctx: CheckContext) -> Outcome:
    target, port = ctx.config.target, ctx.config.ports.http
    reply = http.get(
        target, port, VERSIONS_PATH, ctx.deadline, socket_factory=ctx.system.socket_factory
    )
    fetch = Fetch.of(target, port, VERSIONS_PATH, reply)
    if not fetch.connected:
        return Outcome(
            Status.FAIL,
            f"could not connect: {MEANING[reply.connect.outcome]}",
            WireFacts(fetch),
            fix=connect_fix(reply.connect.outcome, target, port, ctx.system.is_root()),
        )
    if fetch.http_status is None:
        if reply.outcome is NetOutcome.TIMEOUT:
            finding = "connected, but no complete answer came before the deadline"
        else:
            finding = f"connected, but the answer is not valid HTTP ({fetch.detail})"
        return Outcome(Status.FAIL, finding, WireFacts(fetch), fix=_server_fix(target))

    facts = WireFacts(fetch, reply.body.decode("utf-8", errors="replace"), len(reply.body))
    refusal = proxy_agent_refusal(ctx, fetch, "WireServer")
    if refusal is not None:
        return Outcome(
            Status.FAIL,
            f"{refusal.describe()}; the request did not reach WireServer (an empty answer "
            "without the x-ms-azure-host-authorization header the agent puts on forwarded ones)",
            WireFacts(fetch, facts.body, facts.body_bytes, proxy_agent_refusal=refusal),
            fix=refusal.fix(),
        )
    if reply.status != 200:
        return Outcome(
            Status.FAIL,
            f"WireServer answered HTTP {reply.status} {reply.reason}".rstrip(),
            facts,
            fix=_server_fix(target),
        )
    if reply.truncated:
        return Outcome(
            Status.FAIL,
            f"the answer is larger than {http.DEFAULT_MAX_BODY // 1024} KiB: not a versions list",
            facts,
            fix=_server_fix(target),
        )
    try:
        versions = parse_versions(reply.body)
    except ParseError as exc:
        return Outcome(Status.FAIL, str(exc), facts, fix=_server_fix(target))
    facts = WireFacts(
        fetch, facts.body, facts.body_bytes, tuple(versions.preferred), tuple(versions.supported)
    )
    preferred = ", ".join(versions.preferred) or "none"
    if not versions.has_required:
        return Outcome(
            Status.FAIL,
            f"WireServer does not offer wire protocol {REQUIRED_VERSION} (preferred: {preferred})",
            facts,
            fix=f"Whatever answers at {target} is not the Azure WireServer; see the trace rows.",
        )
    return Outcome(
        Status.OK,
        f"HTTP 200 in {reply.elapsed_s * 1000:.0f} ms; preferred {preferred}; "
        f"{REQUIRED_VERSION} offered",
        facts,
    )


def _server_fix(target: str) -> str:
    return (
        f"The connection works but the answer is wrong: something other than WireServer may "
        f"answer for {target} (a proxy, an appliance, a local listener), or the host has a "
        "problem; if the path is direct (trace rows), open a support case with the bundle."
    )


WIRE_VERSIONS = CheckSpec(
    "wire-versions",
    "WireServer versions answer",
    run_wire_versions,
    explain=f"""\
GET http://<target>/?comp=versions, as the guest agent does: no proxy, `Connection: close`,
the body capped at 64 KiB and parsed by a parser that refuses DOCTYPEs and entities.
- ok: HTTP 200, a well-formed <Versions> document that offers {REQUIRED_VERSION} (the wire
  protocol the Linux agent needs) as Preferred or Supported.
- fail: no connection (see tcp-80), no complete answer within the deadline, an HTTP status
  other than 200, an oversized or malformed body, or {REQUIRED_VERSION} missing. Where the
  GuestProxyAgent runs, a 403, 421, 502 or 503 with an empty body, `connection: close` and
  no x-ms-azure-host-authorization header is its own refusal, not WireServer's: the finding
  says so, with its mode (from its status file) and what the status means.""",
    facts=WireFacts,
    probe="http",
    traffic=(Traffic("target", "tcp", "http"),),
)

SPECS = (WIRE_VERSIONS,)
