"""The support bundle: contents and manifest, redaction, atomicity, bounds, no root, the CLI.

Most tests feed a fake machine (`LabMachine`) through `System`: the facts a lab VM would
show (public IP, MACs, an FQDN under internal.cloudapp.net, a proxy with credentials, a
password in waagent.conf), so nothing here reads or runs anything on the test host, except
where a test says it does on purpose (real commands, the real CLI, a non-root run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import traceback
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import cli_runner
from tests.conftest import fixture_text
from tests.report_sample import sample_report
from tests.servers import refusing_port
from wirecheck.bundle.archive import write_archive
from wirecheck.bundle.build import BundleResult, create_bundle, redact_collected
from wirecheck.bundle.collect import Collector, Limits, read_tail
from wirecheck.bundle.items import CommandItem, DirItem, EnvItem, FileItem, linux_items
from wirecheck.bundle.key import KEY_SUFFIX
from wirecheck.bundle.redact import Redactor
from wirecheck.cli import Seams, app
from wirecheck.model import CheckResult, Deadline, Report, Status
from wirecheck.system import CommandResult, System

HOST = "lab-vm1"
DOMAIN = "k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net"
FQDN = f"{HOST}.{DOMAIN}"
PUBLIC_IP, PROXY_IP, PUBLIC_V6 = "20.51.7.193", "52.160.4.8", "2603:1030:20e:3::23c"
MAC0, MAC1, GW_MAC = "00:0d:3a:4b:5c:6d", "00:0d:3a:4b:5c:7e", "12:34:56:78:9a:bc"
PASSWORD, PROXY_PASSWORD = "Sup3rS3cret!", "hunter2"
# Nothing of these may be left anywhere in a redacted bundle (compared case-insensitively).
SECRETS = (
    HOST,
    "k3v2x9wq1ahejd4lmc0tb7pyrf",
    "fabrikam",
    PUBLIC_IP,
    PROXY_IP,
    "20-51-7-193",
    PUBLIC_V6,
    MAC0,
    MAC1,
    GW_MAC,
    MAC0.replace(":", ""),
    MAC1.replace(":", ""),
    PASSWORD,
    PROXY_PASSWORD,
)

IP_ADDR = f"""\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP
    link/ether {MAC0} brd ff:ff:ff:ff:ff:ff
    inet 10.1.0.4/24 brd 10.1.0.255 scope global eth0
    inet6 {PUBLIC_V6}/128 scope global
3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP
    link/ether {MAC1} brd ff:ff:ff:ff:ff:ff
    inet 10.1.1.5/24 brd 10.1.1.255 scope global eth1
"""
IPTABLES = f"""\
*security
:OUTPUT ACCEPT [81234:9876543]
[12:780] -A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 53 -j ACCEPT
[4021:912044] -A OUTPUT -d 168.63.129.16/32 -p tcp -m owner --uid-owner 0 -j ACCEPT
[7:420] -A OUTPUT -d 168.63.129.16/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP
COMMIT
*filter
[3:180] -A OUTPUT -d {PROXY_IP}/32 -j DROP
COMMIT
"""
WAAGENT_CONF = f"""\
Provisioning.DeleteRootPassword=y
OS.PasswordPath=/etc/shadow
HttpProxy.Host=proxy.corp.fabrikam.com
HttpProxy.Port=3128
Admin.Password={PASSWORD}
"""
WAAGENT_LOG = (
    fixture_text("waagent.log")
    + f"2026-10-02T09:20:00.000000Z INFO Daemon {HOST} public address {PUBLIC_IP}"
    + " via ip-20-51-7-193\n"
)


class LabMachine:
    """A fake machine behind `System`: files, commands, directories and environment."""

    def __init__(self, root: bool = True) -> None:
        self.root = root
        self.clock_now = 0.0
        self.command_seconds = 0.01  # fake time each command takes
        self.commands_run: list[tuple[tuple[str, ...], float]] = []
        self.files: dict[str, str] = {
            "/etc/hostname": f"{HOST}\n",
            "/etc/hosts": f"127.0.0.1 localhost\n10.1.0.4 {FQDN} {HOST}\n",
            "/etc/resolv.conf": f"nameserver 168.63.129.16\nsearch {DOMAIN} fabrikam.com\n",
            "/etc/os-release": 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nVERSION_ID="22.04"\n',
            "/proc/version": "Linux version 6.5.0-1025-azure (buildd@lcy02) gcc 11.4.0\n",
            "/etc/waagent.conf": WAAGENT_CONF,
            "/var/lib/dhcp/dhclient.eth0.leases": fixture_text("dhclient.leases"),
            "/run/systemd/netif/leases/2": fixture_text("networkd-lease"),
            "/var/log/waagent.log": WAAGENT_LOG,
        }
        self.dirs = {
            "/var/lib/dhcp": ["dhclient.eth0.leases", "dhclient6.eth0.leases.bak", "other"],
            "/run/systemd/netif/leases": ["2"],
        }
        self.outputs: dict[tuple[str, ...], CommandResult] = {}
        for argv, out in {
            ("ip", "-details", "address", "show"): IP_ADDR,
            ("ip", "route", "get", "168.63.129.16"): (
                "168.63.129.16 via 10.1.0.1 dev eth0 src 10.1.0.4 uid 0\n    cache\n"
            ),
            ("ip", "neighbour", "show"): f"10.1.0.1 dev eth0 lladdr {GW_MAC} REACHABLE\n",
            ("iptables-save", "-c"): IPTABLES,
            ("nft", "list", "ruleset"): fixture_text("nft-walinuxagent.txt"),
            ("waagent", "--version"): (
                "WALinuxAgent-2.14.0.1 running on ubuntu 22.04\nPython: 3.10.12\n"
                "Goal state agent: 2.14.0.1\n"
            ),
            ("uname", "-a"): f"Linux {HOST} 6.5.0-1025-azure #26 SMP x86_64 GNU/Linux\n",
        }.items():
            self.outputs[argv] = CommandResult(argv, 0, out)
        self.environ = {
            "http_proxy": f"http://bob:{PROXY_PASSWORD}@proxy.corp.fabrikam.com:3128",
            "NO_PROXY": "168.63.129.16,169.254.169.254",
            "PATH": "/usr/bin",
            "SECRET_TOKEN": "never-collected",
        }

    def clock(self) -> float:
        return self.clock_now

    def read_text(self, path: str) -> str:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.files[path]

    def read_tail(self, path: str, limit: int) -> tuple[str, int]:
        text = self.read_text(path)
        data = text.encode()
        return data[-limit:].decode(errors="replace"), len(data)

    def list_dir(self, path: str) -> list[str]:
        if path not in self.dirs:
            raise FileNotFoundError(2, "No such file or directory", path)
        return list(self.dirs[path])

    def run_command(self, argv: Sequence[str], timeout_s: float) -> CommandResult:
        key = tuple(argv)
        self.commands_run.append((key, timeout_s))
        self.clock_now += min(self.command_seconds, timeout_s)
        if key in self.outputs:
            return self.outputs[key]
        if key[0] in ("iptables", "ip6tables-save") and not self.root:
            return CommandResult(key, 4, "", "Permission denied (you must be root)\n")
        return CommandResult(key, None, error=f"{key[0]} is not installed")

    def system(self) -> System:
        return System(
            read_text=self.read_text,
            run_command=self.run_command,
            hostname=lambda: HOST,
            is_root=lambda: self.root,
            environ=self.environ,
            list_dir=self.list_dir,
        )


def lab_report() -> Report:
    """The sample report, with the lab VM's identity in its evidence and facts."""
    report = sample_report()
    compact_mac = MAC0.replace(":", "").upper()
    imds = CheckResult(
        "imds",
        "IMDS",
        Status.OK,
        f"public IP {PUBLIC_IP} on eth0 ({compact_mac})",
        {"macAddress": compact_mac, "publicIpAddress": PUBLIC_IP},
    )
    dns = dataclasses.replace(
        report.results[3],
        evidence={"question": FQDN, "rcode": "NOERROR", "answers": ["10.1.0.4"]},
    )
    results = (*report.results[:3], dns, *report.results[4:], imds)
    return dataclasses.replace(report, results=results, facts={**report.facts, "hostname": HOST})


def _bundle(
    tmp_path: Path,
    machine: LabMachine | None = None,
    report: Report | None = None,
    output_name: str = "",
    **options: Any,
) -> BundleResult:
    machine = machine or LabMachine()
    return create_bundle(
        tmp_path / output_name if output_name else tmp_path,
        report if report is not None else lab_report(),
        system=machine.system(),
        clock=machine.clock,
        now=lambda: 1_790_000_000.0,
        tail_reader=machine.read_tail,
        **options,
    )


def _members(path: Path) -> dict[str, bytes]:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    with tarfile.open(path, "r:gz") as archive:
        found = {}
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            assert handle is not None, f"{member.name} is not a regular file"
            found[member.name] = handle.read()
        return found


def _files(result: BundleResult) -> dict[str, str]:
    """Archive members by their path inside the bundle's top directory."""
    return {
        name.split("/", 1)[1]: data.decode("utf-8") for name, data in _members(result.path).items()
    }


# -- contents and manifest ------------------------------------------------------------


def test_archive_name_mode_layout_and_order(tmp_path: Path) -> None:
    result = _bundle(tmp_path)
    assert re.fullmatch(
        r"wirecheck-bundle-REDACTED-HOST-\d+-20260921T141320Z\.tar\.gz", result.path.name
    )
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    # Beside it only its key (no temp file): 0600 too, named after the archive.
    assert result.key_path == tmp_path / result.path.name.replace(".tar.gz", KEY_SUFFIX)
    assert sorted(os.listdir(tmp_path)) == sorted([result.path.name, result.key_path.name])
    assert stat.S_IMODE(result.key_path.stat().st_mode) == 0o600
    with tarfile.open(result.path, "r:gz") as archive:
        members = archive.getmembers()
    top = result.path.name.removesuffix(".tar.gz")
    assert [m.name for m in members[:3]] == [
        f"{top}/SUMMARY.txt",
        f"{top}/SHA256SUMS",
        f"{top}/manifest.json",
    ]
    assert all(m.isfile() and m.mode == 0o600 and m.uid == 0 and m.uname == "" for m in members)
    files = _files(result)
    for expected in (
        "reports/168-63-129-16_test.txt",
        "reports/168-63-129-16_test.json",
        "reports/168-63-129-16_test.html",
        "reports/168-63-129-16_test.junit.xml",
        "network/ip-address.txt",
        "network/ip-route-get-target.txt",
        "firewall/iptables-save.txt",
        "firewall/nft-ruleset.txt",
        "agent/waagent-version.txt",
        "files/etc/resolv.conf",
        "files/etc/waagent.conf",
        "files/var/lib/dhcp/dhclient.eth0.leases",
        "files/run/systemd/netif/leases/2",
        "files/var/log/waagent.log",
        "environment/proxy.txt",
    ):
        assert expected in files, expected
    assert "files/var/lib/dhcp/other" not in files  # only names matching the lease pattern


def test_checksums_cover_every_other_file(tmp_path: Path) -> None:
    files = _files(_bundle(tmp_path))
    listed = {}
    for line in files["SHA256SUMS"].splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert set(listed) == set(files) - {"SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256(files[name].encode()).hexdigest() == digest, name


def test_manifest_records_every_item_with_its_outcome(tmp_path: Path) -> None:
    result = _bundle(tmp_path)
    files = _files(result)
    manifest = json.loads(files["manifest.json"])
    assert manifest == result.manifest
    assert manifest["schema_version"] == 1 and manifest["redacted"] is True
    assert manifest["run"]["exit_code"] == 2 and manifest["run"]["status"] == "fail"
    items = {item["source"]: item for item in manifest["items"]}
    ip = items["ip -details address show"]
    assert ip["command"] == ["ip", "-details", "address", "show"]
    assert ip["exit_status"] == 0 and ip["path"] == "network/ip-address.txt"
    assert ip["bytes"] == len(IP_ADDR.encode())  # what the command printed, before redaction
    assert "network/ip-address.txt" in files
    assert items["firewall-cmd --direct --get-all-rules"]["skipped"] == (
        "firewall-cmd is not installed"
    )
    assert items["firewall-cmd --direct --get-all-rules"]["exit_status"] is None
    assert items["/etc/nsswitch.conf"]["skipped"] == "not present on this machine"
    assert items["/var/lib/NetworkManager"]["skipped"].startswith("not present")
    assert items["/var/log/waagent.log"]["tail"] is True
    assert items["wirecheck's own environment"]["path"] == "environment/proxy.txt"
    assert set(manifest["limits"]) == {
        "item_seconds",
        "total_seconds",
        "redact_share",
        "item_bytes",
        "log_tail_bytes",
        "total_bytes",
    }
    assert len(manifest["items"]) >= len(linux_items("168.63.129.16"))
    assert manifest["redaction_counts"]["IP"] >= 2 and manifest["redaction_counts"]["MAC"] >= 3


def test_summary_has_verdict_diagnosis_and_what_was_not_collected(tmp_path: Path) -> None:
    summary = _files(_bundle(tmp_path))["SUMMARY.txt"]
    assert "wirecheck: FAIL - " in summary
    assert "1. TCP 32526 times out: something drops it" in summary
    assert "firewall-cmd --direct --get-all-rules: firewall-cmd is not installed" in summary
    assert "Redacted: secrets, GUIDs, public IPs, MACs" in summary
    assert "key that maps them back was written beside this archive" in summary


def test_only_proxy_variables_are_collected(tmp_path: Path) -> None:
    proxy = _files(_bundle(tmp_path))["environment/proxy.txt"]
    assert "NO_PROXY=168.63.129.16,169.254.169.254" in proxy
    assert "http_proxy=http://REDACTED-SECRET-" in proxy
    assert "PATH=" not in proxy and "never-collected" not in proxy


def test_zip_on_request(tmp_path: Path) -> None:
    result = _bundle(tmp_path, archive_format="zip")
    assert result.path.name.endswith(".zip")
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
        modes = {stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}
    assert names[0].endswith("/SUMMARY.txt") and modes == {0o600}
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600


def test_output_may_name_the_archive_file(tmp_path: Path) -> None:
    machine = LabMachine()
    target = tmp_path / "sub" / "case-123.tar.gz"
    result = create_bundle(
        target, lab_report(), system=machine.system(), tail_reader=machine.read_tail
    )
    assert result.path == target and tarfile.is_tarfile(target)


def test_checks_not_run_is_said_and_no_reports(tmp_path: Path) -> None:
    result = create_bundle(
        tmp_path,
        None,
        not_run_reason="not requested (--no-run)",
        system=LabMachine().system(),
        tail_reader=LabMachine().read_tail,
    )
    files = _files(result)
    assert not any(name.startswith("reports/") for name in files)
    assert result.manifest["run"] == {"skipped": "not requested (--no-run)"}
    assert "Checks not run: not requested (--no-run)" in files["SUMMARY.txt"]


# -- redaction ------------------------------------------------------------------------


def test_no_public_ip_mac_fqdn_hostname_or_secret_left_anywhere(tmp_path: Path) -> None:
    result = _bundle(tmp_path)
    everything = "\n".join(f"{name}\n{text}" for name, text in _files(result).items())
    everything += result.path.name
    lowered = everything.lower()
    for secret in SECRETS:
        assert secret.lower() not in lowered, f"{secret!r} left in the bundle"
    for address in re.findall(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)", everything):
        kept = address in ("168.63.129.16", "2.14.0.1") or ipaddress.IPv4Address(address).is_private
        assert kept and not address.startswith(("192.0.2.", "198.51.100.", "203.0.113.")), address
    macs = re.findall(r"(?i)(?<![0-9a-f:])(?:[0-9a-f]{2}:){5}[0-9a-f]{2}(?![0-9a-f:])", everything)
    assert set(m.lower() for m in macs) <= {"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"}


def test_tokens_are_consistent_across_files(tmp_path: Path) -> None:
    files = _files(_bundle(tmp_path))

    def token(pattern: str, text: str) -> str:
        match = re.search(pattern, text)
        assert match, pattern
        return match.group(1)

    report = json.loads(files["reports/168-63-129-16_test.json"])
    imds = next(c for c in report["checks"] if c["id"] == "imds")["evidence"]
    ip_token = imds["publicIpAddress"]
    assert ip_token.startswith("REDACTED-IP-")
    assert f"public address {ip_token} via ip-{ip_token}" in files["files/var/log/waagent.log"]
    mac_token = imds["macAddress"]
    assert f"link/ether {mac_token} " in files["network/ip-address.txt"]
    host = token(r"(REDACTED-HOST-\d+)", files["files/etc/hostname"])
    domain = token(r"search (REDACTED-DOMAIN-\d+)\.internal", files["files/etc/resolv.conf"])
    assert f"10.1.0.4 {host}.{domain}.internal.cloudapp.net {host}" in files["files/etc/hosts"]
    assert report["facts"]["hostname"] == host
    dns = next(c for c in report["checks"] if c["id"] == "dns-udp")["evidence"]
    assert dns["question"] == f"{host}.{domain}.internal.cloudapp.net"
    assert (
        f'domain-name "{domain}.internal.cloudapp.net"'
        in (files["files/var/lib/dhcp/dhclient.eth0.leases"])
    )
    proxy_host = token(r"HttpProxy\.Host=(\S+)", files["files/etc/waagent.conf"])
    assert f"@{proxy_host}:3128" in files["environment/proxy.txt"]
    assert '<h1 id="verdict">FAIL</h1>' in files["reports/168-63-129-16_test.html"]
    assert f'hostname="{host}"' in files["reports/168-63-129-16_test.junit.xml"]


def test_what_support_needs_is_kept(tmp_path: Path) -> None:
    files = _files(_bundle(tmp_path))
    assert (
        "168.63.129.16 via 10.1.0.1 dev eth0 src 10.1.0.4"
        in (files["network/ip-route-get-target.txt"])
    )
    assert "[7:420] -A OUTPUT -d 168.63.129.16/32" in files["firewall/iptables-save.txt"]
    assert "Provisioning.DeleteRootPassword=y" in files["files/etc/waagent.conf"]
    assert "Admin.Password=REDACTED-SECRET-" in files["files/etc/waagent.conf"]
    assert "WALinuxAgent-2.14.0.1" in files["agent/waagent-version.txt"]
    assert "option unknown-245 a8:3f:81:10;" in files["files/var/lib/dhcp/dhclient.eth0.leases"]
    # The report's check ids, statuses and titles are support's vocabulary: untouched.
    report = json.loads(files["reports/168-63-129-16_test.json"])
    expected = {r.check_id: (r.status.value, r.title) for r in lab_report().results}
    assert {c["id"]: (c["status"], c["title"]) for c in report["checks"]} == expected
    text = files["reports/168-63-129-16_test.txt"]
    assert all(f"{check_id}" in text for check_id in expected)


def test_no_redact_keeps_everything(tmp_path: Path) -> None:
    result = _bundle(tmp_path, redact=False)
    assert result.path.name.startswith(f"wirecheck-bundle-{HOST}-")
    files = _files(result)
    assert f"link/ether {MAC0}" in files["network/ip-address.txt"]
    assert f"Admin.Password={PASSWORD}" in files["files/etc/waagent.conf"]
    assert "NOT redacted (--no-redact)" in files["SUMMARY.txt"]
    assert result.manifest["redacted"] is False
    assert result.key_path is None and os.listdir(tmp_path) == [result.path.name]  # no key
    assert result.manifest["redactions_per_file"] == {}


def test_redaction_has_its_share_of_the_time_budget_and_sends_nothing_unredacted(
    tmp_path: Path,
) -> None:
    """Collecting stops at 2/3 of the budget; redaction may use the rest, and an item it
    has no time left for is left out. The fake clock starts to tick hard once the logs
    are read, so the budget runs out while redacting."""
    machine = LabMachine()
    ticks: list[float] = []

    def clock() -> float:
        machine.clock_now += ticks[-1] if ticks else 0.0
        return machine.clock_now

    def read_tail(path: str, limit: int) -> tuple[str, int]:
        ticks.append(4.0)
        return machine.read_tail(path, limit)

    limits = Limits(total_seconds=90)
    result = create_bundle(
        tmp_path,
        lab_report(),
        system=machine.system(),
        clock=clock,
        now=lambda: 1_790_000_000.0,
        tail_reader=read_tail,
        limits=limits,
    )
    files = _files(result)
    items = result.manifest["items"]
    left_out = [i for i in items if "not redacted within" in i.get("skipped", "")]
    assert left_out, "the budget ran out while redacting"
    assert all("left out rather than sent unredacted" in i["skipped"] for i in left_out)
    assert all(i["path"] not in files and "bytes" not in i for i in left_out)
    # Every other item with content made it in, redacted; the reports always do.
    assert all(i["path"] in files for i in items if "bytes" in i)
    assert "reports/168-63-129-16_test.json" in files
    everything = "\n".join(files.values()).lower()
    assert [s for s in SECRETS if s.lower() in everything] == []
    assert machine.clock_now >= 90  # it did run out


class _ChecksLeft(Deadline):
    """A budget that lasts a given number of looks, however fast the machine."""

    def __init__(self, looks: int) -> None:
        super().__init__(1.0)
        self.looks = looks

    @property
    def expired(self) -> bool:
        self.looks -= 1
        return self.looks < 0


@pytest.mark.parametrize("looks", [0, 3, 10, 100])
def test_items_the_budget_leaves_no_time_for_are_left_out_not_sent(looks: int) -> None:
    machine = LabMachine()
    collected = Collector(machine.system(), Limits(), machine.clock, machine.read_tail).collect(
        linux_items("168.63.129.16")
    )
    with_text = [c for c in collected if c.text is not None]
    redact_collected(Redactor(), machine.system(), collected, None, _ChecksLeft(looks), Limits())
    done = [c for c in with_text if c.text is not None]
    left = [c for c in with_text if c.text is None]
    assert len(done) + len(left) == len(with_text)
    assert (len(left) == 0) == (looks >= 2 * len(with_text)) and (len(done) == 0) == (
        looks <= len(with_text)
    )
    assert all("not redacted within" in c.entry["skipped"] for c in left)
    everything = "\n".join(c.text or "" for c in done).lower()
    assert [s for s in SECRETS if s.lower() in everything] == []


def test_a_failed_archive_write_leaves_no_key_behind(tmp_path: Path) -> None:
    target = tmp_path / "case.tar.gz"
    target.mkdir()  # a directory where the archive should go: the rename fails
    with pytest.raises(OSError):
        _bundle(target.parent, archive_format="tar.gz", output_name="case.tar.gz")
    assert sorted(os.listdir(tmp_path)) == ["case.tar.gz"]


# -- atomicity ------------------------------------------------------------------------


def test_interrupted_while_writing_leaves_no_archive(tmp_path: Path) -> None:
    def members() -> Any:
        yield "b/one.txt", b"x" * 100_000
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_archive(tmp_path / "b.tar.gz", members(), "tar.gz", 0)
    assert os.listdir(tmp_path) == []


def test_interrupted_while_collecting_leaves_no_archive(tmp_path: Path) -> None:
    machine = LabMachine()

    def interrupted(argv: Sequence[str], timeout_s: float) -> CommandResult:
        if argv[0] == "nft":
            raise KeyboardInterrupt
        return machine.run_command(argv, timeout_s)

    system = dataclasses.replace(machine.system(), run_command=interrupted)
    with pytest.raises(KeyboardInterrupt):
        create_bundle(tmp_path, lab_report(), system=system, tail_reader=machine.read_tail)
    assert os.listdir(tmp_path) == []


_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from wirecheck.bundle.archive import write_archive
    from wirecheck.bundle.build import interrupt_on_termination

    def members():
        for n in range(200):
            time.sleep(0.05)
            yield f"b/{n}.txt", b"x" * 50_000

    try:
        with interrupt_on_termination():
            write_archive(Path(sys.argv[1]) / "b.tar.gz", members(), "tar.gz", 0)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def test_sigterm_while_writing_leaves_no_archive(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 20
        while not any(n.endswith(".part") for n in os.listdir(tmp_path)):
            assert time.monotonic() < deadline and process.poll() is None, "writer never started"
            time.sleep(0.02)
        time.sleep(0.2)  # well inside the archive now
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert os.listdir(tmp_path) == []


# -- bounds ---------------------------------------------------------------------------


def test_per_item_and_total_size_caps(tmp_path: Path) -> None:
    machine = LabMachine()
    big = "x" * (5 * 1024 * 1024)
    machine.outputs[("ip", "-details", "address", "show")] = CommandResult((), 0, big)
    machine.outputs[("ip", "-statistics", "link", "show")] = CommandResult((), 0, big)
    limits = Limits(item_bytes=64 * 1024, total_bytes=100 * 1024, log_tail_bytes=8 * 1024)
    collected = Collector(machine.system(), limits, machine.clock, machine.read_tail).collect(
        linux_items("168.63.129.16")
    )
    first, second = collected[0], collected[1]
    assert first.entry["truncated"] is True and first.entry["original_bytes"] == len(big)
    assert first.entry["bytes"] <= 64 * 1024 and first.text is not None
    assert first.text.endswith(f"[wirecheck: cut to {64 * 1024} of {len(big)} bytes]\n")
    assert second.entry["truncated"] is True and second.entry["bytes"] <= 36 * 1024
    later = [c for c in collected[2:] if c.entry.get("skipped", "").startswith("the bundle's")]
    assert later and all("total size cap" in c.entry["skipped"] for c in later)
    assert sum(c.entry.get("bytes", 0) for c in collected) <= limits.total_bytes


def test_total_time_budget_and_per_item_timeout(tmp_path: Path) -> None:
    machine = LabMachine()
    machine.command_seconds = 10.0
    limits = Limits(item_seconds=15.0, total_seconds=25.0)
    collected = Collector(machine.system(), limits, machine.clock, machine.read_tail).collect(
        linux_items("168.63.129.16")
    )
    timeouts = [t for _argv, t in machine.commands_run]
    assert timeouts[:3] == [15.0, 15.0, 5.0]  # the last one gets what is left of the budget
    assert len(machine.commands_run) == 3
    budget = [
        c for c in collected if "time budget for collecting (25 s)" in c.entry.get("skipped", "")
    ]
    assert len(budget) == len(collected) - 3


def test_a_command_that_hangs_is_cut_at_its_limit_and_recorded(tmp_path: Path) -> None:
    """Real processes: `sleep 5` under a 0.3 s item limit."""
    limits = Limits(item_seconds=0.3, total_seconds=10)
    started = time.monotonic()
    [hung, quick] = Collector(System(), limits).collect(
        [CommandItem("slow.txt", ("sleep", "5")), CommandItem("quick.txt", ("true",))]
    )
    assert time.monotonic() - started < 3
    assert hung.text is None and hung.entry["timed_out"] is True
    assert "did not finish within 0.3 s" in hung.entry["skipped"]
    assert quick.entry["exit_status"] == 0 and quick.entry.get("timed_out") is None


def test_log_tail_keeps_the_newest_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {n:06d}\n" for n in range(100_000)))
    text, size = read_tail(str(log), 1000)
    assert size == log.stat().st_size
    assert text.endswith("line 099999\n") and text.startswith("line ")
    assert len(text.encode()) <= 1000
    [entry] = Collector(System(), Limits(log_tail_bytes=1000)).collect(
        [FileItem(str(log), tail=True)]
    )
    assert entry.entry["truncated"] is True and entry.entry["original_bytes"] == size


def test_directory_items_and_environment_item(tmp_path: Path) -> None:
    (tmp_path / "a.lease").write_text("one")
    (tmp_path / "b.txt").write_text("two")
    collected = Collector(
        dataclasses.replace(System(), environ={"HTTPS_PROXY": "http://10.0.0.1:8080", "HOME": "/"})
    ).collect([DirItem(str(tmp_path), "*.lease"), EnvItem("environment/proxy.txt", ("proxy",))])
    assert [c.path for c in collected] == [
        f"files{tmp_path}/a.lease".replace("//", "/"),
        "environment/proxy.txt",
    ]
    assert collected[1].text is not None and "HTTPS_PROXY=http://10.0.0.1:8080" in collected[1].text
    assert "HOME" not in collected[1].text


# -- without root ---------------------------------------------------------------------


def test_runs_without_root_on_the_real_machine(request: pytest.FixtureRequest) -> None:
    """A forked child drops to `nobody` and collects this machine's facts for real."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to nobody; already unprivileged runs cover this")
    # pytest's tmp_path sits under a root-only directory; nobody needs a way in.
    out = Path(tempfile.mkdtemp(prefix="wirecheck-nonroot-"))
    os.chown(out, 65534, 65534)
    request.addfinalizer(lambda: shutil.rmtree(out, ignore_errors=True))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            create_bundle(
                out, None, not_run_reason="facts only (test)", limits=Limits(total_seconds=30)
            )
            code = 0
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as errors:
        error = errors.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, error
    [archive] = [p for p in out.iterdir() if p.name.endswith(".tar.gz")]
    [key] = [p for p in out.iterdir() if p.name.endswith(KEY_SUFFIX)]
    for written in (archive, key):
        info = written.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (65534, 0o600)
    manifest = json.loads(
        next(d for n, d in _members(archive).items() if n.endswith("/manifest.json"))
    )
    items = {item["source"]: item for item in manifest["items"]}
    iptables = items["iptables-save -c"]
    assert iptables.get("note", "").startswith("needs root")
    assert items["ip -details address show"]["exit_status"] == 0


# -- the CLI --------------------------------------------------------------------------


def test_cli_bundle_runs_the_checks_on_loopback(tmp_path: Path) -> None:
    closed = str(refusing_port())
    result = cli_runner().invoke(
        app,
        [
            "bundle",
            *("--target", "127.0.0.1", "--timeout", "2", "--output", str(tmp_path)),
            *("--port-http", closed, "--port-hostplugin", closed, "--port-dns", closed),
        ],
    )
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.parent == tmp_path and path.exists()
    files = {n.split("/", 1)[1]: d for n, d in _members(path).items()}
    assert "reports/127-0-0-1_test.json" in files
    report = json.loads(files["reports/127-0-0-1_test.json"])
    assert report["target"] == "127.0.0.1" and report["exit_code"] == 2
    assert json.loads(files["manifest.json"])["run"]["exit_code"] == 2


def test_cli_bundle_off_azure_collects_facts_without_probing(tmp_path: Path) -> None:
    machine = LabMachine()
    # No Azure asset tag (on any machine, an Azure CI runner included): never probe from here.
    seams = Seams(read_asset_tag=lambda: None, system=machine.system())
    result = cli_runner().invoke(app, ["bundle", "--output", str(tmp_path)], obj=seams)
    assert result.exit_code == 0, result.output
    assert "does not look like an Azure VM" in result.stderr
    [archive] = [p for p in tmp_path.iterdir() if p.name.endswith(".tar.gz")]
    key = tmp_path / archive.name.replace(".tar.gz", KEY_SUFFIX)
    assert f"redaction key (each token and the value it replaced): {key}" in result.stderr
    assert "do not send it" in result.stderr and result.stdout.strip() == str(archive)
    files = {n.split("/", 1)[1]: d for n, d in _members(archive).items()}
    assert not any(n.startswith("reports/") for n in files)
    assert "does not look like an Azure VM" in json.loads(files["manifest.json"])["run"]["skipped"]
    assert "network/ip-address.txt" in files  # the facts came from the machine it was given


def test_cli_bundle_unwritable_output_exits_3(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = cli_runner().invoke(app, ["bundle", "--no-run", "--output", str(blocker / "sub")])
    assert result.exit_code == 3
    assert "could not write the bundle" in result.stderr
