"""privileges: root/Administrator or not, and what that changes in the other rows."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wirecheck import advice
from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Facts, Status
from wirecheck.platform.userns import root_outside
from wirecheck.platform.waagent import (
    WAAGENT_CONF,
    firewall_enabled,
    parse_conf,
    proxy_agent_installed,
)

_AGENT_FIREWALL_EFFECT = "{drops}: a timeout here is expected and says nothing about the network"


@dataclass(frozen=True)
class PrivilegesFacts(Facts):
    root: bool
    user: str | None = None  # the effective user, when not root
    # From /etc/waagent.conf (Linux, not root): "enabled", "disabled" or "absent".
    agent_firewall: str | None = None
    agent_firewall_source: str = ""
    degraded: Mapping[str, str] = field(default_factory=dict)  # check id -> what it loses
    # Root only inside a user namespace: what uid 0 is outside it (the kernel's view).
    user_namespace: str = ""

    def evidence(self) -> dict[str, Any]:
        if self.root:
            return {"root": True}
        evidence: dict[str, Any] = {"root": False, "user": self.user}
        if self.user_namespace:
            evidence["user_namespace"] = self.user_namespace
        if self.agent_firewall is not None:
            evidence.update(
                agent_firewall=self.agent_firewall,
                agent_firewall_source=self.agent_firewall_source,
            )
        evidence["degraded"] = dict(self.degraded)
        return evidence


def effective_user(uid: int | None = None) -> str | None:
    """The name of the effective user (or of `uid`), the one the kernel and the agent's
    `--uid-owner 0` rule judge; None where there are no uids (Windows).

    Not $USER or $LOGNAME: su, sudo -E, setpriv and cron leave them naming someone else.
    """
    if uid is None:
        geteuid = getattr(os, "geteuid", None)
        if geteuid is None:
            return None
        uid = int(geteuid())
    import pwd  # POSIX only

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no passwd entry (containers, setpriv to a bare number)
        return f"uid {uid}"


def agent_firewall_state(ctx: CheckContext) -> tuple[str, str]:
    """("enabled" | "disabled" | "absent", why), from /etc/waagent.conf.

    The rules themselves are readable only by root, so a non-root run judges by the
    agent's configuration: OS.EnableFirewall=y (off when missing, as in the agent).
    """
    try:
        conf = parse_conf(ctx.system.read_text(WAAGENT_CONF))
    except OSError:
        return "absent", f"no {WAAGENT_CONF}: the Linux guest agent is not installed here"
    setting = conf.get("OS.EnableFirewall", "not set (the agent's default: off)")
    state = "enabled" if firewall_enabled(conf) else "disabled"
    return state, f"{WAAGENT_CONF}: OS.EnableFirewall={setting}"


def run_privileges(
    ctx: CheckContext, user_name: Callable[[], str | None] = effective_user
) -> Outcome:
    windows = ctx.system.windows
    who = "Administrator" if windows else "root"
    namespace = ""
    if ctx.system.is_root():
        outside, namespace = (True, "") if windows else root_outside(ctx.system)
        if outside:
            return Outcome(
                Status.OK,
                f"running as {who}: every check runs at full strength",
                PrivilegesFacts(True),
            )
    # Windows has no uid: the logon name is the account (elevation keeps it).
    user = ctx.system.environ.get("USERNAME") if windows else user_name()
    if namespace:
        user = f"{user or 'root'} inside a user namespace"
    state, why = (None, "") if windows else agent_firewall_state(ctx)
    proxy_agent = not windows and proxy_agent_installed(ctx.system.read_text)
    degraded = degradations(ctx, windows, proxy_agent, state == "enabled")
    facts = PrivilegesFacts(False, user, state, why, degraded, namespace)
    effects = ", ".join(degraded) or "no check in this run"
    finding = f"not running as {who}{f' ({user})' if user else ''}: degraded: {effects}"
    if state == "enabled":
        finding += "; TCP 80/32526 timeouts are expected (the guest agent's firewall)"
    if namespace:
        finding += f"; {namespace}"
    return Outcome(
        Status.WARN,
        finding,
        facts,
        fix="Run as Administrator (an elevated prompt)."
        if windows
        else advice.RUN_AS_REAL_ROOT
        if namespace
        else advice.RUN_AS_ROOT,
    )


def degradations(
    ctx: CheckContext, windows: bool, proxy_agent: bool, agent_firewall: bool
) -> dict[str, str]:
    """What running without root costs each check of this run, from their specs."""
    found: dict[str, list[str]] = {}
    for spec in ctx.specs.values():
        for cost in spec.without_root:
            if cost.windows == windows and (proxy_agent or not cost.only_with_proxy_agent):
                found.setdefault(spec.id, []).append(cost.text)
        if agent_firewall and spec.probe and spec.sends_tcp_to_target_beyond_dns():
            drops = advice.agent_firewall_drops_non_root(ctx.config.target)
            found.setdefault(spec.id, []).append(_AGENT_FIREWALL_EFFECT.format(drops=drops))
    return {check_id: "; ".join(texts) for check_id, texts in found.items()}


PRIVILEGES = CheckSpec(
    "privileges",
    "Running as root / Administrator",
    run_privileges,
    explain="""\
Says whether wirecheck runs as root (Linux) or Administrator (Windows), and which other
rows are weaker without it.
- ok: root/Administrator; every check runs at full strength.
- warn: not root. On Linux the guest agent's firewall (OS.EnableFirewall=y in
  /etc/waagent.conf, as distributions ship it) drops TCP to 168.63.129.16 from any user but root, so
  tcp-80, tcp-32526 and wire-versions time out for a non-root user: that is expected, not a
  network fault. DNS (UDP and TCP 53) stays allowed. Raw-SYN traceroute (the way past a
  GuestProxyAgent), SYN capture and reading the firewall rules with their counters also
  need root.
Fix: run `sudo wirecheck` (Windows: an elevated prompt).""",
    facts=PrivilegesFacts,
    context=True,
)

SPECS = (PRIVILEGES,)
