"""One support bundle: collect the facts -> redact (own stage) -> render -> archive.

Archive layout (SUMMARY.txt first, so it is what a reader sees on opening it):
    wirecheck-bundle-<host>-<UTC time>/
        SUMMARY.txt       verdict, diagnosis, what was collected, skipped, timed out
        SHA256SUMS        checksums of every other file
        manifest.json     every item: command line or path, exit status, duration, bytes,
                          truncated / timed out / skipped and why; limits; redaction counts
        reports/          the run's text, JSON, HTML and JUnit reports
        network/ firewall/ dns/ agent/ system/ environment/   command outputs
        files/<path>      configuration files, lease files and log tails
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from wirecheck import __version__
from wirecheck.bundle.archive import default_format, suffix_of, write_archive
from wirecheck.bundle.collect import Collected, Collector, Limits, read_tail
from wirecheck.bundle.items import Item, linux_items, watch_items, windows_items
from wirecheck.bundle.key import write_key
from wirecheck.bundle.redact import Redactor
from wirecheck.model import PLATFORM_ADDRESS, Deadline, Report
from wirecheck.system import System

MANIFEST_SCHEMA_VERSION = 1
DEFAULT_LIMITS = Limits()
# Where the manifest counts the replacements made in the run's report, which the four
# report files under reports/ all render.
REPORTS_SCOPE = "reports/"


@dataclass(frozen=True)
class BundleResult:
    path: Path
    manifest: dict[str, Any]
    key_path: Path | None = None  # the local redaction key, beside the archive


def default_items(
    target: str, platform: str = sys.platform, cwd: str | None = None
) -> tuple[Item, ...]:
    items = windows_items(target) if platform == "win32" else linux_items(target)
    return items + watch_items(cwd or os.getcwd())


def archive_destination(output: Path | None, stem: str, fmt: str) -> tuple[Path, str]:
    """Where the archive goes and in which format: `output` may name a file or a directory."""
    if output is not None and output.name.endswith((".tar.gz", ".tgz")):
        return output, "tar.gz"
    if output is not None and output.name.endswith(".zip"):
        return output, "zip"
    directory = output if output is not None else Path(".")
    return directory / f"{stem}{suffix_of(fmt)}", fmt


def create_bundle(
    output: Path | None,
    report: Report | None,
    *,
    not_run_reason: str | None = None,
    redact: bool = True,
    system: System | None = None,
    items: Sequence[Item] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    archive_format: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
    tail_reader: Callable[[str, int], tuple[str, int]] = read_tail,
) -> BundleResult:
    """Collect, redact, render and archive; returns the archive's path and the manifest.

    `report` is the run's report, or None when the checks were not run (`not_run_reason`
    says why: not an Azure VM without --force, or facts only).
    """
    system = system or System()
    target = report.target if report else PLATFORM_ADDRESS
    created = now()
    # One budget for the whole bundle: collecting stops early enough to leave redaction
    # its share, and redaction stops at the end of the budget.
    budget = Deadline(limits.total_seconds, clock)
    collect_seconds = limits.total_seconds * (1 - limits.redact_share if redact else 1.0)
    collected = Collector(system, limits, clock, tail_reader, collect_seconds).collect(
        items if items is not None else default_items(target)
    )
    host = _safe_label(system.hostname().split(".")[0]) or "unknown-host"

    redactor = Redactor() if redact else None
    if redactor is not None:
        redact_collected(redactor, system, collected, report, budget, limits)
        report = redactor.report(report, REPORTS_SCOPE) if report else None
        host = _safe_label(redactor.token("HOST", host))

    stamp = datetime.fromtimestamp(created, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stem = f"wirecheck-bundle-{host}-{stamp}"
    destination, fmt = archive_destination(output, stem, archive_format or default_format())

    files: dict[str, str] = {}
    if report is not None:
        files.update(_reports(report))
        if redactor is not None:  # a second look at what the renderers added around the facts
            files = {name: redactor.text(text, name) for name, text in files.items()}
    for item in collected:
        if item.text is not None:
            files[item.path] = item.text

    manifest = _manifest(
        collected, report, not_run_reason, limits, redactor, host, created, files, fmt
    )
    if redactor is not None:  # reasons and notes may quote what a command said
        manifest = redactor.value(manifest)
    files["manifest.json"] = json.dumps(manifest, indent=2) + "\n"
    summary = _summary(report, not_run_reason, collected, redactor, manifest)
    files["SUMMARY.txt"] = redactor.text(summary) if redactor else summary
    checksums = "".join(
        f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}  {name}\n"
        for name, text in sorted(files.items())
    )
    order = ["SUMMARY.txt", "SHA256SUMS", "manifest.json"]
    files["SHA256SUMS"] = checksums
    names = order + sorted(n for n in files if n not in order)
    members = ((f"{stem}/{name}", files[name].encode("utf-8")) for name in names)
    # The key first: an archive whose tokens nobody can map back is worse than none.
    key = write_key(redactor.book, destination, created) if redactor is not None else None
    try:
        write_archive(destination, members, fmt, created)
    except BaseException:
        if key is not None:
            with contextlib.suppress(OSError):
                key.unlink()
        raise
    return BundleResult(destination, manifest, key)


def redact_collected(
    redactor: Redactor,
    system: System,
    collected: Sequence[Collected],
    report: Report | None,
    budget: Deadline,
    limits: Limits,
) -> None:
    """Learn from everything, then redact item by item while the budget lasts. An item the
    budget leaves no time for is left out, never sent unredacted."""
    redactor.add_hostname(system.hostname())
    if report is not None:
        redactor.learn_report(report)
    learned: set[int] = set()
    for index, item in enumerate(collected):
        if item.text is not None and not budget.expired:
            redactor.learn_file(item.entry.get("source", ""), item.text)
            learned.add(index)
    for index, item in enumerate(collected):
        item.entry["source"] = redactor.text(item.entry["source"])
        if "command" in item.entry:
            item.entry["command"] = [redactor.text(arg) for arg in item.entry["command"]]
        if item.path.startswith("files/"):  # a path on the machine; ours are fixed names
            item.path = item.entry["path"] = redactor.text(item.path)
        if item.text is None:
            continue
        if index in learned and not budget.expired:
            item.text = redactor.text(item.text, item.path)
        else:
            item.text = None
            item.entry.pop("bytes", None)
            item.entry["skipped"] = (
                f"not redacted within the bundle's time budget ({limits.total_seconds:g} s): "
                "left out rather than sent unredacted"
            )


def _reports(report: Report) -> dict[str, str]:
    from wirecheck.report.files import report_stem
    from wirecheck.report.html import render_html
    from wirecheck.report.json_report import render_json
    from wirecheck.report.junit import render_junit
    from wirecheck.report.text import render_text

    stem = f"reports/{report_stem(report.target)}"
    return {
        f"{stem}.txt": render_text(report),
        f"{stem}.json": render_json(report),
        f"{stem}.html": render_html(report),
        f"{stem}.junit.xml": render_junit(report),
    }


def _manifest(
    collected: Sequence[Collected],
    report: Report | None,
    not_run_reason: str | None,
    limits: Limits,
    redactor: Redactor | None,
    host: str,
    created: float,
    files: dict[str, str],
    fmt: str,
) -> dict[str, Any]:
    run: dict[str, Any]
    if report is not None:
        run = {
            "target": report.target,
            "status": report.status.value,
            "exit_code": report.exit_code,
            "duration_s": round(report.duration_s, 3),
            "reports": sorted(n for n in files if n.startswith("reports/")),
        }
    else:
        run = {"skipped": not_run_reason or "the checks were not run"}
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "tool": "wirecheck",
        "version": __version__,
        "created_at": datetime.fromtimestamp(created, timezone.utc).isoformat(),
        "host": host,
        "platform": sys.platform,
        "archive_format": fmt,
        "redacted": redactor is not None,
        "redaction_counts": redactor.counts if redactor else {},
        "redactions_per_file": redactor.book.replacements() if redactor else {},
        "limits": limits.to_dict(),
        "run": run,
        "items": [item.entry for item in collected],
    }


def _summary(
    report: Report | None,
    not_run_reason: str | None,
    collected: Sequence[Collected],
    redactor: Redactor | None,
    manifest: dict[str, Any],
) -> str:
    lines = [f"wirecheck {__version__} support bundle, {manifest['created_at']}", ""]
    if report is not None:
        from wirecheck.report.plain import diagnosis_lines, summary_line

        lines += [summary_line(report), "", *diagnosis_lines(report)]
        lines += ["", "Checks"]
        lines += [
            f"  [{r.status.value.upper():5}] {r.check_id}: {r.finding}" for r in report.results
        ]
    else:
        lines.append(f"Checks not run: {not_run_reason or 'not requested'}")
    kept = [c for c in collected if c.text is not None]
    timed_out = [c for c in collected if c.entry.get("timed_out")]
    truncated = [c for c in collected if c.entry.get("truncated")]
    skipped = [c for c in collected if c.text is None and not c.entry.get("timed_out")]
    lines += ["", f"Collected {len(kept)} items; details per item in manifest.json."]
    if timed_out:
        lines.append("Timed out: " + ", ".join(c.entry["source"] for c in timed_out))
    if truncated:
        lines.append("Cut to the size cap: " + ", ".join(c.path for c in truncated))
    lines.append("Not collected:")
    lines += [f"  {c.entry['source']}: {c.entry.get('skipped')}" for c in skipped] or ["  none"]
    lines.append("")
    if redactor is not None:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(redactor.counts.items()))
        lines.append(
            "Redacted: secrets, GUIDs, public IPs, MACs, host names, FQDNs, the customer's "
            "Azure names and user names are replaced by REDACTED-<KIND>-<n> tokens, the same "
            f"value by the same token ({counts or 'none found'}). The key that maps them "
            "back was written beside this archive, not into it: it stays with the admin."
        )
    else:
        lines.append("NOT redacted (--no-redact): this archive holds addresses and host names.")
    return "\n".join(lines) + "\n"


def _safe_label(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", value).strip("-")[:63]


@contextlib.contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt while the bundle is made, so the cleanup
    that removes a half-written archive runs for `kill` and a closed terminal as for Ctrl-C."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    names = ("SIGTERM", "SIGHUP")
    saved = {}
    for name in names:
        number = getattr(signal, name, None)
        if number is not None:
            saved[number] = signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
