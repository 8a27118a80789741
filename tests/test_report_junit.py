"""JUnit XML: golden file, schema-valid, and read back by a real JUnit consumer (junitparser)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import junitparser
import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.report_sample import GOLDEN, check_golden, sample_report
from wirecheck.model import CheckResult, Report, Status
from wirecheck.report.junit import evidence_text, render_junit, xml_safe

SCHEMA = xmlschema.XMLSchema(str(GOLDEN / "junit.xsd"))


def _write(tmp_path: Path, report: Report) -> Path:
    path = tmp_path / "report.junit.xml"
    path.write_text(render_junit(report), encoding="utf-8")
    return path


def test_golden() -> None:
    check_golden("168-63-129-16_test.junit.xml", render_junit(sample_report()))


def test_validates_against_the_junit_schema(tmp_path: Path) -> None:
    SCHEMA.validate(str(_write(tmp_path, sample_report())))


def test_read_back_by_junitparser(tmp_path: Path) -> None:
    xml = junitparser.JUnitXml.fromfile(str(_write(tmp_path, sample_report())))
    suites = list(xml)
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (7, 3, 1, 1)
    assert suite.timestamp == "2026-09-21T14:13:20"
    assert suite.hostname == "vm1"
    cases = {case.name: case for case in suite}
    assert list(cases) == [r.check_id for r in sample_report().results]
    assert cases["tcp-80"].is_passed
    failure = cases["tcp-32526"].result[0]
    assert isinstance(failure, junitparser.Failure)
    assert failure.type == "fail"
    assert failure.message == sample_report().results[1].finding
    assert "fix: Look for a rule" in (failure.text or "")
    warn = cases["dns-udp"].result[0]
    assert isinstance(warn, junitparser.Failure) and warn.type == "warn"
    assert isinstance(cases["dns-reverse"].result[0], junitparser.Skipped)
    assert cases["dns-reverse"].result[0].message == "no system resolver is configured here"
    assert isinstance(cases["trace-32526"].result[0], junitparser.Error)
    # The evidence is the system-out, multi-line bodies included.
    out = cases["wire-versions"].system_out or ""
    assert "status: 200" in out and "    <Version>2012-11-30</Version>" in out
    assert cases["tcp-80"].time == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("status", "element", "kind"),
    [
        (Status.OK, None, None),
        (Status.WARN, "failure", "warn"),
        (Status.FAIL, "failure", "fail"),
        (Status.ERROR, "error", "error"),
        (Status.SKIP, "skipped", None),
    ],
)
def test_status_mapping(status: Status, element: str | None, kind: str | None) -> None:
    result = CheckResult("tcp-80", "TCP 80", status, "the finding", {"a": 1})
    report = dataclasses.replace(sample_report(), results=(result,))
    case = ET.fromstring(render_junit(report)).find("testsuite/testcase")
    assert case is not None
    outcomes = [child for child in case if child.tag != "system-out"]
    if element is None:
        assert outcomes == []
        return
    assert [o.tag for o in outcomes] == [element]
    assert outcomes[0].get("message") == "the finding"
    assert outcomes[0].get("type") == kind


def test_evidence_text_shapes() -> None:
    text = evidence_text({"n": 3, "flag": True, "list": [1, "a"], "body": "x\ny\n", "s": "one"})
    assert text.splitlines() == [
        "n: 3",
        "flag: true",
        'list: [1, "a"]',
        "body:",
        "  x",
        "  y",
        "s: one",
    ]


def test_xml_safe_shows_forbidden_characters() -> None:
    assert xml_safe("a\x00b\x1bc\td\n") == "a\\x00b\\x1bc\td\n"


# Free-form finding and evidence, as a hostile or broken server could make them.
_text = st.text(st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=200, deadline=None)
@given(finding=_text, value=_text, title=_text)
def test_any_text_gives_a_valid_readable_file(finding: str, value: str, title: str) -> None:
    result = CheckResult("wire-versions", title, Status.FAIL, finding, {"body": value})
    report = dataclasses.replace(sample_report(), results=(result,))
    rendered = render_junit(report)
    root = ET.fromstring(rendered.encode("utf-8"))
    SCHEMA.validate(rendered)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == xml_safe(finding)
