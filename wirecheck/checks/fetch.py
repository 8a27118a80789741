"""What an HTTP check (wire-versions, imds) found about its one request, as facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wirecheck.net.errors import NetOutcome
from wirecheck.net.http import HttpResult
from wirecheck.safe_text import printable

# A reply header that only the GuestProxyAgent's local listener adds: with it active,
# connects to the platform addresses are redirected to that listener.
PROXY_AGENT_HEADER = "x-ms-azure-host-authorization"


@dataclass(frozen=True)
class Fetch:
    url: str  # as a person would type it
    outcome: NetOutcome  # CONNECTED when a full response arrived
    elapsed_ms: float
    connected: bool  # the TCP connection was made
    errno: str | None = None  # why it was not
    http_status: int | None = None  # None: no complete HTTP answer
    reason: str = ""
    detail: str = ""  # what went wrong after connecting
    proxy_agent_header: bool = False

    @classmethod
    def of(cls, host: str, port: int, path: str, reply: HttpResult) -> Fetch:
        complete = reply.connect.connected and reply.outcome is NetOutcome.CONNECTED
        return cls(
            url=f"http://{host}{'' if port == 80 else f':{port}'}{path}",
            outcome=reply.outcome,
            elapsed_ms=round(reply.elapsed_s * 1000, 2),
            connected=reply.connect.connected,
            errno=reply.connect.errno_name,
            http_status=reply.status if complete else None,
            reason=reply.reason,
            detail=printable(reply.detail) if reply.connect.connected and not complete else "",
            proxy_agent_header=complete and PROXY_AGENT_HEADER in reply.headers,
        )

    def evidence(self) -> dict[str, Any]:
        """What every fetch shows first: the URL, the outcome, the time."""
        return {"url": self.url, "outcome": self.outcome.value, "elapsed_ms": self.elapsed_ms}
