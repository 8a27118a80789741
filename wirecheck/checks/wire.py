"""wire-versions: does WireServer answer `?comp=versions` with a protocol the agent can use?"""

from __future__ import annotations

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.checks.tcp import connect_fix
from wirecheck.errors import ParseError
from wirecheck.model import Status
from wirecheck.net import http
from wirecheck.net.errors import MEANING, NetOutcome
from wirecheck.platform.versions import REQUIRED_VERSION, parse_versions
from wirecheck.safe_text import printable

VERSIONS_PATH = "/?comp=versions"
# A reply header that only the GuestProxyAgent's local listener adds (DESIGN 8).
PROXY_AGENT_HEADER = "x-ms-azure-host-authorization"


def run_wire_versions(ctx: CheckContext) -> Outcome:
    target, port = ctx.config.target, ctx.config.ports.http
    reply = http.get(
        target, port, VERSIONS_PATH, ctx.deadline, socket_factory=ctx.system.socket_factory
    )
    evidence = http.reply_evidence(target, port, VERSIONS_PATH, reply)
    if not reply.connect.connected:
        return Outcome(
            Status.FAIL,
            f"could not connect: {MEANING[reply.connect.outcome]}",
            evidence,
            fix=connect_fix(reply.connect.outcome, target, port, ctx.system.is_root()),
        )
    if reply.outcome is not NetOutcome.CONNECTED:
        evidence["detail"] = printable(reply.detail)
        if reply.outcome is NetOutcome.TIMEOUT:
            finding = "connected, but no complete answer came before the deadline"
        else:
            finding = f"connected, but the answer is not valid HTTP ({printable(reply.detail)})"
        return Outcome(Status.FAIL, finding, evidence, fix=_server_fix(target))

    evidence.update(
        http_status=reply.status,
        body_bytes=len(reply.body),
        body=reply.body.decode("utf-8", errors="replace"),
    )
    if PROXY_AGENT_HEADER in reply.headers:
        evidence["guest_proxy_agent_header"] = True
    if reply.status != 200:
        return Outcome(
            Status.FAIL,
            f"WireServer answered HTTP {reply.status} {reply.reason}".rstrip(),
            evidence,
            fix=_server_fix(target),
        )
    if reply.truncated:
        return Outcome(
            Status.FAIL,
            f"the answer is larger than {http.DEFAULT_MAX_BODY // 1024} KiB: not a versions list",
            evidence,
            fix=_server_fix(target),
        )
    try:
        versions = parse_versions(reply.body)
    except ParseError as exc:
        return Outcome(Status.FAIL, str(exc), evidence, fix=_server_fix(target))
    evidence.update(preferred=list(versions.preferred), supported=list(versions.supported))
    preferred = ", ".join(versions.preferred) or "none"
    if not versions.has_required:
        return Outcome(
            Status.FAIL,
            f"WireServer does not offer wire protocol {REQUIRED_VERSION} (preferred: {preferred})",
            evidence,
            fix=f"Whatever answers at {target} is not the Azure WireServer; see the trace rows.",
        )
    return Outcome(
        Status.OK,
        f"HTTP 200 in {reply.elapsed_s * 1000:.0f} ms; preferred {preferred}; "
        f"{REQUIRED_VERSION} offered",
        evidence,
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
  other than 200, an oversized or malformed body, or {REQUIRED_VERSION} missing.""",
)
