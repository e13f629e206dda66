"""KrakenProtocol, pure: feed exchanges.md §3 frames (and the capture) and a time, assert on
actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from feedgate.events import Bbo, BookDelta, BookSnapshot, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    CountParseError,
    FetchSnapshot,
    Reconnect,
    Resync,
    Send,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues import get_venue
from feedgate.venues.kraken import wire
from feedgate.venues.kraken.protocol import MAX_CHECKSUM_FAILURES, KrakenProtocol
from tests.venues.actions import events, of_type
from tests.venues.kraken.docframes import (
    BTC,
    DOC_ACK,
    DOC_ERROR,
    DOC_HEARTBEAT,
    DOC_PONG,
    DOC_STATUS,
    DOC_TRADES,
    DOC_UPDATE,
    ETH,
    T0,
    ack_for,
    capture,
    example_frames,
    make,
    opened,
    sent,
)


def synced(proto: KrakenProtocol) -> KrakenProtocol:
    """BTC/USD from the captured snapshot, ETH/USD from the §3.5 example (both 1/8)."""
    proto.on_frame(orjson.dumps(capture()["init"]), T0)
    if "ETH/USD" in proto._book_routes:
        proto.on_frame(example_frames("ETH/USD")[0], T0)
    return proto


def test_connect_url_and_instrument_url() -> None:
    proto = make(Topic("trades", BTC), ws_url="ws://127.0.0.1:9/", rest_url="http://h:1/")
    assert proto.connect_url() == "ws://127.0.0.1:9/v2"
    assert proto.instruments_url() == "http://h:1/0/public/AssetPairs"
    assert get_venue("kraken").instruments_url(proto.options) == proto.instruments_url()


def test_on_open_fetches_asset_pairs_and_subscribes_per_channel() -> None:
    proto = make(Topic("trades", BTC), Topic("book", BTC), Topic("bbo", ETH), depth=25)
    actions = proto.on_open(T0)
    assert actions[0] == FetchSnapshot("instruments", "https://api.kraken.com/0/public/AssetPairs")
    assert sent(actions) == [  # §3.2 shapes
        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"],
                                           "snapshot": False}, "req_id": 1},
        {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"],
                                           "depth": 25, "snapshot": True}, "req_id": 2},
    ]  # fmt: skip


def test_asset_pairs_are_fetched_until_they_answer_once() -> None:
    proto = make(Topic("book", BTC))
    assert any(isinstance(a, FetchSnapshot) for a in proto.on_open(T0))
    proto.on_close(T0)
    proto.on_snapshot_failed("instruments", "HTTP 404", T0)
    assert any(isinstance(a, FetchSnapshot) for a in proto.on_open(T0))
    body = wire.asset_pairs_body([("BTC", "USD", 1, 8)])
    assert proto.on_snapshot("instruments", body, T0) == []
    assert (proto._book_routes["BTC/USD"].price_dp, proto._book_routes["BTC/USD"].qty_dp) == (1, 8)
    proto.on_close(T0)
    assert not any(isinstance(a, FetchSnapshot) for a in proto.on_open(T0))
    trades_only = make(Topic("trades", BTC))
    assert not any(isinstance(a, FetchSnapshot) for a in trades_only.on_open(T0))


def test_bad_asset_pairs_body_is_counted() -> None:
    proto = make(Topic("book", BTC))
    proto.on_open(T0)
    (error,) = proto.on_snapshot("instruments", b'{"error": ["EGeneral:Internal error"]}', T0)
    assert isinstance(error, CountParseError)
    assert any(isinstance(a, FetchSnapshot) for a in proto.on_open(T0))


def test_subscribe_batch_splits_symbols() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), subscribe_batch=1)
    assert [m["params"]["symbol"] for m in sent(proto.on_open(T0))] == [["BTC/USD"], ["ETH/USD"]]


def test_subscribed_once_every_symbol_of_every_request_is_acked() -> None:
    proto = make(Topic("trades", BTC), Topic("book", BTC), Topic("book", ETH))
    requests = sent(proto.on_open(T0))
    acks = [frame for request in requests for frame in ack_for(request)]
    for frame in acks[:-1]:
        assert proto.on_frame(frame, T0) == []
    actions = proto.on_frame(acks[-1], T0)
    assert isinstance(actions[0], Subscribed)
    assert [s.event for s in of_type(actions, Status)] == [StatusEvent.SUBSCRIBED]
    assert proto.on_frame(acks[-1], T0) == [], "a repeated ack is not a second subscription"


def test_doc_ack_frame_counts_for_its_request() -> None:
    proto = make(Topic("book", BTC))
    proto.on_open(T0)  # req_id 1 is the book subscription
    assert isinstance(proto.on_frame(DOC_ACK, T0)[0], Subscribed)


def test_doc_error_rejects_that_symbol_and_the_rest_keeps_flowing() -> None:
    """§3.2 error frame: the symbol is rejected (status), never resubscribed; others flow."""
    proto = make(Topic("trades", BTC), Topic("trades", ETH))
    proto._trade_routes = {"XBT/USD": BTC, "ETH/USD": ETH}  # as if XBT/USD had been pinned
    request = sent(proto.on_open(T0))[0]
    assert request["params"]["symbol"] == ["ETH/USD", "XBT/USD"]
    proto.on_frame(ack_for({**request, "params": {**request["params"], "symbol": ["ETH/USD"]}})[0],
                   T0)  # fmt: skip
    actions = proto.on_frame(DOC_ERROR, T0 + 1)
    (rejected,) = [s for s in of_type(actions, Status) if s.event is StatusEvent.REJECTED]
    assert (rejected.symbol, rejected.venue_symbol) == (BTC, "XBT/USD")
    assert rejected.reason == "trade: Currency pair not supported XBT/USD"
    assert isinstance(actions[-2], Subscribed), "the last answer completes the subscription"
    trade = DOC_TRADES.replace("BTC/USD", "ETH/USD")
    assert len(of_type(proto.on_frame(trade, T0), Trade)) == 2
    proto.on_close(T0)
    assert [m["params"]["symbol"] for m in sent(proto.on_open(T0))] == [["ETH/USD"]]


def test_error_without_symbol_rejects_the_whole_request() -> None:
    proto = make(Topic("book", BTC), Topic("book", ETH))
    proto.on_open(T0)
    frame = wire.error_frame("error", "Malformed request", None, 1, "t", "t")
    actions = proto.on_frame(frame, T0)
    rejected = [s.symbol for s in of_type(actions, Status) if s.event is StatusEvent.REJECTED]
    assert rejected == [BTC, ETH]
    assert not any(isinstance(a, Subscribed) for a in actions), "nothing left to be up for"
    assert proto._books.get("BTC/USD") is None


@pytest.mark.parametrize(
    "frame",
    [
        b'{"Error": "Exceeded msg rate"}',  # §3.7 (per nautilus notes)
        b'{"error": "Malformed request", "method": "error", "success": false}',
    ],
)
def test_error_for_no_request_of_ours_is_counted(frame: bytes) -> None:
    proto = opened(make(Topic("book", BTC)))
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]


def test_doc_trades_are_normalized() -> None:
    """§3.3: JSON numbers become the venue's decimal text; ``side`` is the taker's."""
    proto = opened(make(Topic("trades", BTC)))
    first, second = of_type(proto.on_frame(DOC_TRADES, T0), Trade)
    stamp = datetime(2023, 10, 6, 17, 35, 55, 440295, tzinfo=UTC)
    assert first == Trade("kraken", BTC, "BTC/USD", int(stamp.timestamp()) * 1_000_000 + 440295,
                          T0, "10218208", "105944.2", "0.00027625", Side.BUY)  # fmt: skip
    assert (second.id, second.price, second.size, second.side) == (
        "10218209", "105910.5", "0.0001246", Side.SELL,
    )  # fmt: skip


def test_trade_snapshot_is_not_published() -> None:
    proto = opened(make(Topic("trades", BTC)))
    frame = orjson.loads(DOC_TRADES)
    frame["type"] = "snapshot"
    assert proto.on_frame(orjson.dumps(frame), T0) == []


@pytest.mark.parametrize(
    "change",
    [{"price": "105944.2"}, {"qty": None}, {"side": "up"}, {"trade_id": "x"}, {"price": -1.0},
     {"timestamp": "yesterday"}, {"symbol": "DOGE/USD"}],
)  # fmt: skip
def test_bad_trades_are_counted_and_the_good_one_kept(change: dict[str, Any]) -> None:
    proto = opened(make(Topic("trades", BTC)))
    frame = orjson.loads(DOC_TRADES)
    frame["data"][0].update(change)
    actions = proto.on_frame(orjson.dumps(frame), T0)
    assert [type(a) for a in actions if not of_type([a], Trade)] == [CountParseError]
    assert [t.id for t in of_type(actions, Trade)] == ["10218209"]


@pytest.mark.parametrize("frame", [DOC_STATUS, DOC_HEARTBEAT, DOC_PONG])
def test_status_heartbeat_and_pong_are_liveness_only(frame: str) -> None:
    proto = opened(make(Topic("book", BTC)))
    assert proto.on_frame(frame, T0) == []


def test_unknown_channel_and_junk_are_counted() -> None:
    proto = opened(make(Topic("book", BTC)))
    for frame in (b"not json", b"[1, 2]", b'{"channel": "ohlc", "data": []}', b'{"x": 1}'):
        assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]


def test_snapshot_publishes_the_book_with_its_depth_and_bbo() -> None:
    proto = opened(make(Topic("book", BTC), Topic("bbo", BTC)))
    actions = proto.on_frame(orjson.dumps(capture()["init"]), T0)
    (snapshot,) = of_type(actions, BookSnapshot)
    assert snapshot.depth == 10 and len(snapshot.bids) == len(snapshot.asks) == 10
    assert snapshot.bids[0] == ("29430.2", "0.18967538")
    assert snapshot.asks[0] == ("29430.3", "8.25215653")
    assert ("29426.7", "4") in snapshot.bids, "4.0 is published as the venue's decimal 4"
    assert snapshot.ts is None, "the captured snapshot has no timestamp"
    (bbo,) = of_type(actions, Bbo)
    assert (bbo.bid_price, bbo.ask_price) == ("29430.2", "29430.3")


def test_captured_update_is_published_as_a_delta() -> None:
    """§3.4 update: ``qty 0.0`` deletes (published "0"), JSON floats become decimal text, and
    29433.3, which lands 11th after the update, is truncated at once (published "0")."""
    proto = opened(make(Topic("book", BTC)))
    synced(proto)
    (delta,) = of_type(proto.on_frame(DOC_UPDATE, T0 + 5), BookDelta)
    stamp = datetime(2023, 7, 30, 15, 29, 58, 343415, tzinfo=UTC)
    assert delta.ts == int(stamp.timestamp()) * 1_000_000 + 343415 and delta.recv_ts == T0 + 5
    assert delta.bids == ()
    assert delta.asks == (("29431.1", "0"), ("29430.6", "0.001"), ("29433.3", "0"))
    asks = proto._books["BTC/USD"].sync.book.asks.top()
    assert len(asks) == 10 and asks[-1][0] == "29433.1"


def test_updates_before_the_snapshot_are_dropped() -> None:
    proto = opened(make(Topic("book", BTC)))
    assert proto.on_frame(DOC_UPDATE, T0) == []
    assert proto._books["BTC/USD"].sync.state is SyncState.WAIT_DELTA


def test_a_mismatch_resubscribes_that_book_only() -> None:
    proto = opened(make(Topic("book", BTC), Topic("book", ETH)))
    synced(proto)
    bad = orjson.loads(DOC_UPDATE)
    bad["data"][0]["checksum"] = 1
    actions = proto.on_frame(orjson.dumps(bad), T0)
    assert [a for a in actions if isinstance(a, Resync)] == [Resync(BTC, "checksum")]
    assert [(s.event, s.symbol) for s in of_type(actions, Status)] == [
        (StatusEvent.BOOK_RESET, BTC)
    ]
    requests = sent(actions)
    assert [(r["method"], r["params"]["symbol"]) for r in requests] == [
        ("unsubscribe", ["BTC/USD"]), ("subscribe", ["BTC/USD"]),
    ]  # fmt: skip
    # the other book keeps publishing deltas
    _, eth_update = example_frames("ETH/USD")
    assert len(of_type(proto.on_frame(eth_update, T0), BookDelta)) == 1
    # the venue answers: acks (no second "subscribed"), then a fresh image
    for request in requests:
        for frame in ack_for(request):
            assert proto.on_frame(frame, T0) == []
    assert proto.on_frame(DOC_UPDATE, T0) == [], "no delta before the new image"
    fresh = proto.on_frame(orjson.dumps(capture()["init"]), T0)
    assert len(of_type(fresh, BookSnapshot)) == 1
    assert [s.event for s in of_type(fresh, Status)] == [StatusEvent.BOOK_SYNCED]


def test_a_failed_resubscribe_reconnects() -> None:
    proto = opened(make(Topic("book", BTC)))
    synced(proto)
    bad = orjson.loads(DOC_UPDATE)
    bad["data"][0]["checksum"] = 1
    subscribe = sent(proto.on_frame(orjson.dumps(bad), T0))[1]
    frame = wire.error_frame("subscribe", "Already subscribed", "BTC/USD", subscribe["req_id"],
                             "t", "t")  # fmt: skip
    assert proto.on_frame(frame, T0) == [Reconnect("resubscribe_failed")]


def test_close_resets_synced_books_and_open_subscribes_again() -> None:
    proto = opened(make(Topic("book", BTC), Topic("book", ETH)))
    synced(proto)
    resets = [s for s in of_type(proto.on_close(T0), Status) if s.event is StatusEvent.BOOK_RESET]
    assert sorted((s.symbol, s.reason) for s in resets) == [(BTC, "reconnect"), (ETH, "reconnect")]
    (request,) = sent(proto.on_open(T0 + 1))
    assert request["req_id"] == 2 and request["params"]["symbol"] == ["BTC/USD", "ETH/USD"]
    assert proto._books["BTC/USD"].sync.state is SyncState.WAIT_DELTA


def test_ping_only_when_the_socket_is_quiet() -> None:
    """§3.6: ``{"method": "ping", "req_id": n}`` once nothing arrived for ``ping_interval_s``."""
    proto = opened(make(Topic("book", BTC), ping_interval_s=5))
    second = 1_000_000
    assert proto.on_tick(T0 + second) == []  # the schedule starts
    proto.on_frame(DOC_HEARTBEAT, T0 + 5 * second)
    assert sent(proto.on_tick(T0 + 6 * second)) == [], "a heartbeat arrived a second ago"
    (ping,) = [a for a in proto.on_tick(T0 + 11 * second) if isinstance(a, Send)]
    assert orjson.loads(ping.data) == {"method": "ping", "req_id": 2}
    assert sent(proto.on_tick(T0 + 12 * second)) == [], "at most one ping per interval"


def test_tick_refreshes_the_book_key_of_a_changed_book() -> None:
    proto = opened(make(Topic("book", BTC)))
    synced(proto)
    proto.on_frame(DOC_UPDATE, T0 + 1)
    (checkpoint,) = of_type(proto.on_tick(T0 + 2_000_000), BookSnapshot)
    assert checkpoint.checkpoint and ("29430.6", "0.001") in checkpoint.asks


def test_events_are_well_formed_for_every_captured_update() -> None:
    proto = opened(make(Topic("book", BTC), Topic("bbo", BTC)))
    synced(proto)
    for message in capture()["updates"]:
        for event in events(proto.on_frame(orjson.dumps(message), T0)):
            if isinstance(event, BookDelta):
                for price, size in (*event.bids, *event.asks):
                    assert "e" not in price + size and float(price) > 0 and float(size) >= 0
            elif isinstance(event, Bbo):
                assert event.bid_price is not None and event.ask_price is not None


def test_a_book_that_keeps_failing_is_given_up_not_resubscribed_forever() -> None:
    proto = opened(make(Topic("book", BTC), Topic("book", ETH)))
    init = orjson.dumps(capture()["init"])
    bad = orjson.loads(DOC_UPDATE)
    bad["data"][0]["checksum"] = 1
    for _ in range(MAX_CHECKSUM_FAILURES - 1):
        proto.on_frame(init, T0)
        requests = sent(proto.on_frame(orjson.dumps(bad), T0))
        assert [r["method"] for r in requests] == ["unsubscribe", "subscribe"]
    proto.on_frame(init, T0)
    proto.on_frame(DOC_UPDATE, T0)  # a verified update starts the count again
    for _ in range(MAX_CHECKSUM_FAILURES - 1):
        proto.on_frame(init, T0)
        proto.on_frame(orjson.dumps(bad), T0)
    proto.on_frame(init, T0)
    actions = proto.on_frame(orjson.dumps(bad), T0)
    assert [r["method"] for r in sent(actions)] == ["unsubscribe"]
    assert [(s.event, s.symbol) for s in of_type(actions, Status)] == [
        (StatusEvent.BOOK_RESET, BTC), (StatusEvent.REJECTED, BTC),
    ]  # fmt: skip
    assert of_type(actions, Status)[1].reason == "book: checksum failed 5 times in a row"
    assert [type(a) for a in proto.on_frame(init, T0)] == [CountParseError]
    proto.on_close(T0)
    assert [m["params"]["symbol"] for m in sent(proto.on_open(T0))] == [["ETH/USD"]]


def test_refused_snapshots_count_as_failures_too() -> None:
    proto = opened(make(Topic("book", BTC), infer_precision=False), precisions=False)
    init = orjson.dumps(capture()["init"])
    for _ in range(MAX_CHECKSUM_FAILURES - 1):
        assert [r["method"] for r in sent(proto.on_frame(init, T0))] == ["unsubscribe", "subscribe"]
    actions = proto.on_frame(init, T0)
    assert [r["method"] for r in sent(actions)] == ["unsubscribe"]
    assert [s.event for s in of_type(actions, Status)] == [StatusEvent.REJECTED]


def test_asset_pairs_do_not_override_a_precision_a_snapshot_verified() -> None:
    proto = opened(make(Topic("book", BTC)), precisions=False)
    synced(proto)  # inferred 1/8 from the captured snapshot
    body = wire.asset_pairs_body([("BTC", "USD", 2, 8)])  # stale REST
    proto.on_snapshot("instruments", body, T0)
    book = proto._book_routes["BTC/USD"]
    assert (book.price_dp, book.qty_dp, book.inferred, book.verified) == (1, 8, True, True)
    assert len(of_type(proto.on_frame(DOC_UPDATE, T0), BookDelta)) == 1
