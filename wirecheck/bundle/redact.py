"""Redaction, its own stage: what identifies the customer becomes a stable token.

Replaced: secrets (`secret_rules`: named settings, headers, flags, query parameters and XML
elements, URL credentials, JWTs, bearer tokens, private key bodies, long random runs),
GUIDs, public IPv4 addresses (also written with dashes inside host names, and as
in-addr.arpa names), IPv6 addresses, MAC addresses (also in IMDS's 12-digit form and
inside DHCP client ids), host names and FQDNs (the machine's own name also inside resource
names: `vm7_OsDisk_1_...`, `vm7-nic`), the customer's labels under Azure service suffixes
(`name.servicebus.windows.net`), resource group, storage account and resource names, user
names and e-mail addresses; percent-encoded text is decoded to be looked at.
Kept, because support needs them and they identify no one: private IPv4 (RFC 1918, CGNAT,
loopback, link-local, multicast, netmasks), the platform addresses 168.63.129.16 and
169.254.169.254, version numbers that look like addresses (`Agent Version: 2.14.0.1`,
`WALinuxAgent-2.14.0.1`), vendor and platform names (microsoft.com, management.azure.com)
and Azure's service suffixes alone (`.blob.core.windows.net` in no_proxy).

The same value gets the same token everywhere in one bundle: one `Redactor` sees every
text, first to learn (`learn`) the names that only context reveals (resolv.conf search
domains, lease domain names, the hostname, /etc/hosts names, proxy hosts, no_proxy
domains, resource groups, storage accounts, the admin user), then to replace (`text`).
Every pattern is linear in the length of its text. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from wirecheck.addresses import is_ip
from wirecheck.bundle.name_rules import (
    KEEP_HOSTS,
    kept_name,
    looks_like_tld,
    registered_domain,
    service_split,
    words,
)
from wirecheck.bundle.secret_rules import (
    redact_key_blocks,
    redact_long_runs,
    redact_secrets,
    run_end,
)
from wirecheck.bundle.tokens import TOKEN_PREFIX, TokenBook
from wirecheck.bundle.words import WordFinder
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Cause, CheckResult, Report

__all__ = ["KEEP_IPV4", "KEPT_V4_NETWORKS", "TOKEN_PREFIX", "Redactor"]

KEEP_IPV4 = frozenset({PLATFORM_ADDRESS, IMDS_ADDRESS})
# Addresses that name nothing outside the VM's own network: kept, support needs them.
KEPT_V4_NETWORKS = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # shared address space (CGNAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # loopback, link-local
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",  # "this network", multicast, reserved and broadcast (masks too)
    )
)
SHORT_HOST = 3  # host names this short are matched case-sensitively (see Redactor._hosts_re)
NIL_GUID = "00000000-0000-0000-0000-000000000000"
# Names that are defaults or plain words, not the customer's choice: never learned as
# the customer's names, so they stay readable everywhere.
GENERIC_NAMES = words(
    "default primary secondary ipconfig ipconfig1 ipconfig2 osdisk datadisk nic vnet subnet "
    "frontend backend public private internal external test dev prod production staging "
    "root nobody daemon syslog admin administrator user users guest azureuser ubuntu centos "
    "redhat debian git postmaster noreply no-reply"
)

# (A pattern that starts with a character or a set of them, not a lookbehind, is searched
# several times faster on long texts: the lookbehind follows the first character.)
_GUID = re.compile(
    r"[0-9A-Fa-f](?<![0-9A-Za-z][0-9A-Fa-f])[0-9A-Fa-f]{7}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"(?![0-9A-Za-z])"
)
# A run that holds percent escapes: decoded, looked at, and written back decoded only when
# something in it was replaced.
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_URL_CHARS = re.compile(r"[\w.~%-]*")
_EMAIL = re.compile(
    r"(?<![\w.%+-])(?P<local>[\w.%+-]{1,64})@"
    r"(?=[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)
# Not after `user:password` (URL credentials, not an address).
_EMAIL_DOMAIN = re.compile(
    r"(?<![\w.%+:/-])[\w.%+-]{1,64}@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b"
)
_CLIENT_ID = re.compile(
    r"(?i)(?P<key>\b(?:CLIENTID|DUID|IAID|dhcp-client-identifier|client-id)\b\"?\s*[=:\s]\s*\"?)"
    r"(?P<value>[0-9a-f:]{8,})"
)
_REVERSE_V4 = re.compile(
    r"(?i)(?<![\w.-])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa"
)
# A DNS name; it may follow a lone dot (`.contoso.com` in no_proxy).
_NAME = re.compile(
    r"(?:(?<![\w.-])|(?<=\.)(?<![\w-]\.))((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?![\w-]|\.[A-Za-z0-9])"
)
# Names the customer chose, where their context says so.
_NAME_CONTEXT = re.compile(
    r"(?P<pre>/(?i:resourceGroups/)|[Aa](?<!\w[Aa])(?i:ccountName\s*=\s*|ZURE_STORAGE_ACCOUNT=)"
    r"|--(?i:account-name|resource-group)[ =]|[Ss](?<!\w[Ss])(?i:torage\.Account=)"
    r"|\"(?i:resourceGroupName|vmScaleSetName|storageAccountName|resourceGroup)\"\s*:\s*\")"
    r"(?P<name>[\w().-]{1,90})"
)
# `/providers/Microsoft.Network/networkInterfaces/vm7-nic/ipConfigurations/ipconfig1`:
# after the namespace, types and names alternate.
_RESOURCE_PATH = re.compile(r"(?i)/providers/(?P<path>[\w.]+(?:/[\w.()-]+)+)")
_TAGS = re.compile(r"(?i)(?P<pre>\"tags\"\s*:\s*\")(?P<value>[^\"\n]*)\"")
# `ip-20-51-7-193`, `20-51-7-193.example`: an address inside a host name.
_DASHED_V4 = re.compile(r"(\d(?<!\d\d)(?<!\d-\d)\d{0,2})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?!\d)")
# Not followed by `.in-addr.arpa`: reverse names were handled (the right way round) above.
_IPV4 = re.compile(r"(\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3})(?![\w]|\.\d|(?i:\.in-addr\.arpa))")
# What makes an address-looking number a version: `Version: 2.14.0.1`, `agent: 2.14.0.1`,
# `WALinuxAgent-2.14.0.1`, `Microsoft.Azure.Foo-1.2.3.4`; not `edge-52.170.77.88`.
_VERSION_BEFORE = re.compile(
    r"(?i)(?:version|ver\.?|\bv|agent)[\"']?\s*[:=]?\s*[\"']?$|agent-$|\.[A-Za-z][\w]*-$"
)
_IPV6 = re.compile(r"(?<![\w:.%-])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:])")
_HEX2 = "[0-9a-fA-F](?<![0-9a-fA-F:-][0-9a-fA-F])[0-9a-fA-F]"  # a run's first two hex digits
_MAC = re.compile(
    rf"({_HEX2}(?::[0-9a-fA-F]{{2}}){{5,19}}|{_HEX2}(?:-[0-9a-fA-F]{{2}}){{5}})(?![0-9a-fA-F:-])"
)
_MAC_KEYED = re.compile(r"(?i)(?P<key>mac\w*\"?'?\s*[=:]\s*\"?'?)(?P<value>[0-9a-f]{12})\b")

# What context reveals as a name to hide (the generic FQDN rule cannot see these). Each
# pattern comes with words one of which its text must hold (lower case): a cheap look
# spares the pattern's run over texts that cannot match.
_LEARN_DOMAINS = (
    (("search", "domain"), re.compile(r"(?im)^\s*(?:search|domain)\s+([^#\n]+)")),
    (("domain-",), re.compile(r"(?i)option\s+domain-(?:name|search)\s+([^;\n]+);")),
    (
        ("domainname", "domain_search_list", "domains="),
        re.compile(r"(?im)^\s*(?:DOMAINNAME|DOMAIN_SEARCH_LIST|DOMAINS)=(.+)$"),
    ),
    (
        ("dns suffix",),
        re.compile(
            r"(?im)^\s*(?:Primary Dns Suffix|DNS Suffix Search List|Connection-specific DNS Suffix)"
            r"[ .]*:\s*(\S+)"
        ),
    ),
    (
        ("dns domain", "dns-search"),
        re.compile(r"(?im)^\s*(?:DNS Domain|dns-search)\s*[:=]\s*(.+)$"),
    ),
)
_NO_PROXY = re.compile(r"(?i)\bno_proxy\s*=\s*[\"']?([^\s\"']+)")
# This machine's own names: matched inside resource names too.
_LEARN_OWN_HOSTS = (
    (("host-name",), re.compile(r"(?i)option\s+host-name\s+\"?([^;\n\"]+)")),
    (("hostname=",), re.compile(r"(?im)^\s*HOSTNAME=(.+)$")),
    (("host name",), re.compile(r"(?im)^\s*Host Name[ .]*:\s*(\S+)")),
    (("hostname>",), re.compile(r"(?i)<(?:\w+:)?HostName>([^<]+)</")),
    (("computername",), re.compile(r"(?i)\"computerName\"\s*:\s*\"([^\"]+)\"")),
    (("/virtualmachines/",), re.compile(r"(?i)/virtualMachines/([\w.-]+)")),
)
# Names of other machines (proxies): their domains are learned, not their first label, which
# is often a plain word ("proxy") that must stay readable everywhere else.
_LEARN_FQDNS = (
    (("httpproxy.host",), re.compile(r"(?im)^\s*HttpProxy\.Host\s*=\s*(\S+)")),
    (("proxy",), re.compile(r"(?i)proxy[^\n]*?://(?:[^@/\s]+@)?([A-Za-z0-9.-]+)")),
)
_LEARN_USERS = (
    (("username>",), re.compile(r"(?i)<(?:\w+:)?UserName>([^<]+)</")),
    (("adminusername",), re.compile(r"(?i)\"adminUsername\"\s*:\s*\"([^\"]+)\"")),
    (("/home/",), re.compile(r"/home/([a-z_][a-z0-9_.-]{0,31})(?=/)")),
)


class Redactor:
    def __init__(self) -> None:
        self.book = TokenBook()
        self._domains: set[str] = set()  # learned, lower case
        self._own_hosts: set[str] = set()  # this machine's names, lower case
        self._hosts: set[str] = set()  # other learned single-label host names, lower case
        self._names: set[str] = set()  # the customer's Azure names, lower case
        self._users: set[str] = set()
        self._macs: set[str] = set()  # learned, 12 lower-case hex digits
        self._compiled: dict[str, WordFinder | None] = {}

    # -- tokens -------------------------------------------------------------------------

    def token(self, kind: str, value: str, canonical: str | None = None) -> str:
        """The token for `value`: the same value always gets the same token."""
        return self.book.token(kind, value, canonical)

    @property
    def counts(self) -> dict[str, int]:
        """How many distinct values of each kind were replaced (for the manifest)."""
        return self.book.counts

    # -- learning -----------------------------------------------------------------------

    def add_hostname(self, name: str, own: bool = True) -> None:
        """A host's name, short or fully qualified; `own`: this machine's."""
        name = name.strip().strip(".\"'").lower()
        if not name or name in KEEP_HOSTS or is_ip(name):
            return
        short, _, domain = name.partition(".")
        if len(short) >= 2 and re.search(r"[a-z]", short) and short not in GENERIC_NAMES:
            (self._own_hosts if own else self._hosts).add(short)
            self._compiled.clear()
        if domain:
            self._add_domain(domain)

    def add_hosts_file(self, text: str) -> None:
        """Names in an /etc/hosts file (each line: address, then names)."""
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            for name in fields[1:]:
                if name.lower() not in KEEP_HOSTS:
                    self.add_hostname(name, own=False)

    def learn_file(self, path: str, text: str) -> None:
        """`learn`, plus what the file's name says of it: /etc/hosts lists host names,
        /etc/hostname holds this machine's."""
        path = path.replace("\\", "/")
        if path.endswith("/etc/hosts"):
            self.add_hosts_file(text)
        elif path.endswith("/etc/hostname"):
            self.add_hostname(text.strip())
        self.learn(text)

    def learn(self, text: str) -> None:
        """Collect names and MACs that only context reveals, before any replacing."""
        lowered = text.lower()
        for found in _found(_LEARN_DOMAINS, text, lowered):
            for value in re.split(r"[\s,;\"']+", found):
                self._add_domain(value)
        if "no_proxy" in lowered:
            for match in _NO_PROXY.finditer(text):
                for entry in match.group(1).split(","):
                    if entry.startswith((".", "*")):
                        self._add_domain(entry.lstrip("*."))
                    else:
                        self._learn_fqdn(entry.strip().lower())
        for found in _found(_LEARN_OWN_HOSTS, text, lowered):
            self.add_hostname(found)
        for found in _found(_LEARN_FQDNS, text, lowered):
            labels = found.strip(".").lower().split(".")
            if len(labels) >= 2 and not is_ip(".".join(labels)):
                self._add_domain(".".join(labels[1:] if len(labels) >= 3 else labels))
        for found in _found(_LEARN_USERS, text, lowered):
            self._add_word(self._users, found)
        for match in _NAME_CONTEXT.finditer(text):
            self._add_word(self._names, match.group("name"))
        if "/providers/" in lowered:
            for match in _RESOURCE_PATH.finditer(text):
                for name in match.group("path").split("/")[2::2]:
                    self._add_word(self._names, name)
        for match in _NAME.finditer(text):
            self._learn_fqdn(match.group(1).lower())
        if "@" in text:  # an e-mail address's domain is its owner's
            for match in _EMAIL_DOMAIN.finditer(text):
                self._add_domain(match.group(1))
        for match in _MAC.finditer(text):
            self._add_mac(match.group(1))
        if "mac" in lowered:
            for match in _MAC_KEYED.finditer(text):
                self._add_mac(match.group("value"))

    def learn_report(self, report: Report) -> None:
        for text in _report_strings(report):
            self.learn(text)

    def _add_domain(self, value: str) -> None:
        value = value.strip().strip(".").lower()
        if value.count(".") < 1 or is_ip(value) or kept_name(value):
            return
        split = service_split(value)
        if split is not None and not split[0]:
            return  # a service suffix alone
        self._domains.add(value)
        self._compiled.clear()

    def _learn_fqdn(self, name: str) -> None:
        """A name of 3 labels or more under a TLD: its registered domain is the customer's."""
        labels = name.split(".")
        if len(labels) < 3 or not looks_like_tld(labels[-1]) or kept_name(name):
            return
        if service_split(name) is not None or any(TOKEN_PREFIX.lower() in x for x in labels):
            return
        size = registered_domain(labels)
        if len(labels) > size:
            self._add_domain(".".join(labels[-size:]))

    def _add_word(self, words: set[str], value: str) -> None:
        value = value.strip().strip(".\"'").lower()
        if (
            len(value) >= 3
            and not value.startswith(TOKEN_PREFIX.lower())
            and value not in GENERIC_NAMES
            and not re.fullmatch(r"[\d.]+|ipconfig\d*", value)
            and not any(host in value for host in self._own_hosts)
        ):
            words.add(value)
            self._compiled.clear()

    def _add_mac(self, value: str) -> None:
        compact = re.sub(r"[^0-9a-f]", "", value.lower())
        if len(compact) == 12 and compact not in ("000000000000", "ffffffffffff"):
            self._macs.add(compact)

    # -- replacing ----------------------------------------------------------------------

    def text(self, text: str, where: str = "") -> str:
        """`text` with everything that identifies the customer replaced; replacements are
        counted against `where` (a file name in the archive) for the manifest."""
        self.book.where = where
        try:
            if "-----" in text:
                text = redact_key_blocks(text, self.token)
            if "%" in text:
                text = self._percent_runs(text)
            return self._plain(text)
        finally:
            self.book.where = ""

    def _plain(self, text: str) -> str:
        text = redact_secrets(text, self.token)
        lowered = text.lower()  # for cheap looks before the rules that need a word
        if any(word in lowered for word in ("clientid", "duid", "iaid", "client-id")):
            text = _CLIENT_ID.sub(
                lambda m: m.group("key") + self.token("ID", m.group("value")), text
            )
        text = _GUID.sub(self._guid, text)
        text = redact_long_runs(text, self.token)
        if "@" in text:
            text = _EMAIL.sub(self._email, text)
        if '"tags"' in lowered:
            text = _TAGS.sub(self._tags, text)
        if "in-addr.arpa" in lowered:
            text = _REVERSE_V4.sub(self._reverse_name, text)
        text = _NAME.sub(self._name, text)
        text = self._learned(text)
        text = _NAME_CONTEXT.sub(self._name_in_context, text)
        if "/providers/" in text or "/PROVIDERS/" in text:
            text = _RESOURCE_PATH.sub(self._resource_path, text)
        text = _DASHED_V4.sub(self._dashed_ipv4, text)
        text = _IPV4.sub(self._ipv4, text)
        text = _IPV6.sub(self._ipv6, text)
        text = _MAC.sub(self._mac, text)
        if "mac" in lowered:
            text = _MAC_KEYED.sub(
                lambda m: m.group("key") + self._mac_token(m.group("value")), text
            )
        known = self._finder("macs")
        if known is not None:
            text = known.sub(self._mac_token, text)
        return text

    def _learned(self, text: str) -> str:
        """The names learned from context, wherever they stand."""
        for which, kind in (
            ("own", "HOST"),
            ("hosts", "HOST"),
            ("short", "HOST"),
            ("names", "NAME"),
            ("users", "USER"),
        ):
            finder = self._finder(which)
            if finder is not None:
                text = finder.sub(self._replacer(kind), text)
        return text

    def _replacer(self, kind: str) -> Callable[[str], str]:
        return lambda word: self.token(kind, word)

    def _finder(self, which: str) -> WordFinder | None:
        """The finder for one set of learned words (rebuilt after learning)."""
        if which not in self._compiled:
            self._compiled[which] = self._build(which)
        return self._compiled[which]

    def _build(self, which: str) -> WordFinder | None:
        # This machine's names stand inside resource names (`vm7_OsDisk_1`, `vm7-nic`), so
        # only a letter or digit around them ends the match; other hosts need a whole word.
        # Short names ("vm") are matched in their own case only, so that a "VM" in a
        # sentence stays readable; longer ones in any case, as DNS compares them.
        alnum, name, name_end = "[A-Za-z0-9]", r"[\w.-]", r"[\w-]"
        if which == "own":
            words = {h for h in self._own_hosts if len(h) > SHORT_HOST}
            return _finder(words, True, alnum, alnum)
        if which == "hosts":
            words = {h for h in self._hosts - self._own_hosts if len(h) > SHORT_HOST}
            return _finder(words, True, name, name_end)
        if which == "short":
            words = {h for h in self._hosts | self._own_hosts if len(h) <= SHORT_HOST}
            return _finder(words, False, name, name_end)
        if which == "names":
            return _finder(self._names, True, alnum, alnum)
        if which == "users":
            return _finder(self._users, False, "[A-Za-z0-9_.-]", "[A-Za-z0-9_-]")
        # MACs in their compact form, wherever they stand (`RD000D3A4B5C6D`)
        return _finder(self._macs, True, "", "")

    def value(self, value: Any, where: str = "") -> Any:
        """A JSON-compatible value with every string redacted (mapping keys are ours: kept)."""
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, Mapping):
            return {key: self.value(item, where) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item, where) for item in value]
        return value

    def report(self, report: Report, where: str = "") -> Report:
        results = tuple(
            dataclasses.replace(
                r,
                finding=self.text(r.finding, where),
                evidence=self.value(dict(r.evidence), where),
                fix=self.text(r.fix, where) if r.fix else r.fix,
            )
            for r in report.results
        )
        causes = tuple(
            Cause(
                summary=self.text(c.summary, where),
                fix=self.text(c.fix, where),
                evidence=tuple(self.text(e, where) for e in c.evidence),
                checks=c.checks,
            )
            for c in report.causes
        )
        return dataclasses.replace(
            report,
            target=self.text(report.target, where),
            results=results,
            causes=causes,
            facts=self.value(dict(report.facts), where),
        )

    # -- one pattern each ---------------------------------------------------------------

    def _percent_runs(self, text: str) -> str:
        """Each run of URL characters that holds a percent escape, decoded and looked at;
        written back decoded only when something in it was replaced."""
        pieces: list[str] = []
        done = 0
        position = 0
        while True:
            escape = _PERCENT.search(text, position)
            if escape is None:
                break
            start = escape.start()
            while start > done and _url_char(text[start - 1]):
                start -= 1
            end = run_end(_URL_CHARS, text, escape.start())
            run = text[start:end]
            redacted = self._plain(unquote(run))
            if redacted != unquote(run):
                pieces += [text[done:start], redacted]
                done = end
            position = end
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def _guid(self, match: re.Match[str]) -> str:
        guid = match.group()
        return guid if guid == NIL_GUID else self.token("GUID", guid)

    def _email(self, match: re.Match[str]) -> str:
        local = match.group("local")
        if local.startswith(TOKEN_PREFIX) or local.lower() in GENERIC_NAMES:
            return match.group()
        return self.token("USER", local) + "@"

    def _tags(self, match: re.Match[str]) -> str:
        parts = []
        for tag in match.group("value").split(";"):
            name, colon, value = tag.partition(":")
            keep = not value or value.startswith(TOKEN_PREFIX)
            parts.append(tag if keep else f"{name}{colon}{self.token('NAME', value)}")
        return f'{match.group("pre")}{";".join(parts)}"'

    def _reverse_name(self, match: re.Match[str]) -> str:
        address = ".".join(reversed(match.groups()))
        if not _public_v4(address):
            return match.group()
        return f"{self.token('IP', address)}.in-addr.arpa"

    def _name(self, match: re.Match[str]) -> str:
        name = match.group(1)
        lower = name.lower()
        labels = lower.split(".")
        if any(label.startswith(TOKEN_PREFIX.lower()) for label in labels) or lower in KEEP_HOSTS:
            return name
        split = service_split(lower)
        if split is not None:
            unique, suffix = split
            return self._under_suffix(unique, suffix) if unique else name
        if kept_name(lower):
            return name
        for domain in self._domains_longest_first():
            if lower == domain:
                return self.token("DOMAIN", domain)
            if lower.endswith("." + domain):
                host = lower[: -len(domain) - 1]
                return f"{self._host_token(host)}.{self.token('DOMAIN', domain)}"
        if len(labels) >= 3 and looks_like_tld(labels[-1]):
            # The registered domain is the last two labels, three under `co.uk`-style
            # second levels; what is in front of it names one machine.
            size = registered_domain(labels)
            if len(labels) > size:
                domain = ".".join(labels[-size:])
                self._domains.add(domain)
                self._compiled.clear()
                host = ".".join(labels[:-size])
                return f"{self._host_token(host)}.{self.token('DOMAIN', domain)}"
        return name

    def _domains_longest_first(self) -> list[str]:
        return sorted(self._domains, key=len, reverse=True)

    def _under_suffix(self, unique: str, suffix: str) -> str:
        if suffix == "internal.cloudapp.net":
            for domain in self._domains_longest_first():
                if domain.endswith("." + suffix):
                    mine = domain[: -len(suffix) - 1]
                    if unique == mine:
                        return f"{self.token('DOMAIN', mine)}.{suffix}"
                    if unique.endswith("." + mine):
                        host = unique[: -len(mine) - 1]
                        return f"{self._host_token(host)}.{self.token('DOMAIN', mine)}.{suffix}"
            labels = unique.split(".")
            if len(labels) >= 3:
                # <host>.<random>.<region code>.internal.cloudapp.net
                host, mine = ".".join(labels[:-2]), ".".join(labels[-2:])
                return f"{self._host_token(host)}.{self.token('DOMAIN', mine)}.{suffix}"
            return f"{self.token('DOMAIN', unique)}.{suffix}"
        return f"{self._label_token(unique)}.{suffix}"

    def _host_token(self, host: str) -> str:
        return self.token("HOST", host)

    def _label_token(self, label: str) -> str:
        """A label the customer chose under a service suffix: the host's token when it is
        one of the machine's names, else a NAME (a storage account, a namespace)."""
        if label in self._own_hosts or label in self._hosts:
            return self.token("HOST", label)
        return self.token("NAME", label)

    def _name_in_context(self, match: re.Match[str]) -> str:
        name = match.group("name")
        if name.startswith(TOKEN_PREFIX) or name.lower() in GENERIC_NAMES:
            return match.group()
        return match.group("pre") + self._label_token(name.lower())

    def _resource_path(self, match: re.Match[str]) -> str:
        segments = match.group("path").split("/")
        for index in range(2, len(segments), 2):
            name = segments[index]
            lower = name.lower()
            if name.startswith(TOKEN_PREFIX) or lower in GENERIC_NAMES:
                continue
            if re.fullmatch(r"[\d.]+|ipconfig\d*", lower):
                continue
            segments[index] = self._label_token(lower)
        return "/providers/" + "/".join(segments)

    def _dashed_ipv4(self, match: re.Match[str]) -> str:
        address = ".".join(match.groups())
        return self.token("IP", address) if _public_v4(address) else match.group()

    def _ipv4(self, match: re.Match[str]) -> str:
        address = match.group(1)
        if not _public_v4(address):
            return address
        before = match.string[max(0, match.start() - 40) : match.start()]
        if _VERSION_BEFORE.search(before):
            return address  # `Agent Version: 2.14.0.1`, `WALinuxAgent-2.14.0.1`
        return self.token("IP", address)

    def _ipv6(self, match: re.Match[str]) -> str:
        candidate = match.group(1)
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            return candidate  # a time of day, a MAC, hex in a log line
        if address.is_loopback or address.is_unspecified or address.is_multicast:
            return candidate
        if address == ipaddress.IPv6Address("fe80::"):
            return candidate
        return self.token("IP6", str(address))

    def _mac(self, match: re.Match[str]) -> str:
        value = match.group(1)
        compact = re.sub(r"[^0-9a-f]", "", value.lower())
        if set(compact) <= {"0"} or set(compact) <= {"f"}:
            return value  # broadcast and "no address" say nothing about the machine
        if len(compact) == 12:
            return self._mac_token(value)
        return self.token("MAC", value, compact)  # longer link addresses (InfiniBand)

    def _mac_token(self, value: str) -> str:
        compact = re.sub(r"[^0-9a-f]", "", value.lower())
        if compact not in self._macs:
            self._macs.add(compact)
            self._compiled.pop("macs", None)
        return self.token("MAC", value, compact)


def _found(
    patterns: Iterable[tuple[tuple[str, ...], re.Pattern[str]]], text: str, lowered: str
) -> Iterator[str]:
    """The first group of each match of each pattern whose words `lowered` holds."""
    for needles, pattern in patterns:
        if any(needle in lowered for needle in needles):
            for match in pattern.finditer(text):
                yield match.group(1)


def _finder(
    words: set[str], ignore_case: bool, not_before: str, not_after: str
) -> WordFinder | None:
    if not words:
        return None
    return WordFinder(words, ignore_case=ignore_case, not_before=not_before, not_after=not_after)


def _url_char(char: str) -> bool:
    return char.isalnum() or char in "_.~%-"


def _report_strings(report: Report) -> Iterable[str]:
    yield report.target
    for result in report.results:
        yield from _strings_of(_result_parts(result))
    for cause in report.causes:
        yield from (cause.summary, cause.fix, *cause.evidence)
    yield from _strings_of(dict(report.facts))


def _result_parts(result: CheckResult) -> list[Any]:
    return [result.finding, result.fix or "", dict(result.evidence)]


def _strings_of(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings_of(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings_of(item)


def _public_v4(address: str) -> bool:
    """Anything not known to be private or local counts as public: documentation and
    benchmark ranges too (a lab or a test uses them as its "public" addresses)."""
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return address not in KEEP_IPV4 and not any(parsed in net for net in KEPT_V4_NETWORKS)
