"""Real rules in a throwaway namespace: the parsers on live output, and the firewall check
naming the rule whose counter rose (root only; the namespace is always deleted)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import firewall_lab
from wirecheck.platform.firewall.assess import agent_firewall, is_agent_rule
from wirecheck.platform.firewall.parsers import (
    parse_iptables_list,
    parse_iptables_save,
    parse_nft_json,
    parse_nft_text,
)

WS = firewall_lab.PLATFORM
REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(
        sys.platform != "linux"
        or os.geteuid() != 0
        or not all(shutil.which(t) for t in ("ip", "iptables-save", "nft", "setpriv")),
        reason="needs Linux, root, iproute2, iptables and nft",
    ),
]


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.startswith("wcfw-")}


@pytest.fixture(autouse=True)
def _no_namespace_left() -> Any:
    before = _namespaces()
    yield
    assert _namespaces() == before


def test_live_iptables_output_parses_like_the_recording() -> None:
    live = firewall_lab.capture_iptables()
    saved = parse_iptables_save(live["lab-iptables-save-c.txt"])
    agent = [r for r in saved if is_agent_rule(r, WS)]
    assert len(agent) == 3
    assert agent_firewall(saved, WS) == "iptables security/OUTPUT (3 of 3 rules)"
    by_text = {r.text: r for r in saved}
    port = by_text[f"-A OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP"]
    assert port.packets is not None and port.packets >= 1
    listed = parse_iptables_list(live["lab-iptables-L-filter.txt"], "filter")
    assert [(r.chain, r.verdict) for r in listed if not r.policy] == [
        (r.chain, r.verdict) for r in saved if r.table == "filter" and not r.policy
    ]
    security = parse_iptables_list(live["lab-iptables-L-security.txt"], "security")
    assert sum(is_agent_rule(r, WS) for r in security) == 3


def test_live_nft_output_parses_like_the_recording() -> None:
    live = firewall_lab.capture_nft()
    rules, hooks = parse_nft_json(live["lab-nft-native.json"])
    text_rules, _ = parse_nft_text(live["lab-nft-native.txt"])
    assert [(r.table, r.chain, r.verdict) for r in rules] == [
        (r.table, r.chain, r.verdict) for r in text_rules
    ]
    (agent,) = [r for r in rules if is_agent_rule(r, WS)]
    assert agent.packets is not None and agent.packets >= 1  # the non-root connect it dropped
    assert "ip walinuxagent output" in hooks


def _wirecheck_in(exec_in: list[str], only: str) -> dict[str, Any]:
    """`wirecheck run` inside the namespace: 168.63.129.16 there leads nowhere."""
    done = subprocess.run(
        [
            *exec_in,
            sys.executable,
            "-m",
            "wirecheck",
            "run",
            "--force",
            "--only",
            only,
            "--timeout",
            "1.5",
            "--no-report",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.stdout, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_firewall_check_names_the_iptables_rule_that_counted() -> None:
    with firewall_lab.namespace("e2e") as exec_in:
        firewall_lab.install_iptables(exec_in)
        report = _wirecheck_in(exec_in, "tcp-32526,dns-udp,firewall")
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["tcp-32526"]["evidence"]["outcome"] == "timeout"
    assert checks["dns-udp"]["evidence"]["outcome"] == "blocked"
    firewall = checks["firewall"]
    assert firewall["status"] == "fail"
    assert firewall["evidence"]["agent_firewall"] == "iptables security/OUTPUT (3 of 3 rules)"
    counted = {c["rule"]: c for c in firewall["evidence"]["counted"]}
    port = counted[f"-A OUTPUT -d {WS}/32 -p tcp -m tcp --dport 32526 -j DROP"]
    assert port["probes"] == ["tcp-32526"] and port["packets_during_probes"] >= 1
    assert port["remove"].startswith("iptables -t filter -D OUTPUT")
    dns = next(c for c in counted.values() if "--dport 53" in c["rule"])
    assert dns["probes"] == ["dns-udp"] and dns["verdict"] == "REJECT"
    first = report["diagnosis"][0]
    assert "counted" in first["summary"] and first["fix"].startswith("Remove it: `iptables")


def test_firewall_check_names_the_nft_rule_that_counted() -> None:
    with firewall_lab.namespace("e2n") as exec_in:
        firewall_lab.install_nft(exec_in)
        report = _wirecheck_in(exec_in, "tcp-32526,firewall")
    firewall = next(c for c in report["checks"] if c["id"] == "firewall")
    assert firewall["status"] == "fail"
    assert "nftables rule `ip daddr 168.63.129.16 tcp dport 32526" in firewall["finding"]
    assert "nft delete rule inet custom out handle" in firewall["fix"]
    assert firewall["evidence"]["agent_firewall"] == "nftables table ip walinuxagent"
    assert report["diagnosis"][0]["checks"] == ["tcp-32526", "firewall"]
