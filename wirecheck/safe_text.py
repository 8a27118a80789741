"""Make text from the network safe to show: a hostile answer must not drive the terminal."""

from __future__ import annotations

MAX_SHOWN = 160


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` with control characters escaped (`\\x1b`, `\\n`) and cut to `limit` characters."""
    shown = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def without_surrogates(text: str) -> str:
    """Text the OS gave with undecodable bytes (a host name that is not UTF-8 arrives with
    surrogate escapes) as valid text: those bytes shown as `\\xff`. Reports and JSON
    cannot hold lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", errors="surrogateescape")
        return raw.decode("utf-8", errors="backslashreplace")
    return text
