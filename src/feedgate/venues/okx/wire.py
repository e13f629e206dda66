"""OKX v5 public frame shapes (exchanges.md §5), shared by the protocol and the simulator.

Parsing lives here as small functions over already-decoded JSON; builders produce the exact frames
the venue sends, so the simulator cannot drift from what the protocol expects.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from feedgate.events import Level
from feedgate.protocol.checks import brief, epoch_us
from feedgate.protocol.levels import check_level

PUBLIC_PATH = "/ws/v5/public"
"""§5.1: ``wss://ws.okx.com:8443/ws/v5/public`` (trades, books*, bbo-tbt)."""

TRADES = "trades"
BOOKS = "books"
BBO_TBT = "bbo-tbt"
CHANNELS = frozenset({TRADES, BOOKS, BBO_TBT})

BOOKS_DEPTH = 400
"""§5.4: the ``books`` channel keeps 400 levels a side; the REST fallback asks for as many."""

PING = "ping"
PONG = "pong"
"""§5.7: keepalive is the *text* ``ping``, answered by the text ``pong`` (not JSON)."""

NOTICE_UPGRADE = "64008"
"""§5.2 service notice: the connection closes in 30 s for a server upgrade."""

UNKNOWN_INSTRUMENT = "60018"
"""Error code of a subscription to an instId/channel that does not exist (§5.2 error frame)."""

_NAMED_INST = re.compile(r"instId:([A-Za-z0-9_.-]+)")

# -- control frames (§5.2) ------------------------------------------------------------------------


def request_frame(op: str, args: list[tuple[str, str]], request_id: str | None) -> str:
    """§5.2 ``{"id": "1512", "op": "subscribe", "args": [{"channel": "books", "instId": …}]}``."""
    body: dict[str, Any] = {}
    if request_id is not None:
        body["id"] = request_id
    body["op"] = op
    body["args"] = [{"channel": channel, "instId": inst_id} for channel, inst_id in args]
    return orjson.dumps(body).decode()


def ack_frame(
    event: str, channel: str, inst_id: str, request_id: str | None, conn_id: str
) -> bytes:
    """§5.2 ack, one per arg: ``{"id": "1512", "event": "subscribe", "arg": {…}, "connId": …}``."""
    body: dict[str, Any] = {}
    if request_id is not None:
        body["id"] = request_id
    body["event"] = event
    body["arg"] = {"channel": channel, "instId": inst_id}
    body["connId"] = conn_id
    return orjson.dumps(body)


def error_frame(code: str, msg: str, request_id: str | None, conn_id: str) -> bytes:
    """§5.2 ``{"id": "1512", "event": "error", "code": "60012", "msg": "Invalid request: …",
    "connId": "a4d3ae55"}``."""
    body: dict[str, Any] = {}
    if request_id is not None:
        body["id"] = request_id
    body.update(event="error", code=code, msg=msg, connId=conn_id)
    return orjson.dumps(body)


def unknown_instrument_msg(channel: str, inst_id: str) -> str:
    """The 60018 text as OKX words it: ``channel:tickers,instId:LTC-USD doesn't exist``
    (recorded from the venue in okxapi/python-okx issue #21; not in exchanges.md)."""
    return f"channel:{channel},instId:{inst_id} doesn't exist"


def named_inst_ids(msg: Any) -> set[str]:
    """instIds an error text names (``…,instId:BTC-XXX doesn't exist`` → ``{"BTC-XXX"}``)."""
    return set(_NAMED_INST.findall(msg)) if type(msg) is str else set()


def notice_frame(conn_id: str) -> bytes:
    """§5.2 ``{"event": "notice", "code": "64008", "msg": "The connection will soon be closed for
    a service upgrade. Please reconnect.", "connId": "a4d3ae55"}``."""
    return orjson.dumps(
        {
            "event": "notice",
            "code": NOTICE_UPGRADE,
            "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
            "connId": conn_id,
        }
    )


# -- push frames (§5.3, §5.4) --------------------------------------------------------------------


def push_frame(
    channel: str, inst_id: str, data: list[dict[str, Any]], action: str | None = None
) -> bytes:
    """``{"arg": {"channel": …, "instId": …}, ["action": …,] "data": [ … ]}``."""
    body: dict[str, Any] = {"arg": {"channel": channel, "instId": inst_id}}
    if action is not None:
        body["action"] = action
    body["data"] = data
    return orjson.dumps(body)


def trade_data(
    inst_id: str,
    trade_id: str,
    px: str,
    sz: str,
    side: str,
    ts_ms: int,
    count: int,
    seq_id: int,
) -> dict[str, Any]:
    """§5.3 ``{"instId": "BTC-USDT", "tradeId": "130639474", "px": "42219.9", "sz": "0.12060306",
    "side": "buy", "ts": "1630048897897", "count": "3", "source": "0", "seqId": 1234}``."""
    return {
        "instId": inst_id,
        "tradeId": trade_id,
        "px": px,
        "sz": sz,
        "side": side,
        "ts": str(ts_ms),
        "count": str(count),
        "source": "0",
        "seqId": seq_id,
    }


def book_data(
    asks: list[list[str]],
    bids: list[list[str]],
    ts_ms: int,
    checksum: int,
    prev_seq_id: int,
    seq_id: int,
) -> dict[str, Any]:
    """§5.4 ``books`` data: ``{"asks": [["8476.98", "415", "0", "13"]], "bids": […],
    "ts": "1597026383085", "checksum": 0, "prevSeqId": -1, "seqId": 123456}``."""
    return {
        "asks": asks,
        "bids": bids,
        "ts": str(ts_ms),
        "checksum": checksum,
        "prevSeqId": prev_seq_id,
        "seqId": seq_id,
    }


def bbo_data(
    asks: list[list[str]], bids: list[list[str]], ts_ms: int, seq_id: int
) -> dict[str, Any]:
    """§5.4 ``bbo-tbt`` data: ``{"asks": [["111.06", "55154", "0", "2"]], "bids": […],
    "ts": "1670324386802", "seqId": 363996337}``."""
    return {"asks": asks, "bids": bids, "ts": str(ts_ms), "seqId": seq_id}


# -- parsing -------------------------------------------------------------------------------------


def parse_levels(raw: Any) -> tuple[Level, ...]:
    """§5.4 ``[["8476.98", "415", "0", "13"], …]`` (price, size, deprecated "0", order count) →
    ``(price, size)`` pairs. Raises ValueError/TypeError on junk before anything is applied."""
    if type(raw) is not list:
        raise TypeError("levels must be a list")
    levels: list[Level] = []
    for level in raw:
        if type(level) is not list or len(level) != 4:
            raise ValueError(f"an OKX level is [px, sz, '0', orders], not {brief(level)}")
        price, size = level[0], level[1]
        if type(price) is not str or type(size) is not str:
            raise TypeError("level prices and sizes must be strings")
        check_level(price, size)
        levels.append((price, size))
    return tuple(levels)


def parse_ts(raw: Any) -> int:
    """§5.8 ``"1597026383085"`` (epoch ms as a string) → integer µs."""
    if type(raw) is not str:
        raise TypeError(f"ts must be a string of epoch ms, not {brief(raw)}")
    return epoch_us(int(raw) * 1000)


def seq_field(data: dict[str, Any], key: str) -> int | None:
    """``seqId``/``prevSeqId``/``checksum``: JSON integers (§5.8); None when absent."""
    value = data.get(key)
    if value is None:
        return None
    if type(value) is not int:
        raise TypeError(f"{key} must be an integer, not {brief(value)}")
    return value


# -- REST ----------------------------------------------------------------------------------------


def rest_books_body(asks: list[list[str]], bids: list[list[str]], ts_ms: int, seq_id: int) -> bytes:
    """``GET /api/v5/market/books?instId=BTC-USDT&sz=400`` (§5.6; envelope and the ``seqId``
    field UNCONFIRMED): ``{"code": "0", "msg": "", "data": [{"asks": […], "bids": […],
    "ts": "1629966436396", "seqId": 123456}]}``."""
    data = {"asks": asks, "bids": bids, "ts": str(ts_ms), "seqId": seq_id}
    return orjson.dumps({"code": "0", "msg": "", "data": [data]})


def rest_error_body(code: str, msg: str) -> bytes:
    """OKX REST error envelope (UNCONFIRMED codes): ``{"code": "51001", "msg": …, "data": []}``."""
    return orjson.dumps({"code": code, "msg": msg, "data": []})


def parse_rest_books(body: bytes) -> tuple[int, tuple[Level, ...], tuple[Level, ...], int]:
    """REST books body (see ``rest_books_body``) → (seqId, bids, asks, ts µs)."""
    raw = orjson.loads(body)
    if raw.get("code") != "0":
        raise ValueError(f"REST books error {raw.get('code')}: {raw.get('msg')}")
    (data,) = raw["data"]
    seq_id = seq_field(data, "seqId")
    if seq_id is None:
        raise ValueError("REST books without seqId cannot be placed in the stream (§5.6)")
    return seq_id, parse_levels(data["bids"]), parse_levels(data["asks"]), parse_ts(data["ts"])


def instruments_body(instruments: list[tuple[str, str, str]]) -> bytes:
    """``GET /api/v5/public/instruments?instType=SPOT`` as in the capture (``okx.jsonl.zst``),
    with the fields read here: ``{"code": "0", "data": [{"instId": "BTC-USDT", "instType": "SPOT",
    "baseCcy": "BTC", "quoteCcy": "USDT", "state": "live", …}], "msg": ""}``."""
    return orjson.dumps(
        {
            "code": "0",
            "data": [
                {
                    "instId": inst_id,
                    "instType": "SPOT",
                    "baseCcy": base,
                    "quoteCcy": quote,
                    "state": "live",
                    "tickSz": "0.01",
                    "lotSz": "0.00000001",
                    "minSz": "0.00001",
                }
                for inst_id, base, quote in instruments
            ],
            "msg": "",
        }
    )


def parse_instruments(body: bytes) -> dict[str, str]:
    """Instrument list → {canonical ``BASE-QUOTE``: instId} for live spot instruments. Spot
    instIds are already ``BASE-QUOTE`` (§5.8); the mapping still reads ``baseCcy``/``quoteCcy``."""
    raw = orjson.loads(body)
    if raw.get("code") != "0":
        raise ValueError(f"instrument list error {raw.get('code')}: {raw.get('msg')}")
    return {
        f"{i['baseCcy'].upper()}-{i['quoteCcy'].upper()}": i["instId"]
        for i in raw["data"]
        if i.get("instType") == "SPOT" and i.get("state") == "live"
    }
