"""The redaction corpus (tests/redaction_corpus.py): every planted value, no leak.

Two ways in: the redactor over every corpus file, and the whole bundle over a machine
whose files, command outputs and environment are the corpus. Each test names every value
it finds left, with its class, so a failure reads as a leak report.
"""

from __future__ import annotations

import json
import re
import stat
import tarfile
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.redaction_corpus import (
    HOSTNAME,
    KEPT,
    PLANTED,
    Planted,
    corpus_files,
    corpus_items,
    corpus_system,
    leaks,
    read_tail,
)
from wirecheck.bundle.build import BundleResult, create_bundle
from wirecheck.bundle.redact import Redactor


def _report(found: list[Planted]) -> str:
    lines = [f"{len(found)} planted values left:"]
    lines += [f"  {p.kind:7} {p.what}: {p.value[:48]!r}" for p in found]
    return "\n".join(lines)


def _redacted_corpus() -> tuple[Redactor, dict[str, str]]:
    redactor = Redactor()
    redactor.add_hostname(HOSTNAME)
    files = corpus_files()
    for name, text in files.items():
        redactor.learn_file("/" + name, text)
    return redactor, {name: redactor.text(text, name) for name, text in files.items()}


def _bundle(tmp_path: Path) -> tuple[BundleResult, dict[str, str]]:
    result = create_bundle(
        tmp_path,
        None,
        not_run_reason="the corpus test runs no check",
        system=corpus_system(),
        items=corpus_items(),
        tail_reader=read_tail,
        now=lambda: 1_790_000_000.0,
    )
    files: dict[str, str] = {}
    with tarfile.open(result.path) as archive:
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            assert handle is not None
            files[member.name.split("/", 1)[1]] = handle.read().decode("utf-8")
    return result, files


def test_every_planted_value_is_in_the_corpus() -> None:
    """Otherwise a typo would make the leak tests pass for nothing."""
    everything = "\n".join(corpus_files().values())
    assert [p for p in PLANTED if not leaks(everything, [p])] == []
    assert Counter(p.kind for p in PLANTED) == {
        "secret": 26,
        "guid": 13,
        "name": 9,
        "host": 9,
        "domain": 3,
        "ip": 4,
        "mac": 4,
        "user": 2,
        "id": 3,
    }


def test_the_redactor_leaves_no_planted_value() -> None:
    _, redacted = _redacted_corpus()
    found = leaks("\n".join(redacted.values()))
    assert found == [], _report(found)


def test_the_redactor_keeps_what_support_needs() -> None:
    _, redacted = _redacted_corpus()
    lost = [(name, kept) for name, wanted in KEPT.items() for kept in wanted]
    lost = [(name, kept) for name, kept in lost if kept not in redacted[name]]
    assert lost == []


def test_the_whole_bundle_leaves_no_planted_value(tmp_path: Path) -> None:
    result, files = _bundle(tmp_path)
    everything = "\n".join(f"{name}\n{text}" for name, text in files.items())
    found = leaks(everything + result.path.name)
    assert found == [], _report(found)
    # The corpus files the bundle collected all made it in (none skipped, none empty).
    for path in ("files/etc/environment", "files/var/log/waagent.log", "files/etc/waagent.conf"):
        assert files[path].strip(), path
    nm = "files/etc/NetworkManager/system-connections/corp-vpn.nmconnection"
    assert "psk=REDACTED-SECRET-" in files[nm]


def test_the_same_value_gets_the_same_token_in_every_file(tmp_path: Path) -> None:
    _, files = _bundle(tmp_path)
    log = files["files/var/log/waagent.log"]
    cloud_init = files["files/var/log/cloud-init.log"]
    environment = files["files/etc/environment"]
    vm_id = re.search(r"VM Id: (REDACTED-GUID-\d+)", log)
    assert vm_id and f'"vmId": "{vm_id.group(1)}"' in cloud_init
    sub = re.search(r"AZURE_SUBSCRIPTION_ID=(REDACTED-GUID-\d+)", environment)
    assert sub and f"/subscriptions/{sub.group(1)}/resourceGroups/" in log
    host = re.search(r"(REDACTED-HOST-\d+)", files["files/etc/hostname"])
    assert host and f"Disk {host.group(1)}_OsDisk_1_" in log
    assert f'"computerName": "{host.group(1)}"' in cloud_init
    account = re.search(r"AccountName=(REDACTED-NAME-\d+);", environment)
    assert account and f"https://{account.group(1)}.blob.core.windows.net/" in log
    proxy = re.search(r"http://(REDACTED-SECRET-\d+)@", environment)
    assert proxy and f"http://{proxy.group(1)}@" in files["environment/proxy.txt"]


def test_the_key_maps_every_token_back_and_stays_outside(tmp_path: Path) -> None:
    result, files = _bundle(tmp_path)
    assert result.key_path is not None and result.key_path.parent == result.path.parent
    assert stat.S_IMODE(result.key_path.stat().st_mode) == 0o600
    assert not any(name.endswith(".json") and "key" in name for name in files)
    key = json.loads(result.key_path.read_text())
    assert key["archive"] == result.path.name
    tokens: dict[str, str] = key["tokens"]
    # Every token in the archive is in the key, as a value or as a secret.
    used = set(re.findall(r"REDACTED-[A-Z0-9]+-\d+", "\n".join(files.values())))
    assert used <= set(tokens) | set(key["secrets"])
    # Identifiers map back to what they replaced; secrets are not written, only where.
    originals = {value.lower() for value in tokens.values()}
    for planted in PLANTED:
        if planted.kind in ("host", "guid", "ip", "domain", "user"):
            value = unquote(planted.value).strip("._").lower()
            assert any(value in o or o in value for o in originals), planted
    key_text = result.key_path.read_text()
    secrets = [p for p in PLANTED if p.kind == "secret"]
    assert leaks(key_text, secrets) == [], "the key holds no secret"
    assert all(entry["found_in"] for entry in key["secrets"].values())


def test_the_manifest_counts_redactions_per_file_and_class(tmp_path: Path) -> None:
    _, files = _bundle(tmp_path)
    manifest = json.loads(files["manifest.json"])
    per_file = manifest["redactions_per_file"]
    environment = per_file["files/etc/environment"]
    assert environment["SECRET"] >= 5 and environment["GUID"] == 3
    text = files["files/etc/environment"]
    for kind, count in environment.items():
        assert len(re.findall(rf"REDACTED-{kind}-\d+", text)) == count, kind
    assert set(per_file) <= set(files)


@pytest.mark.parametrize("name", sorted(KEPT))
def test_the_whole_bundle_keeps_what_support_needs(tmp_path: Path, name: str) -> None:
    _, files = _bundle(tmp_path)
    path = name.replace("commands/", "") if name.startswith("commands/") else f"files/{name}"
    assert [kept for kept in KEPT[name] if kept not in files[path]] == []
