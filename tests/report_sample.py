"""A fixed Report (fixed times, every status, a traceroute with an extra hop) for golden tests.

Golden files under tests/golden/ are rendered from `sample_report()`; regenerate them after
an intended change with `WIRECHECK_UPDATE_GOLDEN=1 python -m pytest tests/test_report_*.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

from wirecheck.model import Cause, CheckResult, Report, Status

GOLDEN = Path(__file__).resolve().parent / "golden"
STARTED_AT = 1_790_000_000.25  # 2026-09-21T14:13:20.25Z
VERSIONS_BODY = """<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2015-04-05</Version>
  </Preferred>
  <Supported>
    <Version>2015-04-05</Version>
    <Version>2012-11-30</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>
"""
TRACE_TEXT = """traceroute to 168.63.129.16 (168.63.129.16), 4 hops max, 60 byte packets
 1  10.1.0.254  0.412 ms  0.388 ms  0.377 ms
 2  * * *
 3  168.63.129.16  1.204 ms  1.150 ms  1.101 ms
"""


def sample_results() -> tuple[CheckResult, ...]:
    return (
        CheckResult(
            "tcp-80",
            "TCP 80 to the platform (WireServer)",
            Status.OK,
            "connected to WireServer (TCP 80) in 0.8 ms from 10.1.0.4 on eth0",
            {
                "target": "168.63.129.16:80",
                "outcome": "connected",
                "latency_ms": 0.81,
                "local_address": "10.1.0.4:50412",
                "interface": "eth0",
            },
            duration_s=0.0012,
        ),
        CheckResult(
            "tcp-32526",
            "TCP 32526 to the platform (host agent plugin)",
            Status.FAIL,
            "the host agent plugin (TCP 32526) timed out: no answer before the deadline",
            {"target": "168.63.129.16:32526", "outcome": "timeout", "latency_ms": 4998.7},
            fix="Look for a rule that drops port 32526 to 168.63.129.16: `iptables-save -c`.",
            duration_s=4.9987,
        ),
        CheckResult(
            "wire-versions",
            "WireServer versions answer",
            Status.OK,
            "HTTP 200 in 3 ms; preferred 2015-04-05; 2012-11-30 offered",
            {
                "url": "http://168.63.129.16/?comp=versions",
                "outcome": "ok",
                "status": 200,
                "body": VERSIONS_BODY,
                "preferred": ["2015-04-05"],
                "supported": ["2015-04-05", "2012-11-30", "2010-28-10"],
            },
            duration_s=0.0031,
        ),
        CheckResult(
            "dns-udp",
            "DNS over UDP 53 to the platform resolver",
            Status.WARN,
            'answered NOERROR, but vm1 resolves to 10.1.0.9, not this VM\'s 10.1.0.4 ("stale")',
            {"question": "vm1.internal.example", "rcode": "NOERROR", "answers": ["10.1.0.9"]},
            fix="Check the VM's DNS registration & the resolver's records <A>.",
            duration_s=0.0024,
        ),
        CheckResult(
            "dns-reverse",
            "No reverse name for the platform address",
            Status.SKIP,
            "no system resolver is configured here",
            {},
            duration_s=0.0,
        ),
        CheckResult(
            "trace-80",
            "TCP traceroute to port 80",
            Status.WARN,
            "the target answers at hop 3, not 1: 10.1.0.254 is in the path",
            {"engine": "kernel", "traceroute_text": TRACE_TEXT, "source": "10.1.0.4"},
            fix="Find why traffic to 168.63.129.16 goes through 10.1.0.254 (a route or an NVA).",
            duration_s=0.0153,
        ),
        CheckResult(
            "trace-32526",
            "TCP traceroute to port 32526",
            Status.ERROR,
            "wirecheck failed in this check: OSError: [Errno 24] Too many open files",
            {"exception": "OSError"},
            duration_s=0.0004,
        ),
    )


def sample_report() -> Report:
    return Report(
        target="168.63.129.16",
        started_at=STARTED_AT,
        duration_s=5.0123,
        results=sample_results(),
        causes=(
            Cause(
                "TCP 32526 times out: something drops it",
                "Look for a rule that drops port 32526 to 168.63.129.16: `iptables-save -c`.",
                ("outcome: timeout", "latency_ms: 4998.7"),
                ("tcp-32526",),
            ),
            Cause(
                "An extra hop (10.1.0.254) is in the path to the platform",
                "Find why traffic to 168.63.129.16 goes through 10.1.0.254 (a route or an NVA).",
                (),
                ("trace-80",),
            ),
        ),
        facts={
            "hostname": "vm1",
            "os": "Linux 6.1.0-28-cloud-amd64",
            "python": "3.11.7",
            "root": True,
            "timeout_s": 5.0,
        },
        version="0.1.0",
    )


def check_golden(name: str, rendered: str) -> None:
    """Compare with tests/golden/<name>; with WIRECHECK_UPDATE_GOLDEN=1, rewrite it instead."""
    path = GOLDEN / name
    if os.environ.get("WIRECHECK_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert rendered == expected, f"{name} differs from its golden file (see docstring to update)"
