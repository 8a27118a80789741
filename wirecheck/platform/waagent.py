"""The Linux guest agent (WALinuxAgent) and the GuestProxyAgent, from their own files.

Pure parsers: /etc/waagent.conf, /var/log/waagent.log, `waagent --version`, and the
GuestProxyAgent's /var/log/azure-proxy-agent/status.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

WAAGENT_CONF = "/etc/waagent.conf"
WAAGENT_LOG = "/var/log/waagent.log"
WIRESERVER_ENDPOINT_FILE = "/var/lib/waagent/WireServerEndpoint"
PROXY_AGENT_STATUS = "/var/log/azure-proxy-agent/status.json"
# Any of these means the GuestProxyAgent is installed (its unit) or has run (its status).
PROXY_AGENT_FILES = (
    PROXY_AGENT_STATUS,
    "/lib/systemd/system/azure-proxy-agent.service",
    "/usr/lib/systemd/system/azure-proxy-agent.service",
    "/etc/systemd/system/azure-proxy-agent.service",
)


def proxy_agent_installed(read_text: Callable[[str], str]) -> bool:
    """Whether any of PROXY_AGENT_FILES can be read here."""
    for path in PROXY_AGENT_FILES:
        try:
            read_text(path)
        except OSError:
            continue
        return True
    return False


def parse_conf(text: str) -> dict[str, str]:
    """`Key=Value` lines; comments and blank lines ignored; the last assignment wins."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def firewall_enabled(conf: Mapping[str, str]) -> bool:
    """OS.EnableFirewall as the agent reads it: a switch that is on only when set to `y`.

    The agent's own default, when the line is missing or holds anything but y/n, is off
    (its conf.enable_firewall); the waagent.conf most distributions ship sets it to y.
    """
    return conf.get("OS.EnableFirewall", "").strip().lower() == "y"


def conf_proxy(conf: Mapping[str, str]) -> str | None:
    """`host:port` of HttpProxy.Host/HttpProxy.Port, or None when no proxy is configured."""
    host = conf.get("HttpProxy.Host", "").strip()
    if not host or host.lower() == "none":
        return None
    port = conf.get("HttpProxy.Port", "").strip()
    return f"{host}:{port}" if port and port.lower() != "none" else host


@dataclass(frozen=True)
class LogEntry:
    time: datetime | None
    level: str
    message: str

    def to_text(self) -> str:
        when = self.time.strftime("%Y-%m-%dT%H:%M:%SZ") if self.time else "?"
        return f"{when} {self.level} {self.message}"


# Current agents write ISO times with a Z; agents before 2.2.4x wrote "2019/10/02 07:41:12.0".
_LINE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?|\d{4}/\d{2}/\d{2} "
    r"\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s+(?P<level>VERBOSE|INFO|WARNING|WARN|ERROR)\s+(?P<msg>.*)$"
)
# What a connectivity problem with the platform looks like in the agent's words.
_CONNECTIVITY = re.compile(
    r"168\.63\.129\.16|:32526|HttpError|HTTP Failed|ProtocolError|Wireserver|WireServer|"
    r"HostGAPlugin|goal state|timed out|Connection refused|No route to host|"
    r"Network is unreachable|firewall",
    re.IGNORECASE,
)


def parse_log(text: str) -> list[LogEntry]:
    entries: list[LogEntry] = []
    for raw in text.splitlines():
        found = _LINE.match(raw.strip())
        if found:
            level = "WARNING" if found["level"] == "WARN" else found["level"]
            entries.append(LogEntry(_log_time(found["time"]), level, found["msg"].strip()))
    return entries


def connectivity_errors(entries: list[LogEntry], last: int = 5) -> list[LogEntry]:
    """The last `last` warnings and errors that are about reaching the platform."""
    found = [
        e
        for e in entries
        if e.level in ("WARNING", "ERROR") and _CONNECTIVITY.search(e.message) is not None
    ]
    return found[-last:]


def log_version(entries: list[LogEntry]) -> str | None:
    """The agent version the log names last (daemon start or goal-state agent)."""
    version = None
    for entry in entries:
        found = re.search(
            r"Azure Linux Agent Version:\s*(\S+)|WALinuxAgent-(\d[\w.]*)", entry.message
        )
        if found:
            version = found.group(1) or found.group(2)
    return version


def parse_version_output(text: str) -> dict[str, str]:
    """`waagent --version`: the installed agent and, when known, the goal-state agent."""
    out: dict[str, str] = {}
    found = re.search(r"WALinuxAgent-(\S+)", text)
    if found:
        out["installed"] = found.group(1)
    found = re.search(r"Goal state agent:\s*(\S+)", text)
    if found:
        out["goal_state_agent"] = found.group(1)
    return out


def _log_time(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%d %H:%M:%S.%f"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class ProxyAgentStatus:
    version: str | None
    overall: str | None  # SUCCESS, ERROR, UNKNOWN
    timestamp: str | None
    modules: dict[str, str]  # module -> RUNNING/STOPPED/UNKNOWN
    problems: tuple[str, ...]  # "<module>: <message>" for modules not running

    @property
    def redirecting(self) -> bool:
        """The eBPF redirect and the listener run: connects to the platform end locally."""
        return (
            self.modules.get("ebpfProgramStatus") == "RUNNING"
            and self.modules.get("proxyListenerStatus") == "RUNNING"
        )


def parse_proxy_agent_status(text: str) -> ProxyAgentStatus:
    """GuestProxyAgent's aggregate status file; raises ValueError when it is not that."""
    document = json.loads(text)
    status = document.get("proxyAgentStatus") if isinstance(document, dict) else None
    if not isinstance(status, dict):
        raise ValueError("no proxyAgentStatus object")
    modules: dict[str, str] = {}
    problems: list[str] = []
    for name, value in status.items():
        if isinstance(value, dict) and "status" in value:
            modules[name] = str(value["status"])
            if value["status"] != "RUNNING":
                problems.append(f"{name}: {_text(value.get('message'))}")
    return ProxyAgentStatus(
        version=_text(status.get("version")) or None,
        overall=_text(status.get("status")) or None,
        timestamp=_text(document.get("timestamp")) or None,
        modules=modules,
        problems=tuple(problems),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
