"""Redaction, its own stage: what identifies the customer becomes a stable token.

Replaced: public IPv4 addresses (also written with dashes inside host names, and as
in-addr.arpa names), IPv6 addresses, MAC addresses (also in IMDS's 12-digit form and
inside DHCP client ids), host names and FQDNs, and anything that looks like a secret
(password/token/key settings, URL credentials, SAS signatures, private keys).
Kept, because support needs them and they identify no one: private IPv4 (RFC 1918, CGNAT,
loopback, link-local, multicast, netmasks), the platform addresses 168.63.129.16 and
169.254.169.254, version numbers that look like addresses (`Agent Version: 2.14.0.1`),
public vendor names (microsoft.com, ubuntu.com, ...) and Azure's generic DNS suffixes
(`internal.cloudapp.net` stays; the random label in front of it is replaced).

The same value gets the same token everywhere in one bundle: one `Redactor` sees every
text, first to learn (`learn`) the names that only context reveals (resolv.conf search
domains, lease domain names, the hostname, /etc/hosts names, proxy hosts), then to replace.
Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from wirecheck.addresses import is_ip
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Cause, CheckResult, Report

TOKEN_PREFIX = "REDACTED-"
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

# Azure suffixes in front of which the customer's unique labels sit: the suffix stays
# (it tells support "Azure-provided DNS"), the labels in front become tokens.
GENERIC_SUFFIXES = (
    "internal.cloudapp.net",
    "cloudapp.azure.com",
    "cloudapp.net",
    "core.windows.net",
    "azurewebsites.net",
    "database.windows.net",
    "vault.azure.net",
)
# Public names that identify no customer: kept with all their subdomains.
KEEP_SUFFIXES = (
    "reddog.microsoft.com",
    "microsoft.com",
    "azure.com",
    "azure.net",
    "windows.net",
    "windows.com",
    "azureedge.net",
    "msft.net",
    "ubuntu.com",
    "canonical.com",
    "launchpad.net",
    "debian.org",
    "redhat.com",
    "fedoraproject.org",
    "centos.org",
    "suse.com",
    "opensuse.org",
    "python.org",
    "pypi.org",
    "github.com",
    "githubusercontent.com",
    "example.com",
    "example.net",
    "example.org",
    "localdomain",
    "localhost",
    "ip6.arpa",
    "in-addr.arpa",
)
KEEP_HOSTS = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "ip6-allnodes"}
    | {"ip6-allrouters", "ip6-localnet", "ip6-mcastprefix", "broadcasthost"}
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMMON_TLDS = _words(
    "com net org edu gov mil int info biz io cloud app dev local lan corp internal home "
    "intra intranet private online site tech xyz asia eu azure microsoft"
)
SHORT_HOST = 3  # host names this short are matched case-sensitively (see Redactor.text)
SECOND_LEVELS = _words("co com net org ac gov edu ne or go")
# Two-letter labels that, at the end of a dotted name, are far more often a file extension
# than a country: `a.b.py` is a Python path, not Paraguay.
FILE_EXTENSIONS = _words("py sh md js ts rs so gz xz bz cs go rb pm db ps cc hh mo po el")
# Values of secret-named settings that are switches, paths or nsswitch.conf sources
# (`passwd: files systemd`), not secrets.
HARMLESS_VALUE = re.compile(
    r"(?i)^(?:y|n|yes|no|true|false|on|off|none|null|auto|\*|/[\w./-]*"
    r"|files|compat|systemd|sss|ldap|nis|winbind|db)$"
)

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S
)
# `NAME = value`, `"name": "value"`, where the name holds a word that says its value is a
# secret. The name is a whole run of word characters, anchored at its start, and the
# secret word is looked for by a lookahead inside that run only: so a long run is scanned
# once, not once per position, and a harmless name (`Environment=API_TOKEN=x`) does not
# swallow the secret setting that follows it.
_SECRET_SETTING = re.compile(
    r"(?<![\w.\-])"
    r"(?=[\w.\-]*?(?i:passw(?:or)?d|passphrase|pwd|secret|token|apikey|api_key|access_?key|"
    r"account_?key|shared_?key|private_?key|credential|authorization|auth_?key|"
    r"connection_?string|sas))"
    r"(?P<key>[\w.\-]+)(?P<sep>\"?'?\s*[=:]\s*\"?'?)"
    r"(?P<value>(?:(?i:Bearer|Basic|Digest|Negotiate|SharedKey|SharedAccessSignature)\s+)?"
    r"[^\s\"',;}&]+)"
)
_URL_CREDENTIALS = re.compile(r"(?i)(?<=://)(?P<cred>[^/\s:@\"']+:[^/\s@\"']+)(?=@)")
_URL_SECRET_PARAM = re.compile(
    r"(?i)(?P<key>[?&](?:sig|signature|token|access_token|code|password)=)(?P<value>[^&\s\"'<]+)"
)
_CLIENT_ID = re.compile(
    r"(?i)(?P<key>\b(?:CLIENTID|DUID|IAID|dhcp-client-identifier|client-id)\b\"?\s*[=:\s]\s*\"?)"
    r"(?P<value>[0-9a-f:]{8,})"
)
_REVERSE_V4 = re.compile(
    r"(?i)(?<![\w.-])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa"
)
_NAME = re.compile(
    r"(?<![\w.-])((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?![\w-]|\.[A-Za-z0-9])"
)
# `ip-20-51-7-193`, `20-51-7-193.example`: an address inside a host name.
_DASHED_V4 = re.compile(r"(?<!\d)(?<!\d-)(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?![\d])")
# Not followed by `.in-addr.arpa`: reverse names were handled (the right way round) above.
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w]|\.\d|(?i:\.in-addr\.arpa))")
_VERSION_BEFORE = re.compile(r"(?i)(?:version|ver\.?|\bv)\s*[:=]?\s*$|[A-Za-z]-$")
_IPV6 = re.compile(r"(?<![\w:.%-])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w:])")
_MAC = re.compile(
    r"(?i)(?<![0-9a-f:-])((?:[0-9a-f]{2}:){5,19}[0-9a-f]{2}|(?:[0-9a-f]{2}-){5}[0-9a-f]{2})"
    r"(?![0-9a-f:-])"
)
_MAC_KEYED = re.compile(r"(?i)(?P<key>mac\w*\"?'?\s*[=:]\s*\"?'?)(?P<value>[0-9a-f]{12})\b")

# What context reveals as a name to hide (the generic FQDN rule cannot see these).
_LEARN_DOMAINS = (
    re.compile(r"(?im)^\s*(?:search|domain)\s+([^#\n]+)"),
    re.compile(r"(?i)option\s+domain-(?:name|search)\s+([^;\n]+);"),
    re.compile(r"(?im)^\s*(?:DOMAINNAME|DOMAIN_SEARCH_LIST|DOMAINS)=(.+)$"),
    re.compile(
        r"(?im)^\s*(?:Primary Dns Suffix|DNS Suffix Search List|Connection-specific DNS Suffix)"
        r"[ .]*:\s*(\S+)"
    ),
)
_LEARN_HOSTS = (
    re.compile(r"(?i)option\s+host-name\s+([^;\n]+);"),
    re.compile(r"(?im)^\s*HOSTNAME=(.+)$"),
    re.compile(r"(?im)^\s*Host Name[ .]*:\s*(\S+)"),
)
# Names of other machines (proxies): their domains are learned, not their first label, which
# is often a plain word ("proxy") that must stay readable everywhere else.
_LEARN_FQDNS = (
    re.compile(r"(?im)^\s*HttpProxy\.Host\s*=\s*(\S+)"),
    re.compile(r"(?i)proxy[^\n]*?://(?:[^@/\s]+@)?([A-Za-z0-9.-]+)"),
)


class Redactor:
    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._domains: set[str] = set()  # learned, lower case
        self._hosts: set[str] = set()  # learned single-label host names, lower case
        self._macs: set[str] = set()  # learned, 12 lower-case hex digits

    # -- tokens -------------------------------------------------------------------------

    def token(self, kind: str, value: str) -> str:
        """The token for `value`: the same value always gets the same token."""
        key = (kind, value.lower())
        if key not in self._tokens:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._tokens[key] = f"{TOKEN_PREFIX}{kind}-{self._counts[kind]}"
        return self._tokens[key]

    @property
    def counts(self) -> dict[str, int]:
        """How many distinct values of each kind were replaced (for the manifest)."""
        return dict(self._counts)

    # -- learning -----------------------------------------------------------------------

    def add_hostname(self, name: str) -> None:
        """The machine's own name, short or fully qualified."""
        name = name.strip().strip(".").lower()
        if not name or name in KEEP_HOSTS:
            return
        short, _, domain = name.partition(".")
        if len(short) >= 2 and not is_ip(name):
            self._hosts.add(short)
        if domain:
            self._add_domain(domain)

    def add_hosts_file(self, text: str) -> None:
        """Names in an /etc/hosts file (each line: address, then names)."""
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            for name in fields[1:]:
                if name.lower() not in KEEP_HOSTS:
                    self.add_hostname(name)

    def learn(self, text: str) -> None:
        """Collect names and MACs that only context reveals, before any replacing."""
        for pattern in _LEARN_DOMAINS:
            for match in pattern.finditer(text):
                for value in re.split(r"[\s,\"']+", match.group(1)):
                    self._add_domain(value)
        for pattern in _LEARN_HOSTS:
            for match in pattern.finditer(text):
                value = match.group(1).strip().strip("\"'")
                if value and not is_ip(value):
                    self.add_hostname(value)
        for pattern in _LEARN_FQDNS:
            for match in pattern.finditer(text):
                labels = match.group(1).strip(".").lower().split(".")
                if len(labels) >= 2 and not is_ip(".".join(labels)):
                    self._add_domain(".".join(labels[1:] if len(labels) >= 3 else labels))
        for match in _MAC.finditer(text):
            self._add_mac(match.group(1))
        for match in _MAC_KEYED.finditer(text):
            self._add_mac(match.group("value"))
        self.text(text)  # registers tokens in first-seen order, so numbering is stable

    def _add_domain(self, value: str) -> None:
        value = value.strip().strip(".").lower()
        if value.count(".") < 1 or is_ip(value) or _kept_name(value):
            return
        if any(value == suffix for suffix in GENERIC_SUFFIXES):
            return
        self._domains.add(value)

    def _add_mac(self, value: str) -> None:
        compact = re.sub(r"[^0-9a-f]", "", value.lower())
        if len(compact) == 12 and compact not in ("000000000000", "ffffffffffff"):
            self._macs.add(compact)

    # -- replacing ----------------------------------------------------------------------

    def text(self, text: str) -> str:
        text = _PEM.sub(lambda m: self.token("SECRET", m.group()), text)
        text = _URL_CREDENTIALS.sub(lambda m: self.token("SECRET", m.group("cred")), text)
        text = _URL_SECRET_PARAM.sub(self._secret_param, text)
        text = _SECRET_SETTING.sub(self._secret_setting, text)
        text = _CLIENT_ID.sub(lambda m: m.group("key") + self.token("ID", m.group("value")), text)
        text = _REVERSE_V4.sub(self._reverse_name, text)
        text = _NAME.sub(self._name, text)
        # Short host names ("vm") are matched in their own case only, so that a "VM" in a
        # sentence stays readable; longer ones in any case, as DNS compares them.
        for names, flags in (
            ([h for h in self._hosts if len(h) > SHORT_HOST], re.IGNORECASE),
            ([h for h in self._hosts if len(h) <= SHORT_HOST], 0),
        ):
            if names:
                words = "|".join(re.escape(h) for h in sorted(names, key=len, reverse=True))
                text = re.sub(
                    rf"(?<![\w.-])({words})(?![\w-])",
                    lambda m: self.token("HOST", m.group(1)),
                    text,
                    flags=flags,
                )
        text = _DASHED_V4.sub(self._dashed_ipv4, text)
        text = _IPV4.sub(self._ipv4, text)
        text = _IPV6.sub(self._ipv6, text)
        text = _MAC.sub(self._mac, text)
        text = _MAC_KEYED.sub(lambda m: m.group("key") + self._mac_token(m.group("value")), text)
        if self._macs:
            known = "|".join(sorted(self._macs))
            text = re.sub(rf"(?i){known}", lambda m: self._mac_token(m.group()), text)
        return text

    def value(self, value: Any) -> Any:
        """A JSON-compatible value with every string redacted (mapping keys are ours: kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value

    def report(self, report: Report) -> Report:
        results = tuple(
            dataclasses.replace(
                r,
                finding=self.text(r.finding),
                evidence=self.value(dict(r.evidence)),
                fix=self.text(r.fix) if r.fix else r.fix,
            )
            for r in report.results
        )
        causes = tuple(
            Cause(
                summary=self.text(c.summary),
                fix=self.text(c.fix),
                evidence=tuple(self.text(e) for e in c.evidence),
                checks=c.checks,
            )
            for c in report.causes
        )
        return dataclasses.replace(
            report,
            target=self.text(report.target),
            results=results,
            causes=causes,
            facts=self.value(dict(report.facts)),
        )

    def learn_report(self, report: Report) -> None:
        for text in _report_strings(report):
            self.learn(text)

    # -- one pattern each ---------------------------------------------------------------

    def _secret_param(self, match: re.Match[str]) -> str:
        return match.group("key") + self.token("SECRET", match.group("value"))

    def _secret_setting(self, match: re.Match[str]) -> str:
        value = match.group("value")
        if HARMLESS_VALUE.match(value) or value.startswith(TOKEN_PREFIX):
            return match.group()
        return match.group("key") + match.group("sep") + self.token("SECRET", value)

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
        for suffix in GENERIC_SUFFIXES:
            if lower.endswith("." + suffix):
                return self._under_suffix(lower[: -len(suffix) - 1], suffix)
        if _kept_name(lower):
            return name
        for domain in sorted(self._domains, key=len, reverse=True):
            if lower == domain:
                return self.token("DOMAIN", domain)
            if lower.endswith("." + domain):
                host = lower[: -len(domain) - 1]
                return f"{self.token('HOST', host)}.{self.token('DOMAIN', domain)}"
        if len(labels) >= 3 and _looks_like_tld(labels[-1]):
            # The registered domain is the last two labels, three under `co.uk`-style
            # second levels; what is in front of it names one machine.
            size = 3 if labels[-2] in SECOND_LEVELS and len(labels[-1]) == 2 else 2
            if len(labels) > size:
                domain = ".".join(labels[-size:])
                self._domains.add(domain)
                host = ".".join(labels[:-size])
                return f"{self.token('HOST', host)}.{self.token('DOMAIN', domain)}"
        return name

    def _under_suffix(self, unique: str, suffix: str) -> str:
        for domain in sorted(self._domains, key=len, reverse=True):
            if domain.endswith("." + suffix):
                mine = domain[: -len(suffix) - 1]
                if unique == mine:
                    return f"{self.token('DOMAIN', mine)}.{suffix}"
                if unique.endswith("." + mine):
                    host = unique[: -len(mine) - 1]
                    return f"{self.token('HOST', host)}.{self.token('DOMAIN', mine)}.{suffix}"
        labels = unique.split(".")
        if suffix == "internal.cloudapp.net" and len(labels) >= 3:
            # <host>.<random>.<region code>.internal.cloudapp.net
            host, mine = ".".join(labels[:-2]), ".".join(labels[-2:])
            return f"{self.token('HOST', host)}.{self.token('DOMAIN', mine)}.{suffix}"
        kind = "DOMAIN" if suffix == "internal.cloudapp.net" else "HOST"
        return f"{self.token(kind, unique)}.{suffix}"

    def _dashed_ipv4(self, match: re.Match[str]) -> str:
        address = ".".join(match.groups())
        return self.token("IP", address) if _public_v4(address) else match.group()

    def _ipv4(self, match: re.Match[str]) -> str:
        address = match.group(1)
        if not _public_v4(address):
            return address
        before = match.string[max(0, match.start() - 24) : match.start()]
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
            return self._mac_token(compact)
        return self.token("MAC", compact)  # longer link addresses (InfiniBand)

    def _mac_token(self, value: str) -> str:
        compact = re.sub(r"[^0-9a-f]", "", value.lower())
        self._macs.add(compact)
        return self.token("MAC", compact)


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


def _kept_name(name: str) -> bool:
    return name in KEEP_HOSTS or any(
        name == suffix or name.endswith("." + suffix) for suffix in KEEP_SUFFIXES
    )


def _looks_like_tld(label: str) -> bool:
    if label in COMMON_TLDS:
        return True
    return len(label) == 2 and label.isalpha() and label not in FILE_EXTENSIONS
