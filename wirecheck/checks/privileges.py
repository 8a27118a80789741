"""privileges: root/Administrator or not, and what that changes in the other rows."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from wirecheck.checks.base import CheckContext, CheckSpec, Outcome
from wirecheck.model import Status
from wirecheck.platform.waagent import (
    WAAGENT_CONF,
    firewall_enabled,
    parse_conf,
    proxy_agent_installed,
)

# What running without root costs each check on Linux (DESIGN 3, 8).
_LINUX_DEGRADED = {
    "egress-nic": "no packet capture: the interface comes from the route lookup and socket only",
    "firewall": "iptables and nft rules and their counters can be read only by root",
}
# Only where the GuestProxyAgent is: root would trace with raw SYNs that it cannot redirect.
_TRACE_DEGRADED = {
    "trace-80": "only the kernel engine runs: no raw SYNs past the GuestProxyAgent",
    "trace-32526": "only the kernel engine runs: no raw SYNs past the GuestProxyAgent",
}
_AGENT_FIREWALL_EFFECT = (
    "the guest agent's firewall drops TCP to {target} from non-root users: a timeout here "
    "is expected and says nothing about the network"
)
_WINDOWS_DEGRADED = {
    "egress-nic": "no packet capture without Administrator",
}


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
    ctx: CheckContext,
    platform_name: str = sys.platform,
    user_name: Callable[[], str | None] = effective_user,
) -> Outcome:
    windows = platform_name == "win32"
    who = "Administrator" if windows else "root"
    if ctx.system.is_root():
        return Outcome(
            Status.OK,
            f"running as {who}: every check runs at full strength",
            {"root": True},
        )
    # Windows has no uid: the logon name is the account (elevation keeps it).
    user = ctx.system.environ.get("USERNAME") if windows else user_name()
    evidence: dict[str, object] = {"root": False, "user": user}
    degraded = dict(_WINDOWS_DEGRADED if windows else _LINUX_DEGRADED)
    if not windows:
        if proxy_agent_installed(ctx.system.read_text):
            degraded.update(_TRACE_DEGRADED)
        state, why = agent_firewall_state(ctx)
        evidence.update(agent_firewall=state, agent_firewall_source=why)
        if state == "enabled":
            effect = _AGENT_FIREWALL_EFFECT.format(target=ctx.config.target)
            for check_id in ("tcp-80", "tcp-32526", "wire-versions"):
                degraded[check_id] = effect
    shown = {k: v for k, v in degraded.items() if not ctx.planned or k in ctx.planned}
    evidence["degraded"] = shown
    effects = ", ".join(shown) or "no check in this run"
    finding = f"not running as {who}{f' ({user})' if user else ''}: degraded: {effects}"
    if evidence.get("agent_firewall") == "enabled":
        finding += "; TCP 80/32526 timeouts are expected (the guest agent's firewall)"
    return Outcome(
        Status.WARN,
        finding,
        evidence,
        fix="Run as Administrator (an elevated prompt)."
        if windows
        else "Run as root: `sudo wirecheck`.",
    )


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
    context=True,
)
