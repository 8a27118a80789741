"""The files a watch writes and where: the event log, the summary (text, JSON, HTML) and
the Prometheus textfile, named after the target so watches of two targets can share a
directory. The support bundle picks up the event log and the JSON summary by these names.
"""

from __future__ import annotations

from pathlib import Path

from wirecheck.report.files import report_stem, write_atomic
from wirecheck.watch.html import render_watch_html
from wirecheck.watch.record import WatchRecord
from wirecheck.watch.summary import render_summary_json, render_summary_text

PREFIX = "wirecheck-watch_"


def watch_stem(target: str) -> str:
    """`wirecheck-watch_168-63-129-16`."""
    return PREFIX + report_stem(target).removesuffix("_test")


def event_log_path(output_dir: Path, target: str) -> Path:
    return output_dir / f"{watch_stem(target)}.jsonl"


def prometheus_path(directory: Path, target: str) -> Path:
    """`wirecheck_watch_168-63-129-16.prom` (the textfile collector reads `*.prom`)."""
    return directory / f"wirecheck_watch_{report_stem(target).removesuffix('_test')}.prom"


def write_summary_files(
    record: WatchRecord, output_dir: Path, event_log: Path | None
) -> list[Path]:
    """The summary as text, JSON and HTML, each atomically; raises OSError."""
    stem = watch_stem(record.target)
    shown = str(event_log) if event_log is not None else None
    renderers = (
        ("txt", render_summary_text),
        ("json", render_summary_json),
        ("html", render_watch_html),
    )
    return [
        write_atomic(output_dir / f"{stem}.{suffix}", render(record, shown).encode("utf-8"))
        for suffix, render in renderers
    ]
