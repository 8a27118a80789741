"""Advice that several checks and the diagnosis give, written once."""

from __future__ import annotations


def find_rule(*words: object) -> str:
    """The commands that list the local firewall rules mentioning `words` (an address, a
    port, "'dport 53'"), with their counters."""
    pattern = " ".join(f"-e {w}" for w in words) if len(words) > 1 else str(words[0])
    return f"`iptables-save -c | grep {pattern}` and `nft list ruleset`"


RUN_AS_ROOT = "Run as root: `sudo wirecheck`."


def agent_firewall_drops_non_root(target: str) -> str:
    return f"the Azure guest agent's firewall drops TCP to {target} from non-root users"


def windows_local_block(target: str, ports: str = "80 and 32526") -> str:
    """What to do when Windows refused a connection to the platform (WSAEACCES)."""
    return (
        "Find what blocks it: `netsh advfirewall show allprofiles` (a Firewall Policy of "
        "...,BlockOutbound needs an allow rule), `netsh advfirewall firewall show rule name=all "
        f"dir=out` (block rules), `netsh wfp show filters dir=OUT remoteaddr={target}` (filters "
        "of a VPN client, an EDR or security product); then allow TCP "
        f'{ports} to {target} outbound (`netsh advfirewall firewall add rule name="Azure '
        f'platform" dir=out action=allow protocol=TCP remoteip={target} '
        "remoteport=80,32526`), or remove the filter through the software that owns it."
    )
