"""Bybit frames for the pure tests: the exchanges.md §6 samples verbatim, captured frames, and
builders for variations of them (field names and shapes from §6.2-§6.4 only)."""

from __future__ import annotations

from typing import Any

import orjson

from feedgate.protocol.base import Action, ConnectionSpec, Send, Topic
from feedgate.venues.bybit.options import BybitOptions
from feedgate.venues.bybit.protocol import BybitProtocol

BTC, ETH = "BTC-USDT", "ETH-USDT"
VENUE_SYMBOLS = {BTC: "BTCUSDT", ETH: "ETHUSDT"}
T0 = 1_786_310_819_526_357  # µs
CONN = "bybit-04"

# -- exchanges.md §6 samples (values illustrative, as the doc says) -----------------------------

DOC_TRADE = (
    '{"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1672304486868,'
    ' "data": [{"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50",'
    ' "i": "2290000000061666327", "BT": false, "RPI": false, "seq": 1783284617}]}'
)
DOC_SNAPSHOT = (
    '{"topic": "orderbook.50.BTCUSDT", "ts": 1672304484978, "type": "snapshot",'
    ' "data": {"s": "BTCUSDT",'
    ' "b": [["16493.50", "0.006"], ["16493.00", "0.100"]],'
    ' "a": [["16611.00", "0.029"], ["16612.00", "0.213"]],'
    ' "u": 18521288, "seq": 7961638724},'
    ' "cts": 1672304484976}'
)
DOC_SPOT_ACK = (
    '{"success": true, "ret_msg": "subscribe", "conn_id": "2324d924-aa4d-45b0-a858-7b8be29ab52b",'
    ' "req_id": "sub-1", "op": "subscribe"}'
)
DOC_FAILURE = (
    '{"success": false, "ret_msg": "Invalid topic: invalid.topic.BTCUSDT",'
    ' "conn_id": "cejreaspqfm9se7usbrg-2xh", "op": "subscribe"}'
)
DOC_SPOT_PONG = (
    '{"success": true, "ret_msg": "pong", "conn_id": "0970e817-426e-429a-a679-ff7f55e0b16a",'
    ' "op": "ping"}'
)
DOC_OPTION_PONG = '{"args":["1672916271846"],"op":"pong"}'

# -- captured (captures/bybit.jsonl.zst, 2026) ----------------------------------------------------

CAPTURED_LINEAR_ACK = (
    '{"success":true,"ret_msg":"","conn_id":"d8bu1olkndm7crnfs1e0-j6akw","req_id":"",'
    '"op":"subscribe"}'
)
CAPTURED_SPOT_ACK = (
    '{"success":true,"ret_msg":"subscribe","conn_id":"d9avt8shteepr00gfc1g-4zd1x","op":"subscribe"}'
)
CAPTURED_LINEAR_TRADE = (
    '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1786310819681,"data":[{"T":'
    '1786310819680,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"65114.20","L":"MinusTick","i":'
    '"a9188a0a-82bc-50de-be60-03eedbe3cdd7","BT":false,"RPI":false,"seq":753843954913}]}'
)

# The §6.4 snapshot's book, then deltas in the §6.4 delta's shape on top of it.
SNAP_U = 18521288


def book_frame(
    kind: str,
    u: int,
    bids: Any = (),
    asks: Any = (),
    venue_symbol: str = "BTCUSDT",
    depth: int = 50,
    ts: Any = 1687940967466,
    cts: Any = 1687940967464,
) -> bytes:
    """§6.4 ``{"topic": "orderbook.50.BTCUSDT", "ts": …, "type": "delta", "data": {"s": …,
    "b": […], "a": […], "u": …, "seq": …}, "cts": …}``."""
    data = {"s": venue_symbol, "b": list(bids), "a": list(asks), "u": u, "seq": 66544703342 + u}
    frame: dict[str, Any] = {"topic": f"orderbook.{depth}.{venue_symbol}", "ts": ts, "type": kind}
    frame["data"] = data
    if cts is not None:
        frame["cts"] = cts
    return orjson.dumps(frame)


def delta(u: int, bids: Any = (), asks: Any = (), venue_symbol: str = "BTCUSDT") -> bytes:
    return book_frame("delta", u, bids, asks, venue_symbol)


def snapshot(u: int, bids: Any = (), asks: Any = (), venue_symbol: str = "BTCUSDT") -> bytes:
    return book_frame("snapshot", u, bids, asks, venue_symbol)


def trade_frame(items: list[dict[str, Any]], venue_symbol: str = "BTCUSDT") -> bytes:
    """§6.3 message around ``items``."""
    return orjson.dumps(
        {"topic": f"publicTrade.{venue_symbol}", "type": "snapshot", "ts": 1672304486868,
         "data": items}
    )  # fmt: skip


def trade_item(**change: Any) -> dict[str, Any]:
    """The §6.3 sample item with fields replaced."""
    item: dict[str, Any] = orjson.loads(DOC_TRADE)["data"][0]
    item.update(change)
    return item


# -- protocol helpers ------------------------------------------------------------------------------


def make(*topics: Topic, **options: Any) -> BybitProtocol:
    return BybitProtocol(ConnectionSpec(CONN, topics, dict(VENUE_SYMBOLS)), BybitOptions(**options))


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [orjson.loads(a.data) for a in actions if isinstance(a, Send)]


def ack(req_id: str, op: str = "subscribe") -> bytes:
    """§6.2 spot ack echoing ``req_id``."""
    return orjson.dumps(
        {"success": True, "ret_msg": op, "conn_id": "c-1", "req_id": req_id, "op": op}
    )


def failure(ret_msg: str, req_id: str | None = None, op: str = "subscribe") -> bytes:
    """§6.2 failure shape (``req_id`` only when given)."""
    body: dict[str, Any] = {"success": False, "ret_msg": ret_msg, "conn_id": "c-1"}
    if req_id is not None:
        body["req_id"] = req_id
    body["op"] = op
    return orjson.dumps(body)


def opened(proto: BybitProtocol, now: int = T0) -> BybitProtocol:
    for frame in sent(proto.on_open(now)):
        proto.on_frame(ack(frame["req_id"]), now)
    return proto


def book_proto(**options: Any) -> BybitProtocol:
    topics = (Topic("trades", BTC), Topic("book", BTC), Topic("bbo", BTC), Topic("book", ETH))
    return opened(make(*topics, **options))


def book_state(proto: BybitProtocol, venue_symbol: str = "BTCUSDT") -> tuple[Any, ...]:
    sync = proto._books[venue_symbol].sync
    return sync.state, sync.book.bids.top(), sync.book.asks.top(), sync.local_id


def synced(**options: Any) -> BybitProtocol:
    """A book protocol whose BTCUSDT book holds the §6.4 snapshot."""
    proto = book_proto(**options)
    proto.on_frame(DOC_SNAPSHOT, T0)
    return proto
