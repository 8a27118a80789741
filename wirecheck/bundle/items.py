"""What a support bundle collects: the facts support always asks for, declared as data.

Each item names where its output goes in the archive. Commands run without a shell;
files are read whole (configuration) or as a tail (logs); directories contribute the
files whose names match a pattern (lease files live in different places per distro).
Missing commands and files are normal (not every VM has nft or NetworkManager): the
collector records them as skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class CommandItem:
    path: str  # where the output goes in the archive
    argv: tuple[str, ...]
    root: bool = False  # gives a partial or no answer without root


@dataclass(frozen=True)
class FileItem:
    source: str
    tail: bool = False  # logs: keep the newest part


@dataclass(frozen=True)
class DirItem:
    directory: str
    pattern: str  # fnmatch pattern for the names to take
    tail: bool = False


@dataclass(frozen=True)
class EnvItem:
    path: str
    words: tuple[str, ...]  # take the variables whose name holds one of these (any case)


Item = Union[CommandItem, FileItem, DirItem, EnvItem]

AGENT_UNITS = ("walinuxagent", "waagent")  # the unit's name differs between distros
# `wirecheck watch` writes its event log (.jsonl) and JSON summary (.json) under these
# names: in its --output-dir (the current directory by default), or where the example
# systemd unit (packaging/) keeps them.
WATCH_FILES = "wirecheck-watch_*.json*"
WATCH_DIR = "/var/log/wirecheck"
PROXY_ENV = EnvItem("environment/proxy.txt", ("proxy",))


def linux_items(target: str) -> tuple[Item, ...]:
    return (
        CommandItem("network/ip-address.txt", ("ip", "-details", "address", "show")),
        CommandItem("network/ip-link-stats.txt", ("ip", "-statistics", "link", "show")),
        CommandItem("network/ip-route-all-tables.txt", ("ip", "route", "show", "table", "all")),
        CommandItem(
            "network/ip6-route-all-tables.txt", ("ip", "-6", "route", "show", "table", "all")
        ),
        CommandItem("network/ip-route-get-target.txt", ("ip", "route", "get", target)),
        CommandItem("network/ip-rule.txt", ("ip", "rule", "show")),
        CommandItem("network/ip-neighbour.txt", ("ip", "neighbour", "show")),
        CommandItem("network/ss-to-target.txt", ("ss", "-tanpi", "dst", target)),
        CommandItem("firewall/iptables-save.txt", ("iptables-save", "-c"), root=True),
        CommandItem("firewall/ip6tables-save.txt", ("ip6tables-save", "-c"), root=True),
        CommandItem(
            "firewall/iptables-security-output.txt",
            ("iptables", "-t", "security", "-L", "OUTPUT", "-nxv", "--line-numbers"),
            root=True,
        ),
        CommandItem("firewall/nft-ruleset.txt", ("nft", "list", "ruleset"), root=True),
        CommandItem(
            "firewall/firewalld-direct.txt", ("firewall-cmd", "--direct", "--get-all-rules"), True
        ),
        CommandItem("dns/resolvectl-status.txt", ("resolvectl", "status")),
        CommandItem(
            "agent/systemctl-status.txt",
            (
                "systemctl",
                "status",
                "--no-pager",
                "--lines=30",
                "walinuxagent",
                "waagent",
                "azure-proxy-agent",
            ),
        ),
        CommandItem(
            "agent/agent-unit-environment.txt",
            ("systemctl", "show", "-p", "Environment,EnvironmentFiles,DropInPaths", *AGENT_UNITS),
        ),
        CommandItem("agent/waagent-version.txt", ("waagent", "--version")),
        CommandItem("system/uname.txt", ("uname", "-a")),
        FileItem("/etc/os-release"),
        FileItem("/proc/version"),
        FileItem("/etc/hostname"),
        FileItem("/etc/hosts"),
        FileItem("/etc/resolv.conf"),
        FileItem("/run/systemd/resolve/resolv.conf"),
        FileItem("/etc/nsswitch.conf"),
        FileItem("/etc/environment"),
        FileItem("/etc/waagent.conf"),
        FileItem("/var/lib/waagent/WireServerEndpoint"),
        DirItem("/etc/systemd/system/walinuxagent.service.d", "*.conf"),
        DirItem("/etc/systemd/system/waagent.service.d", "*.conf"),
        DirItem("/var/lib/dhcp", "dhclient*.lease*"),
        DirItem("/var/lib/dhclient", "*.lease*"),
        DirItem("/run/systemd/netif/leases", "*"),
        DirItem("/var/lib/NetworkManager", "*.lease"),
        DirItem("/var/lib/wicked", "lease*"),
        FileItem("/var/log/waagent.log", tail=True),
        FileItem("/var/log/azure-proxy-agent/status.json"),
        DirItem("/var/log/azure-proxy-agent", "*.log", tail=True),
        PROXY_ENV,
    )


def windows_items(target: str) -> tuple[Item, ...]:
    netsh = "netsh"
    return (
        CommandItem("network/ipconfig-all.txt", ("ipconfig", "/all")),
        CommandItem("network/route-print.txt", ("route", "print")),
        CommandItem("network/arp.txt", ("arp", "-a")),
        CommandItem(
            "network/route-to-target.txt",
            (
                "powershell",
                "-NoProfile",
                "-NonInteractive",
                "-Command",
                f"Find-NetRoute -RemoteIPAddress {target} | Format-List",
            ),
        ),
        CommandItem(
            "firewall/advfirewall-profiles.txt", (netsh, "advfirewall", "show", "allprofiles")
        ),
        CommandItem(
            "firewall/advfirewall-rules.txt",
            (netsh, "advfirewall", "firewall", "show", "rule", "name=all", "verbose"),
        ),
        CommandItem("proxy/winhttp-proxy.txt", (netsh, "winhttp", "show", "proxy")),
        CommandItem("agent/sc-guest-agent.txt", ("sc", "query", "WindowsAzureGuestAgent")),
        CommandItem("agent/sc-rdagent.txt", ("sc", "query", "RdAgent")),
        CommandItem("agent/sc-guest-proxy-agent.txt", ("sc", "query", "GuestProxyAgent")),
        CommandItem("system/ver.txt", ("cmd", "/c", "ver")),
        FileItem(r"C:\Windows\System32\drivers\etc\hosts"),
        FileItem(r"C:\WindowsAzure\Logs\WaAppAgent.log", tail=True),
        DirItem(r"C:\WindowsAzure\ProxyAgent\Logs", "*.log", tail=True),
        PROXY_ENV,
    )


def watch_items(cwd: str) -> tuple[Item, ...]:
    """The event logs and summaries of `wirecheck watch`, when any exist (the newest part
    of a long log)."""
    places = dict.fromkeys([cwd, WATCH_DIR])
    return tuple(DirItem(place, WATCH_FILES, tail=True) for place in places)
