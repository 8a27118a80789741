"""The extra report files `run --format` can add beside the text and JSON reports.

One table says, per format, the file name, its mode and its renderer; the CLI and the
support bundle both write through it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from wirecheck.errors import UsageError
from wirecheck.model import Report
from wirecheck.report.files import REPORT_MODE, report_stem, write_atomic

# Debian's and Ubuntu's prometheus-node-exporter read this directory (textfile collector).
NODE_EXPORTER_TEXTFILE_DIR = Path("/var/lib/prometheus/node-exporter")

# node_exporter runs as its own user and must read the file. It holds check ids, statuses,
# durations and the target, no host facts, so world-readable is safe here.
PROMETHEUS_MODE = 0o644


def _render_junit(report: Report) -> str:
    from wirecheck.report.junit import render_junit

    return render_junit(report)


def _render_prometheus(report: Report) -> str:
    from wirecheck.report.prometheus import render_prometheus

    return render_prometheus(report)


def _render_html(report: Report) -> str:
    from wirecheck.report.html import render_html

    return render_html(report)


@dataclass(frozen=True)
class FileFormat:
    name: str
    render: Callable[[Report], str]
    mode: int

    def file_name(self, target: str) -> str:
        stem = report_stem(target)
        if self.name == "prometheus":
            # The textfile collector reads `*.prom` only; the tool's name first tells an
            # operator browsing that shared directory who wrote it.
            return f"wirecheck_{stem.removesuffix('_test')}.prom"
        if self.name == "junit":
            return f"{stem}.junit.xml"
        return f"{stem}.{self.name}"


FORMATS: dict[str, FileFormat] = {
    "junit": FileFormat("junit", _render_junit, REPORT_MODE),
    "prometheus": FileFormat("prometheus", _render_prometheus, PROMETHEUS_MODE),
    "html": FileFormat("html", _render_html, REPORT_MODE),
}


def parse_formats(values: Iterable[str]) -> tuple[str, ...]:
    """`["junit,html", "prometheus"]` -> ("junit", "html", "prometheus"), duplicates dropped."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in FORMATS:
                raise UsageError(
                    f"unknown report format {name!r} in --format; known: {', '.join(FORMATS)} "
                    "(text and JSON reports are always written unless --no-report)"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


def default_prometheus_dir(
    output_dir: Path, is_dir: Callable[[Path], bool] = os.path.isdir
) -> Path:
    """node_exporter's usual textfile directory when it exists here, else the output dir."""
    return NODE_EXPORTER_TEXTFILE_DIR if is_dir(NODE_EXPORTER_TEXTFILE_DIR) else output_dir


Writer = Callable[[Path, bytes, int], Path]  # write_atomic, or a test's stand-in


def write_formats(
    report: Report,
    names: Iterable[str],
    output_dir: Path,
    prometheus_dir: Path,
    writer: Writer = write_atomic,
) -> list[Path]:
    """Write each format atomically; returns the paths written. Raises OSError on failure."""
    written = []
    for name in names:
        fmt = FORMATS[name]
        directory = prometheus_dir if name == "prometheus" else output_dir
        data = fmt.render(report).encode("utf-8", errors="backslashreplace")
        written.append(writer(directory / fmt.file_name(report.target), data, fmt.mode))
    return written
