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
