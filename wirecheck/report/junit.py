"""JUnit XML: one testcase per check, so CI systems and fleet dashboards show wirecheck's rows.

Mapping (JUnit has no "warning" state, and hiding a warning as a pass would lose it):
  ok    -> a passing testcase
  warn  -> <failure type="warn">
  fail  -> <failure type="fail">
  error -> <error type="error"> (wirecheck's own failure: the question stayed unanswered)
  skip  -> <skipped> with the reason
The failure/error/skipped message is the finding; the body adds the fix. <system-out> holds
the evidence, so a CI page shows the numbers without opening the JSON report.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from wirecheck.model import CheckResult, Report, Status

# Characters XML 1.0 cannot carry even escaped. Evidence can hold bytes from a hostile or
# broken server (a garbage HTTP body), which must not make the whole file unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 forbids shown as `\\xNN` instead."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def evidence_text(evidence: Mapping[str, Any]) -> str:
    """Evidence as `key: value` lines; multi-line strings (XML bodies, traces) indented."""
    lines: list[str] = []
    for key, value in evidence.items():
        if isinstance(value, str) and "\n" in value.rstrip("\n"):
            lines.append(f"{key}:")
            lines += [f"  {line}" for line in value.rstrip("\n").splitlines()]
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            lines.append(f"{key}: {value}")
        else:
            lines.append(f"{key}: {json.dumps(value, sort_keys=False, default=str)}")
    return "\n".join(lines)


def render_junit(report: Report) -> str:
    counts = _counts(report.results)
    started = datetime.fromtimestamp(report.started_at, timezone.utc)
    # The JUnit schema's timestamp is an xs:dateTime without a zone; it is UTC here.
    timestamp = started.strftime("%Y-%m-%dT%H:%M:%S")
    attributes = {
        "tests": str(len(report.results)),
        "failures": str(counts["failures"]),
        "errors": str(counts["errors"]),
        "skipped": str(counts["skipped"]),
        "time": _seconds(report.duration_s),
    }
    suites = ET.Element("testsuites", {"name": "wirecheck", **attributes})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"wirecheck {report.target}",
            **attributes,
            "timestamp": timestamp,
            "hostname": xml_safe(str(report.facts.get("hostname", "")) or "unknown"),
            "id": "0",
            "package": "wirecheck",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("target", report.target),
        ("status", report.status.value),
        ("exit_code", str(report.exit_code)),
        ("wirecheck_version", report.version),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": xml_safe(value)})
    for result in report.results:
        suite.append(_testcase(result, report.target))
    diagnosis = "\n".join(
        f"{n}. {cause.summary}\n   fix: {cause.fix}" for n, cause in enumerate(report.causes, 1)
    )
    ET.SubElement(suite, "system-out").text = xml_safe(f"Diagnosis\n{diagnosis}\n")
    ET.SubElement(suite, "system-err").text = ""
    ET.indent(suites, space="  ")
    body = ET.tostring(suites, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _testcase(result: CheckResult, target: str) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "name": result.check_id,
            "classname": f"wirecheck.{target}",
            "time": _seconds(result.duration_s),
        },
    )
    message = xml_safe(result.finding)
    fix = f"\nfix: {result.fix}" if result.fix else ""
    detail = xml_safe(f"{result.title}: {result.finding}{fix}")
    if result.status in (Status.WARN, Status.FAIL):
        failure = ET.SubElement(case, "failure", {"message": message, "type": result.status.value})
        failure.text = detail
    elif result.status is Status.ERROR:
        error = ET.SubElement(case, "error", {"message": message, "type": "error"})
        error.text = detail
    elif result.status is Status.SKIP:
        ET.SubElement(case, "skipped", {"message": message})
    out = f"{result.title}\nverdict: {result.status.value}\n{evidence_text(result.evidence)}"
    ET.SubElement(case, "system-out").text = xml_safe(out.rstrip("\n") + "\n")
    return case


def _counts(results: tuple[CheckResult, ...]) -> dict[str, int]:
    return {
        "failures": sum(r.status in (Status.WARN, Status.FAIL) for r in results),
        "errors": sum(r.status is Status.ERROR for r in results),
        "skipped": sum(r.status is Status.SKIP for r in results),
    }


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"
