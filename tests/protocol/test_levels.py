from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.protocol.levels import number_text, parse_levels


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (94250.1, "94250.1"),
        (0.00001, "0.00001"),
        (1e-8, "0.00000001"),
        (3.0, "3"),
        (12, "12"),
        (0.1, "0.1"),
        (1234567.89012345, "1234567.89012345"),
        (1e16, "10000000000000000"),
    ],
)
def test_number_text_is_the_literal_in_plain_notation(value: float, text: str) -> None:
    assert number_text(value) == text


# at most 15 significant digits: what exchanges.md §0 guarantees the shortest repr reproduces
@given(st.decimals(min_value="0.00000001", max_value="9999999.99999999", places=8, allow_nan=False))
def test_number_text_round_trips_what_a_venue_sends(value: object) -> None:
    literal = format(value, "f").rstrip("0").rstrip(".")
    assert number_text(float(literal)) == literal


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1", None, True])
def test_number_text_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError):
        number_text(bad)  # type: ignore[arg-type]


def test_parse_levels_keeps_text_and_rejects_junk() -> None:
    assert parse_levels([["1.50", "0.00"], ["2", "3"]]) == (("1.50", "0.00"), ("2", "3"))
    for junk in (
        [["x", "1"]],
        [["1", "-1"]],
        [["0", "1"]],
        [["nan", "1"]],
        [["1"]],
        "12",
        [[1.5, "1"]],
    ):
        with pytest.raises((ValueError, TypeError)):
            parse_levels(junk)
