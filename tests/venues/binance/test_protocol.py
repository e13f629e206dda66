"""BinanceProtocol, pure: feed frames (exchanges.md §1 shapes) and a time, assert on actions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feedgate.events import Bbo, BookDelta, BookSnapshot, Event, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    FetchSnapshot,
    Resync,
    Rotate,
    Send,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.binance.options import BinanceOptions
from feedgate.venues.binance.protocol import BinanceProtocol
from tests.venues.actions import events, of_type

BTC, ETH = "BTC-USDT", "ETH-USDT"
VENUE_SYMBOLS = {BTC: "BTCUSDT", ETH: "ETHUSDT"}
T0 = 1_767_225_600_500_000  # µs
CONN = "binance-07"

# Verbatim sample frames of exchanges.md §1 (values illustrative, as the doc says).
DOC_TRADE = (
    '{"stream": "btcusdt@trade",'
    ' "data": {"e": "trade", "E": 1767225600123, "s": "BTCUSDT", "t": 5123456789,'
    ' "p": "94250.01000000", "q": "0.00120000", "T": 1767225600122,'
    ' "m": true, "M": true}}'
)
DOC_AGG_TRADE = (
    '{"stream": "btcusdt@aggTrade",'
    ' "data": {"e": "aggTrade", "E": 1767225600130, "s": "BTCUSDT", "a": 3412345678,'
    ' "p": "94250.01000000", "q": "0.00520000", "f": 5123456780, "l": 5123456789,'
    ' "T": 1767225600122, "m": false, "M": true}}'
)
DOC_SHUTDOWN = '{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}'
DOC_SHUTDOWN_RAW = '{"e":"serverShutdown","E":1770123456789}'

# The book used below: snapshot §1.6 levels, then the §1.5 update levels.
SNAP_BIDS = [["94250.00000000", "1.18000000"], ["94249.99000000", "0.50000000"]]
SNAP_ASKS = [["94250.01000000", "0.40000000"], ["94250.02000000", "2.00000000"]]
UPD_BIDS = [["94250.00000000", "1.20450000"], ["94249.99000000", "0.00000000"]]
UPD_ASKS = [["94250.01000000", "0.38100000"]]


def depth(
    venue_symbol: str,
    first: int,
    last: int,
    bids: Any = (),
    asks: Any = (),
    event_ms: int = 1767225600200,
) -> bytes:
    """§1.5 ``{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate",…,"U","u","b","a"}}``."""
    data = {
        "e": "depthUpdate", "E": event_ms, "s": venue_symbol, "U": first, "u": last,
        "b": list(bids), "a": list(asks),
    }  # fmt: skip
    return orjson.dumps({"stream": f"{venue_symbol.lower()}@depth@100ms", "data": data})


def snapshot_body(last_update_id: int, bids: Any = SNAP_BIDS, asks: Any = SNAP_ASKS) -> bytes:
    """§1.6 ``{"lastUpdateId": …, "bids": [[p, q]], "asks": [[p, q]]}``."""
    return orjson.dumps({"lastUpdateId": last_update_id, "bids": bids, "asks": asks})


def trade_frame(venue_symbol: str, trade_id: int, price: str, maker: bool) -> bytes:
    """§1.3 trade payload in the combined wrapper."""
    data = {
        "e": "trade", "E": 1767225600123, "s": venue_symbol, "t": trade_id, "p": price,
        "q": "0.00120000", "T": 1767225600122, "m": maker, "M": True,
    }  # fmt: skip
    return orjson.dumps({"stream": f"{venue_symbol.lower()}@trade", "data": data})


def make(*topics: Topic, **options: Any) -> BinanceProtocol:
    return BinanceProtocol(
        ConnectionSpec(CONN, topics, dict(VENUE_SYMBOLS)), BinanceOptions(**options)
    )


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    assert all(isinstance(a, Send) for a in actions)
    return [orjson.loads(a.data) for a in actions if isinstance(a, Send)]


def ack(request_id: int) -> bytes:
    return orjson.dumps({"result": None, "id": request_id})  # §1.2


def opened(proto: BinanceProtocol, now: int = T0) -> BinanceProtocol:
    for frame in sent(proto.on_open(now)):
        proto.on_frame(ack(frame["id"]), now)
    return proto


def book_state(proto: BinanceProtocol, venue_symbol: str = "BTCUSDT") -> tuple[Any, ...]:
    sync = proto._books[venue_symbol].sync
    return sync.state, sync.book.bids.top(), sync.book.asks.top(), sync.local_id, len(sync.buffer)


def sync_book(proto: BinanceProtocol, venue_symbol: str = "BTCUSDT", now: int = T0) -> list[Action]:
    """Buffer one update 101-105 and answer the snapshot request with lastUpdateId 103."""
    first = proto.on_frame(depth(venue_symbol, 101, 105, UPD_BIDS, UPD_ASKS), now)
    assert [type(a) for a in first] == [FetchSnapshot]
    key = first[0].key if isinstance(first[0], FetchSnapshot) else ""
    return proto.on_snapshot(key, snapshot_body(103), now + 1000)


def book_proto(**options: Any) -> BinanceProtocol:
    topics = (Topic("trades", BTC), Topic("book", BTC), Topic("bbo", BTC), Topic("book", ETH))
    return opened(make(*topics, **options))


# -- connecting and subscribing (§1.1, §1.2) -----------------------------------------------------


def test_connect_url() -> None:
    assert make(Topic("trades", BTC)).connect_url() == "wss://stream.binance.com:9443/stream"
    proto = make(Topic("trades", BTC), time_unit="us", ws_url="ws://127.0.0.1:9000/")
    assert proto.connect_url() == "ws://127.0.0.1:9000/stream?timeUnit=MICROSECOND"


def test_on_open_subscribes_trades_and_depth_streams() -> None:
    proto = make(Topic("trades", BTC), Topic("book", BTC), Topic("bbo", ETH))
    frames = sent(proto.on_open(T0))
    assert len(frames) == 1
    assert frames[0]["method"] == "SUBSCRIBE"
    assert isinstance(frames[0]["id"], int)
    assert sorted(frames[0]["params"]) == [
        "btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@depth@100ms"
    ]  # fmt: skip


def test_agg_trade_option_subscribes_agg_trades_instead() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), trade_stream="aggTrade")
    params = [p for f in sent(proto.on_open(T0)) for p in f["params"]]
    assert sorted(params) == ["btcusdt@aggTrade", "ethusdt@aggTrade"]


def test_subscribe_batch_splits_streams_over_messages() -> None:
    proto = make(
        Topic("trades", BTC), Topic("book", BTC), Topic("trades", ETH), Topic("book", ETH),
        subscribe_batch=3,
    )  # fmt: skip
    frames = sent(proto.on_open(T0))
    assert [len(f["params"]) for f in frames] == [3, 1]
    assert len({f["id"] for f in frames}) == 2
    assert sorted(p for f in frames for p in f["params"]) == [
        "btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@depth@100ms", "ethusdt@trade"
    ]  # fmt: skip


def test_subscribed_once_all_acks_are_in() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), subscribe_batch=1)
    first, second = (f["id"] for f in sent(proto.on_open(T0)))
    assert proto.on_frame(ack(first), T0 + 1) == []
    assert proto.on_frame(ack(first), T0 + 2) == []  # a duplicate changes nothing
    assert proto.on_frame(b'{"result": null, "id": 999}', T0 + 3) == []  # not ours
    actions = proto.on_frame(ack(second), T0 + 4)
    assert actions == [
        Subscribed(), Emit(Status("binance", StatusEvent.SUBSCRIBED, CONN, "", T0 + 4))
    ]  # fmt: skip
    assert proto.on_frame(ack(second), T0 + 5) == []


def test_reconnect_subscribes_again_with_fresh_ids() -> None:
    proto = opened(make(Topic("trades", BTC)))
    old_id = sent(proto.on_open(T0))[0]["id"]  # pretend the first one is lost
    proto.on_close(T0)
    frames = sent(proto.on_open(T0 + 10))
    assert frames[0]["params"] == ["btcusdt@trade"]
    assert frames[0]["id"] != old_id
    assert proto.on_frame(ack(old_id), T0 + 11) == []
    assert Subscribed() in proto.on_frame(ack(frames[0]["id"]), T0 + 12)


def test_error_with_id_rejects_that_request_and_others_keep_flowing() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), subscribe_batch=1)
    frames = sent(proto.on_open(T0))
    ids = {f["params"][0]: f["id"] for f in frames}
    error = {"code": 2, "msg": "Invalid request: unknown stream", "id": ids["ethusdt@trade"]}
    actions = proto.on_frame(orjson.dumps(error), T0 + 1)
    assert actions == [Emit(Status(
        "binance", StatusEvent.REJECTED, CONN, "code 2: Invalid request: unknown stream", T0 + 1,
        ETH, "ETHUSDT",
    ))]  # fmt: skip
    assert Subscribed() in proto.on_frame(ack(ids["btcusdt@trade"]), T0 + 2)
    trades = of_type(proto.on_frame(trade_frame("BTCUSDT", 7, "94250.01000000", True), T0), Trade)
    assert [t.symbol for t in trades] == [BTC]
    rejected = proto.on_frame(trade_frame("ETHUSDT", 8, "3000.00000000", True), T0)
    assert [type(a) for a in rejected] == [CountParseError]


def test_error_as_the_last_answer_still_reports_the_connection_subscribed() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), subscribe_batch=1)
    ids = {f["params"][0]: f["id"] for f in sent(proto.on_open(T0))}
    assert proto.on_frame(ack(ids["btcusdt@trade"]), T0 + 1) == []
    error = {"code": 0, "msg": "Unknown property", "id": ids["ethusdt@trade"]}
    actions = proto.on_frame(orjson.dumps(error), T0 + 2)
    assert Subscribed() in actions
    statuses = [(s.event, s.symbol) for s in of_type(actions, Status)]
    assert statuses == [(StatusEvent.REJECTED, ETH), (StatusEvent.SUBSCRIBED, None)]


def test_nested_error_form_is_accepted_too() -> None:
    proto = make(Topic("book", BTC))
    request_id = sent(proto.on_open(T0))[0]["id"]
    nested = {"error": {"code": 2, "msg": "Invalid request"}, "id": request_id}
    actions = proto.on_frame(orjson.dumps(nested), T0 + 1)
    rejected = of_type(actions, Status)
    assert [(s.event, s.symbol, s.reason) for s in rejected] == [
        (StatusEvent.REJECTED, BTC, "code 2: Invalid request")
    ]
    assert Subscribed() not in actions, "nothing is left on the connection"
    assert proto.on_tick(T0 + 10_000_000) == []
    assert proto.on_close(T0 + 10_000_000) == []


def test_error_without_id_is_counted() -> None:
    proto = make(Topic("trades", BTC))
    proto.on_open(T0)
    for frame in (
        '{"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}',
        '{"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}',
    ):
        actions = proto.on_frame(frame, T0)
        assert [type(a) for a in actions] == [CountParseError]


# -- trades (§1.3, §1.4) -------------------------------------------------------------------------


def test_trade_normalization_from_the_doc_frame() -> None:
    proto = opened(make(Topic("trades", BTC)))
    assert proto.on_frame(DOC_TRADE, T0) == [Emit(Trade(
        "binance", BTC, "BTCUSDT", 1767225600122000, T0, "5123456789", "94250.01000000",
        "0.00120000", Side.SELL,
    ))]  # fmt: skip


def test_buyer_not_maker_means_the_taker_bought() -> None:
    proto = opened(make(Topic("trades", BTC)))
    (trade,) = of_type(
        proto.on_frame(trade_frame("BTCUSDT", 9, "94250.02000000", False), T0), Trade
    )
    assert trade.side is Side.BUY
    assert trade.id == "9" and trade.price == "94250.02000000"


def test_agg_trade_takes_its_id_from_a() -> None:
    proto = opened(make(Topic("trades", BTC), trade_stream="aggTrade"))
    (trade,) = of_type(proto.on_frame(DOC_AGG_TRADE, T0), Trade)
    assert trade.id == "3412345678"
    assert (trade.price, trade.size, trade.side) == ("94250.01000000", "0.00520000", Side.BUY)
    assert trade.ts == 1767225600122000
    # a trade-stream frame is not what this connection subscribed to
    assert [type(a) for a in proto.on_frame(DOC_TRADE, T0)] == [CountParseError]


def test_microsecond_time_unit_is_not_scaled() -> None:
    proto = opened(make(Topic("trades", BTC), time_unit="us"))
    frame = orjson.loads(DOC_TRADE)
    frame["data"]["E"], frame["data"]["T"] = 1767225600123456, 1767225600122789
    (trade,) = of_type(proto.on_frame(orjson.dumps(frame), T0), Trade)
    assert trade.ts == 1767225600122789


# -- book sync (§1.5-§1.7) -----------------------------------------------------------------------


def test_full_book_sync() -> None:
    proto = book_proto()
    first = proto.on_frame(depth("BTCUSDT", 101, 105, UPD_BIDS, UPD_ASKS), T0)
    assert first == [FetchSnapshot(
        "BTCUSDT", "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000", 50
    )]  # fmt: skip
    more = [["94249.00000000", "3.00000000"]]
    assert proto.on_frame(depth("BTCUSDT", 106, 107, more, [], 1767225600300), T0 + 1) == []

    actions = proto.on_snapshot("BTCUSDT", snapshot_body(103), T0 + 2)

    bids = (("94250.00000000", "1.20450000"), ("94249.00000000", "3.00000000"))
    asks = (("94250.01000000", "0.38100000"), ("94250.02000000", "2.00000000"))
    assert actions == [
        Emit(BookSnapshot("binance", BTC, "BTCUSDT", 1767225600300000, T0 + 2, bids, asks, None)),
        Emit(Status("binance", StatusEvent.BOOK_SYNCED, CONN, "", T0 + 2, BTC, "BTCUSDT")),
        Emit(Bbo(
            "binance", BTC, "BTCUSDT", 1767225600300000, T0 + 2, "94250.00000000", "1.20450000",
            "94250.01000000", "0.38100000",
        )),
    ]  # fmt: skip
    assert proto._books["BTCUSDT"].sync.state is SyncState.SYNCED


@pytest.mark.parametrize(("limit", "weight"), [(100, 5), (500, 25), (1000, 50), (5000, 250)])
def test_snapshot_request_url_and_weight(limit: int, weight: int) -> None:
    proto = opened(make(Topic("book", BTC), snapshot_limit=limit, rest_url="http://sim:8080/"))
    (fetch,) = proto.on_frame(depth("BTCUSDT", 1, 2), T0)
    assert fetch == FetchSnapshot(
        "BTCUSDT", f"http://sim:8080/api/v3/depth?symbol=BTCUSDT&limit={limit}", weight
    )


def test_snapshot_too_old_is_fetched_again() -> None:
    proto = book_proto()
    proto.on_frame(depth("BTCUSDT", 101, 105, UPD_BIDS, UPD_ASKS), T0)
    actions = proto.on_snapshot("BTCUSDT", snapshot_body(99), T0 + 1)  # U=101 > 99+1
    assert [type(a) for a in actions] == [FetchSnapshot]
    assert proto._books["BTCUSDT"].sync.state is SyncState.WAIT_SNAPSHOT
    assert [type(a) for a in proto.on_snapshot("BTCUSDT", snapshot_body(100), T0 + 2)] == [
        Emit, Emit, Emit
    ]  # fmt: skip


def test_snapshot_failure_and_junk_snapshot_are_fetched_again() -> None:
    proto = book_proto()
    proto.on_frame(depth("BTCUSDT", 101, 105), T0)
    assert [type(a) for a in proto.on_snapshot_failed("BTCUSDT", "HTTP 429", T0)] == [FetchSnapshot]
    junk = proto.on_snapshot(
        "BTCUSDT", b'{"lastUpdateId": 103, "bids": [["x", "1"]], "asks": []}', T0
    )
    assert [type(a) for a in junk] == [CountParseError, FetchSnapshot]
    assert proto.on_snapshot("NOPE", snapshot_body(103), T0) == []
    assert proto._books["BTCUSDT"].sync.book.bids.top() == ()


def test_in_order_delta_publishes_delta_and_bbo_only_when_the_best_changes() -> None:
    proto = book_proto()
    sync_book(proto)
    deep = [["94000.00000000", "1.00000000"]]
    actions = proto.on_frame(depth("BTCUSDT", 106, 106, deep, [], 1767225600400), T0 + 5)
    assert actions == [Emit(BookDelta(
        "binance", BTC, "BTCUSDT", 1767225600400000, T0 + 5, (("94000.00000000", "1.00000000"),), ()
    ))]  # fmt: skip

    same_best = [["94250.00000000", "1.20450000"]]
    actions = proto.on_frame(depth("BTCUSDT", 107, 107, same_best, []), T0 + 6)
    assert [type(e) for e in events(actions)] == [BookDelta]

    best_size = [["94250.00000000", "0.10000000"]]
    actions = proto.on_frame(depth("BTCUSDT", 108, 109, [], [], 1767225600500), T0 + 6)
    assert [type(e) for e in events(actions)] == [BookDelta]  # nothing changed at all
    actions = proto.on_frame(depth("BTCUSDT", 110, 110, best_size, [], 1767225600600), T0 + 7)
    delta, bbo = events(actions)
    assert isinstance(delta, BookDelta) and delta.bids == (("94250.00000000", "0.10000000"),)
    assert bbo == Bbo(
        "binance",
        BTC,
        "BTCUSDT",
        1767225600600000,
        T0 + 7,
        "94250.00000000",
        "0.10000000",
        "94250.01000000",
        "0.38100000",
    )
    remove_ask = [["94250.01000000", "0.00000000"]]
    (delta, bbo) = events(proto.on_frame(depth("BTCUSDT", 111, 111, [], remove_ask), T0 + 8))
    assert isinstance(delta, BookDelta) and delta.asks == (("94250.01000000", "0.00000000"),)
    assert isinstance(bbo, Bbo) and (bbo.ask_price, bbo.ask_size) == (
        "94250.02000000",
        "2.00000000",
    )


def test_stale_delta_publishes_nothing() -> None:
    proto = book_proto()
    sync_book(proto)
    before = book_state(proto)
    assert proto.on_frame(depth("BTCUSDT", 100, 105, [["1.00000000", "1.00000000"]]), T0) == []
    assert book_state(proto) == before


def test_gap_resets_first_then_refetches_and_publishes_nothing_until_resynced() -> None:
    proto = book_proto()
    sync_book(proto)
    sync_book(proto, "ETHUSDT")
    actions = proto.on_frame(depth("BTCUSDT", 107, 108, [["94250.00000000", "9.00000000"]]), T0 + 9)
    assert actions[:2] == [
        Resync(BTC, "gap"),
        Emit(Status("binance", StatusEvent.BOOK_RESET, CONN, "gap", T0 + 9, BTC, "BTCUSDT")),
    ]
    assert actions[2:] == [
        # bbo subscribers learn it too: no valid best price until the resync
        Emit(Bbo("binance", BTC, "BTCUSDT", None, T0 + 9, None, None, None, None)),
        FetchSnapshot(
            "BTCUSDT", "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000", 50
        ),
    ]  # fmt: skip
    # while resyncing: buffered, nothing published for BTC
    assert proto.on_frame(depth("BTCUSDT", 109, 110, [["94249.00000000", "1.0"]]), T0 + 10) == []
    # the other book on the same connection is untouched
    eth = proto.on_frame(depth("ETHUSDT", 106, 106, [["94000.00000000", "2.00000000"]]), T0 + 11)
    assert [(type(e), e.symbol) for e in events(eth)] == [(BookDelta, ETH)]
    assert proto._books["ETHUSDT"].sync.state is SyncState.SYNCED
    # a fresh snapshot: the whole book goes out before any delta
    actions = proto.on_snapshot("BTCUSDT", snapshot_body(108), T0 + 12)
    snap = events(actions)[0]
    assert isinstance(snap, BookSnapshot)
    assert snap.bids == (
        ("94250.00000000", "1.18000000"), ("94249.99000000", "0.50000000"),
        ("94249.00000000", "1.0"),
    )  # fmt: skip
    after = proto.on_frame(depth("BTCUSDT", 111, 111, [["94248.00000000", "1.0"]]), T0 + 13)
    assert [type(e) for e in events(after)] == [BookDelta]


def test_gap_while_waiting_for_the_snapshot_publishes_no_reset() -> None:
    proto = book_proto()
    proto.on_frame(depth("BTCUSDT", 101, 105), T0)
    assert proto.on_frame(depth("BTCUSDT", 120, 121), T0) == []  # a hole in the buffer: silent
    assert proto._books["BTCUSDT"].sync.buffer[0].first_id == 120


def test_server_shutdown_asks_for_a_make_before_break_rotation() -> None:
    proto = book_proto()
    assert proto.on_frame(DOC_SHUTDOWN, T0) == [Rotate("server_shutdown")]
    assert proto.on_frame(DOC_SHUTDOWN_RAW, T0) == [Rotate("server_shutdown")]


def test_on_close_resets_synced_books_only_and_reopen_starts_over() -> None:
    proto = book_proto()
    sync_book(proto)
    proto.on_frame(depth("ETHUSDT", 1, 2), T0)  # ETH still waiting for its snapshot
    actions = proto.on_close(T0 + 20)
    assert actions == [
        Resync(BTC, "reconnect"),
        Emit(Status("binance", StatusEvent.BOOK_RESET, CONN, "reconnect", T0 + 20, BTC, "BTCUSDT")),
        Emit(Bbo("binance", BTC, "BTCUSDT", None, T0 + 20, None, None, None, None)),
    ]
    assert proto._books["BTCUSDT"].sync.book.bids.top() == ()
    assert proto.on_tick(T0 + 100_000_000) == []
    opened(proto, T0 + 30)
    # an old snapshot answer arriving after the reconnect is not applied
    assert proto.on_snapshot("ETHUSDT", snapshot_body(1), T0 + 31) == []
    assert [type(a) for a in proto.on_frame(depth("BTCUSDT", 300, 301), T0 + 32)] == [FetchSnapshot]
    assert [type(a) for a in proto.on_close(T0 + 40)] == []


def test_checkpoint_on_tick_only_for_changed_synced_books_at_most_once_per_interval() -> None:
    proto = book_proto(checkpoint_interval_s=2.0)
    sync_book(proto, now=T0)  # published at T0 + 1000
    sync_book(proto, "ETHUSDT", now=T0)
    assert proto.on_tick(T0 + 5_000_000) == [], "unchanged books need no checkpoint"
    proto.on_frame(depth("BTCUSDT", 106, 106, [["94000.00000000", "1.00000000"]]), T0 + 5_500_000)
    ticks = [proto.on_tick(T0 + 6_000_000), proto.on_tick(T0 + 6_500_000)]
    (checkpoint,) = events(ticks[0])
    assert isinstance(checkpoint, BookSnapshot) and checkpoint.checkpoint
    assert checkpoint.symbol == BTC and checkpoint.recv_ts == T0 + 6_000_000
    assert ("94000.00000000", "1.00000000") in checkpoint.bids
    assert ticks[1] == []
    proto.on_frame(depth("BTCUSDT", 107, 107, [["94001.00000000", "1.00000000"]]), T0 + 6_600_000)
    assert proto.on_tick(T0 + 7_999_999) == [], "at most once per checkpoint_interval_s"
    (second,) = events(proto.on_tick(T0 + 8_000_000))
    assert isinstance(second, BookSnapshot) and second.checkpoint
    assert ("94001.00000000", "1.00000000") in second.bids


def test_checkpoint_waits_an_interval_after_the_published_snapshot() -> None:
    proto = book_proto(checkpoint_interval_s=1.0)
    sync_book(proto, now=T0)
    proto.on_frame(depth("BTCUSDT", 106, 106, [["94000.00000000", "1.00000000"]]), T0 + 2000)
    assert proto.on_tick(T0 + 500_000) == []
    assert len(proto.on_tick(T0 + 1_001_000)) == 1


def test_bbo_only_feed_publishes_no_book_messages() -> None:
    proto = opened(make(Topic("bbo", BTC), checkpoint_interval_s=0.1))
    actions = sync_book(proto)
    assert [type(e) for e in events(actions)] == [Status, Bbo]
    published: list[Event] = []
    for n, size in enumerate(("0.5", "0.6", "0.7"), start=106):
        published += events(proto.on_frame(depth("BTCUSDT", n, n, [["94250.00000000", size]]), T0))
        published += events(proto.on_tick(T0 + n * 1_000_000))
    assert [type(e) for e in published] == [Bbo, Bbo, Bbo]
    assert [e.bid_size for e in published if isinstance(e, Bbo)] == ["0.5", "0.6", "0.7"]


# -- malformed input -----------------------------------------------------------------------------

_DATA = {"e": "depthUpdate", "E": 1767225600200, "s": "BTCUSDT", "U": 106, "u": 106}
JUNK_DEPTH = [
    {**_DATA, "U": "x", "b": [], "a": []},
    {**_DATA, "u": None, "b": [], "a": []},
    {**_DATA, "b": [["x", "1"]], "a": []},
    {**_DATA, "b": [["94250.00000000"]], "a": []},
    {**_DATA, "b": [["94250.00000000", "1", "2"]], "a": []},
    {**_DATA, "b": [["94250.00000000", 1.5]], "a": []},
    {**_DATA, "b": [[94250.0, "1.5"]], "a": []},
    {**_DATA, "b": "94250.00000000", "a": []},
    {**_DATA, "b": ["12"], "a": []},  # a 2-character string is not a [price, qty] pair
    {**_DATA, "b": [["nan", "1.00000000"]], "a": []},
    {**_DATA, "b": [["94250.00000000", "inf"]], "a": []},
    {**_DATA, "b": [["94250.00000000", "-1.00000000"]], "a": []},
    {**_DATA, "b": [["1.00000000", "1.00000000"]], "a": [["x", "1"]]},  # good bids, junk asks
    {**_DATA, "b": {"94250.00000000": "1"}, "a": []},
    {**_DATA, "a": []},
    [1, 2],
    None,
    "depthUpdate",
]


@pytest.mark.parametrize("data", JUNK_DEPTH, ids=[str(i) for i in range(len(JUNK_DEPTH))])
def test_malformed_depth_frame_is_counted_and_the_book_is_not_modified(data: Any) -> None:
    proto = book_proto()
    sync_book(proto)
    before = book_state(proto)
    frame = orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data})
    actions = proto.on_frame(frame, T0)
    assert [type(a) for a in actions] == [CountParseError]
    assert book_state(proto) == before
    # and while buffering: the buffer is untouched as well
    proto2 = book_proto()
    proto2.on_frame(depth("BTCUSDT", 101, 105), T0)
    buffering = book_state(proto2)
    assert [type(a) for a in proto2.on_frame(frame, T0)] == [CountParseError]
    assert book_state(proto2) == buffering


@pytest.mark.parametrize(
    "frame",
    [
        b"not json", b"", b"\xff\xfe\x00", "[1, 2]", "null", '"text"', "42", "{}",
        '{"stream": "btcusdt@depth@100ms"}',
        '{"stream": ["btcusdt@trade"], "data": {}}',
        '{"stream": "xrpusdt@trade", "data": {}}',
        '{"stream": "btcusdt@bookTicker", "data": {}}',
    ],
)  # fmt: skip
def test_malformed_frames_are_counted(frame: str | bytes) -> None:
    proto = book_proto()
    sync_book(proto)
    before = book_state(proto)
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]
    assert book_state(proto) == before


@pytest.mark.parametrize(
    "change", [{"p": 94250.01}, {"q": None}, {"m": "true"}, {"t": "x"}, {"T": [1]}, {"p": None}]
)
def test_malformed_trades_are_counted(change: dict[str, Any]) -> None:
    proto = opened(make(Topic("trades", BTC)))
    frame = orjson.loads(DOC_TRADE)
    frame["data"].update(change)
    assert [type(a) for a in proto.on_frame(orjson.dumps(frame), T0)] == [CountParseError]
