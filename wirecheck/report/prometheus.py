"""Prometheus textfile-collector output, for node_exporter (Linux) or windows_exporter.

Status mapping of `wirecheck_check_status` (monitoring-plugin numbers, so alert rules read
like Nagios ones):
  0 ok
  1 warn
  2 fail
  3 unknown: the check gave no verdict; `skip` (could not run here, e.g. no raw socket) and
    `error` (wirecheck's own failure) both land here.
`wirecheck_check_state{state=...}` is the exact status as a state set (one series per state,
1 for the current one), so a rule can tell skip from error without series churn.

node_exporter rules this file follows: no sample timestamps (it drops a file that has them),
the same HELP text for a metric everywhere, a `*.prom` name, written atomically (see
`report.formats`). Every series carries `target`, so runs against two targets can share the
directory without clashing series.
"""

from __future__ import annotations

from collections.abc import Iterable

from wirecheck.model import Report, Status

STATUS_VALUE = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2, Status.SKIP: 3, Status.ERROR: 3}

_HELP = {
    "wirecheck_check_status": (
        "Status of one wirecheck check: 0 ok, 1 warn, 2 fail, 3 unknown (skipped or errored)."
    ),
    "wirecheck_check_state": "1 for the check's current status, 0 for the others.",
    "wirecheck_check_duration_seconds": "How long one wirecheck check took.",
    "wirecheck_run_success": "1 when every check was ok or skipped (exit code 0), else 0.",
    "wirecheck_run_exit_code": "Exit code of the run: 0 ok, 1 warn, 2 fail.",
    "wirecheck_run_duration_seconds": "How long the whole wirecheck run took.",
    "wirecheck_last_run_timestamp_seconds": "Unix time at which the last wirecheck run ended.",
    "wirecheck_build_info": "wirecheck version that wrote this file; always 1.",
}


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    # repr keeps full precision for timestamps; integers print without a trailing ".0".
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_prometheus(report: Report) -> str:
    target = ("target", report.target)
    families: dict[str, list[str]] = {name: [] for name in _HELP}
    for result in report.results:
        check = ("check", result.check_id)
        families["wirecheck_check_status"].append(
            f"{_labels([check, target])} {STATUS_VALUE[result.status]}"
        )
        for state in Status:
            current = 1 if state is result.status else 0
            families["wirecheck_check_state"].append(
                f"{_labels([check, ('state', state.value), target])} {current}"
            )
        families["wirecheck_check_duration_seconds"].append(
            f"{_labels([check, target])} {_number(round(result.duration_s, 6))}"
        )
    families["wirecheck_run_success"].append(
        f"{_labels([target])} {1 if report.exit_code == 0 else 0}"
    )
    families["wirecheck_run_exit_code"].append(f"{_labels([target])} {report.exit_code}")
    families["wirecheck_run_duration_seconds"].append(
        f"{_labels([target])} {_number(round(report.duration_s, 6))}"
    )
    ended = round(report.started_at + report.duration_s, 3)
    families["wirecheck_last_run_timestamp_seconds"].append(f"{_labels([target])} {_number(ended)}")
    families["wirecheck_build_info"].append(
        f"{_labels([('version', report.version or 'unknown'), target])} 1"
    )
    lines: list[str] = []
    for name, samples in families.items():
        if not samples:  # a run with no checks: no empty families (promtool frowns on them)
            continue
        lines.append(f"# HELP {name} {_HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines += [f"{name}{sample}" for sample in samples]
    return "\n".join(lines) + "\n"
