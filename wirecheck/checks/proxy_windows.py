"""proxy on Windows: the WinHTTP proxy and WinINET's (HKLM, HKCU, and the policy that picks
one), from `netsh winhttp show proxy` and `reg query`; imported only on Windows."""

from __future__ import annotations

from collections.abc import Callable

from wirecheck.checks.base import CheckContext
from wirecheck.checks.proxy import COMMAND_TIMEOUT_S
from wirecheck.net.parallel import gather
from wirecheck.platform.proxy import ProxySetting
from wirecheck.platform.windows import parse_winhttp_proxy, winhttp_bypassed
from wirecheck.platform.wininet import (
    HKCU_SETTINGS,
    HKLM_SETTINGS,
    NOT_FOUND,
    POLICY_SETTINGS,
    WinInetProxy,
    catches,
    parse_reg_query,
    per_machine,
    values_of,
    wininet_proxy,
)
from wirecheck.system import CommandResult, why_not

Applies = Callable[[str], bool]


def windows_proxies(
    ctx: CheckContext, notes: list[str]
) -> list[tuple[str, list[ProxySetting], Applies]]:
    """WinHTTP's proxy and WinINET's (HKLM, HKCU and the policy that picks one), each with
    the test of whether it catches a host."""
    timeout = min(COMMAND_TIMEOUT_S, ctx.deadline.remaining())
    commands = {
        "winhttp": ["netsh", "winhttp", "show", "proxy"],
        "hklm": ["reg", "query", HKLM_SETTINGS],
        "hkcu": ["reg", "query", HKCU_SETTINGS],
        "policy": ["reg", "query", POLICY_SETTINGS, "/v", "ProxySettingsPerUser"],
    }
    done = gather(
        {key: _command(ctx, argv, timeout) for key, argv in commands.items()}, ctx.deadline
    )
    found: list[tuple[str, list[ProxySetting], Applies]] = []
    winhttp = done["winhttp"]
    if isinstance(winhttp, CommandResult) and winhttp.ok:
        parsed = parse_winhttp_proxy(winhttp.stdout)
        if parsed.server:
            setting = ProxySetting("WinHTTP", "proxy-server", parsed.server)
            found.append(
                ("WinHTTP", [setting], lambda host: not winhttp_bypassed(parsed.bypass, host))
            )
    else:
        notes.append(f"netsh winhttp show proxy: {why_not(winhttp)}")
    keys = {}
    for key in ("hklm", "hkcu", "policy"):
        result = done[key]
        text = result.stdout if isinstance(result, CommandResult) and result.ok else ""
        keys[key] = parse_reg_query(text)
        if isinstance(result, CommandResult) and not result.ok and NOT_FOUND not in _out(result):
            notes.append(f"reg query {commands[key][2]}: {why_not(result)}")
    machine_wide = per_machine(values_of(keys["policy"], POLICY_SETTINGS))
    notes.append(
        "WinINET: ProxySettingsPerUser=0, the HKLM settings apply to every user"
        if machine_wide
        else "WinINET: per-user settings (HKCU, here the user running wirecheck; the agent "
        "runs as SYSTEM)"
    )
    for key, settings_key, label in (
        ("hklm", HKLM_SETTINGS, "WinINET (HKLM)"),
        ("hkcu", HKCU_SETTINGS, "WinINET (HKCU)"),
    ):
        proxy = wininet_proxy(values_of(keys[key], settings_key), label)
        if proxy is None or not proxy.enabled:
            continue
        applies = (key == "hklm") == machine_wide
        setting = ProxySetting(label, "ProxyServer", proxy.server)
        found.append((label, [setting], _wininet_test(proxy, applies)))
    return found


def _wininet_test(proxy: WinInetProxy, applies: bool) -> Applies:
    return lambda host: applies and catches(proxy, host)


def _command(ctx: CheckContext, argv: list[str], timeout: float) -> Callable[[], CommandResult]:
    return lambda: ctx.system.run_command(argv, timeout)


def _out(result: CommandResult) -> str:
    return f"{result.stdout} {result.stderr}"
