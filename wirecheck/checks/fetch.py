"""What an HTTP check (wire-versions, imds) found about its one request, as facts, and
whether the GuestProxyAgent on this VM answered it instead of the platform."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wirecheck.checks.base import CheckContext
from wirecheck.net.errors import NetOutcome
from wirecheck.net.http import HttpResult
from wirecheck.platform.proxy_agent import (
    CONFIG_LINUX,
    STATUS_LINUX,
    STATUS_WINDOWS,
    ProxyAgentRefusal,
    is_own_refusal,
    read_mode,
)
from wirecheck.platform.waagent import proxy_agent_installed
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
    # A refusal with an empty body and `connection: close`, without that header: the
    # GuestProxyAgent's own answer, where it runs.
    closed_response: bool = False

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
            closed_response=complete
            and reply.status is not None
            and is_own_refusal(reply.status, reply.headers, reply.body),
        )

    def evidence(self) -> dict[str, Any]:
        """What every fetch shows first: the URL, the outcome, the time."""
        return {"url": self.url, "outcome": self.outcome.value, "elapsed_ms": self.elapsed_ms}


def proxy_agent_refusal(ctx: CheckContext, fetch: Fetch, service: str) -> ProxyAgentRefusal | None:
    """The GuestProxyAgent's own refusal: its signature on the answer, and the agent here."""
    if not fetch.closed_response or fetch.http_status is None:
        return None
    system = ctx.system
    if system.windows:
        drive = system.environ.get("SystemDrive") or system.environ.get("SYSTEMDRIVE") or "C:"
        status_path = STATUS_WINDOWS.format(drive=drive)
        present = _readable(system.read_text, status_path)
    else:
        status_path = STATUS_LINUX
        present = proxy_agent_installed(system.read_text) or _readable(
            system.read_text, CONFIG_LINUX
        )
    if not present:
        return None
    state = read_mode(system.read_text, status_path)
    return ProxyAgentRefusal(
        fetch.http_status, service, state, system.is_root(), windows=system.windows
    )


def _readable(read_text: Callable[[str], str], path: str) -> bool:
    try:
        read_text(path)
    except OSError:
        return False
    return True
