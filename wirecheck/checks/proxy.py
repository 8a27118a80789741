"""proxy: proxy settings that would catch traffic to the platform address.

wirecheck itself never uses a proxy (net.http connects directly); this check says which
other tools, and which agent, would not go direct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Facts, Status
from wirecheck.platform.proxy import (
    ProxySetting,
    catching_proxy,
    cidr_only_bypass,
    parse_env_file,
    parse_environment_files,
    parse_systemd_environment,
    proxy_variables,
)
from wirecheck.platform.waagent import WAAGENT_CONF, conf_proxy, parse_conf

AGENT_UNITS = ("walinuxagent.service", "waagent.service")
COMMAND_TIMEOUT_S = 1.0


def _redact(value: str) -> str:
    """Proxy URLs may carry a password (`http://user:secret@proxy:3128`)."""
    return re.sub(r"//([^/@:]+):[^/@]*@", r"//\1:***@", value)


def _shown(setting: ProxySetting) -> dict[str, str]:
    return {"where": setting.where, "name": setting.name, "value": _redact(setting.value)}


@dataclass(frozen=True)
class ProxyFacts(Facts):
    settings: tuple[ProxySetting, ...]  # every proxy setting found
    catching: tuple[ProxySetting, ...]  # those that would catch http://<target>/
    waagent_conf_proxy: str | None = None  # HttpProxy in /etc/waagent.conf
    notes: tuple[str, ...] = ()
    catching_imds: tuple[ProxySetting, ...] = ()  # those that would catch http://<IMDS>/

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "settings": [_shown(s) for s in self.settings],
            "catching": [_shown(s) for s in self.catching],
            "catching_imds": [_shown(s) for s in self.catching_imds],
            "wirecheck": "connects directly: no proxy is used for any probe",
        }
        if self.waagent_conf_proxy:
            evidence["waagent_conf_proxy"] = _redact(self.waagent_conf_proxy)
        if self.notes:
            evidence["notes"] = list(self.notes)
        return evidence


def unit_settings(ctx: CheckContext) -> tuple[list[ProxySetting], list[str]]:
    """Proxy variables in the agent service's environment (unit, drop-ins, EnvironmentFile)."""
    settings: list[ProxySetting] = []
    notes: list[str] = []
    timeout = min(COMMAND_TIMEOUT_S, ctx.deadline.remaining())
    for unit in AGENT_UNITS:
        done = ctx.system.run_command(
            ["systemctl", "show", "-p", "Environment", "-p", "EnvironmentFiles", unit], timeout
        )
        if done.error:
            notes.append(f"{unit}: {done.error}")
            break  # no systemctl: no other unit will answer either
        if not done.ok:
            continue
        settings += proxy_variables(parse_systemd_environment(done.stdout), unit)
        for path in parse_environment_files(done.stdout):
            try:
                values = parse_env_file(ctx.system.read_text(path))
            except OSError:
                continue
            settings += proxy_variables(values, f"{unit} ({path})")
    return settings, notes


def run_proxy(ctx: CheckContext) -> Outcome:
    target, imds = ctx.config.target, ctx.config.imds_address
    hosts = (target, imds)
    catching: dict[str, list[ProxySetting]] = {host: [] for host in hosts}
    notes: list[str] = []
    sources = {"environment": proxy_variables(ctx.system.environ, "environment")}
    if ctx.system.windows:
        from wirecheck.checks.proxy_windows import windows_proxies  # Windows only

        for where, settings, applies in windows_proxies(ctx, notes):
            sources[where] = settings
            for host in hosts:
                if applies(host):
                    catching[host] += settings
    else:
        unit, unit_notes = unit_settings(ctx)
        notes += unit_notes
        for setting in unit:
            sources.setdefault(setting.where, []).append(setting)
    for where, settings in sources.items():
        if where.startswith(("WinHTTP", "WinINET")):
            continue
        for host in hosts:
            caught = catching_proxy(settings, host)
            if caught is not None:
                catching[host].append(caught)
            elif any(cidr_only_bypass(s.value, host) for s in settings if _is_no_proxy(s)):
                notes.append(
                    f"{where}: no_proxy excludes {host} only by a CIDR entry, which Python's "
                    "urllib and curl before 7.86 ignore; list the address itself"
                )

    agent_proxy = _agent_conf_proxy(ctx)
    if agent_proxy:
        notes.append(
            f"{WAAGENT_CONF} sets HttpProxy {_redact(agent_proxy)}: the agent uses it for "
            "extension downloads; it calls WireServer and the host plugin directly"
        )
    found = tuple(s for group in sources.values() for s in group)
    evidence = ProxyFacts(
        found, tuple(catching[target]), agent_proxy, tuple(notes), tuple(catching[imds])
    )
    caught_hosts = [host for host in hosts if catching[host]]
    if not caught_hosts:
        if found:
            finding = (
                f"proxy settings exist, but no_proxy (or the bypass list) excludes {target} "
                f"and {imds}"
            )
        else:
            finding = f"no proxy setting would catch http://{target}/ or http://{imds}/"
        return Outcome(Status.OK, finding, evidence)
    every = [s for host in caught_hosts for s in catching[host]]
    named = "; ".join(dict.fromkeys(f"{s.name}={_redact(s.value)} ({s.where})" for s in every))
    urls = " and ".join(f"http://{host}/" for host in caught_hosts)
    who = (
        "tools that honour it (curl, the manual test, scripts) do not reach the platform directly"
        if target in caught_hosts
        else "SDKs, scripts and the extensions the agent starts that honour it send IMDS "
        "requests to the proxy, which IMDS does not answer"
    )
    return Outcome(
        Status.WARN,
        f"a proxy would catch {urls}: {named}; {who}; wirecheck bypasses it",
        evidence,
        fix=_fix(every, target, imds),
    )


def _is_no_proxy(setting: ProxySetting) -> bool:
    return setting.name.lower() == "no_proxy"


def _agent_conf_proxy(ctx: CheckContext) -> str | None:
    try:
        return conf_proxy(parse_conf(ctx.system.read_text(WAAGENT_CONF)))
    except OSError:
        return None


def _fix(catching: list[ProxySetting], target: str, imds: str) -> str:
    both = f"{target},{imds}"
    where = {s.where for s in catching}
    steps = []
    if "environment" in where:
        steps.append(
            f"add {both} to no_proxy and NO_PROXY (`export no_proxy=$no_proxy,{both} "
            f"NO_PROXY=$NO_PROXY,{both}`, and where it is set: /etc/environment, profile files)"
        )
    for unit in sorted({w.split(" ")[0] for w in where if ".service" in w}):
        steps.append(
            f"`systemctl edit {unit}` and add `Environment=no_proxy={both}`, then "
            f"`systemctl restart {unit}`"
        )
    if "WinHTTP" in where:
        steps.append(
            'add them to the WinHTTP bypass list: `netsh winhttp set proxy proxy-server="<same>" '
            f'bypass-list="<local>;{target};{imds}"`'
        )
    for hive in sorted({w.split("(")[1].rstrip(")") for w in where if w.startswith("WinINET")}):
        from wirecheck.platform.wininet import INTERNET_SETTINGS  # Windows only

        steps.append(
            f"add them to WinINET's exceptions ({hive}): `reg add "
            f'"{hive}\\{INTERNET_SETTINGS}" /v ProxyOverride /t REG_SZ /d '
            f'"<existing>;{target};{imds}" /f` (`<local>` does not cover them)'
        )
    return "Exclude the platform addresses from the proxy: " + "; ".join(steps) + "."


PROXY = CheckSpec(
    "proxy",
    "No proxy in the way of the platform address",
    run_proxy,
    explain="""\
Looks for proxy settings that would send HTTP to 168.63.129.16 or to IMDS
(169.254.169.254) through a proxy: the environment's http_proxy/https_proxy/all_proxy/
no_proxy in any case, the guest agent service's environment (systemd unit, drop-ins,
EnvironmentFile; the agent passes it to the extensions it runs), HttpProxy.Host/Port in
/etc/waagent.conf, and on Windows the WinHTTP proxy and WinINET's (Internet Options: HKLM
when the ProxySettingsPerUser policy is 0, else HKCU). wirecheck's own requests never use a
proxy, so its rows show the direct path; curl, the documented manual test, scripts and SDKs
would not.
- ok: no proxy setting, or no_proxy (WinHTTP, WinINET: the bypass list) excludes both
  addresses.
- warn: a proxy would catch http://168.63.129.16/ or http://169.254.169.254/ for tools that
  honour it. WireServer and IMDS must be reached directly: a proxy cannot forward to them,
  and IMDS refuses proxied requests. A no_proxy that excludes them only by a CIDR entry is
  noted (Python's urllib and older curl ignore those).
Fix: add 168.63.129.16 and 169.254.169.254 to no_proxy and NO_PROXY (or the WinHTTP bypass
list, or WinINET's ProxyOverride); for the agent's unit, `systemctl edit walinuxagent` with
`Environment=no_proxy=168.63.129.16,169.254.169.254`.""",
    facts=ProxyFacts,
    context=True,
    cause_weight=50,
)

SPECS = (PROXY,)
