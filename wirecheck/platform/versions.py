"""Parse WireServer's `?comp=versions` answer with a parser that refuses hostile XML.

The answer is a tiny fixed document; anything with a DOCTYPE, entity declarations or
external references is not it, so we refuse those outright (entity bombs, XXE) rather
than trying to expand them safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat

from wirecheck.errors import ParseError

# The wire protocol version the Linux guest agent needs (WALinuxAgent asks for it).
REQUIRED_VERSION = "2012-11-30"
MAX_ELEMENTS = 1000


@dataclass(frozen=True)
class Versions:
    preferred: tuple[str, ...]
    supported: tuple[str, ...]

    @property
    def has_required(self) -> bool:
        return REQUIRED_VERSION in self.preferred or REQUIRED_VERSION in self.supported


class _Forbidden(Exception):
    pass


def parse_versions(body: bytes) -> Versions:
    """Preferred and Supported versions, in document order.

    Versions are kept as text: "2010-28-10" is really served and is not a date.
    """
    if not body.strip():
        raise ParseError("the versions answer is empty")
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[str] = []
    text: list[str] = []
    found: dict[str, list[str]] = {"Preferred": [], "Supported": []}
    roots: list[str] = []
    count = 0

    def forbid(*_args: object) -> NoReturn:
        raise _Forbidden("a DOCTYPE or entity declaration (refused: the real answer has none)")

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS:
            raise _Forbidden(f"more than {MAX_ELEMENTS} elements")
        if not stack:
            roots.append(name)
        stack.append(name)
        text.clear()

    def end(name: str) -> None:
        if name == "Version" and len(stack) >= 2 and stack[-2] in found:
            found[stack[-2]].append("".join(text).strip())
        stack.pop()
        text.clear()

    parser.StartDoctypeDeclHandler = forbid
    parser.EntityDeclHandler = forbid
    parser.ExternalEntityRefHandler = forbid
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(body, True)
    except _Forbidden as exc:
        raise ParseError(f"the versions answer contains {exc}") from None
    except expat.ExpatError as exc:
        raise ParseError(f"the versions answer is not well-formed XML: {exc}") from None
    if roots != ["Versions"]:
        raise ParseError(f"the root element is <{roots[0]}>, expected <Versions>")
    if not found["Preferred"] and not found["Supported"]:
        raise ParseError("<Versions> lists no Preferred or Supported version")
    return Versions(tuple(found["Preferred"]), tuple(found["Supported"]))
