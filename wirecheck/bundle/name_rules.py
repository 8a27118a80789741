"""Which DNS names identify the customer, and which part of them does.

Azure service suffixes (`blob.core.windows.net`, `servicebus.windows.net`, ...) stay: they
tell support which service a name belongs to. The labels the customer chose in front of
them do not. Vendor and platform names (`microsoft.com`, `management.azure.com`,
`kms.core.windows.net`) stay whole. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSuffix:
    suffix: str
    # A label right in front of the suffix that says where, not whose (a region, a zone):
    # it stays with the suffix. `cloudapp.azure.com` names are `<label>.<region>.cloudapp...`.
    inner: re.Pattern[str] | None = None


_REGION = re.compile(r"[a-z]+[0-9]?")
_ZONE = re.compile(r"z[0-9]{1,3}")
# The suffixes under which the labels in front are the customer's (looked up longest first:
# `scm.azurewebsites.net` before `azurewebsites.net`).
SERVICE_SUFFIXES: tuple[ServiceSuffix, ...] = (
    ServiceSuffix("internal.cloudapp.net"),
    ServiceSuffix("cloudapp.azure.com", _REGION),
    ServiceSuffix("cloudapp.net"),
    *(
        ServiceSuffix(f"{service}.core.{cloud}")
        for service in ("blob", "file", "queue", "table", "dfs", "web")
        for cloud in ("windows.net", "chinacloudapi.cn", "usgovcloudapi.net")
    ),
    ServiceSuffix("blob.storage.azure.net", _ZONE),
    ServiceSuffix("servicebus.windows.net"),
    ServiceSuffix("database.windows.net"),
    ServiceSuffix("redis.cache.windows.net"),
    ServiceSuffix("search.windows.net"),
    ServiceSuffix("kusto.windows.net", _REGION),
    ServiceSuffix("documents.azure.com"),
    ServiceSuffix("postgres.database.azure.com"),
    ServiceSuffix("mysql.database.azure.com"),
    ServiceSuffix("mariadb.database.azure.com"),
    ServiceSuffix("cognitiveservices.azure.com"),
    ServiceSuffix("openai.azure.com"),
    ServiceSuffix("webpubsub.azure.com"),
    ServiceSuffix("batch.azure.com", _REGION),
    ServiceSuffix("ods.opinsights.azure.com"),
    ServiceSuffix("oms.opinsights.azure.com"),
    ServiceSuffix("vault.azure.net"),
    ServiceSuffix("managedhsm.azure.net"),
    ServiceSuffix("eventgrid.azure.net"),
    ServiceSuffix("azurewebsites.net"),
    ServiceSuffix("scm.azurewebsites.net"),
    ServiceSuffix("azure-api.net"),
    ServiceSuffix("azure-devices.net"),
    ServiceSuffix("azure-automation.net"),
    ServiceSuffix("azurecr.io"),
    ServiceSuffix("azconfig.io"),
    ServiceSuffix("azmk8s.io", _REGION),
    ServiceSuffix("azurefd.net"),
    ServiceSuffix("azureedge.net"),
    ServiceSuffix("azurestaticapps.net"),
    ServiceSuffix("azuredatabricks.net"),
    ServiceSuffix("azurehdinsight.net"),
    ServiceSuffix("azuresynapse.net"),
    ServiceSuffix("trafficmanager.net"),
    ServiceSuffix("service.signalr.net"),
)
_SERVICES = {service.suffix: service for service in SERVICE_SUFFIXES}
_SERVICE_LABELS = max(service.suffix.count(".") + 1 for service in SERVICE_SUFFIXES)
# A label the platform puts in front of a service suffix for itself: the guest agent's
# extension artifacts come from `umsa<random>.blob.core.windows.net`, the same for everyone.
PLATFORM_LABELS = re.compile(r"umsa[a-z0-9]{16}|privatelink")

# Public names that identify no customer: kept with all their subdomains.
KEEP_SUFFIXES = (
    "reddog.microsoft.com",
    "microsoft.com",
    "microsoftonline.com",
    "msauth.net",
    "msftauth.net",
    "windowsupdate.com",
    "azure.com",
    "azure.net",
    "windows.net",
    "windows.com",
    "msft.net",
    "ubuntu.com",
    "canonical.com",
    "launchpad.net",
    "snapcraft.io",
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
    "w3.org",
    "dmtf.org",
    "xmlsoap.org",
    "freedesktop.org",
    "gnu.org",
    "kernel.org",
    "openssl.org",
    "letsencrypt.org",
    "digicert.com",
    "example.com",
    "example.net",
    "example.org",
    "localdomain",
    "localhost",
    "ip6.arpa",
    "in-addr.arpa",
)
_KEEP = frozenset(KEEP_SUFFIXES)
_KEEP_LABELS = max(suffix.count(".") + 1 for suffix in KEEP_SUFFIXES)
KEEP_HOSTS = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "ip6-allnodes"}
    | {"ip6-allrouters", "ip6-localnet", "ip6-mcastprefix", "broadcasthost"}
)


def words(text: str) -> frozenset[str]:
    return frozenset(text.split())


COMMON_TLDS = words(
    "com net org edu gov mil int info biz io cloud app dev local lan corp internal home "
    "intra intranet private online site tech xyz asia eu azure microsoft"
)
SECOND_LEVELS = words("co com net org ac gov edu ne or go")
# Two-letter labels that, at the end of a dotted name, are far more often a file extension
# than a country: `a.b.py` is a Python path, not Paraguay.
FILE_EXTENSIONS = words("py sh md js ts rs so gz xz bz cs go rb pm db ps cc hh mo po el")


def service_split(name: str) -> tuple[str, str] | None:
    """`crm.blob.core.windows.net` -> ("crm", "blob.core.windows.net"); None when `name`
    is under no service suffix. The first part is "" for a suffix alone (`.blob.core...`)
    and for the platform's own labels. Looked up label by label, longest suffix first."""
    labels = name.split(".")
    for start in range(max(0, len(labels) - _SERVICE_LABELS), len(labels)):
        service = _SERVICES.get(".".join(labels[start:]))
        if service is None:
            continue
        suffix, mine = service.suffix, labels[:start]
        while mine and (PLATFORM_LABELS.fullmatch(mine[-1]) or _inner(service, mine)):
            suffix = f"{mine.pop()}.{suffix}"
        return ".".join(mine), suffix
    return None


def _inner(service: ServiceSuffix, labels: list[str]) -> bool:
    """Whether the last of `labels` is the service's region or zone label (with a label
    of the customer's still in front of it)."""
    return (
        service.inner is not None and len(labels) > 1 and bool(service.inner.fullmatch(labels[-1]))
    )


def kept_name(name: str) -> bool:
    if name in KEEP_HOSTS:
        return True
    labels = name.split(".")
    first = max(0, len(labels) - _KEEP_LABELS)
    return any(".".join(labels[start:]) in _KEEP for start in range(first, len(labels)))


def looks_like_tld(label: str) -> bool:
    if label in COMMON_TLDS:
        return True
    return len(label) == 2 and label.isalpha() and label not in FILE_EXTENSIONS


def registered_domain(labels: list[str]) -> int:
    """How many labels at the end make the registered domain: 3 under `co.uk`, else 2."""
    return 3 if labels[-2] in SECOND_LEVELS and len(labels[-1]) == 2 else 2
