"""The system resolver's configuration (/etc/resolv.conf) and the DNS question to ask."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wirecheck.safe_text import printable, without_surrogates

RESOLV_CONF = "/etc/resolv.conf"
# Asked when no DNS suffix is known: a name any resolver with internet DNS can answer.
DEFAULT_DNS_NAME = "www.microsoft.com"
MAX_LABEL, MAX_NAME = 63, 253  # RFC 1035: octets per label, and per name (text form)
_LABEL = re.compile(r"[A-Za-z0-9_-]+")  # host names' letters (and the `_` some use)


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


def name_fault(name: str) -> str | None:
    """Why `name` cannot be asked in DNS (too long, an empty label, a character a host
    name cannot hold); None when it can."""
    text = name[:-1] if name.endswith(".") else name
    if not text:
        return "it is empty"
    if len(text) > MAX_NAME:
        return f"it is {len(text)} characters long (at most {MAX_NAME})"
    for label in text.split("."):
        if not label:
            return "it has an empty label (two dots in a row)"
        if len(label) > MAX_LABEL:
            return (
                f"its label {_shown(label)} is {len(label)} characters long (at most {MAX_LABEL})"
            )
        if not _LABEL.fullmatch(label):
            bad = next(c for c in label if not _LABEL.fullmatch(c))
            return f"its label {_shown(label)} holds {_shown(bad)}, which a host name cannot"
    return None


def _shown(text: str) -> str:
    return repr(printable(without_surrogates(text), 72))


@dataclass(frozen=True)
class NameProblem:
    """The VM's own name could not be asked: which name, where it came from, and why."""

    name: str  # as it would have been asked, made safe to show
    source: str  # "host name", "search domain", "host name and search domain", "--dns-name"
    reason: str

    def describe(self) -> str:
        shown = _shown(self.name)
        return f"the {self.source} gives the name {shown}, which DNS cannot ask: {self.reason}"

    @property
    def fix(self) -> str:
        limits = (
            f"each label at most {MAX_LABEL} letters, digits or hyphens, at most {MAX_NAME} "
            "characters in all"
        )
        if self.source == "host name":
            return (
                f"Give the VM a host name DNS can carry ({limits}): `hostnamectl set-hostname "
                "NAME` (on Azure the VM name sets it at creation)."
            )
        if self.source == "search domain":
            return (
                f"Correct the search domain ({limits}) where /etc/resolv.conf gets it: DHCP's "
                "domain-name, netplan's or NetworkManager's dns-search, systemd-resolved's "
                "Domains=."
            )
        if self.source == "--dns-name":
            return f"Give --dns-name a name DNS can ask ({limits})."
        return (
            f"The host name and the search domain together exceed {MAX_NAME} characters: "
            "shorten the one that should be shorter."
        )


@dataclass(frozen=True)
class DnsQuestion:
    name: str
    own_name: bool  # True: the VM's own FQDN, whose answer must be one of its addresses
    # A name that could not be asked (the VM's own, or --dns-name): this question is the
    # valid one asked instead, so DNS is still probed.
    problem: NameProblem | None = None


def choose_question(hostname: str, suffixes: tuple[str, ...], fallback: str | None) -> DnsQuestion:
    """The VM's own FQDN when a DNS suffix is known (Azure first), else `fallback`.

    A name DNS cannot carry (a label over 63 characters, a name over 253, a character no
    host name holds) is never asked: the next suffix, else `fallback`, else the default
    name is, and the question says what was wrong (`problem`).
    """
    short = hostname.split(".", 1)[0]
    azure = [s for s in suffixes if s.endswith("internal.cloudapp.net")]
    problem: NameProblem | None = None
    for suffix in azure or list(suffixes):
        if short and suffix:
            name = f"{short}.{suffix}"
            fault = name_fault(name)
            if fault is None:
                return DnsQuestion(name, own_name=True, problem=problem)
            problem = problem or NameProblem(name, _source(short, suffix), fault)
    if fallback:
        fault = name_fault(fallback)
        if fault is None:
            return DnsQuestion(fallback, own_name=False, problem=problem)
        problem = problem or NameProblem(fallback, "--dns-name", fault)
    return DnsQuestion(DEFAULT_DNS_NAME, own_name=False, problem=problem)


def _source(short: str, suffix: str) -> str:
    if name_fault(short):
        return "host name"
    if name_fault(suffix):
        return "search domain"
    return "host name and search domain"
