"""The classic text report from a fixed Report, byte for byte (tests/golden/)."""

from __future__ import annotations

from tests.report_sample import check_golden, sample_report
from wirecheck.report.text import render_text


def test_golden_text() -> None:
    check_golden("168-63-129-16_test.txt", render_text(sample_report()))


def test_golden_text_starts_with_the_manual_procedure() -> None:
    lines = render_text(sample_report()).splitlines()
    assert lines[0] == "Testing 80 Port 80"
    assert lines[1].startswith("traceroute to 168.63.129.16 (168.63.129.16)")
    assert lines.index("Testing 80 Port 32526") < lines.index("Test Versions")
