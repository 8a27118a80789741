"""The system resolver's configuration (/etc/resolv.conf) and the DNS question to ask."""

from __future__ import annotations

from dataclasses import dataclass

RESOLV_CONF = "/etc/resolv.conf"
# Asked when no DNS suffix is known: a name any resolver with internet DNS can answer.
DEFAULT_DNS_NAME = "www.microsoft.com"


@dataclass(frozen=True)
class ResolverConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> ResolverConf:
    nameservers: list[str] = []
    search: list[str] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2:
            continue
        keyword, values = words[0], words[1:]
        if keyword == "nameserver":
            nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            # The last search/domain line wins, as in glibc.
            search = [v.rstrip(".") for v in values]
    return ResolverConf(tuple(nameservers), tuple(search))


@dataclass(frozen=True)
class DnsQuestion:
    name: str
    own_name: bool  # True: the VM's own FQDN, whose answer must be one of its addresses


def choose_question(hostname: str, suffixes: tuple[str, ...], fallback: str | None) -> DnsQuestion:
    """The VM's own FQDN when a DNS suffix is known (Azure first), else `fallback`."""
    short = hostname.split(".", 1)[0]
    azure = [s for s in suffixes if s.endswith("internal.cloudapp.net")]
    for suffix in azure or list(suffixes):
        if short and suffix:
            return DnsQuestion(f"{short}.{suffix}", own_name=True)
    return DnsQuestion(fallback or DEFAULT_DNS_NAME, own_name=False)
