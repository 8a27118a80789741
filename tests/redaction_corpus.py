"""The redaction corpus: realistic files of one made-up VM, and every value planted in them.

`tests/fixtures/redaction-corpus/` mirrors the VM's file system (`etc/`, `var/`), with the
outputs of the bundle's commands under `commands/<archive path>` and wirecheck's own
environment in `process-environ.txt`. Every value below is made up. `PLANTED` lists each
value that identifies the customer or grants access, by class: none may be left in a
redacted bundle, in any spelling listed. `KEPT` lists what support needs: all of it must
be left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from wirecheck.bundle.items import CommandItem, DirItem, FileItem, Item, linux_items
from wirecheck.system import CommandResult, System

CORPUS = Path(__file__).resolve().parent / "fixtures" / "redaction-corpus"
HOSTNAME = "crm-app-07"


@dataclass(frozen=True)
class Planted:
    kind: str  # secret, guid, name, host, domain, ip, mac, user, id
    value: str
    what: str


def _p(kind: str, what: str, *values: str) -> tuple[Planted, ...]:
    return tuple(Planted(kind, value, what) for value in values)


PLANTED: tuple[Planted, ...] = (
    # Secrets: whatever grants access.
    *_p("secret", "proxy password with @ and : in it", "P@ss:w0rd-91", "w0rd-91@"),
    *_p(
        "secret",
        "AZURE_STORAGE_KEY",
        "Je9lyTSrTMBLbH4lbCK4PHWvnLWGxeOMYoddsIZRgKk8+ujwOF5EyruSZ9CKsJjI6bQfx3joSBR/kmzDxytwwA==",
    ),
    *_p(
        "secret",
        "AccountKey in a connection string",
        "bEtfvZKGWHVa55wmlMQS67Q9gZT5ArO6Ea5gr8Y8rWYj1e8eiKS8zzmMkHo90npNNgozEKGJKcgHfOEIXZvS5Q==",
    ),
    *_p(
        "secret",
        "'storage key: ...' in an extension's output",
        "d5vjZ2LRLDiowrgslsjmVIZhvG8acKVU9hfjG+/XO3tlyB7pPVEu5WWnforgb+1d4H5RVurHbdAgas0isV/1bw==",
    ),
    *_p(
        "secret",
        "Storage.Key= in an extension's config",
        "79hoXM2fTaTbKGDg/2XDTPRpNdOvHjydCRgPJOtYPh9VyTmG1dhTVtdkv+6FEO9L3Y+e8k6bpTgsaMm9r25sLw==",
    ),
    *_p("secret", "DB_PASS with & and #", "Kx9vQ2&mL7pZ4#tw", "mL7pZ4#tw"),
    *_p("secret", "AZURE_CLIENT_SECRET", "Xk48Q~fJ2mV.pLq7_cRtW9zN-yHd3sB6gA1eKuO0"),
    *_p("secret", "Ocp-Apim-Subscription-Key header", "1568abe2720c971e65f9e152c67211b1"),
    *_p("secret", "ovf-env UserPassword", "Adm1n!Pa55word#2026"),
    *_p(
        "secret",
        "ovf-env CustomData (base64 of a script with a database password)",
        "IyEvYmluL2Jhc2gKZXhwb3J0IERCX1VSTD1wb3N0Z3JlczovL2NybTpacTchbXhAZGItcHJpbWFyeS5jb250b3Nv",
    ),
    *_p(
        "secret",
        "a bare JWT in a log line",
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tLyIs",
        "c2lnbmF0dXJlLW5vdC1yZWFsLWp1c3QtcGFkZGluZy0xMjM0NTY3ODkw",
    ),
    *_p(
        "secret", "Authorization: Bearer", "CjwyKjEsTiI31d8XaAVX_VINYNtBNoSUpsofvjB6tUxyu7_MJrl02w"
    ),
    *_p("secret", "SAS sig (status blob)", "jbmuSKFyzDzCDDYKZh%2BHXZN99djSPxoOCk5mXwsCRAQ"),
    *_p("secret", "SAS sig (script download)", "YMzKC2vdlqBYNO4uS3ergCLqqaWD0hakdmJ1MXJ5SmQ"),
    *_p(
        "secret",
        "protectedSettings",
        "ipEvAQYc0HvyJYNKXYXu/xh3d42XjKyiGPkgUz8+ydGw48LUXtvN5FHATmh0b0pnkkDssEO0s0WdqiAWn",
    ),
    *_p(
        "secret",
        "OpenSSH private key body",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        "mBFnPO2vGWaPt1DKDu0ET84sG+v5P3ZdsCCBlsKITpltWoxuMZBwYa3MtwwvTUrQP0EsUA",
        "7BhktkJHAi+VQnhFXNO8gPCUtVPqk4ezZ6Do5hvS0kmLgOoVomBeHz/QSitT80JI/o1a/z",
        "ouCrU0oprxMqCPKfrhsMg5RihNaHGduoOhM4h8DPZZyFYqJcWm0OFuyz752SUJf3Rm0Ixw",
    ),
    *_p("secret", "api_key= in a URL", "f8736982fba47ddcc7ada2bf46df0f01"),
    *_p("secret", "NetworkManager VPN password", "Vpn!Secr3t-2026"),
    *_p("secret", "NetworkManager 802.1x password", "Peap#Pass-4471"),
    *_p("secret", "NetworkManager Wi-Fi psk", "correct-horse-battery-staple-42"),
    # GUIDs: support correlates them, so each gets a token, not a blank.
    *_p("guid", "subscription", "cacbab2a-ca7f-4fa6-b7c3-e854c5340c87"),
    *_p("guid", "tenant (also SAS sktid)", "0b603ae4-b291-4eff-b870-eec18814994e"),
    *_p("guid", "client (app) id", "9c9c55ad-2696-4049-a272-4a86d933ca3d"),
    *_p("guid", "object id (SAS skoid)", "2db7a3f2-7fbf-40a1-b882-b40fdf82d124"),
    *_p("guid", "VM id", "932503f9-7e77-4415-a7da-23ba2739eded"),
    *_p("guid", "container id", "364373cf-d0a8-45e6-8da5-7553103c7bbc"),
    *_p(
        "guid",
        "role instance id, plain and URL-encoded",
        "2c02dafb-cc4a-44da-9420-478be403a359",
        "2c02dafb%2Dcc4a%2D44da%2D9420%2D478be403a359",
    ),
    *_p("guid", "HostGAPlugin correlation id", "0c2d7b5f-d1fb-497a-8f2c-d136232b804c"),
    *_p("guid", "goal state activity id", "5dea46c3-d996-4f08-8141-fd9f3f389af2"),
    *_p("guid", "goal state correlation id", "eb0c01fa-8c6d-4b44-8b9e-9b40d580288a"),
    *_p("guid", "NetworkManager connection uuids", "b5872b60-6490-445a-8d2b-29b696d21cac"),
    *_p("guid", "NetworkManager connection uuids", "7216a4fb-5c09-40e0-b417-8644cd8c42d6"),
    # Names the customer chose for Azure resources.
    *_p("name", "resource group", "rg-crm-prod-weu"),
    *_p("name", "storage account (AccountName=, --account-name, blob host)", "crmprodstore01"),
    *_p("name", "virtual network", "vnet-crm-prod"),
    *_p("name", "Service Bus namespace under servicebus.windows.net", "crm-events-prod"),
    *_p("name", "Cosmos DB account under documents.azure.com", "crm-catalog"),
    *_p("name", "Key Vault under vault.azure.net", "crm-prod-kv"),
    *_p("name", "API Management under azure-api.net", "crm-api."),
    *_p("name", "managed disk storage host", "md-hdd-x4k2lq0v9bcd"),
    *_p("name", "tag values", "crm-4471"),
    # Host names, the machine's own inside resource names too.
    *_p(
        "host",
        "the VM's host name, alone and inside resource names",
        HOSTNAME,
        "crm-app-07_OsDisk",
        "crm-app-07-nic",
        "_crm-app-07",
        "%5Fcrm%2Dapp%2D07",
    ),
    *_p("host", "another host in /etc/hosts", "db-primary"),
    *_p("host", "proxy, WPAD and VPN hosts", "proxy01.", "wpad.contoso", "vpn.contoso"),
    # Domains: learned ones wherever they appear (after a dot in no_proxy too).
    *_p("domain", "the customer's domain", "contoso-corp.com", ".contoso-corp"),
    *_p("domain", "the Azure-provided DNS label", "qx4mz2k7fdlubhm1a0c3xvnfje"),
    # Addresses.
    *_p("ip", "public IPv4 after a letter and a dash", "52.170.77.88"),
    *_p("ip", "public IPv4", "20.61.143.9"),
    *_p("ip", "public IPv6", "2603:1020:203:4::1a"),
    *_p("ip", "link-local IPv6 (it holds the MAC)", "fe80::20d:3aff:fe6e:219f"),
    *_p("mac", "eth0, with colons and compact", "00:0d:3a:6e:21:9f", "000d3a6e219f"),
    *_p("mac", "eth1", "00:22:48:a1:b2:c3"),
    *_p("mac", "gateway", "12:34:56:78:9a:bc"),
    # People.
    *_p("user", "admin user name (ovf-env, IMDS, home path)", "crmadmin"),
    *_p("user", "an e-mail address", "ana.lopez"),
    # Other identifiers.
    *_p("id", "certificate thumbprint", "1FCE45AAA1F406587DC677D38BC0BB4F63FA813F"),
    *_p("id", "SSH host key fingerprint", "q3Vb8xKp2Lm9RtYw4ZcN7dHfJ1aGsE6uT0oWiQyBnMk"),
    *_p("id", "managed disk id", "e7d526bc8f34e68b359d42f25e54c010"),
)

# What support needs: left exactly as it is (each string is looked for in the redacted file).
KEPT: dict[str, tuple[str, ...]] = {
    "var/log/waagent.log": (
        "Azure Linux Agent Version: 2.14.0.1",
        "Wire server endpoint:168.63.129.16",
        "Fetched a new incarnation for the WireServer goal state [incarnation 3]",
        "HostGAPlugin version: 1.0.8.179",
        "[Microsoft.Azure.Extensions.CustomScript-2.1.10] Target handler state: enabled",
        "https://umsavwggj2v40kvqhc4w.blob.core.windows.net/",
        "https://management.azure.com/subscriptions/",
        "/providers/Microsoft.Compute/virtualMachines/",
        "eTag: 9171842314486361212 source: FastTrack",
        "?sv=2018-03-28&sr=b&sk=system-1&sig=",
        "&se=9999-01-01T00%3a00%3a00Z&sp=rw",
        "GET http://168.63.129.16:32526/versions -- IOError timed out",
        "The following rules are missing: ['ACCEPT DNS']",
        "Agent WALinuxAgent-2.14.0.1 is running as the goal state agent",
        "ProcessExtensionsGoalState completed [incarnation_3 7201 ms]",
        ".servicebus.windows.net via ",
        "blob.storage.azure.net/$system/",
    ),
    "etc/waagent.conf": (
        "Provisioning.DeleteRootPassword=y",
        "Provisioning.RegenerateSshHostKeyPair=y",
        "Provisioning.SshHostKeyPairType=ed25519",
        "Provisioning.PasswordCryptId=6",
        "Provisioning.PasswordCryptSaltLength=10",
        "OS.PasswordPath=/etc/shadow",
        "HttpProxy.Port=3128",
        "OS.EnableFirewall=y",
    ),
    "etc/environment": (
        "localhost,127.0.0.1,168.63.129.16,169.254.169.254,.",
        ",.blob.core.windows.net",
        ";EndpointSuffix=core.windows.net",
        ".documents.azure.com:443/",
        ".vault.azure.net/",
    ),
    "var/lib/waagent/ovf-env.xml": (
        "<wa:KmsServerHostname>kms.core.windows.net</wa:KmsServerHostname>",
        "<wa:RetainWindowsPEPassInUnattend>true</wa:RetainWindowsPEPassInUnattend>",
        "<DisableSshPasswordAuthentication>false</DisableSshPasswordAuthentication>",
    ),
    "var/log/cloud-init.log": (
        "http://169.254.169.254/metadata/instance?api-version=2021-08-01&extended=true",
        '"location": "westeurope"',
        '"vmSize": "Standard_D4s_v5"',
        '"privateIpAddress": "10.1.0.4"',
        "http://168.63.129.16/machine/?comp=goalstate",
        "'x-ms-version': '2012-11-30'",
    ),
    "var/log/cloud-init-output.log": (
        "|  eth0  | True |           10.1.0.4           | 255.255.255.0 | global |",
        ".azure-api.net/v1/health",
    ),
    "var/lib/dhcp/dhclient.eth0.leases": (
        "option unknown-245 a8:3f:81:10;",
        "option dhcp-server-identifier 168.63.129.16;",
        ".internal.cloudapp.net",
    ),
    "commands/network/ip-route-get-target.txt": (
        "168.63.129.16 via 10.1.0.1 dev eth0 src 10.1.0.4",
    ),
    "commands/agent/waagent-version.txt": ("WALinuxAgent-2.14.0.1", "Goal state agent: 2.14.0.1"),
}

# Corpus files the default items do not name (the bundle does not collect them today), so
# the whole-bundle test adds them.
EXTRA_ITEMS: tuple[Item, ...] = (
    FileItem("/var/log/cloud-init.log", tail=True),
    FileItem("/var/log/cloud-init-output.log", tail=True),
    FileItem("/var/lib/waagent/ovf-env.xml"),
    DirItem("/etc/NetworkManager/system-connections", "*.nmconnection"),
)


def corpus_files() -> dict[str, str]:
    """Every corpus file by its path under the corpus directory (`etc/hosts`, ...)."""
    return {
        str(path.relative_to(CORPUS)): path.read_text(encoding="utf-8")
        for path in sorted(CORPUS.rglob("*"))
        if path.is_file() and path.name != "README.md"
    }


def leaks(text: str, planted: Sequence[Planted] = PLANTED) -> list[Planted]:
    """The planted values found in `text` (compared case-insensitively)."""
    lowered = text.lower()
    return [p for p in planted if p.value.lower() in lowered]


def corpus_items() -> tuple[Item, ...]:
    return (*linux_items("168.63.129.16"), *EXTRA_ITEMS)


def corpus_system() -> System:
    """A machine whose files, command outputs and environment are the corpus."""
    files = corpus_files()
    commands = {
        item.argv: files[f"commands/{item.path}"]
        for item in linux_items("168.63.129.16")
        if isinstance(item, CommandItem) and f"commands/{item.path}" in files
    }

    def read_text(path: str) -> str:
        key = path.lstrip("/")
        if key not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[key]

    def list_dir(path: str) -> list[str]:
        prefix = path.strip("/") + "/"
        names = sorted({k[len(prefix) :].split("/")[0] for k in files if k.startswith(prefix)})
        if not names:
            raise FileNotFoundError(2, "No such file or directory", path)
        return names

    def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult:
        key = tuple(argv)
        if key in commands:
            return CommandResult(key, 0, commands[key])
        return CommandResult(key, None, error=f"{argv[0]} is not installed")

    environ = dict(
        line.split("=", 1) for line in files["process-environ.txt"].splitlines() if "=" in line
    )
    return replace(
        System(),
        read_text=read_text,
        run_command=run_command,
        hostname=lambda: HOSTNAME,
        is_root=lambda: True,
        environ=environ,
        list_dir=list_dir,
    )


def read_tail(path: str, limit: int) -> tuple[str, int]:
    """The tail reader over the corpus (its logs are far below any cap)."""
    text = corpus_system().read_text(path)
    return text, len(text.encode("utf-8"))
