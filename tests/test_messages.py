"""Events → wire messages (design §2.2) and channels (design §2.1)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedgate import SCHEMA_VERSION
from feedgate.channels import STATUS_CHANNEL, ChannelKind
from feedgate.events import Bbo, BookDelta, BookSnapshot, Event, Side, Status, StatusEvent, Trade
from feedgate.messages import encode, encode_body, route

TS, RECV = 1767225600122000, 1767225600125321
COMMON = {"v", "type", "exchange", "symbol", "venue_symbol", "ts", "recv_ts", "seq"}

TRADE = Trade("binance", "BTC-USDT", "BTCUSDT", TS, RECV, "5123456789", "94250.01000000",
              "0.00120000", Side.SELL)  # fmt: skip
SNAPSHOT = BookSnapshot(
    "binance", "BTC-USDT", "BTCUSDT", TS, RECV,
    (("94250.00000000", "1.18000000"), ("94249.99000000", "0.50000000")),
    (("94250.01000000", "0.40000000"),), None,
)  # fmt: skip
DELTA = BookDelta("binance", "BTC-USDT", "BTCUSDT", TS, RECV,
                  (("94250.00000000", "1.20450000"), ("94249.99000000", "0.00000000")),
                  (("94250.01000000", "0.38100000"),))  # fmt: skip
BBO = Bbo("binance", "BTC-USDT", "BTCUSDT", TS, RECV, "94250.00000000", "1.20450000",
          "94250.01000000", "0.38100000")  # fmt: skip
STATUS = Status("binance", StatusEvent.BOOK_RESET, "binance-03", "gap", RECV, "BTC-USDT", "BTCUSDT")

CASES: list[tuple[Event, str, dict[str, Any]]] = [
    (TRADE, "trade", {"id": "5123456789", "price": "94250.01000000", "size": "0.00120000",
                      "side": "sell"}),
    (SNAPSHOT, "book_snapshot", {
        "bids": [["94250.00000000", "1.18000000"], ["94249.99000000", "0.50000000"]],
        "asks": [["94250.01000000", "0.40000000"]], "depth": None}),
    (DELTA, "book_delta", {
        "bids": [["94250.00000000", "1.20450000"], ["94249.99000000", "0.00000000"]],
        "asks": [["94250.01000000", "0.38100000"]]}),
    (BBO, "bbo", {"bid_price": "94250.00000000", "bid_size": "1.20450000",
                  "ask_price": "94250.01000000", "ask_size": "0.38100000"}),
    (STATUS, "status", {"event": "book_reset", "connection": "binance-03", "reason": "gap"}),
]  # fmt: skip


@pytest.mark.parametrize(("event", "kind", "fields"), CASES, ids=[c[1] for c in CASES])
def test_encode_matches_the_schema(event: Event, kind: str, fields: dict[str, Any]) -> None:
    raw = encode(event, 42)
    message = orjson.loads(raw)
    assert set(message) == COMMON | set(fields), "exactly the fields of design §2.2"
    assert message["v"] == SCHEMA_VERSION == 1
    assert message["type"] == kind
    assert message["seq"] == 42
    assert (message["exchange"], message["symbol"], message["venue_symbol"]) == (
        "binance", "BTC-USDT", "BTCUSDT"
    )  # fmt: skip
    assert message["recv_ts"] == RECV and type(message["recv_ts"]) is int
    assert message["ts"] == (None if kind == "status" else TS)
    for name, value in fields.items():
        assert message[name] == value, name
        if isinstance(value, str):
            assert type(message[name]) is str  # decimal strings stay strings


def test_decimal_text_is_published_byte_for_byte() -> None:
    raw = encode(TRADE, 1)
    assert b'"price":"94250.01000000"' in raw and b'"size":"0.00120000"' in raw
    assert b'"ts":1767225600122000' in raw and b'"recv_ts":1767225600125321' in raw
    assert b'["94249.99000000","0.00000000"]' in encode(DELTA, 1)


def test_nulls_where_the_venue_gives_nothing() -> None:
    message = orjson.loads(encode(Trade("kraken", "BTC-USD", "BTC/USD", None, RECV, "1", "1.5",
                                        "2", Side.UNKNOWN), 1))  # fmt: skip
    assert message["ts"] is None and message["side"] == "unknown"
    empty = orjson.loads(encode(Bbo("binance", "X-Y", "XY", None, RECV, None, None, None, None), 1))
    assert [empty[k] for k in ("bid_price", "bid_size", "ask_price", "ask_size")] == [None] * 4
    connection = orjson.loads(encode(Status("binance", StatusEvent.CONNECTED, "binance-00", "",
                                            RECV), 3))  # fmt: skip
    assert connection["symbol"] is None and connection["venue_symbol"] is None
    assert connection["event"] == "connected"


def test_every_status_event_encodes_its_name() -> None:
    names = {e.value for e in StatusEvent}
    assert names == {"connected", "disconnected", "subscribed", "rejected", "book_reset",
                     "book_synced", "stale", "recovered", "rotated"}  # fmt: skip
    for event in StatusEvent:
        assert orjson.loads(encode(Status("binance", event, "c", "", RECV), 1))["event"] == event


def test_routes_follow_the_channel_table() -> None:
    trade = route(TRADE)
    assert (trade.channel, trade.kind, trade.key, trade.publish) == (
        "trades:binance:BTC-USDT", ChannelKind.TRADES, None, True
    )  # fmt: skip
    snap = route(SNAPSHOT)
    assert (snap.channel, snap.kind, snap.key, snap.publish) == (
        "book:binance:BTC-USDT", ChannelKind.BOOK, "book:binance:BTC-USDT", True
    )  # fmt: skip
    delta = route(DELTA)
    assert (delta.channel, delta.kind, delta.key, delta.publish) == (
        "book:binance:BTC-USDT", ChannelKind.BOOK, None, True
    )  # fmt: skip
    bbo = route(BBO)
    assert (bbo.channel, bbo.kind, bbo.key, bbo.publish) == (
        "bbo:binance:BTC-USDT", ChannelKind.BBO, "bbo:binance:BTC-USDT", True
    )  # fmt: skip
    status = route(STATUS)
    assert (status.channel, status.kind, status.key, status.publish) == (
        STATUS_CHANNEL, ChannelKind.STATUS, None, True
    )  # fmt: skip
    assert STATUS_CHANNEL == "feedgate:status"


def test_checkpoint_snapshot_only_refreshes_the_key() -> None:
    checkpoint = BookSnapshot("binance", "BTC-USDT", "BTCUSDT", TS, RECV, (), (), None, True)
    target = route(checkpoint)
    assert target.publish is False
    assert target.key == target.channel == "book:binance:BTC-USDT"
    message = orjson.loads(encode(checkpoint, 7))
    assert message["type"] == "book_snapshot" and "checkpoint" not in message


def test_content_routed_events_go_to_their_own_channels() -> None:
    from feedgate.events import Announcement, Onchain, PrivateUpdate
    from feedgate.messages import encode, route

    def ann(publisher: str) -> Announcement:
        return Announcement("cryptolisting", 5, 7, publisher, "spot_listing", ("ABC", "DEF"),
                            "Binance Will List ABC", None, False, 5, 6, 6, "k")  # fmt: skip

    assert route(ann("binance")).channel == "announcements:binance"
    assert route(ann("upbit")).channel == "announcements:upbit"
    message = orjson.loads(encode(ann("upbit"), 3))
    assert message["type"] == "announcement" and message["tickers"] == ["ABC", "DEF"]
    assert message["symbol"] is None and message["seq"] == 3 and message["is_test"] is False
    log = Onchain("ethereum", None, 9, "ethereum", "logs", 436, "0xb", "0xt", 2, True,
                  {"from": "0x1", "value": "1000"})  # fmt: skip
    assert route(log).channel == "onchain:ethereum:logs"
    assert orjson.loads(encode(log, 1))["removed"] is True
    private = PrivateUpdate("upbit", 1, 2, "main", "my_order", {"uuid": "u"})
    assert route(private).channel == "private:upbit:main:my_order"


def _reference_body(event: Event, seq: int) -> bytes:
    """What ``encode_body`` wrote with a dict and orjson before it built msgspec Structs."""
    fields: dict[str, Any] = {"ts": event.ts, "recv_ts": event.recv_ts, "seq": seq}
    if type(event) is Trade:
        fields |= {"id": event.id, "price": event.price, "size": event.size, "side": event.side}
    elif type(event) is BookDelta:
        fields |= {"bids": event.bids, "asks": event.asks}
    else:
        assert type(event) is Bbo
        fields |= {"bid_price": event.bid_price, "bid_size": event.bid_size,
                   "ask_price": event.ask_price, "ask_size": event.ask_size}  # fmt: skip
    return orjson.dumps(fields)[1:]


_texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # any text but surrogates
_maybe = st.none() | _texts
_stamps = st.integers(0, 2**63 - 1)
_levels = st.lists(st.tuples(_texts, _texts), max_size=4).map(tuple)
_events = st.one_of(
    st.builds(Trade, _texts, _texts, _texts, st.none() | _stamps, _stamps, _texts, _texts,
              _texts, st.sampled_from(Side)),
    st.builds(BookDelta, _texts, _texts, _texts, st.none() | _stamps, _stamps, _levels, _levels),
    st.builds(Bbo, _texts, _texts, _texts, st.none() | _stamps, _stamps, _maybe, _maybe, _maybe,
              _maybe),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(event=_events, seq=st.integers(1, 2**63 - 1))
def test_per_message_bodies_are_byte_for_byte_what_orjson_wrote(event: Event, seq: int) -> None:
    """Trades are encoded by msgspec from a body Struct: the same bytes as the dict orjson
    encoded (as deltas and BBOs still are), for any text (escapes, control and non-ASCII
    characters, empty) and any 64-bit number; the message is the header's object closed."""
    assert encode_body(event, seq) == _reference_body(event, seq)
    assert orjson.loads(encode(event, seq))["seq"] == seq
