"""Binance Spot frame shapes (exchanges.md §1), shared by the protocol and the simulator.

Parsing lives here as small functions over already-decoded JSON; builders produce the exact frames
the venue sends, so the simulator cannot drift from what the protocol expects.
"""

from __future__ import annotations

from typing import Any

import orjson

TRADE = "trade"
AGG_TRADE = "aggTrade"
DEPTH = "depth@100ms"


def stream_name(venue_symbol: str, suffix: str) -> str:
    """``btcusdt@depth@100ms``: stream names use the lowercase symbol (§1.1)."""
    return f"{venue_symbol.lower()}@{suffix}"


def split_stream(stream: str) -> tuple[str, str]:
    """``btcusdt@depth@100ms`` → (``btcusdt``, ``depth@100ms``)."""
    symbol, _, suffix = stream.partition("@")
    return symbol, suffix


def subscribe_frame(streams: list[str], request_id: int) -> str:
    """§1.2: ``{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}``."""
    return orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": request_id}).decode()


def ack_frame(request_id: int | str | None) -> bytes:
    """§1.2 success: ``{"result": null, "id": 1}``."""
    return orjson.dumps({"result": None, "id": request_id})


def error_frame(code: int, msg: str, request_id: int | str | None = None) -> bytes:
    """§1.2 error table, flat shape: ``{"code": 2, "msg": "Invalid request: …", "id": 5}``."""
    body: dict[str, Any] = {"code": code, "msg": msg}
    if request_id is not None:
        body["id"] = request_id
    return orjson.dumps(body)


def combined(stream: str, payload: dict[str, Any]) -> bytes:
    """§1.1 combined-stream wrapper: ``{"stream": "<name>", "data": <payload>}``."""
    return orjson.dumps({"stream": stream, "data": payload})


def trade_payload(
    symbol: str,
    trade_id: int,
    price: str,
    qty: str,
    trade_ms: int,
    buyer_is_maker: bool,
    event_ms: int,
) -> dict[str, Any]:
    """§1.3 ``{"e":"trade","E":…,"s":"BTCUSDT","t":…,"p":"…","q":"…","T":…,"m":true,"M":true}``."""
    return {
        "e": "trade",
        "E": event_ms,
        "s": symbol,
        "t": trade_id,
        "p": price,
        "q": qty,
        "T": trade_ms,
        "m": buyer_is_maker,
        "M": True,
    }


def agg_trade_payload(
    symbol: str,
    agg_id: int,
    price: str,
    qty: str,
    first_id: int,
    last_id: int,
    trade_ms: int,
    buyer_is_maker: bool,
    event_ms: int,
) -> dict[str, Any]:
    """§1.4 ``{"e":"aggTrade","E":…,"s":…,"a":…,"p":…,"q":…,"f":…,"l":…,"T":…,"m":…,"M":true}``."""
    return {
        "e": "aggTrade",
        "E": event_ms,
        "s": symbol,
        "a": agg_id,
        "p": price,
        "q": qty,
        "f": first_id,
        "l": last_id,
        "T": trade_ms,
        "m": buyer_is_maker,
        "M": True,
    }


def depth_payload(
    symbol: str,
    first_id: int,
    last_id: int,
    bids: list[list[str]],
    asks: list[list[str]],
    event_ms: int,
) -> dict[str, Any]:
    """§1.5 ``{"e":"depthUpdate","E":…,"s":…,"U":…,"u":…,"b":[["p","q"]],"a":[…]}``."""
    return {
        "e": "depthUpdate",
        "E": event_ms,
        "s": symbol,
        "U": first_id,
        "u": last_id,
        "b": bids,
        "a": asks,
    }


def depth_snapshot_body(last_update_id: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    """§1.6 REST ``GET /api/v3/depth``: ``{"lastUpdateId":…,"bids":[…],"asks":[…]}``."""
    return orjson.dumps({"lastUpdateId": last_update_id, "bids": bids, "asks": asks})


def server_shutdown(event_ms: int) -> bytes:
    """§1.8 combined form of the shutdown notice."""
    return combined("!serverShutdown", {"e": "serverShutdown", "E": event_ms})


def exchange_info_body(symbols: list[tuple[str, str, str]]) -> bytes:
    """REST ``GET /api/v3/exchangeInfo`` with the fields we read (``symbol``, ``status``,
    ``baseAsset``, ``quoteAsset``), as in the capture. ``symbols``: (symbol, base, quote)."""
    return orjson.dumps(
        {
            "timezone": "UTC",
            "symbols": [
                {"symbol": s, "status": "TRADING", "baseAsset": b, "quoteAsset": q}
                for s, b, q in symbols
            ],
        }
    )


def parse_exchange_info(body: bytes) -> dict[str, str]:
    """exchangeInfo → {canonical ``BASE-QUOTE``: venue ``BASEQUOTE``} for TRADING symbols."""
    info = orjson.loads(body)
    return {
        f"{s['baseAsset'].upper()}-{s['quoteAsset'].upper()}": s["symbol"]
        for s in info["symbols"]
        if s.get("status") == "TRADING"
    }
