"""Cutting a text to a size cap without leaving part of a secret behind.

A cut falls on a line boundary (one over-long line is cut on a character boundary), and
a private key that the cut splits loses the part that stayed: a body whose END line is
kept but whose BEGIN line was cut off (a log's tail), or a BEGIN line and body whose END
was cut off (a command's head). Half a key is no use to support and is still half a key.
Pure: no I/O.
"""

from __future__ import annotations

import re

_KEY_LABEL = r"[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?"
_BEGIN = re.compile(rf"-----BEGIN {_KEY_LABEL}-----")
_END = re.compile(rf"-----END {_KEY_LABEL}-----")
DROPPED = "[wirecheck: dropped part of a private key that the cut split]"


def cut_head(data: bytes, limit: int) -> str:
    """The start of `data`, at most `limit` bytes, ending at a line boundary."""
    if len(data) <= limit:
        return data.decode("utf-8", errors="replace")
    kept = data[:limit]
    newline = kept.rfind(b"\n")
    if newline >= 0:
        kept = kept[: newline + 1]
    text = kept.decode("utf-8", errors="ignore")  # a cut may split a character
    return drop_unterminated_key(text)


def cut_tail(data: bytes, limit: int) -> str:
    """The end of `data`, at most `limit` bytes, starting at a line boundary."""
    if len(data) <= limit:
        return data.decode("utf-8", errors="replace")
    kept = data[len(data) - limit :]
    newline = kept.find(b"\n")
    if 0 <= newline < len(kept) - 1:
        kept = kept[newline + 1 :]
    text = kept.decode("utf-8", errors="ignore")
    return drop_headless_key(text)


def drop_headless_key(text: str) -> str:
    """`text` begins after a cut: an END line that comes before any BEGIN line closes a key
    whose start was cut off; everything up to and with that END line goes."""
    end = _END.search(text)
    if end is None:
        return text
    begin = _BEGIN.search(text, 0, end.start())
    if begin is not None:
        return text
    line_end = text.find("\n", end.end())
    rest = "" if line_end < 0 else text[line_end + 1 :]
    return f"{DROPPED}\n{rest}"


def drop_unterminated_key(text: str) -> str:
    """`text` ends at a cut: a BEGIN line with no END line after it opens a key whose end
    was cut off; everything from that BEGIN line on goes."""
    begins = list(_BEGIN.finditer(text))
    if not begins:
        return text
    last = begins[-1]
    if _END.search(text, last.end()):
        return text
    line_start = text.rfind("\n", 0, last.start()) + 1
    return f"{text[:line_start]}{DROPPED}\n"
