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
    parse_env_file,
    parse_environment_files,
    parse_systemd_environment,
    proxy_variables,
)
from wirecheck.platform.waagent import WAAGENT_CONF, conf_proxy, parse_conf
from wirecheck.platform.windows import parse_winhttp_proxy, winhttp_bypassed

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

    def evidence(self) -> dict[str, Any]:
        evidence: dict[str, Any] = {
            "settings": [_shown(s) for s in self.settings],
            "catching": [_shown(s) for s in self.catching],
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
    target = ctx.config.target
    catching: list[ProxySetting] = []
    notes: list[str] = []
    sources = {"environment": proxy_variables(ctx.system.environ, "environment")}
    if ctx.system.windows:
        done = ctx.system.run_command(
            ["netsh", "winhttp", "show", "proxy"], min(COMMAND_TIMEOUT_S, ctx.deadline.remaining())
        )
        if done.ok:
            winhttp = parse_winhttp_proxy(done.stdout)
            if winhttp.server:
                setting = ProxySetting("WinHTTP", "proxy-server", winhttp.server)
                sources["WinHTTP"] = [setting]
                if not winhttp_bypassed(winhttp.bypass, target):
                    catching.append(setting)
        else:
            notes.append(f"netsh winhttp show proxy: {done.error or done.stderr.strip()}")
    else:
        unit, unit_notes = unit_settings(ctx)
        notes += unit_notes
        for setting in unit:
            sources.setdefault(setting.where, []).append(setting)
    for where, settings in sources.items():
        if where == "WinHTTP":
            continue
        caught = catching_proxy(settings, target)
        if caught is not None:
            catching.append(caught)

    agent_proxy = _agent_conf_proxy(ctx)
    if agent_proxy:
        notes.append(
            f"{WAAGENT_CONF} sets HttpProxy {_redact(agent_proxy)}: the agent uses it for "
            "extension downloads; it calls WireServer and the host plugin directly"
        )
    found = tuple(s for group in sources.values() for s in group)
    evidence = ProxyFacts(found, tuple(catching), agent_proxy, tuple(notes))
    if not catching:
        if found:
            finding = f"proxy settings exist, but no_proxy (or the bypass list) excludes {target}"
        else:
            finding = f"no proxy setting would catch http://{target}/"
        return Outcome(Status.OK, finding, evidence)
    named = "; ".join(f"{s.name}={_redact(s.value)} ({s.where})" for s in catching)
    return Outcome(
        Status.WARN,
        f"a proxy would catch http://{target}/: {named}; tools that honour it (curl, the "
        "manual test, scripts) do not reach the platform directly; wirecheck bypasses it",
        evidence,
        fix=_fix(catching, target, ctx.config.imds_address),
    )


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
    return "Exclude the platform addresses from the proxy: " + "; ".join(steps) + "."


PROXY = CheckSpec(
    "proxy",
    "No proxy in the way of the platform address",
    run_proxy,
    explain="""\
Looks for proxy settings that would send HTTP to 168.63.129.16 through a proxy: the
environment's http_proxy/https_proxy/all_proxy/no_proxy in any case, the guest agent
service's environment (systemd unit, drop-ins, EnvironmentFile), HttpProxy.Host/Port in
/etc/waagent.conf, and on Windows the WinHTTP proxy. wirecheck's own requests never use a
proxy, so its rows show the direct path; curl, the documented manual test and scripts
would not.
- ok: no proxy setting, or no_proxy (WinHTTP: the bypass list) excludes the target.
- warn: a proxy would catch http://168.63.129.16/ for tools that honour it. WireServer and
  IMDS must be reached directly: a proxy cannot forward to them.
Fix: add 168.63.129.16 and 169.254.169.254 to no_proxy and NO_PROXY (or the WinHTTP bypass
list); for the agent's unit, `systemctl edit walinuxagent` with
`Environment=no_proxy=168.63.129.16,169.254.169.254`.""",
    facts=ProxyFacts,
    context=True,
    cause_weight=50,
)

SPECS = (PROXY,)
