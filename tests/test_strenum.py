"""StrEnum behaves as enum.StrEnum does on 3.11+, on every Python wirecheck supports."""

from __future__ import annotations

import json

import pytest

from wirecheck.model import Status
from wirecheck.net.errors import NetOutcome
from wirecheck.strenum import StrEnum


class Colour(StrEnum):
    RED = "red"
    DARK_BLUE = "dark-blue"


def test_a_member_is_its_value_in_str_format_and_f_strings() -> None:
    member = Colour.DARK_BLUE
    assert str(member) == "dark-blue"
    assert format(member) == "dark-blue"
    assert f"{member}|{member:>10}|{member!s}" == "dark-blue| dark-blue|dark-blue"
    assert "%s" % member == "dark-blue"  # noqa: UP031 - the %-format is what is tested
    assert repr(member) == "<Colour.DARK_BLUE: 'dark-blue'>"


def test_a_member_is_a_str_equal_to_its_value() -> None:
    assert isinstance(Colour.RED, str)
    assert Colour.RED == "red"
    assert Colour("dark-blue") is Colour.DARK_BLUE
    assert {Colour.RED: 1}["red"] == 1
    assert Colour.RED.upper() == "RED"


def test_json_writes_the_value() -> None:
    assert json.dumps({Colour.RED: [Colour.DARK_BLUE]}) == '{"red": ["dark-blue"]}'


def test_an_unknown_value_is_refused() -> None:
    with pytest.raises(ValueError):
        Colour("green")


@pytest.mark.parametrize("enum", [Status, NetOutcome])
def test_wirecheck_enums_print_their_values(enum: type[StrEnum]) -> None:
    for member in enum:
        assert str(member) == f"{member}" == member.value
