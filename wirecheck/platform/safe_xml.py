"""A small element tree from XML that machine tools write, parsed without trusting it.

Two of those files are not what `xml.etree` accepts or should be given: wicked's lease
files use a namespace prefix they never declare (`<ipv4:dhcp>`), which a namespace-aware
parser rejects; and any file may carry a DOCTYPE with entity declarations (entity bombs,
external references). Expat without namespace processing takes a prefixed name as a plain
name, and every DOCTYPE or entity declaration is refused before anything is expanded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NoReturn
from xml.parsers import expat

from wirecheck.errors import ParseError

MAX_ELEMENTS = 20_000


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # character data directly inside

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def child(self, tag: str) -> Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def child_text(self, tag: str) -> str | None:
        found = self.child(tag)
        return found.text if found is not None else None

    def find(self, *path: str) -> Element | None:
        """The first element down `path` (child tags), or None."""
        here: Element | None = self
        for tag in path:
            here = here.child(tag) if here is not None else None
        return here

    def iter(self, tag: str) -> Iterator[Element]:
        """Every descendant (and self) with this tag, in document order."""
        if self.tag == tag:
            yield self
        for child in self.children:
            yield from child.iter(tag)


class _Refused(Exception):
    pass


def parse_tree(data: bytes, max_elements: int = MAX_ELEMENTS) -> Element:
    """The document's root element; ParseError when it is not well-formed, declares a
    DOCTYPE or entities, or has more than `max_elements` elements."""
    parser = expat.ParserCreate()  # no namespace processing: `ipv4:dhcp` is a plain name
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Element] = []
    roots: list[Element] = []
    count = 0

    def refuse(*_args: object) -> NoReturn:
        raise _Refused("a DOCTYPE or entity declaration (refused, never expanded)")

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > max_elements:
            raise _Refused(f"more than {max_elements} elements")
        element = Element(tag, dict(attrs))
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].parts.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise ParseError(f"refused: {exc}") from None
    except expat.ExpatError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None
    if not roots:
        raise ParseError("no root element")
    return roots[0]
