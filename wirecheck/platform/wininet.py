"""The WinINET proxy (Internet Options), from `reg query` output, and whether it catches an
address. Pure: parsers take text, so they are tested anywhere.

WinINET reads `ProxyEnable`, `ProxyServer` and `ProxyOverride` under
`Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings`: in HKCU per user, or in HKLM
for the whole machine when the policy value `ProxySettingsPerUser` is 0. Python's urllib (and
so requests) falls back to the HKCU values when no proxy variable is set, and .NET's default
proxy follows them, so SDKs and scripts on the VM inherit this proxy.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass

INTERNET_SETTINGS = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"
HKLM_SETTINGS = rf"HKLM\{INTERNET_SETTINGS}"
HKCU_SETTINGS = rf"HKCU\{INTERNET_SETTINGS}"
POLICY_SETTINGS = r"HKLM\Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"
NOT_FOUND = "unable to find the specified registry key or value"

# `    Name    REG_TYPE    value`: four-space separators; a name may hold single spaces.
_VALUE = re.compile(r"^ {4}(.+?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$")


@dataclass(frozen=True)
class RegValue:
    kind: str  # REG_SZ, REG_DWORD, ...
    data: str

    def number(self) -> int | None:
        """A REG_DWORD/REG_QWORD (`0x1`) as an int."""
        try:
            return int(self.data, 16) if self.data.lower().startswith("0x") else int(self.data)
        except ValueError:
            return None


def parse_reg_query(text: str) -> dict[str, dict[str, RegValue]]:
    """`reg query KEY [/v NAME]`: key path -> value name -> value. A key the tool could not
    find is absent (reg prints an ERROR line instead)."""
    keys: dict[str, dict[str, RegValue]] = {}
    current: dict[str, RegValue] | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r\n")
        if line.startswith("HKEY_"):
            current = keys.setdefault(line.strip(), {})
            continue
        found = _VALUE.match(line)
        if found and current is not None:
            current[found.group(1)] = RegValue(found.group(2), (found.group(3) or "").strip())
    return keys


def values_of(keys: Mapping[str, dict[str, RegValue]], suffix: str) -> dict[str, RegValue]:
    """The values of the key whose path ends with `suffix` (case-insensitive)."""
    wanted = suffix.lower().split("\\", 1)[-1]
    for path, values in keys.items():
        if path.lower().endswith(wanted):
            return values
    return {}


@dataclass(frozen=True)
class WinInetProxy:
    where: str  # "WinINET (HKCU)" or "WinINET (HKLM)"
    enabled: bool
    server: str  # ProxyServer as set: `host:port` or `http=host:port;https=...`
    override: str  # ProxyOverride: the bypass list

    def server_for_http(self) -> str | None:
        """The proxy an http:// URL goes to: the `http=` entry, or the one server for all."""
        if "=" not in self.server:
            return self.server or None
        for part in self.server.split(";"):
            scheme, _, address = part.partition("=")
            if scheme.strip().lower() == "http" and address.strip():
                return address.strip()
        return None


def wininet_proxy(values: Mapping[str, RegValue], where: str) -> WinInetProxy | None:
    """The proxy set in one Internet Settings key; None when none is set there."""
    enable = values.get("ProxyEnable")
    server = values.get("ProxyServer")
    if enable is None and server is None:
        return None
    return WinInetProxy(
        where,
        bool(enable and enable.number()),
        server.data if server else "",
        values["ProxyOverride"].data if "ProxyOverride" in values else "",
    )


def per_machine(policy: Mapping[str, RegValue]) -> bool:
    """ProxySettingsPerUser = 0: the HKLM settings apply to every user."""
    setting = policy.get("ProxySettingsPerUser")
    return setting is not None and setting.number() == 0


def catches(proxy: WinInetProxy, host: str) -> bool:
    """Would WinINET send http://host/ to the proxy? `<local>` bypasses only names without a
    dot, so it never covers 169.254.169.254; other entries are wildcard patterns."""
    if not proxy.enabled or proxy.server_for_http() is None:
        return False
    for entry in proxy.override.split(";"):
        pattern = entry.strip().lower()
        if not pattern:
            continue
        if pattern == "<local>":
            if "." not in host:
                return False
            continue
        if fnmatch.fnmatchcase(host.lower(), pattern):
            return False
    return True
