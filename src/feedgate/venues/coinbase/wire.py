"""Coinbase Advanced Trade frame shapes (exchanges.md §2), shared by the protocol and the simulator.

Parsing lives here as small functions over already-decoded JSON; builders produce the frames the
venue sends (shapes of §2.2-§2.6 and of the recorded session in ``captures/coinbase.jsonl.zst``),
so the simulator cannot drift from what the protocol expects. Also here: RFC 3339 timestamps to
and from integer microseconds (§2.9), in plain arithmetic so the hot path needs no ``datetime``.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from feedgate.events import Level, Side
from feedgate.protocol.checks import brief, clip
from feedgate.protocol.levels import decimal_text

LEVEL2: Final = "level2"
"""The subscription channel of books; its messages arrive as channel ``l2_data`` (§2.2)."""
L2_DATA: Final = "l2_data"
MARKET_TRADES: Final = "market_trades"
HEARTBEATS: Final = "heartbeats"
SUBSCRIPTIONS: Final = "subscriptions"
BID: Final = "bid"
OFFER: Final = "offer"  # §2.5: not "ask"
_INF = math.inf

TAKER_SIDE: Final[dict[str, dict[str, Side]]] = {
    "maker": {"BUY": Side.SELL, "SELL": Side.BUY},
    "taker": {"BUY": Side.BUY, "SELL": Side.SELL},
}
"""``market_trades`` ``side`` (§2.4) → the taker's side, by what ``side`` names (NOTES.md: the
recorded session shows the maker's side)."""


# -- client frames (§2.2) --------------------------------------------------------------------------


def subscribe_frame(channel: str, products: list[str] | tuple[str, ...]) -> str:
    """§2.2, one channel per message:
    ``{"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"}``;
    ``heartbeats`` takes no products: ``{"type": "subscribe", "channel": "heartbeats"}``."""
    return _control("subscribe", channel, products)


def unsubscribe_frame(channel: str, products: list[str] | tuple[str, ...]) -> str:
    """§2.2: the subscribe shape with ``"type": "unsubscribe"``."""
    return _control("unsubscribe", channel, products)


def _control(kind: str, channel: str, products: list[str] | tuple[str, ...]) -> str:
    body: dict[str, Any] = {"type": kind}
    if products:
        body["product_ids"] = list(products)
    body["channel"] = channel
    return orjson.dumps(body).decode()


# -- parsing (§2.2-§2.5, §2.9) ---------------------------------------------------------------------


def l2_levels(updates: Any) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """§2.5 ``updates`` of an ``l2_data`` event → (bids, asks), absolute sizes. One entry:
    ``{"side": "offer", "event_time": "2024-10-08T09:10:53.335085Z", "price_level": "62394.77",
    "new_quantity": "0.0270024"}``. Raises KeyError/TypeError/ValueError on junk before anything
    is applied, so a malformed frame can never half-update a book."""
    if type(updates) is not list:
        raise TypeError("updates must be a list")
    bids: list[Level] = []
    asks: list[Level] = []
    for update in updates:
        side, price, size = update["side"], update["price_level"], update["new_quantity"]
        if type(price) is not str or type(size) is not str:
            raise TypeError("price_level and new_quantity must be strings")
        # levels.check_level inlined: a full-depth snapshot has tens of thousands of levels
        if not (decimal_text(price) and decimal_text(size)):
            raise ValueError(f"level is not decimal text: {brief(price)} {brief(size)}")
        if not (0.0 < float(price) < _INF and float(size) < _INF):
            raise ValueError(f"level out of range: {brief(price)} {brief(size)}")
        if side == BID:
            bids.append((price, size))
        elif side == OFFER:
            asks.append((price, size))
        else:
            raise ValueError(f"unknown book side {brief(side)}")
    return tuple(bids), tuple(asks)


def parse_subscriptions(events: Any) -> dict[str, frozenset[str]]:
    """§2.2 acknowledgement events → {channel: products}. The ack is cumulative: it lists every
    subscription of the connection, e.g. ``[{"subscriptions": {"level2": ["BTC-USD"],
    "market_trades": ["BTC-USD", "ETH-USD"], "heartbeats": ["heartbeats"]}}]`` (captured)."""
    if type(events) is not list:
        raise TypeError("events must be a list")
    out: dict[str, frozenset[str]] = {}
    for event in events:
        subscriptions = event["subscriptions"]
        if type(subscriptions) is not dict:
            raise TypeError("subscriptions must be an object")
        for channel, products in subscriptions.items():
            if type(products) is not list or not all(type(p) is str for p in products):
                raise TypeError(f"{channel}: products must be a list of strings")
            out[channel] = frozenset(products)
    return out


def error_text(msg: dict[str, Any]) -> str:
    """§2.2 error frame (shape UNCONFIRMED, ``{"type":"error","message":"failure to subscribe"}``):
    its ``message`` and, where present, ``reason`` (the legacy feed's detail field)."""
    parts = [clip(msg[key]) for key in ("message", "reason") if msg.get(key) not in (None, "")]
    return ": ".join(parts) or "error"


def parse_products(body: bytes) -> dict[str, str]:
    """``GET /api/v3/brokerage/market/products`` (captured) → {canonical ``BASE-QUOTE``: product
    to subscribe} for online, tradable spot products. One product (captured)::

        {"product_id": "BTC-USDC", "base_currency_id": "BTC", "quote_currency_id": "USDC",
         "status": "online", "trading_disabled": false, "product_type": "SPOT",
         "alias": "BTC-USD", "alias_to": [], ...}

    §2.8/§9: a ``-USDC`` product's market data is its ``-USD`` product's (``alias``), so
    ``BTC-USDC`` maps to the ``BTC-USD`` book rather than being treated as a distinct one."""
    products = orjson.loads(body)["products"]
    online: dict[str, tuple[str, str]] = {}  # product id → (canonical, alias)
    for product in products:
        if product.get("status") != "online" or product.get("trading_disabled") is True:
            continue
        if product.get("product_type", "SPOT") != "SPOT":
            continue
        product_id = product["product_id"]
        base, quote = product.get("base_currency_id"), product.get("quote_currency_id")
        canonical = f"{base}-{quote}".upper() if base and quote else product_id.upper()
        online[product_id] = (canonical, product.get("alias") or "")
    return {
        canonical: alias if alias in online else product_id
        for product_id, (canonical, alias) in online.items()
    }


# -- timestamps (§2.9) ----------------------------------------------------------------------------

_DIGITS = "0123456789"
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def rfc3339_us(text: str) -> int:
    """§2.9 RFC 3339 → integer µs since the epoch, tolerant of the fraction's length (digits past
    µs are truncated): ``"2024-10-08T09:10:53.374050957Z"`` → ``1728378653374050``. Accepts
    ``Z`` or ``±HH:MM``; raises TypeError/ValueError on anything else."""
    if type(text) is not str:
        raise TypeError("a timestamp must be a string")
    n = len(text)
    if n < 20 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt":
        raise ValueError(f"not an RFC 3339 timestamp: {brief(text)}")
    if text[13] != ":" or text[16] != ":":
        raise ValueError(f"not an RFC 3339 timestamp: {brief(text)}")
    fields = text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]
    if not (fields.isascii() and fields.isdigit()):
        raise ValueError(f"not an RFC 3339 timestamp: {brief(text)}")
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"timestamp out of range: {brief(text)}")
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _MONTH_DAYS[month - 1] + leap:
        raise ValueError(f"timestamp out of range: {brief(text)}")
    micros, i = 0, 19
    if text[19] == ".":
        j = 20
        while j < n and text[j] in _DIGITS:
            j += 1
        if j == 20:
            raise ValueError(f"empty fraction: {brief(text)}")
        micros = int((text[20:j] + "00000")[:6])
        i = j
    zone = text[i:]
    offset = 0
    if zone not in ("Z", "z"):
        hh, mm = zone[1:3], zone[4:6]
        if len(zone) != 6 or zone[0] not in "+-" or zone[3] != ":" or not (hh + mm).isdigit():
            raise ValueError(f"bad zone in timestamp: {brief(text)}")
        offset = (int(hh) * 60 + int(mm)) * 60 * (1 if zone[0] == "+" else -1)
    days = _days_from_civil(year, month, day)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * 1_000_000 + micros


def format_rfc3339(us: int, nanos: int | None = None) -> str:
    """Integer µs → ``2026-08-09T21:05:48.170326Z`` (``event_time``/``time``, §2.9); with
    ``nanos`` (0-999) nine fraction digits, like the envelope ``timestamp``."""
    seconds, micros = divmod(us, 1_000_000)
    days, rest = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    fraction = f"{micros:06d}" if nanos is None else f"{micros:06d}{nanos:03d}"
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{fraction}Z"


# -- venue frames (the simulator and tests build them) --------------------------------------------


def envelope(channel: str, timestamp: str, sequence_num: int, events: list[Any]) -> bytes:
    """§2.3 common envelope: ``{"channel": "l2_data", "client_id": "", "timestamp": "…",
    "sequence_num": 345, "events": [...]}``."""
    return orjson.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": timestamp,
            "sequence_num": sequence_num,
            "events": events,
        }
    )


def l2_event(kind: str, product: str, event_time: str, bids: Any, asks: Any) -> dict[str, Any]:
    """§2.5 event ``{"type": "snapshot"|"update", "product_id": …, "updates": [...]}`` from
    ``[price, size]`` pairs, bids first (as the capture orders them)."""
    updates = [
        {"side": side, "event_time": event_time, "price_level": price, "new_quantity": size}
        for side, levels in ((BID, bids), (OFFER, asks))
        for price, size in levels
    ]
    return {"type": kind, "product_id": product, "updates": updates}


def trade(
    product: str, trade_id: int | str, price: str, size: str, time: str, side: str
) -> dict[str, Any]:
    """§2.4 trade, in the captured key order: ``{"product_id": "BTC-USD", "trade_id":
    "1068572091", "price": "65083.67", "size": "0.01034361", "time": "…Z", "side": "SELL"}``."""
    return {
        "product_id": product,
        "trade_id": str(trade_id),
        "price": price,
        "size": size,
        "time": time,
        "side": side,
    }


def heartbeat_event(current_time: str, counter: int) -> dict[str, Any]:
    """§2.6 ``{"current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
    "heartbeat_counter": 3049}`` (a number, as captured)."""
    return {"current_time": current_time, "heartbeat_counter": counter}


def subscriptions_event(subscriptions: dict[str, list[str]]) -> dict[str, Any]:
    """§2.2 acknowledgement event: ``{"subscriptions": {"level2": ["BTC-USD"], ...}}``."""
    return {"subscriptions": subscriptions}


def error_frame(message: str = "failure to subscribe") -> bytes:
    """§2.2 error frame; the exact shape is UNCONFIRMED, this is the doc's example."""
    return orjson.dumps({"type": "error", "message": message})


def products_body(products: list[tuple[str, str, str]]) -> bytes:
    """``GET /api/v3/brokerage/market/products`` with the captured fields the gateway reads
    (and a few more). ``products``: (product id, base, quote)."""
    return orjson.dumps(
        {
            "products": [
                {
                    "product_id": product_id,
                    "base_increment": "0.00000001",
                    "quote_increment": "0.01",
                    "status": "online",
                    "trading_disabled": False,
                    "product_type": "SPOT",
                    "quote_currency_id": quote,
                    "base_currency_id": base,
                    "alias": "",
                    "alias_to": [],
                    "base_display_symbol": base,
                    "quote_display_symbol": quote,
                    "price_increment": "0.01",
                    "display_name": product_id,
                    "product_venue": "CBE",
                }
                for product_id, base, quote in products
            ],
            "num_products": len(products),
            "pagination": {
                "prev_cursor": "",
                "next_cursor": "",
                "has_next": False,
                "has_prev": False,
            },
        }
    )
