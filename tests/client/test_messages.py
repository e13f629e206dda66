"""Typed decoding: every message the gateway encodes decodes to its type; bad ones say why."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from feedgate import events
from feedgate.client import messages as m
from feedgate.messages import encode

T = 1_700_000_000_000_000

EVENTS: list[tuple[events.Event, type]] = [
    (events.Trade("binance", "BTC-USDT", "BTCUSDT", T, T + 5, "42", "100.50", "0.01000000",
                  events.Side.SELL), m.Trade),
    (events.BookSnapshot("binance", "BTC-USDT", "BTCUSDT", None, T, (("100.5", "1"),),
                         (("100.6", "2"),), 20), m.BookSnapshot),
    (events.BookDelta("binance", "BTC-USDT", "BTCUSDT", T, T + 1, (("100.5", "0"),), ()),
     m.BookDelta),
    (events.Bbo("binance", "BTC-USDT", "BTCUSDT", T, T + 1, None, None, "100.6", "2"), m.Bbo),
    (events.Status("binance", events.StatusEvent.BOOK_RESET, "binance-00", "gap", T, "BTC-USDT",
                   "BTCUSDT"), m.Status),
    (events.Announcement("cryptolisting", T, T + 9, "upbit", "spot_listing", ("ABC", "XYZ"),
                         "Listing ABC", None, False, T, T + 1, T + 2, "k"), m.Announcement),
    (events.Onchain("ethereum", None, T, "ethereum", "logs", 19_000_000, "0xb", "0xt", 3, True,
                    {"value": "1000"}), m.Onchain),
    (events.PrivateUpdate("upbit", T, T + 1, "main", "my_order", {"uuid": "u"}), m.Private),
]  # fmt: skip


@pytest.mark.parametrize(("event", "kind"), EVENTS, ids=[k.__name__ for _, k in EVENTS])
def test_every_encoded_message_decodes_to_its_type(event: events.Event, kind: type) -> None:
    decoded = m.decode(encode(event, seq=7))
    assert type(decoded) is kind
    assert decoded.seq == 7 and decoded.recv_ts == event.recv_ts and decoded.ts == event.ts
    assert decoded.exchange == event.exchange and decoded.symbol == event.symbol


def test_prices_and_levels_are_exact_decimals() -> None:
    trade = m.decode(encode(EVENTS[0][0], 1))
    assert isinstance(trade, m.Trade)
    assert trade.price == Decimal("100.50") and str(trade.size) == "0.01000000"
    assert trade.side == "sell" and trade.id == "42"
    book = m.decode(encode(EVENTS[1][0], 1))
    assert isinstance(book, m.BookSnapshot)
    assert book.bids == ((Decimal("100.5"), Decimal("1")),) and book.depth == 20
    bbo = m.decode(encode(EVENTS[3][0], 1))
    assert isinstance(bbo, m.Bbo) and bbo.bid_price is None and bbo.ask_size == Decimal(2)
    status = m.decode(encode(EVENTS[4][0], 1))
    assert isinstance(status, m.Status) and (status.event, status.reason) == ("book_reset", "gap")


def test_fields_added_later_in_version_1_are_ignored() -> None:
    raw = orjson.loads(encode(EVENTS[0][0], 3))
    raw["flags"] = ["liquidation"]
    assert isinstance(m.decode(orjson.dumps(raw)), m.Trade)


def _with(**changes: object) -> bytes:
    raw = orjson.loads(encode(EVENTS[0][0], 3))
    raw.update(changes)
    return orjson.dumps({k: v for k, v in raw.items() if v is not ...})


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"{not json", "not JSON"),
        (b"[1,2]", "JSON object"),
        (_with(v=2), "schema version 2"),
        (_with(type="candle"), "unknown message type 'candle'"),
        (_with(price=...), "missing field 'price'"),
        (_with(price="abc"), "price: not a decimal"),
        (_with(size=1.5), "size: expected a decimal string"),
        (_with(side="up"), "side: expected buy, sell or unknown"),
        (_with(seq="7"), "seq and recv_ts must be integers"),
    ],
)
def test_bad_messages_raise_a_clear_schema_error(data: bytes, error: str) -> None:
    with pytest.raises(m.SchemaError, match=error):
        m.decode(data)


def test_bad_levels_are_named() -> None:
    raw = orjson.loads(encode(EVENTS[2][0], 1))
    raw["bids"] = [["1"]]
    with pytest.raises(m.SchemaError, match="bids"):
        m.decode(orjson.dumps(raw))
