"""The kernel's nftables tables over netlink agree with `nft list tables`, in a namespace
of the test's own (iptables-nft's table and a native one)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.labenv import unique_names

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace() -> Iterator[str]:
    name = unique_names("n").vm
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def _in(namespace: str, *argv: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    return done.stdout


def test_netlink_lists_the_tables_nft_lists(namespace: str) -> None:
    _in(namespace, "nft", "add", "table", "inet", "wirecheck_test")
    _in(
        namespace,
        "iptables",
        "-w",
        "-t",
        "filter",
        "-A",
        "OUTPUT",
        "-d",
        "192.0.2.1",
        "-j",
        "ACCEPT",
    )
    asked = json.loads(
        _in(
            namespace,
            sys.executable,
            "-c",
            "import json; from wirecheck.platform.firewall.nft_tables import nft_tables; "
            "print(json.dumps(nft_tables()))",
        )
    )
    listed = [
        (item["table"]["family"], item["table"]["name"])
        for item in json.loads(_in(namespace, "nft", "-j", "list", "tables"))["nftables"]
        if "table" in item
    ]
    assert sorted((family, name) for family, name, _chains in asked) == sorted(listed)
    chains = {(family, name): count for family, name, count in asked}
    assert chains[("ip", "filter")] >= 1  # the OUTPUT chain iptables created
    assert ("inet", "wirecheck_test") in listed and ("ip", "filter") in listed
