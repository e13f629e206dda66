"""Bybit v5 public frame shapes (exchanges.md §6), shared by the protocol and the simulator.

Builders produce the frames the venue and the client send, parsers read already-decoded JSON;
the simulator renders through the same builders, so it cannot drift from what the protocol reads.
Spot and linear share every shape here; where they differ (key order of data frames, ``req_id``
in the pong) the builder takes the category.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

TRADE = "publicTrade"
BOOK = "orderbook"
SPOT, LINEAR = "spot", "linear"
DEPTHS = (1, 50, 200, 1000)  # §6.4


def trade_topic(venue_symbol: str) -> str:
    """§6.3 ``publicTrade.BTCUSDT``."""
    return f"{TRADE}.{venue_symbol}"


def book_topic(depth: int, venue_symbol: str) -> str:
    """§6.4 ``orderbook.50.BTCUSDT``."""
    return f"{BOOK}.{depth}.{venue_symbol}"


def split_topic(topic: str) -> tuple[str, int | None, str] | None:
    """``orderbook.50.BTCUSDT`` → (``orderbook``, 50, ``BTCUSDT``); ``publicTrade.BTCUSDT`` →
    (``publicTrade``, None, ``BTCUSDT``); None for anything else."""
    parts = topic.split(".")
    if len(parts) == 2 and parts[0] == TRADE and parts[1]:
        return TRADE, None, parts[1]
    if len(parts) == 3 and parts[0] == BOOK and parts[1].isdigit() and parts[2]:
        return BOOK, int(parts[1]), parts[2]
    return None


# -- client requests (§6.2) ---------------------------------------------------------------------


def request_frame(op: str, args: list[str], req_id: str) -> str:
    """§6.2 ``{"req_id": "sub-1", "op": "subscribe", "args": ["orderbook.50.BTCUSDT", …]}``
    (``op`` ``subscribe`` or ``unsubscribe``)."""
    return orjson.dumps({"req_id": req_id, "op": op, "args": args}).decode()


def ping_frame(req_id: str) -> str:
    """§6.2 ``{"req_id": "100001", "op": "ping"}``."""
    return orjson.dumps({"req_id": req_id, "op": "ping"}).decode()


# -- venue replies (§6.2) -----------------------------------------------------------------------


def ack_frame(op: str, conn_id: str, req_id: str | None, ret_msg: str | None = None) -> bytes:
    """§6.2 spot ack ``{"success": true, "ret_msg": "subscribe", "conn_id": "…",
    "req_id": "sub-1", "op": "subscribe"}``; ``req_id`` only when the request had one."""
    body: dict[str, Any] = {"success": True, "ret_msg": op if ret_msg is None else ret_msg}
    body["conn_id"] = conn_id
    if req_id is not None:
        body["req_id"] = req_id
    body["op"] = op
    return orjson.dumps(body)


def error_frame(op: str, conn_id: str, ret_msg: str, req_id: str | None = None) -> bytes:
    """§6.2 failure ``{"success": false, "ret_msg": "Invalid topic: invalid.topic.BTCUSDT",
    "conn_id": "…", "op": "subscribe"}`` (the documented sample has no ``req_id``)."""
    body: dict[str, Any] = {"success": False, "ret_msg": ret_msg, "conn_id": conn_id}
    if req_id is not None:
        body["req_id"] = req_id
    body["op"] = op
    return orjson.dumps(body)


def pong_frame(category: str, conn_id: str, req_id: str | None) -> bytes:
    """§6.2 spot pong ``{"success": true, "ret_msg": "pong", "conn_id": "…", "op": "ping"}``;
    the linear pong adds ``req_id``."""
    body: dict[str, Any] = {"success": True, "ret_msg": "pong", "conn_id": conn_id}
    if category != SPOT:
        body["req_id"] = req_id if req_id is not None else ""
    body["op"] = "ping"
    return orjson.dumps(body)


_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+")


def named_topics(ret_msg: str, candidates: list[str]) -> list[str]:
    """The ``candidates`` a venue error text names as whole words, e.g. ``orderbook.50.XUSDT``
    in ``"Invalid topic: orderbook.50.XUSDT"`` (a prefix of a longer token does not count)."""
    tokens = set(_TOKEN.findall(ret_msg))
    return [c for c in candidates if c in tokens]


# -- data frames (§6.3, §6.4) -------------------------------------------------------------------


def trade_item(
    symbol: str, trade_id: str, price: str, size: str, taker_buys: bool, fill_ms: int, seq: int
) -> dict[str, Any]:
    """§6.3 ``{"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50",
    "i": "2290000000061666327", "BT": false, "RPI": false, "seq": 1783284617}``."""
    return {
        "T": fill_ms,
        "s": symbol,
        "S": "Buy" if taker_buys else "Sell",
        "v": size,
        "p": price,
        "i": trade_id,
        "BT": False,
        "RPI": False,
        "seq": seq,
    }


def trade_message(
    category: str, symbol: str, ts_ms: int, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """§6.3 ``{"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": …, "data": [item…]}``.
    Spot puts ``ts`` before ``type`` (§6.4 quirk, and so does the 2026 capture)."""
    if category == SPOT:
        return {"topic": trade_topic(symbol), "ts": ts_ms, "type": "snapshot", "data": items}
    return {"topic": trade_topic(symbol), "type": "snapshot", "ts": ts_ms, "data": items}


def book_message(
    category: str,
    depth: int,
    symbol: str,
    kind: str,
    bids: list[list[str]],
    asks: list[list[str]],
    update_id: int,
    seq: int,
    ts_ms: int,
    cts_ms: int,
) -> dict[str, Any]:
    """§6.4 ``{"topic": "orderbook.50.BTCUSDT", "ts": 1672304484978, "type": "snapshot",
    "data": {"s": "BTCUSDT", "b": [["16493.50", "0.006"]], "a": [["16611.00", "0.029"]],
    "u": 18521288, "seq": 7961638724}, "cts": 1672304484976}``; ``kind`` snapshot or delta."""
    data = {"s": symbol, "b": bids, "a": asks, "u": update_id, "seq": seq}
    topic = book_topic(depth, symbol)
    if category == SPOT:
        return {"topic": topic, "ts": ts_ms, "type": kind, "data": data, "cts": cts_ms}
    return {"topic": topic, "type": kind, "ts": ts_ms, "data": data, "cts": cts_ms}


# -- REST instrument list (UNCONFIRMED in exchanges.md; shape as in the 2026 capture) -----------


def instruments_path(category: str) -> str:
    """The query the 2026 capture used: ``/v5/market/instruments-info?category=spot&…``."""
    return f"/v5/market/instruments-info?category={category}&status=Trading&limit=1000"


def instruments_body(category: str, symbols: list[tuple[str, str, str]], time_ms: int) -> bytes:
    """``{"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [{"symbol":
    "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "status": "Trading", …}]}, …}`` with the
    fields we read, as captured; linear entries carry ``contractType``."""
    items: list[dict[str, Any]] = []
    for symbol, base, quote in symbols:
        item: dict[str, Any] = {"symbol": symbol}
        if category == LINEAR:
            item["contractType"] = "LinearPerpetual"
        item.update(status="Trading", baseCoin=base, quoteCoin=quote)
        items.append(item)
    result: dict[str, Any] = {"category": category, "list": items}
    if category == LINEAR:
        result["nextPageCursor"] = ""
    return orjson.dumps(
        {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": time_ms}
    )


def parse_instruments(body: bytes) -> dict[str, str]:
    """instruments-info → {canonical ``BASE-QUOTE``: venue symbol} for ``Trading`` instruments.

    Linear lists dated futures (``BTCUSDT-25DEC26``, ``contractType: LinearFutures``) with the
    same baseCoin/quoteCoin as the perpetual: only ``LinearPerpetual`` entries map, so
    ``BTC-USDT`` is ``BTCUSDT`` (and ``BTC-USDC`` the USDC perpetual ``BTCPERP``)."""
    info = orjson.loads(body)
    if info.get("retCode") != 0:
        raise ValueError(f"instruments-info retCode {info.get('retCode')}: {info.get('retMsg')}")
    out: dict[str, str] = {}
    for item in info["result"]["list"]:
        if item.get("status") != "Trading":
            continue
        if item.get("contractType", "LinearPerpetual") != "LinearPerpetual":
            continue
        out[f"{item['baseCoin'].upper()}-{item['quoteCoin'].upper()}"] = item["symbol"]
    return out
