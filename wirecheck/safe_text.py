"""Make text from the network safe to show: a hostile answer must not drive the terminal."""

from __future__ import annotations

MAX_SHOWN = 160


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` with control characters escaped (`\\x1b`, `\\n`) and cut to `limit` characters."""
    shown = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
