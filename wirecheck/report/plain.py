"""The run's result as plain lines: for a pipe, a log, the bundle's summary.

No colour, no box drawing and no wrapping: one line per check, so `grep tcp-80` in a
cloud-init log finds the whole finding. Terminals get rich's table instead (console.py);
nothing here imports rich, so a run whose output is piped does not pay for it.
"""

from __future__ import annotations

from wirecheck.model import Report

VERDICT_WORDS = {0: "OK", 1: "WARN", 2: "FAIL"}


def summary_line(report: Report) -> str:
    """`wirecheck: FAIL - 2 fail, 4 ok in 5.0 s: <first cause>`: one line for logs."""
    counts: dict[str, int] = {}
    for result in report.results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    verdict = VERDICT_WORDS.get(report.exit_code, "UNKNOWN")
    first = report.causes[0].summary if report.causes else ""
    return f"wirecheck: {verdict} - {tally} in {report.duration_s:.1f} s: {first}"


def diagnosis_lines(report: Report) -> list[str]:
    """`Diagnosis`, then each cause, most likely first, with its fix."""
    lines = ["Diagnosis"]
    for number, cause in enumerate(report.causes, 1):
        lines += [f"{number}. {cause.summary}", f"   fix: {cause.fix}"]
    return lines


def result_lines(report: Report) -> list[str]:
    """A header, then one aligned line per check: status, check, time, finding."""
    width = max([len("check"), *(len(r.check_id) for r in report.results)])
    lines = [f"{'status':<6}  {'check':<{width}}  {'time':>7}  finding"]
    for result in report.results:
        took = f"{result.duration_s * 1000:.0f} ms"
        lines.append(
            f"{result.status.value.upper():<6}  {result.check_id:<{width}}  {took:>7}  "
            f"{result.finding}"
        )
    return lines


def render_plain(report: Report) -> str:
    """What `wirecheck run` prints when its output is not a terminal."""
    lines = [*result_lines(report), "", *diagnosis_lines(report), summary_line(report)]
    return "\n".join(lines) + "\n"
