from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.protocol.levels import check_level, check_trade, number_text, parse_levels


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
    number_text(1.0)  # remembered: True == 1.0 must still not pass as a number
    with pytest.raises(ValueError):
        number_text(bad)  # type: ignore[arg-type]


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_number_text_remembered_is_number_text_rendered(value: float) -> None:
    """Texts of floats are remembered: the second answer is the first, and both are the
    rendering itself (repr in plain notation). Zero's sign is kept: 0.0 and -0.0 are one key."""
    expected = repr(value) if type(value) is float else str(value)
    if "e" in expected:
        expected = format(Decimal(expected), "f")
    expected = expected.removesuffix(".0")
    assert number_text(value) == expected
    assert number_text(value) == expected
    assert (number_text(0.0), number_text(-0.0), number_text(0.0)) == ("0", "-0", "0")


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


BAD_TRADE_TEXTS = ["0", "0.000", "-1", "1e3", " 1", "1_0", "٣", "nan", "inf", "9" * 400, "", "1."]


@pytest.mark.parametrize("bad", BAD_TRADE_TEXTS)
def test_check_trade_refuses_junk_however_warm_its_cache_is(bad: str) -> None:
    """Checked texts are remembered: a remembered good price or size must never let a bad
    partner through, whichever side it is on, however often the good one came before."""
    for _ in range(3):
        check_trade("94250.01", "0.0012")  # both remembered now
    with pytest.raises(ValueError):
        check_trade("94250.01", bad)
    with pytest.raises(ValueError):
        check_trade(bad, "0.0012")
    with pytest.raises(ValueError):  # and the refusal is not remembered either
        check_trade(bad, bad)


@pytest.mark.parametrize("bad", BAD_TRADE_TEXTS[2:])
def test_check_level_refuses_junk_however_warm_its_cache_is(bad: str) -> None:
    """Levels are remembered as trades are; a zero size is a level, never a remembered
    positive text (so it cannot pass as a trade size later)."""
    for _ in range(3):
        check_level("94250.01", "0.0012")
        check_level("94250.02", "0")
    with pytest.raises(ValueError):
        check_level("94250.01", bad)
    with pytest.raises(ValueError):
        check_level(bad, "0.0012")
    with pytest.raises(ValueError):
        check_level("0", "1")
    with pytest.raises(ValueError):
        check_trade("94250.02", "0")


def test_a_zero_size_level_is_fine_but_never_a_trade_after_it() -> None:
    assert parse_levels([["94250.01", "0"]]) == (("94250.01", "0"),)
    with pytest.raises(ValueError):
        check_trade("94250.01", "0")
