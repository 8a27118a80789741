"""parse_versions: the real answers, hostile XML, broken bodies, and arbitrary bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import fixture_bytes
from tests.servers import ENTITY_BOMB, XXE
from wirecheck.errors import ParseError
from wirecheck.platform.versions import MAX_ELEMENTS, REQUIRED_VERSION, Versions, parse_versions


def test_fixture_minimal_older_answer() -> None:
    versions = parse_versions(fixture_bytes("versions-minimal.xml"))
    assert versions.preferred == ("2012-11-30",)
    # "2010-28-10" is not a date; it must come through as text, in document order.
    assert versions.supported == ("2010-12-15", "2010-28-10")
    assert versions.has_required


def test_fixture_as_served_today() -> None:
    versions = parse_versions(fixture_bytes("versions.xml"))
    assert versions.preferred == ("2015-04-05",)
    assert versions.supported[:2] == ("2015-04-05", "2012-11-30")
    assert versions.supported[-1] == "2010-28-10"
    assert len(versions.supported) == 10
    assert versions.has_required


@pytest.mark.parametrize(
    ("preferred", "supported", "has_required"),
    [
        ((REQUIRED_VERSION,), (), True),
        ((), (REQUIRED_VERSION,), True),
        (("2015-04-05",), ("2012-11-30", "2010-28-10"), True),
        (("2015-04-05",), ("2010-28-10",), False),
        ((), (), False),
        (("2012-11-30 ",), (), False),  # the parser strips; the decision compares exactly
    ],
)
def test_has_required(
    preferred: tuple[str, ...], supported: tuple[str, ...], has_required: bool
) -> None:
    assert Versions(preferred, supported).has_required is has_required


@pytest.mark.parametrize(
    ("body", "preferred", "supported"),
    [
        # No XML declaration, no whitespace.
        (
            b"<Versions><Preferred><Version>2012-11-30</Version></Preferred></Versions>",
            ("2012-11-30",),
            (),
        ),
        # Only Supported.
        (
            b"<Versions><Supported><Version>2012-11-30</Version></Supported></Versions>",
            (),
            ("2012-11-30",),
        ),
        # Whitespace around the text is not part of the version.
        (
            b"<Versions><Preferred><Version>\n  2012-11-30\n</Version></Preferred></Versions>",
            ("2012-11-30",),
            (),
        ),
        # A comment inside the text and unknown elements are ignored.
        (
            b"<Versions><Extra a='1'/><Preferred><Version>2012-<!-- x -->11-30</Version>"
            b"</Preferred><Other><Version>1999-01-01</Version></Other></Versions>",
            ("2012-11-30",),
            (),
        ),
        # UTF-16 with a BOM is still XML.
        (
            '<?xml version="1.0" encoding="utf-16"?><Versions><Supported><Version>2012-11-30'
            "</Version></Supported></Versions>".encode("utf-16"),
            (),
            ("2012-11-30",),
        ),
        # Character references are plain text, not entities.
        (
            b"<Versions><Preferred><Version>&#50;012-11-30</Version></Preferred></Versions>",
            ("2012-11-30",),
            (),
        ),
    ],
)
def test_accepted_variants(
    body: bytes, preferred: tuple[str, ...], supported: tuple[str, ...]
) -> None:
    versions = parse_versions(body)
    assert (versions.preferred, versions.supported) == (preferred, supported)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty"),
        (b"  \r\n\t ", "empty"),
        (fixture_bytes("versions.xml")[:120], "not well-formed"),  # truncated mid-document
        (fixture_bytes("versions.xml")[:-12], "not well-formed"),  # truncated at the end
        (b"<html><body>Bad gateway</body></html>", "root element is <html>"),
        (b"HTTP/1.1 200 OK", "not well-formed"),
        (b'{"versions": ["2012-11-30"]}', "not well-formed"),
        (bytes(range(256)), "not well-formed"),
        (b"<Versions></Versions>", "no Preferred or Supported"),
        (b"<Versions><Preferred/></Versions>", "no Preferred or Supported"),
        (b"<Versions/><Versions/>", "not well-formed"),  # two roots
        (b"<Versions><Preferred><Version>&foo;</Version></Preferred></Versions>", "well-formed"),
        (ENTITY_BOMB, "DOCTYPE"),
        (XXE, "DOCTYPE"),
        (
            b'<?xml version="1.0"?><!DOCTYPE Versions SYSTEM "http://192.0.2.1/x.dtd">'
            b"<Versions><Preferred><Version>2012-11-30</Version></Preferred></Versions>",
            "DOCTYPE",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE Versions [<!ENTITY % p SYSTEM "file:///etc/passwd">'
            b"%p;]><Versions/>",
            "DOCTYPE",
        ),
        (
            b"<Versions>" + b"<Preferred/>" * (MAX_ELEMENTS + 1) + b"</Versions>",
            f"more than {MAX_ELEMENTS} elements",
        ),
    ],
    ids=lambda value: repr(value[:24]) if isinstance(value, bytes) else value,
)
def test_refused_bodies(body: bytes, says: str) -> None:
    with pytest.raises(ParseError, match=says):
        parse_versions(body)


def test_entity_bomb_is_refused_at_once() -> None:
    """Refused when the DOCTYPE starts, long before any expansion could cost anything."""
    refused = "contains a DOCTYPE or entity declaration"
    with pytest.raises(ParseError, match=refused):
        parse_versions(ENTITY_BOMB)
    # The bomb's opening alone, cut before its first entity is even declared, is refused
    # the same way (not as unclosed XML): the parser stops at the DOCTYPE.
    opening = ENTITY_BOMB[: ENTITY_BOMB.index(b"<!ENTITY")]
    assert opening.endswith(b"<!DOCTYPE Versions [\n  ")
    with pytest.raises(ParseError, match=refused):
        parse_versions(opening)


def test_xxe_never_reads_the_file() -> None:
    with pytest.raises(ParseError) as caught:
        parse_versions(XXE)
    assert "root:" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_parse_or_raise_parse_error(body: bytes) -> None:
    try:
        versions = parse_versions(body)
    except ParseError as exc:
        assert str(exc)
        return
    assert versions.preferred or versions.supported


_TEXT = st.text(st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "<Versions>",
                    "</Versions>",
                    "<Preferred>",
                    "</Preferred>",
                    "<Supported>",
                    "</Supported>",
                    "<Version>",
                    "</Version>",
                    "<!DOCTYPE x>",
                    "&lol;",
                    "<![CDATA[",
                    "]]>",
                    '<?xml version="1.0"?>',
                ]
            ),
            _TEXT,
        ),
        max_size=25,
    )
)
def test_xml_like_fragments_parse_or_raise_parse_error(parts: list[str]) -> None:
    """Near-misses of the real document reach deeper into the parser than random bytes."""
    try:
        versions = parse_versions("".join(parts).encode("utf-8"))
    except ParseError:
        return
    assert versions.preferred or versions.supported
    assert all(isinstance(v, str) for v in versions.preferred + versions.supported)
