"""The JSON report: a stable, versioned shape for scripts and fleets."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from wirecheck.model import Report

# Bump on any change that could break a consumer (renamed or removed keys).
SCHEMA_VERSION = 1


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "wirecheck",
        "version": report.version,
        "target": report.target,
        "started_at": datetime.fromtimestamp(report.started_at, timezone.utc).isoformat(),
        "duration_s": round(report.duration_s, 4),
        "status": report.status.value,
        "exit_code": report.exit_code,
        "checks": [r.to_dict() for r in report.results],
        "diagnosis": [c.to_dict() for c in report.causes],
        "facts": dict(report.facts),
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2, sort_keys=False) + "\n"
