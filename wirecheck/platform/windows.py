"""Windows facts from the text its tools print, parsed anywhere (tested on Linux from samples).

- `netsh winhttp show proxy`: the WinHTTP proxy (what services such as the guest agent use);
- `netsh advfirewall firewall show rule name=all verbose`: Windows Firewall rules;
- `sc query SERVICE`: a service's state.

The English output is parsed; keys are matched loosely so minor layout changes still parse.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from wirecheck.platform.firewall.model import Cond, Match, Rule

WINDOWS_AGENT_SERVICES = ("WindowsAzureGuestAgent", "RdAgent")
WINDOWS_PROXY_AGENT_SERVICE = "GuestProxyAgent"


@dataclass(frozen=True)
class WinHttpProxy:
    server: str | None  # None: direct access
    bypass: str | None


def parse_winhttp_proxy(text: str) -> WinHttpProxy:
    if re.search(r"Direct access \(no proxy server\)", text, re.IGNORECASE):
        return WinHttpProxy(None, None)
    server = re.search(r"Proxy Server\(s\)\s*:\s*(.+)", text)
    bypass = re.search(r"Bypass List\s*:\s*(.+)", text)
    bypass_value = bypass.group(1).strip() if bypass else None
    return WinHttpProxy(
        server.group(1).strip() if server else None,
        None if bypass_value in (None, "(none)") else bypass_value,
    )


def winhttp_bypassed(bypass: str | None, host: str) -> bool:
    """WinHTTP bypass list: `;`-separated hosts with `*` wildcards, `<local>` for dotless names."""
    if not bypass:
        return False
    for raw in bypass.split(";"):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "<local>":
            if "." not in host:
                return True
            continue
        pattern = "^" + re.escape(entry).replace(r"\*", ".*") + "$"
        if re.match(pattern, host.lower()):
            return True
    return False


def parse_firewall_rules(text: str) -> list[Rule]:
    """Enabled rules from `netsh advfirewall firewall show rule name=all verbose`."""
    rules: list[Rule] = []
    for block in re.split(r"\n\s*\n(?=Rule Name:)", text.replace("\r\n", "\n")):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith("-"):
                fields.setdefault(key.strip().lower(), value.strip())
        name = fields.get("rule name")
        if not name or fields.get("enabled", "").lower() != "yes":
            continue
        outbound = fields.get("direction", "").lower() == "out"
        action = fields.get("action", "").upper()
        remote_ip = _addresses(fields.get("remoteip", "Any"))
        remote_port = _ports(fields.get("remoteport", "Any"))
        protocol = fields.get("protocol", "Any").lower()
        match = Match(
            daddr=remote_ip if outbound else None,
            saddr=None if outbound else remote_ip,
            dport=remote_port if outbound else None,
            sport=None if outbound else remote_port,
            protocol=None if protocol == "any" else Cond((protocol,)),
        )
        shown = (
            f'"{name}": {action.title()} {fields.get("direction", "?")} '
            f"{fields.get('protocol', 'Any')} to {fields.get('remoteip', 'Any')} "
            f"port {fields.get('remoteport', 'Any')}"
        )
        rules.append(
            Rule(
                "windows",
                "Windows Firewall",
                "OUTPUT" if outbound else "INPUT",
                shown,
                action,
                match,
                key=f"windows {name}",
                remove=f'netsh advfirewall firewall set rule name="{name}" new enable=no',
            )
        )
    return rules


def _addresses(value: str) -> Cond | None:
    if value.strip().lower() == "any":
        return None
    networks: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if "-" in item:
            low, _, high = item.partition("-")
            try:
                first, last = ipaddress.IPv4Address(low), ipaddress.IPv4Address(high)
                networks += [str(n) for n in ipaddress.summarize_address_range(first, last)]
                continue
            except ValueError:
                pass
        try:
            networks.append(str(ipaddress.IPv4Network(item, strict=False)))
        except ValueError:
            networks.append(item)  # LocalSubnet, DefaultGateway, ...: may match
    return Cond(tuple(networks))


def _ports(value: str) -> Cond | None:
    if value.strip().lower() == "any":
        return None
    return Cond(tuple(p.strip() for p in value.split(",") if p.strip()))


@dataclass(frozen=True)
class ServiceState:
    name: str
    installed: bool
    state: str | None  # RUNNING, STOPPED, START_PENDING, ...


def parse_sc_query(text: str, name: str) -> ServiceState:
    """`sc query NAME`: installed or not (error 1060), and its state."""
    if re.search(r"\b1060\b", text) or "does not exist" in text:
        return ServiceState(name, False, None)
    state = re.search(r"STATE\s*:\s*\d+\s+(\w+)", text)
    return ServiceState(name, state is not None, state.group(1) if state else None)
