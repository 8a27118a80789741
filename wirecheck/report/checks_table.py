"""The checks as Markdown tables (the README's), rendered from their declarations."""

from __future__ import annotations

from collections.abc import Sequence

from wirecheck.checks.base import CheckSpec


def markdown_tables(specs: Sequence[CheckSpec]) -> str:
    """Two tables: the core checks, then the context checks that explain red rows."""
    core = [s for s in specs if not s.context]
    context = [s for s in specs if s.context]
    return (
        "Core checks:\n\n"
        + _table(core)
        + "\nContext checks, which turn a red row into a cause:\n\n"
        + _table(context)
    )


def _table(specs: Sequence[CheckSpec]) -> str:
    lines = ["| id | what it checks | ok when |", "|---|---|---|"]
    lines += [f"| `{s.id}` | {_cell(s.title)} | {_cell(s.ok_when)} |" for s in specs]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
