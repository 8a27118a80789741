"""The classic `168-63-129-16_test.txt`: first what the manual procedure writes, same headers,
same order, so support staff find what they know; then wirecheck's own sections."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from wirecheck.model import CheckResult, Report

RULE = "=" * 72


def render_text(report: Report) -> str:
    lines: list[str] = []
    lines += ["Testing 80 Port 80", *_trace_section(report, "trace-80")]
    lines += ["Testing 80 Port 32526", *_trace_section(report, "trace-32526")]
    lines += ["Test Versions", *_versions_section(report.result("wire-versions"))]
    lines += ["", RULE, f"wirecheck {report.version}: {report.status.value.upper()}", RULE]
    lines += _diagnosis_section(report)
    lines += ["", "Checks", "------"]
    for result in report.results:
        lines += _check_section(result)
    lines += ["", "Facts", "-----"]
    started = datetime.fromtimestamp(report.started_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    facts = {"target": report.target, "started": started, **report.facts}
    facts["duration_s"] = round(report.duration_s, 3)
    lines += [f"{key}: {value}" for key, value in facts.items()]
    return "\n".join(lines) + "\n"


def _trace_section(report: Report, check_id: str) -> list[str]:
    result = report.result(check_id)
    if result is None:
        return [f"traceroute not run: {check_id} was not selected in this run"]
    text = result.evidence.get("traceroute_text")
    if isinstance(text, str) and text:
        return text.rstrip("\n").splitlines()
    return [f"traceroute not run: {result.status.value}: {result.finding}"]


def _versions_section(result: CheckResult | None) -> list[str]:
    if result is None:
        return ["versions not fetched: wire-versions was not selected in this run"]
    body = result.evidence.get("body")
    if isinstance(body, str) and body:
        return body.rstrip("\n").splitlines()
    return [f"no versions answer: {result.finding}"]


def _diagnosis_section(report: Report) -> list[str]:
    lines = ["", "Diagnosis", "---------"]
    for number, cause in enumerate(report.causes, 1):
        lines.append(f"{number}. {cause.summary}")
        lines += [f"   evidence: {item}" for item in cause.evidence]
        lines.append(f"   fix: {cause.fix}")
    return lines


def _check_section(result: CheckResult) -> list[str]:
    lines = [
        "",
        f"[{result.status.value.upper()}] {result.check_id}: {result.title} "
        f"({result.duration_s * 1000:.0f} ms)",
        f"  finding: {result.finding}",
    ]
    for key, value in result.evidence.items():
        if key in ("body", "traceroute_text"):  # already shown in full above
            continue
        shown = value if isinstance(value, (str, int, float)) else json.dumps(value)
        first, *more = str(shown).splitlines() or [""]
        # Continuation lines are indented so every line still belongs to its check.
        lines += [f"  {key}: {first}", *(f"    {line}" for line in more)]
    if result.fix:
        lines.append(f"  fix: {result.fix}")
    return lines
