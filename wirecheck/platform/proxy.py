"""Proxy settings and whether they would catch a request to the platform. Pure.

Tools disagree on case: curl reads only lower-case `http_proxy` (but both cases of the
others), Python and Go read both. We report every spelling and say which one applies.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass(frozen=True)
class ProxySetting:
    where: str  # "environment", "walinuxagent.service", "WinHTTP", ...
    name: str  # the variable as spelled, or the setting's name
    value: str


def proxy_variables(environ: Mapping[str, str], where: str) -> list[ProxySetting]:
    """Every proxy variable in any case (`HTTP_PROXY`, `Http_Proxy`, ...), sorted by name."""
    return [
        ProxySetting(where, name, value)
        for name, value in sorted(environ.items())
        if name.lower() in PROXY_VARIABLES and value.strip()
    ]


def catching_proxy(settings: list[ProxySetting], host: str) -> ProxySetting | None:
    """The proxy variable an HTTP client would use for http://host/, unless no_proxy excludes it.

    Lower case wins over upper case as in curl and Python; all_proxy is the fallback.
    """
    by_name: dict[str, ProxySetting] = {}
    for setting in settings:
        lower = setting.name.lower()
        if lower not in by_name or setting.name == lower:
            by_name[lower] = setting
    no_proxy = by_name.get("no_proxy")
    if no_proxy and bypassed(no_proxy.value, host):
        return None
    return by_name.get("http_proxy") or by_name.get("all_proxy")


def bypassed(no_proxy: str, host: str) -> bool:
    """Does a no_proxy list exclude `host`? Entries: `*`, IPs, CIDRs, domain suffixes, host:port."""
    for raw in no_proxy.replace(";", ",").replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
        if _ip_match(host, name):
            return True
        domain = name.lstrip("*").lstrip(".")
        if domain and (host.lower() == domain or host.lower().endswith(f".{domain}")):
            return True
    return False


def _ip_match(host: str, entry: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def parse_systemd_environment(text: str) -> dict[str, str]:
    """`systemctl show -p Environment UNIT` (or an `Environment=` line): the assignments."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("Environment="):
            continue
        try:
            words = shlex.split(line.partition("=")[2])
        except ValueError:
            words = line.partition("=")[2].split()
        for word in words:
            name, sep, value = word.partition("=")
            if sep:
                values[name] = value
    return values


def parse_environment_files(text: str) -> list[str]:
    """`EnvironmentFiles=/etc/default/x (ignore_errors=yes)` lines: the paths."""
    paths = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("EnvironmentFiles="):
            path = line.partition("=")[2].split(" (", 1)[0].strip()
            if path:
                paths.append(path)
    return paths


def parse_env_file(text: str) -> dict[str, str]:
    """An EnvironmentFile: `KEY=value` lines, optional quotes and `export`, comments."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def cidr_only_bypass(no_proxy: str, host: str) -> bool:
    """no_proxy excludes `host` by a CIDR entry only (`169.254.0.0/16`): curl before 7.86
    and Python's urllib ignore those, so for them the proxy still catches it."""
    entries = [e.strip() for e in no_proxy.replace(";", ",").replace(" ", ",").split(",")]
    cidrs = [e for e in entries if "/" in e]
    others = ",".join(e for e in entries if e and "/" not in e)
    return bool(cidrs) and not bypassed(others, host) and bypassed(",".join(cidrs), host)
