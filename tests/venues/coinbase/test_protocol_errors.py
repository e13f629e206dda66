"""CoinbaseProtocol, pure: error frames (§2.2), rejected symbols, malformed input, fuzzing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from feedgate.events import Status, StatusEvent, Trade
from feedgate.protocol.base import (
    ConnectionSpec,
    CountParseError,
    Emit,
    Resync,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.coinbase.options import CoinbaseOptions
from feedgate.venues.coinbase.protocol import CoinbaseProtocol
from tests.venues.actions import of_type
from tests.venues.coinbase.frames import (
    BTC,
    CONN,
    DOC_ERROR,
    DOC_L2_UPDATE,
    ETH,
    T0,
    Venue,
    all_topics,
    book_state,
    connected,
    make,
    sent,
    trade,
)

SOL = "SOL-USD"


def rejected(actions: list[Any]) -> list[tuple[str | None, str]]:
    return [
        (s.symbol, s.reason) for s in of_type(actions, Status) if s.event is StatusEvent.REJECTED
    ]


def test_error_for_a_one_product_message_rejects_that_product_on_that_channel() -> None:
    proto = make(Topic("trades", BTC), Topic("book", SOL))
    proto.on_open(T0)  # heartbeats, market_trades [BTC], level2 [SOL]
    venue = Venue(proto)
    venue.ack(heartbeats=["heartbeats"], market_trades=[BTC])
    actions = proto.on_frame(DOC_ERROR, T0 + 9)
    assert actions == [Emit(Status(
        "coinbase", StatusEvent.REJECTED, CONN, "level2: failure to subscribe", T0 + 9, SOL, SOL
    ))]  # fmt: skip
    assert [t.id for t in of_type(venue.trades(trade("3", "BUY")), Trade)] == ["3"]
    stray = venue.book("snapshot", SOL, [["20", "1"]])
    assert [type(a) for a in stray] == [CountParseError]
    proto.on_close(T0)
    assert [f["channel"] for f in sent(proto.on_open(T0))] == ["heartbeats", "market_trades"]


def test_error_for_a_message_of_several_products_asks_one_product_a_message() -> None:
    """The error names no product (§2.2, UNCONFIRMED shape): find the culprit, keep the rest."""
    proto = make(Topic("trades", BTC), Topic("trades", SOL), Topic("trades", ETH))
    proto.on_open(T0)
    venue = Venue(proto)
    venue.ack(heartbeats=["heartbeats"])
    split = proto.on_frame(DOC_ERROR, T0 + 1)
    assert sent(split) == [
        {"type": "subscribe", "product_ids": [p], "channel": "market_trades"}
        for p in (BTC, ETH, SOL)
    ]
    venue.ack(heartbeats=["heartbeats"], market_trades=[BTC])
    venue.ack(heartbeats=["heartbeats"], market_trades=[BTC, ETH])
    assert rejected(proto.on_frame(DOC_ERROR, T0 + 2)) == [
        (SOL, "market_trades: failure to subscribe")
    ]
    got = of_type(venue.trades(trade("1", "BUY", product=ETH), trade("2", "BUY")), Trade)
    assert {t.symbol for t in got} == {BTC, ETH}


def test_products_the_acknowledgement_already_lists_are_not_asked_again() -> None:
    proto = make(Topic("book", BTC), Topic("book", SOL))
    proto.on_open(T0)
    venue = Venue(proto)
    venue.ack(heartbeats=["heartbeats"], level2=[BTC])  # the venue kept BTC, refused SOL
    assert rejected(proto.on_frame(DOC_ERROR, T0 + 3)) == [(SOL, "level2: failure to subscribe")]
    assert book_state(proto, BTC)[0] is SyncState.WAIT_DELTA


def test_a_book_already_published_when_rejected_is_reset_first() -> None:
    proto = make(Topic("book", BTC), Topic("bbo", BTC))
    proto.on_open(T0)
    venue = Venue(proto)
    venue.ack(heartbeats=["heartbeats"])
    venue.book("snapshot", BTC, [["100.00", "1"]], [["101.00", "1"]])
    actions = proto.on_frame(DOC_ERROR, T0 + 4)
    reasons = [(type(a).__name__, getattr(getattr(a, "event", a), "reason", None)) for a in actions]
    assert reasons == [
        ("Resync", "rejected"), ("Emit", "rejected"), ("Emit", None),  # the Emit(None): empty bbo
        ("Emit", "level2: failure to subscribe"),
    ]  # fmt: skip
    assert [s.event for s in of_type(actions, Status)] == [
        StatusEvent.BOOK_RESET, StatusEvent.REJECTED
    ]  # fmt: skip
    assert not sent(actions) and len(proto._books) == 0


def test_an_error_with_nothing_pending_or_about_heartbeats_is_counted() -> None:
    proto = make(Topic("trades", BTC))
    venue = connected(proto)
    assert [type(a) for a in proto.on_frame(DOC_ERROR, T0)] == [CountParseError]
    proto.on_open(T0)
    venue = Venue(proto)
    (error,) = proto.on_frame('{"type":"error","message":"nope","reason":"because"}', T0)
    assert isinstance(error, CountParseError) and "heartbeats" in error.detail
    assert "nope: because" in error.detail
    assert Subscribed() in venue.ack(heartbeats=["heartbeats"], market_trades=[BTC])


def test_two_symbols_on_one_product_reject_the_second_once() -> None:
    """BTC-USDC's market data is BTC-USD's (§2.8): one book, published once."""
    spec = ConnectionSpec(
        CONN, (Topic("trades", BTC), Topic("trades", "BTC-USDC"), Topic("book", "BTC-USDC")),
        {"BTC-USDC": BTC},
    )  # fmt: skip
    proto = CoinbaseProtocol(spec, CoinbaseOptions())
    first = proto.on_open(T0)
    assert rejected(first) == [
        ("BTC-USDC", "same book as BTC-USD (BTC-USD) on this connection (§2.8)")
    ]
    assert [f.get("product_ids") for f in sent(first)] == [None, [BTC]]
    assert rejected(proto.on_open(T0)) == []


def test_a_pinned_mapping_is_used_for_subscribing_and_publishing() -> None:
    spec = ConnectionSpec(CONN, (Topic("trades", "BTC-USDC"),), {"BTC-USDC": BTC})
    proto = CoinbaseProtocol(spec, CoinbaseOptions())
    assert sent(proto.on_open(T0))[1]["product_ids"] == [BTC]
    (got,) = of_type(Venue(proto).trades(trade("5", "SELL")), Trade)
    assert (got.symbol, got.venue_symbol) == ("BTC-USDC", BTC)


# -- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b"not json", b"", b"\xff\xfe", "[1, 2]", "null", '"text"', "42", "{}",
        '{"channel": "ticker", "sequence_num": 2, "events": []}',  # the next number
        '{"channel": "l2_data", "events": [{"type": "update", "product_id": "XRP-USD", '
        '"updates": []}]}',
        '{"channel": "market_trades", "events": "x"}',
        '{"channel": "subscriptions", "events": [{"subscriptions": {"level2": "BTC-USD"}}]}',
    ],
)  # fmt: skip
def test_malformed_frames_are_counted_and_leave_books_alone(frame: str | bytes) -> None:
    proto = make(*all_topics(BTC))
    connected(proto, sync=(BTC,))
    before = book_state(proto)
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]
    assert book_state(proto) == before


@pytest.mark.parametrize(
    "change",
    [{"price": 1.5}, {"size": None}, {"side": 1}, {"trade_id": None}, {"time": "yesterday"},
     {"price": "-1"}, {"product_id": "XRP-USD"}],
)  # fmt: skip
def test_a_malformed_trade_is_counted_and_the_others_still_publish(change: dict[str, Any]) -> None:
    venue = connected(make(Topic("trades", BTC)))
    actions = venue.trades(trade("1", "BUY"), {**trade("2", "BUY"), **change}, trade("3", "SELL"))
    assert [t.id for t in of_type(actions, Trade)] == ["1", "3"]
    assert [type(a) for a in actions if not isinstance(a, Emit)] == [CountParseError]


def test_a_non_integer_sequence_num_drops_the_frame_and_the_next_shows_the_gap() -> None:
    proto = make(Topic("book", BTC))
    venue = connected(proto, sync=(BTC,))
    msg = json.loads(DOC_L2_UPDATE)
    msg["sequence_num"] = str(venue.seq)
    venue.seq += 1
    assert [type(a) for a in proto.on_frame(json.dumps(msg), T0)] == [CountParseError]
    assert book_state(proto)[0] is SyncState.SYNCED
    assert [r.reason for r in venue.heartbeat() if isinstance(r, Resync)] == ["gap"]


def test_an_event_whose_product_cannot_be_told_resyncs_every_book() -> None:
    proto = make(Topic("book", BTC), Topic("book", ETH))
    venue = connected(proto, sync=(BTC, ETH))
    actions = venue.send(DOC_L2_UPDATE, [{"type": "update", "updates": []}])
    assert sorted(r.symbol for r in actions if isinstance(r, Resync)) == [BTC, ETH]
