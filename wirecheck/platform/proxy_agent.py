"""The GuestProxyAgent's own refusals, told apart from the platform's answers. Pure, but
for `read_mode`, which reads its status file through the given reader.

Where the GuestProxyAgent (GPA) runs, its eBPF hook redirects connects to 168.63.129.16:80
and :32526 (and 169.254.169.254:80) to its local listener, 127.0.0.1:3080. What it forwards
to the host comes back with the header `x-ms-azure-host-authorization`; what it refuses
itself comes back as a closed response: an empty body, `connection: close`, no such header.
It answers 403 to a caller it does not authorise (WireServer and the host plugin: any caller
that is not elevated; in Enforce mode, a process its allow-list does not allow), 421 when it
cannot tie the connection to a process, and 502/503 when it cannot reach the host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

STATUS_LINUX = "/var/log/azure-proxy-agent/status.json"
STATUS_WINDOWS = r"{drive}\WindowsAzure\ProxyAgent\Logs\status.json"
CONFIG_LINUX = "/etc/azure/proxy-agent.json"
UNIT = "azure-proxy-agent"
# The statuses GPA answers with itself.
REFUSALS = (403, 421, 502, 503)


def secure_channel_state(status_text: str) -> str | None:
    """`keyLatchStatus.states.secureChannelState` of its status.json, as written:
    `WireServer Enforce -  IMDS Audit - HostGA Enforce`, older `Wireserver Enforce - IMDS
    Enforce`, or the older single words `disabled`, `wireserver`, `wireserverandimds`."""
    try:
        document = json.loads(status_text)
    except ValueError:
        return None
    found: Any = document
    for key in ("proxyAgentStatus", "keyLatchStatus", "states", "secureChannelState"):
        found = found.get(key) if isinstance(found, dict) else None
    return found if isinstance(found, str) and found.strip() else None


def mode_of(state: str | None, service: str) -> str | None:
    """ "enforce", "audit" or "disabled" for `service` ("wireserver", "imds", "hostga")."""
    if state is None:
        return None
    text = state.strip().lower()
    single = {
        "disabled": {},
        "wireserver": {"wireserver": "enforce"},
        "wireserverandimds": {"wireserver": "enforce", "imds": "enforce"},
    }
    if text in single:
        return single[text].get(service, "disabled")
    found = re.search(rf"\b{service}\s+(enforce|audit|disabled)\b", text)
    return found.group(1) if found else None


def read_mode(read_text: Callable[[str], str], path: str = STATUS_LINUX) -> str | None:
    """The secure channel state from GPA's status file, None when it cannot be read."""
    try:
        return secure_channel_state(read_text(path))
    except OSError:
        return None


def is_own_refusal(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """GPA's closed response: a refusal status, an empty body, `connection: close`, and not
    the header GPA puts on what it forwards from the host."""
    return (
        status in REFUSALS
        and not body
        and headers.get("connection", "").lower() == "close"
        and "x-ms-azure-host-authorization" not in headers
    )


@dataclass(frozen=True)
class ProxyAgentRefusal:
    """A request the GuestProxyAgent answered itself, with why and what to do."""

    status: int
    service: str  # "WireServer" or "IMDS"
    state: str | None  # the secure channel state, as its status file says
    elevated: bool  # the caller ran as root / Administrator
    windows: bool = False

    @property
    def mode(self) -> str | None:
        return mode_of(self.state, "imds" if self.service == "IMDS" else "wireserver")

    def meaning(self) -> str:
        if self.status == 403:
            if self.service == "WireServer" and not self.elevated:
                return (
                    "it refuses WireServer and the host plugin to every caller that is not "
                    f"{'elevated' if self.windows else 'root'}"
                )
            if self.mode == "enforce":
                return (
                    f"in Enforce mode it refuses {self.service} to any process its allow-list "
                    "(the VM's access control profile) does not name"
                )
            return "it did not authorise this caller"
        if self.status == 421:
            return (
                "it could not tie the connection to a process (no claims: its eBPF program did "
                "not see the connect)"
            )
        return "it could not forward the request to the host"

    def describe(self) -> str:
        mode = f"{self.service} {self.mode}" if self.mode else "mode unknown (no status file)"
        return f"HTTP {self.status} from the GuestProxyAgent on this VM ({mode}): {self.meaning()}"

    def fix(self) -> str:
        status_file = "its status.json" if self.windows else STATUS_LINUX
        if self.status == 403 and self.service == "WireServer" and not self.elevated:
            return (
                "Run as Administrator (an elevated prompt)."
                if self.windows
                else "Run as root: `sudo wirecheck`; programs that talk to WireServer must too."
            )
        if self.status == 403:
            return (
                f"Allow the process in the VM's access control profile (its rules for "
                f"{self.service}), or set the profile to Audit mode while you build the "
                f"allow-list from the audit log ({status_file}: failedAuthenticateSummary)."
            )
        restart = (
            "`Restart-Service GuestProxyAgent`"
            if self.windows
            else f"`systemctl restart {UNIT}`, `journalctl -u {UNIT}`"
        )
        return (
            f"The GuestProxyAgent is unhealthy: check {status_file} (keyLatchStatus and "
            f"ebpfProgramStatus must be RUNNING) and restart it ({restart})."
        )
