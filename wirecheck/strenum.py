"""`StrEnum`: enum.StrEnum's behaviour on every Python wirecheck runs on (3.9 and later).

enum.StrEnum is new in 3.11. A plain `str, Enum` member compares equal to its value and
json writes it as that value, but its str() is "Class.MEMBER" (and so is its format(), from
3.12 on): reports, CLI choices and f-strings need the bare value.
"""

from __future__ import annotations

import enum


class StrEnum(str, enum.Enum):
    """A str enum whose members are their values in str(), format() and f-strings."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)
