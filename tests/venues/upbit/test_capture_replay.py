"""Replay of the recorded Upbit session (Korea host, SIMPLE format, binary frames, 2021):
every trade and orderbook frame parses, and the normalized values equal the venue's literals."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

from feedgate.events import BookSnapshot, Side, Trade
from feedgate.protocol.base import ConnectionSpec, CountParseError, Topic
from feedgate.venues.upbit import wire
from feedgate.venues.upbit.options import UpbitOptions
from feedgate.venues.upbit.protocol import UpbitProtocol
from tests.venues.actions import of_type
from tests.venues.captures import capture_marker, read_capture, us

pytestmark = capture_marker("upbit.jsonl.zst")


def test_every_frame_parses_with_the_venue_literals() -> None:
    header, records = read_capture("upbit.jsonl.zst")
    symbols = header["config"]["trades"]  # the recorder's BASE-QUOTE names, e.g. STPT-BTC
    (http,) = [r for r in records if r["t"] == "http"]
    listed = wire.parse_markets(http["data"].encode())  # GET /v1/market/all, as captured
    assert all(listed[s] == wire.venue_code(s) for s in symbols)
    topics = tuple(Topic(ch, s) for s in symbols for ch in ("trades", "book"))
    p = UpbitProtocol(ConnectionSpec("upbit-00", topics), UpbitOptions())
    trades = books = 0
    for record in records:
        if record["t"] != "recv":
            continue
        raw = base64.b64decode(record["b64"])  # binary frames (§4.2)
        exact = json.loads(raw, parse_float=Decimal)
        actions = p.on_frame(raw, us(record["ts"]))
        assert not [a for a in actions if isinstance(a, CountParseError)], raw[:200]
        if exact["ty"] == "trade":
            (trade,) = of_type(actions, Trade)
            trades += 1
            assert trade.venue_symbol == exact["cd"] and trade.symbol == wire.canonical(exact["cd"])
            assert Decimal(trade.price) == exact["tp"] and Decimal(trade.size) == exact["tv"]
            assert trade.id == str(exact["sid"])
            assert trade.side is {"BID": Side.BUY, "ASK": Side.SELL}[exact["ab"]]
            assert trade.ts == exact["ttms"] * 1000
        else:
            (snap,) = of_type(actions, BookSnapshot)
            books += 1
            units = exact["obu"]
            assert [(Decimal(p), Decimal(s)) for p, s in snap.asks] == [
                (u["ap"], u["as"]) for u in units if u["ap"]
            ]
            assert [(Decimal(p), Decimal(s)) for p, s in snap.bids] == [
                (u["bp"], u["bs"]) for u in units if u["bp"]
            ]
            assert snap.ts == exact["tms"] * 1000
    assert (trades, books) == (304, 145)
