"""Kraken Spot WebSocket v2 frame shapes (exchanges.md §3), shared by protocol and simulator.

Builders produce the exact frames the venue sends (and the client requests it expects), so the
simulator cannot drift from what the protocol reads. Prices and quantities are JSON numbers on
the wire (§0); timestamps are RFC 3339 strings with microseconds (§3.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

PATH = "/v2"
BOOK = "book"
TRADE = "trade"
HEARTBEAT = "heartbeat"
STATUS = "status"
DEPTHS = (10, 25, 100, 500, 1000)
"""§3.2 allowed ``book.depth`` values."""
ASSET_PAIRS_PATH = "/0/public/AssetPairs"
"""REST instrument list with ``pair_decimals``/``lot_decimals`` (§3.5)."""
LEGACY_ASSETS = {"XBT": "BTC", "XDG": "DOGE"}
"""§3.8: v1 names (and REST ``wsname``) say XBT where v2 says BTC; XDG → DOGE is UNCONFIRMED."""

Number = float | int
WireLevel = tuple[Number, Number]


# -- client requests (§3.2, §3.6) ---------------------------------------------------------------


def subscribe_frame(channel: str, symbols: list[str], req_id: int, depth: int | None = None) -> str:
    """§3.2 ``{"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"],
    "depth": 10, "snapshot": true}, "req_id": 1}``; trades ask ``snapshot: false``."""
    params: dict[str, Any] = {"channel": channel, "symbol": symbols}
    if depth is not None:
        params["depth"] = depth
    params["snapshot"] = channel == BOOK
    return orjson.dumps({"method": "subscribe", "params": params, "req_id": req_id}).decode()


def unsubscribe_frame(
    channel: str, symbols: list[str], req_id: int, depth: int | None = None
) -> str:
    """§3.2 ``{"method": "unsubscribe", "params": {"channel": "book", "symbol": ["BTC/USD"],
    "depth": 10}, "req_id": 3}``."""
    params: dict[str, Any] = {"channel": channel, "symbol": symbols}
    if depth is not None:
        params["depth"] = depth
    return orjson.dumps({"method": "unsubscribe", "params": params, "req_id": req_id}).decode()


def ping_frame(req_id: int) -> str:
    """§3.6 ``{"method": "ping", "req_id": 101}``."""
    return orjson.dumps({"method": "ping", "req_id": req_id}).decode()


# -- venue frames (§3.1-§3.6) -------------------------------------------------------------------


def status_frame(connection_id: int, version: str = "2.0.10") -> bytes:
    """§3.1 the status message sent on connect."""
    data = {"api_version": "v2", "connection_id": connection_id, "system": "online",
            "version": version}  # fmt: skip
    return orjson.dumps({"channel": STATUS, "type": "update", "data": [data]})


def ack_frame(
    method: str, result: dict[str, Any], req_id: Any, time_in: str, time_out: str
) -> bytes:
    """§3.2 ack, one per symbol: ``{"method": "subscribe", "result": {"channel": "book",
    "depth": 10, "snapshot": true, "symbol": "BTC/USD"}, "success": true, "time_in": …,
    "time_out": …, "req_id": 1}``. The unsubscribe ack has the same shape (UNCONFIRMED)."""
    body: dict[str, Any] = {"method": method, "result": result, "success": True,
                            "time_in": time_in, "time_out": time_out}  # fmt: skip
    if req_id is not None:
        body["req_id"] = req_id
    return orjson.dumps(body)


def error_frame(
    method: str, error: str, symbol: str | None, req_id: Any, time_in: str, time_out: str
) -> bytes:
    """§3.2 error: ``{"error": "Currency pair not supported XBT/USD", "method": "subscribe",
    "success": false, "symbol": "XBT/USD", "time_in": …, "time_out": …, "req_id": 1}``."""
    body: dict[str, Any] = {"error": error, "method": method, "success": False}
    if symbol is not None:
        body["symbol"] = symbol
    body["time_in"], body["time_out"] = time_in, time_out
    if req_id is not None:
        body["req_id"] = req_id
    return orjson.dumps(body)


def pong_frame(req_id: Any, time_in: str, time_out: str) -> bytes:
    """§3.6 ``{"method": "pong", "req_id": 101, "time_in": …, "time_out": …}``."""
    body: dict[str, Any] = {"method": "pong"}
    if req_id is not None:
        body["req_id"] = req_id
    body["time_in"], body["time_out"] = time_in, time_out
    return orjson.dumps(body)


HEARTBEAT_FRAME = b'{"channel":"heartbeat"}'
"""§3.6, sent ~1/s once a subscription exists."""


def book_entry(
    symbol: str,
    bids: Sequence[WireLevel],
    asks: Sequence[WireLevel],
    checksum: int,
    timestamp: str | None,
) -> dict[str, Any]:
    """§3.4 one ``data`` item: ``{"symbol": "BTC/USD", "bids": [{"price": 29430.2,
    "qty": 0.18967538}], "asks": […], "checksum": 2785033588, "timestamp": "…"}``."""
    entry: dict[str, Any] = {
        "symbol": symbol,
        "bids": [{"price": p, "qty": q} for p, q in bids],
        "asks": [{"price": p, "qty": q} for p, q in asks],
        "checksum": checksum,
    }
    if timestamp is not None:
        entry["timestamp"] = timestamp
    return entry


def book_frame(kind: str, entries: list[dict[str, Any]]) -> bytes:
    """§3.4 ``{"channel": "book", "type": "snapshot"|"update", "data": [entry, …]}``."""
    return orjson.dumps({"channel": BOOK, "type": kind, "data": entries})


def trade_entry(
    symbol: str, side: str, price: Number, qty: Number, ord_type: str, trade_id: int, ts: str
) -> dict[str, Any]:
    """§3.3 ``{"symbol": "BTC/USD", "side": "buy", "price": 105944.2, "qty": 0.00027625,
    "ord_type": "limit", "trade_id": 10218208, "timestamp": "2023-10-06T17:35:55.440295Z"}``."""
    return {"symbol": symbol, "side": side, "price": price, "qty": qty, "ord_type": ord_type,
            "trade_id": trade_id, "timestamp": ts}  # fmt: skip


def trade_frame(entries: list[dict[str, Any]], kind: str = "update") -> bytes:
    """§3.3 ``{"channel": "trade", "type": "update", "data": [trade, …]}``."""
    return orjson.dumps({"channel": TRADE, "type": kind, "data": entries})


# -- instruments (REST AssetPairs; shape UNCONFIRMED, see NOTES.md) -------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    """One tradable pair: its v2 symbol and the checksum precisions (§3.5)."""

    venue_symbol: str
    price_dp: int
    qty_dp: int


def v2_symbol(wsname: str) -> str:
    """§3.8 REST ``wsname`` ``XBT/USD`` → v2 ``BTC/USD``."""
    base, _, quote = wsname.partition("/")
    return f"{LEGACY_ASSETS.get(base, base)}/{LEGACY_ASSETS.get(quote, quote)}"


def canonical(venue_symbol: str) -> str:
    """v2 ``BTC/USD`` → canonical ``BTC-USD``."""
    return venue_symbol.upper().replace("/", "-")


def asset_pairs_body(pairs: list[tuple[str, str, int, int]]) -> bytes:
    """``GET /0/public/AssetPairs`` with the fields we read. ``pairs``: (base, quote, price dp,
    qty dp) in v2 names; ``wsname``/``altname`` use the legacy XBT spelling as the venue does:
    ``{"error": [], "result": {"XBTUSD": {"altname": "XBTUSD", "wsname": "XBT/USD",
    "base": "XBT", "quote": "USD", "pair_decimals": 1, "lot_decimals": 8,
    "status": "online"}}}``."""
    legacy = {v: k for k, v in LEGACY_ASSETS.items()}
    result: dict[str, Any] = {}
    for base, quote, price_dp, qty_dp in pairs:
        b, q = legacy.get(base, base), legacy.get(quote, quote)
        result[b + q] = {
            "altname": b + q, "wsname": f"{b}/{q}", "base": b, "quote": q,
            "pair_decimals": price_dp, "lot_decimals": qty_dp, "cost_decimals": 5,
            "tick_size": format(10.0**-price_dp, f".{price_dp}f"), "status": "online",
        }  # fmt: skip
    return orjson.dumps({"error": [], "result": result})


_LISTED = frozenset({"online", "cancel_only", "post_only", "limit_only", "reduce_only"})


def parse_asset_pairs(body: bytes) -> dict[str, Pair]:
    """``{"error": [], "result": {"XXBTZUSD": {"wsname": "XBT/USD", "pair_decimals": 1,
    "lot_decimals": 8, "status": "online", …}}}`` → {canonical ``BTC-USD``: Pair}. Pairs
    without a ``wsname`` (not on the WebSocket API) or with a status other than the trading ones
    are left out (UNCONFIRMED list).
    Raises ValueError/KeyError/TypeError on a body of another shape or a non-empty ``error``."""
    doc = orjson.loads(body)
    if doc.get("error"):
        raise ValueError(f"AssetPairs error: {doc['error']}")
    out: dict[str, Pair] = {}
    for info in doc["result"].values():
        wsname = info.get("wsname")
        if type(wsname) is not str or wsname.count("/") != 1:
            continue
        if info.get("status", "online") not in _LISTED:
            continue
        price_dp, qty_dp = info["pair_decimals"], info["lot_decimals"]
        if type(price_dp) is not int or type(qty_dp) is not int:
            raise TypeError(f"{wsname}: pair_decimals/lot_decimals must be integers")
        symbol = v2_symbol(wsname)
        out[canonical(symbol)] = Pair(symbol, price_dp, qty_dp)
    return out


def parse_instruments(body: bytes) -> dict[str, str]:
    """AssetPairs → {canonical ``BTC-USD``: v2 ``BTC/USD``} (the VenueSpec contract)."""
    return {symbol: pair.venue_symbol for symbol, pair in parse_asset_pairs(body).items()}


# -- timestamps (§3.8) ----------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECONDS: dict[str, int] = {}


def parse_timestamp(text: Any) -> int:
    """``"2023-07-30T15:29:58.343415Z"`` → 1690730998343415 (µs since the epoch). The usual
    27-character form costs a dict lookup per second of text; others go through fromisoformat."""
    if type(text) is not str:
        raise TypeError("timestamp must be a string")
    fraction = text[20:26]
    if len(text) == 27 and text[19] == "." and text[26] == "Z" and _digits(fraction):
        head = text[:19]
        seconds = _SECONDS.get(head)
        if seconds is None:
            if len(_SECONDS) > 4096:
                _SECONDS.clear()
            moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
            seconds = _SECONDS[head] = (moment - _EPOCH) // timedelta(seconds=1)
        return seconds * 1_000_000 + int(fraction)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _US


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def format_timestamp(us: int) -> str:
    """µs since the epoch → ``"2023-07-30T15:29:58.343415Z"`` (§3.3/§3.4)."""
    moment = _EPOCH + timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
