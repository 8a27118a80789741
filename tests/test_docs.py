"""The README's check tables are the checks' own declarations, rendered: they cannot drift."""

from __future__ import annotations

from pathlib import Path

from wirecheck.checks.catalogue import load_all
from wirecheck.report.checks_table import markdown_tables

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- checks: begin (wirecheck list --markdown) -->\n", "<!-- checks: end -->\n"


def test_readme_check_tables_match_the_declarations() -> None:
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "the README lost its generated check tables"
    shown = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert shown.strip() == markdown_tables(load_all()).strip(), (
        "README.md's check tables are stale: paste `wirecheck list --markdown` between the markers"
    )


def test_every_check_says_when_it_is_ok() -> None:
    assert all(spec.ok_when for spec in load_all())
