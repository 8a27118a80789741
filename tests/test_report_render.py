"""The JSON and classic text reports, rendered from hand-built Reports."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.conftest import fixture_text
from wirecheck.checks.catalogue import load_all
from wirecheck.model import Cause, CheckResult, Report, Status
from wirecheck.report.json_report import SCHEMA_VERSION, render_json, report_dict
from wirecheck.report.plain import render_plain, summary_line
from wirecheck.report.text import render_text

VERSIONS = fixture_text("versions.xml")
BY_ID = {spec.id: spec for spec in load_all()}
# A wirecheck that has no traceroute check yet (issue 2's state).
STARTED = 1_790_000_000.0  # 2026-09-21T...Z


def _row(check_id: str, status: Status = Status.OK, **evidence: object) -> CheckResult:
    return CheckResult(
        check_id,
        BY_ID[check_id].title if check_id in BY_ID else f"title {check_id}",
        status,
        f"{check_id} finding",
        evidence,
        fix=None if status is Status.OK else f"fix {check_id}",
        duration_s=0.0123,
    )


def _report(*results: CheckResult, causes: tuple[Cause, ...] = ()) -> Report:
    return Report(
        target="168.63.129.16",
        started_at=STARTED,
        duration_s=0.54321,
        results=results,
        causes=causes or (Cause("No problem found.", "Nothing to do."),),
        facts={"hostname": "vm1", "root": True},
        version="0.1.0",
    )


HEALTHY = _report(
    _row("tcp-80", latency_ms=1.2, local_address="10.0.0.4:40000", interface="eth0"),
    _row("tcp-32526"),
    _row("wire-versions", http_status=200, body=VERSIONS, preferred=["2015-04-05"]),
    _row("dns-udp"),
    _row("dns-tcp"),
    _row("dns-reverse"),
)


# --- JSON ----------------------------------------------------------------------------------


def test_json_shape() -> None:
    data = json.loads(render_json(HEALTHY))
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert {"schema_version", "target", "status", "exit_code", "checks", "diagnosis"} <= set(data)
    assert (data["target"], data["status"], data["exit_code"]) == ("168.63.129.16", "ok", 0)
    assert data["version"] == "0.1.0"
    assert datetime.fromisoformat(data["started_at"]).timestamp() == STARTED
    assert data["duration_s"] == 0.5432
    assert [c["id"] for c in data["checks"]] == [r.check_id for r in HEALTHY.results]
    for check in data["checks"]:
        assert set(check) == {"id", "title", "status", "finding", "evidence", "fix", "duration_s"}
        assert check["duration_s"] == 0.0123
    assert data["checks"][2]["evidence"]["body"] == VERSIONS
    assert data["diagnosis"] == [
        {"summary": "No problem found.", "fix": "Nothing to do.", "evidence": [], "checks": []}
    ]
    assert data["facts"] == {"hostname": "vm1", "root": True}


@pytest.mark.parametrize(
    ("statuses", "status", "exit_code"),
    [
        ((Status.OK, Status.SKIP), "ok", 0),
        ((Status.OK, Status.WARN), "warn", 1),
        ((Status.WARN, Status.FAIL, Status.OK), "fail", 2),
        ((Status.ERROR, Status.WARN), "error", 2),
        ((), "ok", 0),
    ],
)
def test_json_status_and_exit_code(
    statuses: tuple[Status, ...], status: str, exit_code: int
) -> None:
    report = _report(*(_row(f"c{n}", s) for n, s in enumerate(statuses)))
    data = report_dict(report)
    assert (data["status"], data["exit_code"]) == (status, exit_code)


def test_json_is_one_document_with_a_trailing_newline_and_keeps_unicode() -> None:
    report = _report(_row("tcp-80", Status.FAIL, detail="caf\u00e9 \u2014 \x00"))
    text = render_json(report)
    assert text.endswith("}\n")
    assert json.loads(text)["checks"][0]["evidence"]["detail"] == "caf\u00e9 \u2014 \x00"


# --- text ----------------------------------------------------------------------------------


def test_text_starts_with_the_manual_procedures_sections() -> None:
    lines = render_text(HEALTHY).splitlines()
    xml = VERSIONS.rstrip("\n").splitlines()
    assert lines[0] == "Testing 80 Port 80"
    assert lines[1] == "traceroute not run: trace-80 was not selected in this run"
    assert lines[2] == "Testing 80 Port 32526"
    assert lines[3] == "traceroute not run: trace-32526 was not selected in this run"
    assert lines[4] == "Test Versions"
    assert lines[5 : 5 + len(xml)] == xml
    assert lines[5] == '<?xml version="1.0" encoding="utf-8"?>'


def test_text_then_every_check_with_finding_evidence_and_fix() -> None:
    report = _report(
        _row("tcp-80", Status.FAIL, outcome="timeout", errno="ETIMEDOUT"),
        _row("wire-versions", Status.FAIL, body="<html>x</html>", http_status=502),
        causes=(Cause("TCP 80 times out", "run as root", ("tcp-80: timeout",), ("tcp-80",)),),
    )
    text = render_text(report)
    assert "wirecheck 0.1.0: FAIL" in text
    assert "1. TCP 80 times out\n   evidence: tcp-80: timeout\n   fix: run as root" in text
    section = text[text.index("[FAIL] tcp-80") :]
    assert section.startswith(f"[FAIL] tcp-80: {BY_ID['tcp-80'].title} (12 ms)\n")
    assert (
        "  finding: tcp-80 finding\n  outcome: timeout\n  errno: ETIMEDOUT\n  fix: fix tcp-80"
        in section
    )
    # The body is shown once, under Test Versions, not again in the check's section.
    assert text.count("<html>x</html>") == 1
    assert "  http_status: 502" in text
    assert "hostname: vm1" in text and "target: 168.63.129.16" in text
    assert "duration_s: 0.543" in text


def test_text_versions_section_when_the_check_failed_or_did_not_run() -> None:
    failed = _report(_row("wire-versions", Status.FAIL, outcome="refused"))
    lines = render_text(failed).splitlines()
    assert lines[4:6] == ["Test Versions", "no versions answer: wire-versions finding"]
    skipped = _report(_row("tcp-80"))
    lines = render_text(skipped).splitlines()
    assert lines[5] == "versions not fetched: wire-versions was not selected in this run"


def test_text_trace_sections_once_traceroute_exists() -> None:
    trace = "traceroute to 168.63.129.16 (168.63.129.16), 30 hops max\n 1  168.63.129.16  0.5 ms\n"
    report = _report(
        CheckResult(
            "trace-80", "TCP traceroute 80", Status.OK, "1 hop", {"traceroute_text": trace}
        ),
    )
    lines = render_text(report).splitlines()
    assert lines[0:3] == ["Testing 80 Port 80", *trace.rstrip("\n").splitlines()]
    assert lines[3] == "Testing 80 Port 32526"
    assert lines[4] == "traceroute not run: trace-32526 was not selected in this run"
    assert "traceroute_text" not in render_text(report)


def test_text_trace_that_failed_says_why() -> None:
    report = _report(CheckResult("trace-80", "t", Status.SKIP, "needs root", {}))
    lines = render_text(report).splitlines()
    assert lines[1] == "traceroute not run: skip: needs root"


# --- the one-line summary (--quiet) --------------------------------------------------------


def test_summary_line() -> None:
    report = _report(
        _row("tcp-80", Status.FAIL),
        _row("tcp-32526", Status.OK),
        _row("dns-udp", Status.OK),
        causes=(Cause("TCP 80 times out", "run as root"),),
    )
    line = summary_line(report)
    assert "\n" not in line
    assert line == "wirecheck: FAIL - 1 fail, 2 ok in 0.5 s: TCP 80 times out"


def test_plain_output_is_one_unwrapped_line_per_check_then_the_diagnosis() -> None:
    report = _report(
        _row("tcp-80", Status.FAIL),
        _row("dns-reverse", Status.WARN),
        causes=(Cause("TCP 80 times out", "run as root"), Cause("a PTR", "remove it")),
    )
    assert render_plain(report).splitlines() == [
        "status  check           time  finding",
        "FAIL    tcp-80         12 ms  tcp-80 finding",
        "WARN    dns-reverse    12 ms  dns-reverse finding",
        "",
        "Diagnosis",
        "1. TCP 80 times out",
        "   fix: run as root",
        "2. a PTR",
        "   fix: remove it",
        "wirecheck: FAIL - 1 fail, 1 warn in 0.5 s: TCP 80 times out",
    ]


def test_multiline_evidence_stays_indented_under_its_check() -> None:
    from wirecheck.model import CheckResult, Report, Status
    from wirecheck.report.text import render_text

    result = CheckResult(
        "egress-nic", "egress", Status.FAIL, "wrong NIC", {"routes": "line one\nline two"}
    )
    report = Report("168.63.129.16", 0.0, 1.0, (result,))
    text = render_text(report)
    assert "  routes: line one\n    line two\n" in text


def test_printable_escapes_control_bytes_and_cuts_long_text() -> None:
    from wirecheck.safe_text import printable

    assert printable("bad\x1b[31mred\nline") == "bad\\x1b[31mred\\nline"
    assert printable("x" * 500, limit=10) == "xxxxxxx..."
