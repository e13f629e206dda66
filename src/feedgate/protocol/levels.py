"""Parsing venue price levels into decimal-string pairs, and rendering JSON numbers as text.

Prices and sizes are never floats in feedgate's output (design §1.6). Venues that send strings
pass through untouched; for venues that send JSON numbers (Kraken v2, Upbit), ``number_text``
renders the float with Python's shortest round-trip repr in plain notation, which is the literal
the venue sent for every value with at most 15 significant digits (exchanges.md §0).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from feedgate.events import Level
from feedgate.protocol.checks import brief

decimal_text = re.compile(r"[0-9]+(?:\.[0-9]+)?").fullmatch
"""Plain ASCII decimal text, what every venue writes (no sign, exponent, blank, ``_`` or
non-ASCII digit, which ``float()`` would all accept but many consumers cannot read)."""
_INF = math.inf


def parse_levels(raw: Any) -> tuple[Level, ...]:
    """``[["94250.00000000", "1.20450000"], …]`` → levels; raises ValueError/TypeError on junk,
    before anything is applied, so a malformed frame can never half-update a book. The shape
    first (a list of pairs of strings), then the texts (``check_levels``)."""
    if type(raw) is not list:
        raise TypeError("levels must be a list of [price, qty] pairs")
    levels: list[Level] = []
    append = levels.append
    for level in raw:
        if type(level) is not list or len(level) != 2:
            raise ValueError(f"a level is a [price, qty] pair, not {brief(level)}")
        price, size = level
        if type(price) is not str or type(size) is not str:
            raise TypeError("level prices and sizes must be strings")
        append((price, size))
    return check_levels(levels)


def check_levels(levels: list[Level]) -> tuple[Level, ...]:
    """Pairs of strings (``parse_levels``' or a typed decoder's, as Binance's ``DepthData``)
    whose texts are checked: plain decimal text (no sign, so no negative size), a price above
    zero, both finite (a decimal text under 300 characters always is). ValueError on junk.

    ``check_level`` inlined in one loop: a Binance depth frame carries dozens of levels, and
    per level a function call costs as much as the checks themselves."""
    inf = math.inf
    valid = _CHECKED_POSITIVE
    for price, size in levels:
        if price not in valid:
            if not (decimal_text(price) and 0.0 < float(price) < inf):
                raise ValueError(f"not a level: {brief(price)} {brief(size)}")
            if len(valid) >= _CHECKED_MAX:
                valid.clear()
            valid.add(price)
        if not (decimal_text(size) and (len(size) < 300 or float(size) < inf)):
            raise ValueError(f"not a level: {brief(price)} {brief(size)}")
    return tuple(levels)


_CHECKED_POSITIVE: set[str] = set()
"""Texts already checked to be positive finite plain decimals (level prices, trade prices and
sizes): the same ones come back message after message, and a set lookup costs a fraction of
checking one (bounded: forgotten at ``_CHECKED_MAX``)."""
_CHECKED_MAX = 65_536


def check_level(price: str, size: str) -> None:
    """A book level: plain decimal text (``decimal_text``), a price above zero, a size of zero or
    more (zero deletes), both finite (400 digits are ``inf`` to a float).

    Texts already checked are remembered, as ``check_trade`` does: venues that send the whole
    book each time (Upbit, 94% of the numbers in its capture repeat the previous frames) check
    the same levels frame after frame."""
    valid = _CHECKED_POSITIVE
    if price in valid and size in valid:
        return
    _check_level_texts(price, size)
    # a zero size is a valid level but not a positive text
    _remember((price, size) if float(size) > 0.0 else (price,))


def _check_level_texts(price: str, size: str) -> None:
    if not (decimal_text(price) and decimal_text(size)):
        raise ValueError(f"level is not decimal text: {brief(price)} {brief(size)}")
    if not (0.0 < float(price) < _INF and float(size) < _INF):
        raise ValueError(f"level out of range: {brief(price)} {brief(size)}")


def check_trade(price: str, size: str) -> None:
    """A trade: as a level, and a size above zero (nothing traded is no trade).

    Both are then positive decimal texts, as a level's price is: texts already checked are
    remembered in the same set (the full check costs ~0.9 µs a trade, a set hit ~0.03 µs)."""
    valid = _CHECKED_POSITIVE
    if price in valid and size in valid:
        return
    _check_level_texts(price, size)
    if not float(size) > 0.0:
        raise ValueError(f"trade of size {brief(size)}")
    _remember((price, size))


def _remember(texts: tuple[str, ...]) -> None:
    """Texts just checked to be positive finite plain decimals, for the next time (bounded)."""
    if len(_CHECKED_POSITIVE) >= _CHECKED_MAX:
        _CHECKED_POSITIVE.clear()
    _CHECKED_POSITIVE.update(texts)


def number_text(value: float | int) -> str:
    """A JSON number as plain decimal text: 94250.1 → "94250.1", 1e-05 → "0.00001".

    Texts of floats are remembered (bounded), for the venues that send a whole book of JSON
    numbers each time. Not zero's: 0.0 and -0.0 are one key to a dict but two texts."""
    if type(value) is float and value:
        known = _TEXT_OF.get(value)
        if known is not None:
            return known
    elif type(value) is int:
        return str(value)
    if type(value) is not float or not math.isfinite(value):
        raise ValueError(f"not a finite number: {brief(value)}")
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    if value:
        if len(_TEXT_OF) >= _CHECKED_MAX:
            _TEXT_OF.clear()
        _TEXT_OF[value] = text
    return text


_TEXT_OF: dict[float, str] = {}
"""``number_text`` of floats already rendered (bounded as ``_CHECKED_POSITIVE``)."""
