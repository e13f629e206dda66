"""The Upbit simulator's sessions and request handling (exchanges.md §4.2, §4.5, §4.6), pure.

A session is one client connection: which endpoint (public or private), the format it asked
for, and its subscriptions. ``apply_request`` reads one request array the way the venue does
and answers with §4.6 error frames for bad ones; a later request replaces the earlier one
(whether the venue adds or replaces is UNCONFIRMED, §4.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from feedgate.venues.upbit import wire

PUBLIC_TYPES = frozenset({wire.TRADE, wire.ORDERBOOK})
PRIVATE_TYPES = frozenset({wire.MY_ORDER, wire.MY_ASSET})
FORMATS = frozenset({"DEFAULT", "SIMPLE"})


@dataclass(slots=True)
class UpbitSession:
    private: bool
    fmt: str = "DEFAULT"
    trades: set[str] = field(default_factory=set)
    books: dict[str, int] = field(default_factory=dict)  # code → depth
    my_order: list[str] | None = None  # None: not subscribed; []: every market
    my_asset: bool = False
    realtime_only: set[str] = field(default_factory=set)  # types without the initial snapshot
    messages: int = 0  # client text frames received (requests and PINGs)
    pinged: bool = False  # §4.5: status UP frames flow once the client has sent PING
    access_key: str | None = None
    unknown_codes: list[str] = field(default_factory=list)

    def subscriptions(self) -> list[str]:
        out = [f"trade:{c}" for c in sorted(self.trades)]
        out += [f"orderbook:{c}.{d}" for c, d in sorted(self.books.items())]
        if self.my_order is not None:
            out.append(f"myOrder:{','.join(self.my_order)}")
        if self.my_asset:
            out.append("myAsset")
        return out


def apply_request(session: UpbitSession, text: str, markets: set[str]) -> bytes | None:
    """One client request array → None (accepted) or a §4.6 error frame. ``markets`` are the
    codes that exist; unknown codes are accepted and deliver nothing (UNCONFIRMED)."""
    try:
        request = orjson.loads(text)
    except orjson.JSONDecodeError:
        return wire.error_frame("WRONG_FORMAT", "request is not JSON")
    if type(request) is not list or not all(type(item) is dict for item in request):
        return wire.error_frame("WRONG_FORMAT", "a request is a JSON array of objects")
    if not any(type(item.get("ticket")) is str and item["ticket"] for item in request):
        return wire.error_frame("NO_TICKET", "the request has no ticket")
    fmt = "DEFAULT"
    types: list[dict[str, Any]] = []
    for item in request:
        if "ticket" in item:
            continue
        if "format" in item:
            if item["format"] not in FORMATS:
                return wire.error_frame("INVALID_PARAM", f"format {item['format']!r}")
            fmt = item["format"]
        elif "type" in item:
            types.append(item)
        elif "method" not in item:
            return wire.error_frame("NO_TYPE", "a data-type object has no type")
    if not types:
        return wire.error_frame("NO_TYPE", "the request names no type")
    allowed = PRIVATE_TYPES if session.private else PUBLIC_TYPES
    fresh = UpbitSession(session.private, fmt, messages=session.messages, pinged=session.pinged,
                         access_key=session.access_key)  # fmt: skip
    for item in types:
        kind, codes = item["type"], item.get("codes")
        if kind not in allowed:
            return wire.error_frame("INVALID_PARAM", f"type {kind!r} is not served here")
        if codes is not None and (
            type(codes) is not list or not all(type(c) is str and c for c in codes)
        ):
            return wire.error_frame("INVALID_PARAM", "codes must be a list of strings")
        if kind in PUBLIC_TYPES and not codes:
            return wire.error_frame("NO_CODES", f"type {kind} needs codes")
        if item.get("is_only_realtime", item.get("isOnlyRealtime")) is True:
            fresh.realtime_only.add(kind)
        for raw in codes or []:
            code, depth = wire.split_book_code(raw) if kind == wire.ORDERBOOK else (raw, 0)
            if code.upper() != code:
                return wire.error_frame("INVALID_PARAM", f"codes are uppercase: {raw!r}")
            if code not in markets:
                fresh.unknown_codes.append(code)
                continue
            if kind == wire.TRADE:
                fresh.trades.add(code)
            elif kind == wire.ORDERBOOK:
                fresh.books[code] = depth
        if kind == wire.MY_ORDER:
            fresh.my_order = [c for c in codes or [] if c in markets]
        elif kind == wire.MY_ASSET:
            fresh.my_asset = True
    for name in UpbitSession.__slots__:
        setattr(session, name, getattr(fresh, name))
    return None
