"""The token book: which token stands for which value, and where each was used.

One book per bundle, so the same value gets the same token in every file. A token is
`REDACTED-<KIND>-<n>`, numbered per kind in the order values are first seen. The book also
keeps, for the local key, the first spelling of each value and the files each token was
written into, and counts replacements per file and kind for the manifest. Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TOKEN_PREFIX = "REDACTED-"
# Kinds whose values are compared as written: a password's case is part of it. Every other
# kind (names, addresses, GUIDs) is compared case-insensitively, as its owner compares it.
CASE_SENSITIVE_KINDS = frozenset({"SECRET"})
# Kinds whose values the local key leaves out: the admin has them where they were found,
# and a second copy of every password beside the archive would be one more thing to leak.
UNWRITTEN_KINDS = frozenset({"SECRET"})


@dataclass
class TokenBook:
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    _values: dict[str, str] = field(default_factory=dict)  # token -> first spelling
    _distinct: Counter[str] = field(default_factory=Counter)  # kind -> values seen
    _files: dict[str, set[str]] = field(default_factory=dict)  # token -> files
    _by_file: dict[str, Counter[str]] = field(default_factory=dict)  # file -> kind -> n
    where: str = ""  # the file being redacted now ("" while learning)

    def token(self, kind: str, value: str, canonical: str | None = None) -> str:
        """The token for `value`: the same value always gets the same token. `canonical`
        is the spelling to compare by when a value has several (a MAC with or without
        colons); the key shows the value as it was first seen."""
        same = canonical if canonical is not None else value
        key = (kind, same if kind in CASE_SENSITIVE_KINDS else same.lower())
        token = self._tokens.get(key)
        if token is None:
            self._distinct[kind] += 1
            token = f"{TOKEN_PREFIX}{kind}-{self._distinct[kind]}"
            self._tokens[key] = token
            self._values[token] = value
        if self.where:
            self._files.setdefault(token, set()).add(self.where)
            self._by_file.setdefault(self.where, Counter())[kind] += 1
        return token

    @property
    def counts(self) -> dict[str, int]:
        """How many distinct values of each kind were replaced."""
        return dict(sorted(self._distinct.items()))

    def replacements(self) -> dict[str, dict[str, int]]:
        """Replacements made in each file, by kind (a value used twice counts twice)."""
        return {
            name: dict(sorted(kinds.items()))
            for name, kinds in sorted(self._by_file.items())
            if kinds
        }

    def key(self) -> tuple[dict[str, str], dict[str, dict[str, object]]]:
        """The local key: token -> original value, and for secrets where each was found."""
        values: dict[str, str] = {}
        secrets: dict[str, dict[str, object]] = {}
        for token in sorted(self._values, key=_token_order):
            kind = token[len(TOKEN_PREFIX) :].rsplit("-", 1)[0]
            if kind in UNWRITTEN_KINDS:
                secrets[token] = {
                    "length": len(self._values[token]),
                    "found_in": sorted(self._files.get(token, ())),
                }
            else:
                values[token] = self._values[token]
        return values, secrets


def _token_order(token: str) -> tuple[str, int]:
    kind, _, number = token[len(TOKEN_PREFIX) :].rpartition("-")
    return kind, int(number) if number.isdigit() else 0
