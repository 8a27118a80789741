"""Finding any of a set of learned words (host names, resource names) in a long text, fast.

One alternation of the words, with a lookbehind in front, costs the regex engine a look
at every position. Here a first pattern starts with the set of the words' first letters,
which the engine searches for quickly, and may match more than the words (any first
letter with any word's rest); the exact pattern then decides at each place it found.
Every place a word starts is such a place, so none is missed. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable


class WordFinder:
    def __init__(
        self,
        words: Iterable[str],
        *,
        ignore_case: bool,
        not_before: str = "",
        not_after: str = "",
    ) -> None:
        """`not_before` / `not_after`: a character class (`[A-Za-z0-9]`) that must not
        stand right before / after a word for it to count; "" for none. The classes are
        taken as written, whatever `ignore_case` says: give both cases."""
        ordered = sorted(set(words), key=len, reverse=True)  # the longest word wins
        if not ordered or any(not word for word in ordered):
            raise ValueError("WordFinder needs non-empty words")
        firsts = sorted({c for word in ordered for c in _cases(word[0], ignore_case)})
        first = "[" + "".join(re.escape(c) for c in firsts) + "]"
        rests = "|".join(re.escape(word[1:]) for word in ordered)
        case = "(?i:" if ignore_case else "(?:"
        before = f"(?<!{not_before}{first})" if not_before else ""
        after = f"(?!{not_after})" if not_after else ""
        self._hint = re.compile(f"{first}{before}{case}{rests}){after}")
        alternation = "|".join(re.escape(word) for word in ordered)
        lookbehind = f"(?<!{not_before})" if not_before else ""
        self._exact = re.compile(f"{lookbehind}{case}{alternation}){after}")

    def sub(self, replace: Callable[[str], str], text: str) -> str:
        """`text` with each word found replaced by `replace(word as written)`."""
        pieces: list[str] = []
        done = 0
        position = 0
        while True:
            hint = self._hint.search(text, position)
            if hint is None:
                break
            exact = self._exact.match(text, hint.start())
            if exact is None:
                position = hint.start() + 1
                continue
            pieces += [text[done : exact.start()], replace(exact.group())]
            done = position = exact.end()
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)


def _cases(char: str, ignore_case: bool) -> set[str]:
    return {char.lower(), char.upper(), char} if ignore_case else {char}
