"""OKX test frames from exchanges.md §5 (verbatim where the doc gives one) and helpers."""

from __future__ import annotations

from typing import Any

import orjson

from feedgate.protocol.base import Action, ConnectionSpec, Send, Topic
from feedgate.venues.okx.options import OkxOptions
from feedgate.venues.okx.protocol import OkxProtocol

BTC, ETH = "BTC-USDT", "ETH-USDT"
T0 = 1_767_225_600_500_000  # µs
CONN = "okx-03"

# §5.3, verbatim
DOC_TRADE = (
    '{"arg": {"channel": "trades", "instId": "BTC-USDT"},'
    ' "data": [{"instId": "BTC-USDT", "tradeId": "130639474", "px": "42219.9",'
    ' "sz": "0.12060306", "side": "buy", "ts": "1630048897897", "count": "3",'
    ' "source": "0", "seqId": 1234}]}'
)
# §5.4, verbatim
DOC_SNAPSHOT = (
    '{"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "snapshot",'
    ' "data": [{"asks": [["8476.98", "415", "0", "13"], ["8477", "7", "0", "2"]],'
    ' "bids": [["8476.97", "256", "0", "12"], ["8475.55", "101", "0", "1"]],'
    ' "ts": "1597026383085", "checksum": 0, "prevSeqId": -1, "seqId": 123456}]}'
)
DOC_UPDATE = (
    '{"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update",'
    ' "data": [{"asks": [["8476.98", "0", "0", "0"], ["8477.3", "5", "0", "1"]],'
    ' "bids": [["8476.97", "250", "0", "11"]],'
    ' "ts": "1597026383185", "checksum": 0, "prevSeqId": 123456, "seqId": 123457}]}'
)
DOC_BBO = (
    '{"arg": {"channel": "bbo-tbt", "instId": "BCH-USDT-SWAP"},'
    ' "data": [{"asks": [["111.06", "55154", "0", "2"]], "bids": [["111.05", "57745", "0", "2"]],'
    ' "ts": "1670324386802", "seqId": 363996337}]}'
)
# §5.2, verbatim
DOC_ACK = (
    '{"id": "1512", "event": "subscribe", "arg": {"channel": "books", "instId": "BTC-USDT"},'
    ' "connId": "a4d3ae55"}'
)
DOC_ERROR = (
    '{"id": "1512", "event": "error", "code": "60012",'
    ' "msg": "Invalid request: {\\"op\\": \\"subscribe\\", \\"argss\\":[{ \\"channel\\" :'
    ' \\"books\\", \\"instId\\" : \\"BTC-USD-191227\\"}]}", "connId": "a4d3ae55"}'
)
DOC_NOTICE = (
    '{"event": "notice", "code": "64008",'
    ' "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",'
    ' "connId": "a4d3ae55"}'
)
# the 60018 error as OKX sends it for an unknown instId (okxapi/python-okx issue #21)
UNKNOWN_INST_ERROR = (
    '{"event":"error","msg":"channel:books,instId:XYZ-USDT doesn\'t exist","code":"60018"}'
)


def books(
    inst: str,
    action: str,
    prev: int | None,
    seq: int | None,
    bids: Any = (),
    asks: Any = (),
    checksum: int = 0,
    ts: str = "1597026383185",
) -> bytes:
    """A §5.4 ``books`` frame with the given ids and 4-element levels."""
    data: dict[str, Any] = {"asks": list(asks), "bids": list(bids), "ts": ts, "checksum": checksum}
    if prev is not None:
        data["prevSeqId"] = prev
    if seq is not None:
        data["seqId"] = seq
    return orjson.dumps(
        {"arg": {"channel": "books", "instId": inst}, "action": action, "data": [data]}
    )


def ack(request_id: str | None, channel: str, inst: str, event: str = "subscribe") -> bytes:
    body: dict[str, Any] = {"event": event, "arg": {"channel": channel, "instId": inst}}
    if request_id is not None:
        body["id"] = request_id
    return orjson.dumps(body)


def make(
    *topics: Topic, venue_symbols: dict[str, str] | None = None, **options: Any
) -> OkxProtocol:
    spec = ConnectionSpec(CONN, topics, dict(venue_symbols or {}))
    return OkxProtocol(spec, OkxOptions(**options))


def sent(actions: list[Action]) -> list[Any]:
    """Sent frames decoded (the text ``ping`` stays a string)."""
    out: list[Any] = []
    for a in actions:
        if isinstance(a, Send):
            out.append(a.data if a.data == "ping" else orjson.loads(a.data))
    return out


def opened(proto: OkxProtocol, now: int = T0) -> OkxProtocol:
    """on_open, then ack every arg of every request (§5.2: one ack per arg, id echoed)."""
    for frame in sent(proto.on_open(now)):
        for arg in frame["args"]:
            proto.on_frame(ack(frame["id"], arg["channel"], arg["instId"]), now)
    return proto


def all_topics(*symbols: str) -> tuple[Topic, ...]:
    return tuple(Topic(c, s) for s in symbols for c in ("trades", "book", "bbo"))
