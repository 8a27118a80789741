"""Terminal rendering with rich: the live table and the diagnosis (report/plain.py has the
plain-text forms for pipes and logs).

Only the CLI calls this; everything here writes to the Console it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from wirecheck.checks.base import CheckSpec
from wirecheck.model import CheckResult, Report, Status

STYLE = {
    Status.OK: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.ERROR: "magenta",
}


class LiveTable:
    """A table with one row per check that fills in as results arrive."""

    def __init__(self, console: Console, specs: Sequence[CheckSpec]) -> None:
        self._console = console
        self._specs = specs
        self._results: dict[str, CheckResult] = {}
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=console, refresh_per_second=12, transient=False)

    def __enter__(self) -> LiveTable:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._render(), refresh=True)
        self._live.__exit__(None, None, None)

    def update(self, check_id: str, result: CheckResult | None) -> None:
        if result is None:
            return
        with self._lock:
            self._results[check_id] = result
        self._live.update(self._render())

    def _render(self) -> RenderableType:
        rows = [self._results.get(spec.id) for spec in self._specs]
        return results_table(rows, self._specs, ascii_only=not _utf(self._console))


def _utf(console: Console) -> bool:
    """Whether the terminal takes UTF-8 (`LC_ALL=POSIX` makes it ASCII)."""
    return console.encoding.lower().replace("-", "").startswith("utf")


def results_table(
    results: Sequence[CheckResult | None], specs: Sequence[CheckSpec], ascii_only: bool = False
) -> Table:
    table = Table(show_edge=False, pad_edge=False, expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("finding")
    table.add_column("time", justify="right", no_wrap=True)
    if len(specs) != len(results):  # zip(strict=True) is new in 3.10
        raise ValueError(f"{len(results)} results for {len(specs)} checks")
    for spec, result in zip(specs, results):
        if result is None:
            # "dots" is drawn with Braille characters; "line" is -\|/.
            spinner = Spinner("line" if ascii_only else "dots")
            table.add_row(spinner, spec.id, Text("running...", style="dim"), "")
            continue
        table.add_row(
            Text(result.status.value.upper(), style=STYLE[result.status]),
            result.check_id,
            Text(result.finding),  # plain text: a finding may quote a server's words
            f"{result.duration_s * 1000:.0f} ms",
        )
    return table


def diagnosis(report: Report) -> RenderableType:
    parts: list[RenderableType] = [Text("Diagnosis", style="bold")]
    for number, cause in enumerate(report.causes, 1):
        parts.append(Text(f"{number}. {cause.summary}"))
        parts.append(Text(f"   fix: {cause.fix}", style="cyan"))
    return Group(*parts)
