"""What a frame may put into an event or a detail, checked at the edge (issue 8, "bad input").

A venue can send anything: a list nested 1,000 deep, megabytes of text, a time in the wrong unit,
an object too deep to encode again. Protocols turn such frames into parse errors with these
helpers instead of raising out of ``on_frame`` (``repr`` of a deep list exceeds the recursion
limit) or emitting an event the publisher cannot write (its JSON encoder refuses integers past
64 bits and objects nested past 254 levels, on the read loop).
"""

from __future__ import annotations

import reprlib
from typing import Any

import orjson

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxlist, _BRIEF.maxdict = 3, 5, 5
_BRIEF.maxstring = _BRIEF.maxother = _BRIEF.maxlong = 80


def brief(value: object) -> str:
    """``repr(value)`` for a parse error's detail, cut short in length and nesting. A frame can
    hold a list nested 1,000 deep (orjson reads 1,024 levels), whose plain ``repr`` exceeds the
    recursion limit and would raise out of ``on_frame``, or megabytes of text for the log."""
    return _BRIEF.repr(value)


def clip(text: object, limit: int = 200) -> str:
    """Words for a detail or a status reason, at most ``limit`` characters: a venue's text (an
    error message) or an exception's message as they are, anything else through ``brief``."""
    out = str(text) if isinstance(text, str | BaseException) else brief(text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


MAX_US = 253_402_300_799_999_999
"""9999-12-31T23:59:59.999999Z, the last instant RFC 3339 can write."""


def epoch_us(us: int) -> int:
    """``us`` itself when it is a time from 1970 to 9999; ValueError otherwise."""
    if not 0 <= us <= MAX_US:
        raise ValueError(f"time out of range: {us} µs")
    return us


def ms_to_us(ms: Any) -> int:
    """Epoch ms as a JSON integer (§6.7 Bybit, §4.8 Upbit…) → µs; TypeError for anything but an
    integer (a bool or a float is not one), ValueError out of range."""
    if type(ms) is not int:
        raise TypeError(f"a time must be integer ms, not {type(ms).__name__}")
    return epoch_us(ms * 1000)


def check_payload(payload: dict[str, Any]) -> None:
    """ValueError unless ``payload`` (a venue object published as sent: a chain event, an account
    update) can be written as JSON again; orjson reads 1,024 levels but writes only 254."""
    try:
        orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"payload cannot be published: {exc}") from None
