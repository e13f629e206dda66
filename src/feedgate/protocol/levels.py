"""Parsing venue price levels into decimal-string pairs, and rendering JSON numbers as text.

Prices and sizes are never floats in feedgate's output (design §1.6). Venues that send strings
pass through untouched; for venues that send JSON numbers (Kraken v2, Upbit), ``number_text``
renders the float with Python's shortest round-trip repr in plain notation, which is the literal
the venue sent for every value with at most 15 significant digits (exchanges.md §0).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from feedgate.events import Level


def parse_levels(raw: Any) -> tuple[Level, ...]:
    """``[["94250.00000000", "1.20450000"], …]`` → levels; raises ValueError/TypeError on junk,
    before anything is applied, so a malformed frame can never half-update a book.

    One loop with ``check_level`` inlined: a Binance depth frame carries dozens of levels, and
    per level a function call costs as much as the checks themselves."""
    if type(raw) is not list:
        raise TypeError("levels must be a list of [price, qty] pairs")
    levels: list[Level] = []
    append = levels.append
    inf = math.inf
    valid = _VALID_PRICES
    for level in raw:
        if type(level) is not list or len(level) != 2:
            raise ValueError(f"a level is a [price, qty] pair, not {level!r}")
        price, size = level
        if type(price) is not str or type(size) is not str:
            raise TypeError("level prices and sizes must be strings")
        # NaN fails both comparisons; inf, non-positive prices and negative sizes are junk
        if price not in valid:
            if not 0.0 < float(price) < inf:
                raise ValueError(f"level out of range: {price!r} {size!r}")
            if len(valid) >= _VALID_PRICES_MAX:
                valid.clear()
            valid.add(price)
        if not 0.0 <= float(size) < inf:
            raise ValueError(f"level out of range: {price!r} {size!r}")
        append((price, size))
    return tuple(levels)


_VALID_PRICES: set[str] = set()
"""Price texts already checked: the same prices come back in update after update, and a set
lookup costs a fraction of parsing one (bounded: forgotten at ``_VALID_PRICES_MAX``)."""
_VALID_PRICES_MAX = 65_536


def check_level(price: str, size: str) -> None:
    """NaN fails both comparisons; ``inf``, non-positive prices and negative sizes are junk."""
    if not (0.0 < float(price) < math.inf and 0.0 <= float(size) < math.inf):
        raise ValueError(f"level out of range: {price!r} {size!r}")


def number_text(value: float | int) -> str:
    """A JSON number as plain decimal text: 94250.1 → "94250.1", 1e-05 → "0.00001"."""
    if type(value) is int:
        return str(value)
    if type(value) is not float or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text
