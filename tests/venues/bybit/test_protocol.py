"""BybitProtocol, pure: feed §6 frames and a time, assert on actions (connect, subscribe, ping,
trades, books, resets, gaps). Rejections are in test_subscriptions.py, fuzzing in test_fuzz.py."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feedgate.events import Bbo, BookDelta, BookSnapshot, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import CountParseError, Emit, Resync, Send, Subscribed, Topic
from feedgate.protocol.booksync import SyncState
from tests.venues.actions import events, of_type
from tests.venues.bybit.frames import (
    BTC,
    CAPTURED_LINEAR_TRADE,
    CONN,
    DOC_OPTION_PONG,
    DOC_SNAPSHOT,
    DOC_SPOT_PONG,
    DOC_TRADE,
    ETH,
    SNAP_U,
    T0,
    book_frame,
    book_proto,
    book_state,
    delta,
    make,
    opened,
    sent,
    snapshot,
    synced,
    trade_frame,
    trade_item,
)

DOC_BIDS = (("16493.50", "0.006"), ("16493.00", "0.100"))
DOC_ASKS = (("16611.00", "0.029"), ("16612.00", "0.213"))

# -- connecting, subscribing, pinging (§6.1, §6.2, §6.6) -----------------------------------------


def test_connect_url_by_category() -> None:
    assert make(Topic("trades", BTC)).connect_url() == "wss://stream.bybit.com/v5/public/spot"
    linear = make(Topic("trades", BTC), category="linear", ws_url="ws://127.0.0.1:9/")
    assert linear.connect_url() == "ws://127.0.0.1:9/v5/public/linear"


def test_on_open_subscribes_trade_and_book_topics_book_and_bbo_sharing_one() -> None:
    proto = make(Topic("trades", BTC), Topic("book", BTC), Topic("bbo", BTC), Topic("bbo", ETH))
    (frame,) = sent(proto.on_open(T0))
    assert frame["op"] == "subscribe" and frame["req_id"]
    assert frame["args"] == ["orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT", "publicTrade.BTCUSDT"]
    deep = make(Topic("book", BTC), depth=200)
    assert sent(deep.on_open(T0))[0]["args"] == ["orderbook.200.BTCUSDT"]


def test_at_most_ten_args_per_subscribe_message() -> None:
    symbols = [f"C{i:02d}-USDT" for i in range(12)]
    proto = make(*(Topic(c, s) for s in symbols for c in ("trades", "book")))
    frames = sent(proto.on_open(T0))
    assert [len(f["args"]) for f in frames] == [10, 10, 4]
    assert len({f["req_id"] for f in frames}) == 3
    assert sorted(a for f in frames for a in f["args"]) == sorted(
        f"{kind}.C{i:02d}USDT" for i in range(12) for kind in ("publicTrade", "orderbook.50")
    )
    smaller = make(*(Topic("trades", s) for s in symbols), subscribe_batch=5)
    assert [len(f["args"]) for f in sent(smaller.on_open(T0))] == [5, 5, 2]


def test_subscribed_once_every_initial_request_is_acked() -> None:
    proto = make(*(Topic("trades", f"C{i:02d}-USDT") for i in range(12)))
    first, second = sent(proto.on_open(T0))
    assert proto.on_frame(orjson.dumps({**orjson.loads(DOC_SPOT_PONG)}), T0) == []
    ack1 = {"success": True, "ret_msg": "subscribe", "conn_id": "x", "op": "subscribe"}
    assert proto.on_frame(orjson.dumps({**ack1, "req_id": first["req_id"]}), T0) == []
    actions = proto.on_frame(orjson.dumps({**ack1, "req_id": second["req_id"]}), T0)
    assert actions[0] == Subscribed()
    assert of_type(actions, Status) == [Status("bybit", StatusEvent.SUBSCRIBED, CONN, "", T0)]
    assert proto.on_frame(orjson.dumps({**ack1, "req_id": second["req_id"]}), T0) == []


@pytest.mark.parametrize(
    "ack",
    [
        '{"success":true,"ret_msg":"","conn_id":"d8bu1olkndm7crnfs1e0-j6akw","req_id":"",'
        '"op":"subscribe"}',
        '{"success":true,"ret_msg":"subscribe","conn_id":"d9avt8shteepr00gfc1g-4zd1x",'
        '"op":"subscribe"}',
    ],
    ids=["linear-captured", "spot-captured"],
)
def test_acks_without_req_id_answer_requests_in_order(ack: str) -> None:
    proto = make(*(Topic("trades", f"C{i:02d}-USDT") for i in range(12)))
    assert len(sent(proto.on_open(T0))) == 2
    assert proto.on_frame(ack, T0) == []
    assert Subscribed() in proto.on_frame(ack, T0)
    assert proto.on_frame(ack, T0) == []  # a third answer matches nothing


def test_reconnect_subscribes_again_with_fresh_ids_and_old_acks_do_nothing() -> None:
    proto = make(Topic("trades", BTC))
    (old,) = sent(proto.on_open(T0))
    proto.on_close(T0)
    (new,) = sent(proto.on_open(T0))
    assert new["args"] == old["args"] and new["req_id"] != old["req_id"]
    ack = {"success": True, "ret_msg": "subscribe", "conn_id": "x", "op": "subscribe"}
    assert proto.on_frame(orjson.dumps({**ack, "req_id": old["req_id"]}), T0) == []
    assert Subscribed() in proto.on_frame(orjson.dumps({**ack, "req_id": new["req_id"]}), T0)


def test_ping_every_interval_and_pongs_are_quiet() -> None:
    proto = opened(make(Topic("trades", BTC)))
    assert proto.on_tick(T0 + 19_000_000) == []
    (ping,) = sent(proto.on_tick(T0 + 20_000_000))
    assert ping["op"] == "ping" and set(ping) == {"op", "req_id"}
    assert proto.on_tick(T0 + 21_000_000) == []
    assert sent(proto.on_tick(T0 + 40_000_000))[0]["op"] == "ping"
    linear_pong = {**orjson.loads(DOC_SPOT_PONG), "req_id": ping["req_id"]}
    for pong in (DOC_SPOT_PONG, orjson.dumps(linear_pong), DOC_OPTION_PONG):
        assert proto.on_frame(pong, T0) == []
    proto.on_close(T0)
    proto.on_open(T0 + 41_000_000)  # a new socket starts the interval over
    assert proto.on_tick(T0 + 60_000_000) == []
    fast = opened(make(Topic("trades", BTC), ping_interval_s=5))
    assert [f["op"] for f in sent(fast.on_tick(T0 + 5_000_000))] == ["ping"]


# -- trades (§6.3) ---------------------------------------------------------------------------------


def test_doc_trade_normalizes() -> None:
    proto = opened(make(Topic("trades", BTC)))
    assert proto.on_frame(DOC_TRADE, T0) == [Emit(Trade(
        "bybit", BTC, "BTCUSDT", 1672304486865000, T0, "2290000000061666327", "16578.50", "0.001",
        Side.BUY,
    ))]  # fmt: skip


def test_captured_linear_trade_with_uuid_id_and_taker_sell() -> None:
    proto = opened(make(Topic("trades", BTC), category="linear"))
    (trade,) = events(proto.on_frame(CAPTURED_LINEAR_TRADE, T0))
    assert isinstance(trade, Trade)
    assert (trade.id, trade.price, trade.size, trade.side, trade.ts) == (
        "a9188a0a-82bc-50de-be60-03eedbe3cdd7", "65114.20", "0.004", Side.SELL, 1786310819680000
    )  # fmt: skip


def test_several_trades_per_message_in_order_and_block_trades_optional() -> None:
    items = [
        trade_item(i="1", S="Sell", p="16578.40"),
        trade_item(i="2", BT=True),
        trade_item(i="3", T="1672304486866"),  # §6.7: a quoted time is accepted
    ]
    proto = opened(make(Topic("trades", BTC)))
    trades = of_type(proto.on_frame(trade_frame(items), T0), Trade)
    assert [(t.id, t.side, t.price, t.ts) for t in trades] == [
        ("1", Side.SELL, "16578.40", 1672304486865000),
        ("2", Side.BUY, "16578.50", 1672304486865000),
        ("3", Side.BUY, "16578.50", 1672304486866000),
    ]
    no_block = opened(make(Topic("trades", BTC), include_block_trades=False))
    assert [t.id for t in of_type(no_block.on_frame(trade_frame(items), T0), Trade)] == ["1", "3"]


@pytest.mark.parametrize(
    "change",
    [{"p": 16578.5}, {"v": None}, {"S": "buy"}, {"S": None}, {"i": 229}, {"T": 1.5}, {"p": "x"},
     {"T": "soon"}, {"v": "-1"}],
)  # fmt: skip
def test_malformed_trade_counts_and_publishes_nothing_of_the_frame(change: dict[str, Any]) -> None:
    proto = opened(make(Topic("trades", BTC)))
    frame = trade_frame([trade_item(i="1"), trade_item(**{"i": "2", **change})])
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]


# -- books (§6.4, §6.5) ----------------------------------------------------------------------------


def test_doc_snapshot_syncs_and_publishes_snapshot_status_and_bbo() -> None:
    proto = book_proto()
    actions = proto.on_frame(DOC_SNAPSHOT, T0)
    snap, synced_status, bbo = events(actions)
    assert snap == BookSnapshot(
        "bybit", BTC, "BTCUSDT", 1672304484976000, T0, DOC_BIDS, DOC_ASKS, 50
    )  # ts is cts, the matching-engine time
    assert isinstance(synced_status, Status) and synced_status.event is StatusEvent.BOOK_SYNCED
    assert bbo == Bbo("bybit", BTC, "BTCUSDT", 1672304484976000, T0, *DOC_BIDS[0], *DOC_ASKS[0])
    assert book_state(proto) == (SyncState.SYNCED, DOC_BIDS, DOC_ASKS, SNAP_U)


def test_deltas_before_the_snapshot_are_dropped() -> None:
    proto = book_proto()
    assert proto.on_frame(delta(SNAP_U - 1, [["16493.50", "9"]]), T0) == []
    assert proto._books["BTCUSDT"].sync.state is SyncState.WAIT_DELTA


def test_an_unreadable_image_is_asked_for_again_five_times_in_a_row_at_most() -> None:
    """§6.5: the image comes once per subscription; lost, the book would drop every delta
    after it while the other books keep the connection's book channel alive."""
    proto = book_proto()
    bad = snapshot(SNAP_U, [["16493.50", "nan"]])
    for _ in range(5):
        actions = proto.on_frame(bad, T0)
        assert [type(a) for a in actions] == [CountParseError, Send, Send]
        assert [(f["op"], f["args"]) for f in sent(actions)] == [
            ("unsubscribe", ["orderbook.50.BTCUSDT"]), ("subscribe", ["orderbook.50.BTCUSDT"])
        ]  # fmt: skip
    assert [type(a) for a in proto.on_frame(bad, T0)] == [CountParseError]
    proto.on_frame(DOC_SNAPSHOT, T0)  # an image at last: the count starts over
    assert book_state(proto)[0] is SyncState.SYNCED
    assert proto._books["BTCUSDT"].images_asked == 0
    # a synced book's unreadable frame is a lost update its next delta reveals: nothing asked
    assert [type(a) for a in proto.on_frame(bad, T0)] == [CountParseError]


def test_in_order_delta_applies_and_publishes_it() -> None:
    proto = synced()
    bids, asks = [["16493.50", "0.5"], ["16493.00", "0"]], [["16611.00", "0"]]
    actions = proto.on_frame(delta(SNAP_U + 1, bids, asks), T0 + 1)
    book_delta, bbo = events(actions)
    assert book_delta == BookDelta(
        "bybit", BTC, "BTCUSDT", 1687940967464000, T0 + 1, (("16493.50", "0.5"), ("16493.00", "0")),
        (("16611.00", "0"),),
    )  # fmt: skip
    assert isinstance(bbo, Bbo) and (bbo.bid_size, bbo.ask_price) == ("0.5", "16612.00")
    assert book_state(proto)[1:] == ((("16493.50", "0.5"),), (DOC_ASKS[1],), SNAP_U + 1)


def test_ts_falls_back_to_ts_without_cts() -> None:
    proto = synced()
    frame = book_frame("delta", SNAP_U + 1, [["16493.50", "1"]], cts=None, ts="1687940967466")
    (book_delta,) = of_type(proto.on_frame(frame, T0), BookDelta)
    assert book_delta.ts == 1687940967466000


@pytest.mark.parametrize("u", [SNAP_U + 2, SNAP_U + 100, SNAP_U, SNAP_U - 5])
def test_gap_resets_that_book_then_resubscribes_its_topic_only(u: int) -> None:
    proto = synced()
    proto.on_frame(snapshot(7, [["3000.00", "1"]], [["3001.00", "1"]], "ETHUSDT"), T0)
    actions = proto.on_frame(delta(u, [["16493.50", "9"]]), T0 + 5)
    assert actions[0] == Resync(BTC, "gap")
    reset, empty_bbo = events(actions)
    assert isinstance(reset, Status) and reset.event is StatusEvent.BOOK_RESET
    assert (reset.symbol, reset.reason) == (BTC, "gap")
    assert isinstance(empty_bbo, Bbo) and empty_bbo.bid_price is None
    unsub, sub = sent(actions)
    assert (unsub["op"], unsub["args"]) == ("unsubscribe", ["orderbook.50.BTCUSDT"])
    assert (sub["op"], sub["args"]) == ("subscribe", ["orderbook.50.BTCUSDT"])
    assert proto.on_frame(delta(u + 1, [["16493.50", "1"]]), T0) == []  # invalid: nothing out
    assert not [a for a in proto.on_frame(orjson.dumps({**orjson.loads(  # the acks are quiet
        b'{"success":true,"ret_msg":"","conn_id":"c","op":"unsubscribe"}'
    ), "req_id": unsub["req_id"]}), T0) if not isinstance(a, Send)]  # fmt: skip
    resynced = events(proto.on_frame(snapshot(900, [["16400.00", "2"]], [["16401.00", "3"]]), T0))
    assert [type(e) for e in resynced] == [BookSnapshot, Status, Bbo]
    assert book_state(proto)[0] == SyncState.SYNCED
    assert book_state(proto, "ETHUSDT")[1:] == ((("3000.00", "1"),), (("3001.00", "1"),), 7)


def test_relaxed_continuity_accepts_jumps_but_not_decreases() -> None:
    proto = synced(strict_u_continuity=False)
    assert of_type(proto.on_frame(delta(SNAP_U + 50, [["16493.50", "1"]]), T0), BookDelta)
    assert Resync(BTC, "gap") in proto.on_frame(delta(SNAP_U + 50), T0)


def test_a_new_snapshot_while_synced_is_a_venue_reset() -> None:
    proto = synced()
    actions = proto.on_frame(snapshot(SNAP_U + 7, [["16500.00", "1"]], [["16501.00", "2"]]), T0)
    assert actions[0] == Resync(BTC, "reset")
    assert [type(e) for e in events(actions)] == [Status, Bbo, BookSnapshot, Status, Bbo]
    reset, _, snap, synced_status, _ = events(actions)
    assert isinstance(reset, Status) and reset.event is StatusEvent.BOOK_RESET
    assert reset.reason == "reset"
    assert isinstance(snap, BookSnapshot) and snap.bids == (("16500.00", "1"),)
    assert isinstance(synced_status, Status) and synced_status.event is StatusEvent.BOOK_SYNCED
    assert not sent(actions), "a venue reset needs no resubscribe: the image is fresh"


def test_u_equal_1_is_a_restart_even_as_a_delta() -> None:
    proto = synced()
    actions = proto.on_frame(delta(1, [["16000.00", "1"]], [["16001.00", "1"]]), T0)
    assert actions[0] == Resync(BTC, "reset")
    assert book_state(proto) == (SyncState.SYNCED, (("16000.00", "1"),), (("16001.00", "1"),), 1)
    assert of_type(proto.on_frame(delta(2, [["16000.00", "2"]]), T0), BookDelta)


def test_depth_1_snapshots_replace_the_level_without_resets() -> None:
    proto = book_proto(depth=1)
    frame = book_frame("snapshot", 10, [["16493.50", "0.006"]], [["16611.00", "0.029"]], depth=1)
    assert of_type(proto.on_frame(frame, T0), BookSnapshot)
    moved = book_frame("snapshot", 14, [["16493.60", "1"]], [["16611.00", "0.5"]], depth=1)
    actions = proto.on_frame(moved, T0)
    (book_delta,) = of_type(actions, BookDelta)
    assert book_delta.bids == (("16493.50", "0"), ("16493.60", "1"))
    assert not [a for a in actions if isinstance(a, Resync)]
    assert book_state(proto)[1:] == ((("16493.60", "1"),), (("16611.00", "0.5"),), 14)
    assert proto.on_frame(moved, T0) == []  # §6.5: the 3 s repeat with the same u
    older = book_frame("snapshot", 12, [["16493.60", "1"]], [["16611.00", "0.5"]], depth=1)
    assert proto.on_frame(older, T0)[0] == Resync(BTC, "gap")
    restart = book_frame("snapshot", 1, [["1.0", "1"]], [["2.0", "1"]], depth=1)
    proto2 = book_proto(depth=1)
    proto2.on_frame(frame, T0)
    assert proto2.on_frame(restart, T0)[0] == Resync(BTC, "reset")


def test_published_book_keeps_the_depth_levels() -> None:
    proto = book_proto(depth=1)
    frame = book_frame("snapshot", 10, [["2", "1"], ["1", "1"]], [["3", "1"]], depth=1)
    (snap,) = of_type(proto.on_frame(frame, T0), BookSnapshot)
    assert snap.bids == (("2", "1"),) and snap.depth == 1


def test_on_close_resets_synced_books_only_and_reopen_resubscribes() -> None:
    proto = synced()
    actions = proto.on_close(T0)
    resets = [e for e in of_type(actions, Status) if e.event is StatusEvent.BOOK_RESET]
    assert [(r.symbol, r.reason) for r in resets] == [(BTC, "reconnect")]
    assert book_state(proto)[0] == SyncState.IDLE
    assert sent(proto.on_open(T0))[0]["args"][0] == "orderbook.50.BTCUSDT"
    assert book_state(proto)[0] == SyncState.WAIT_DELTA


def test_checkpoint_on_tick_for_changed_books() -> None:
    proto = synced()
    proto.on_frame(delta(SNAP_U + 1, [["16493.50", "1"]]), T0)
    (checkpoint,) = of_type(proto.on_tick(T0 + 2_000_000), BookSnapshot)
    assert checkpoint.checkpoint and checkpoint.bids[0] == ("16493.50", "1")
    assert of_type(proto.on_tick(T0 + 4_000_000), BookSnapshot) == []


# -- frames it cannot use (tests/venues/test_fuzz.py fuzzes every venue) -----------------------

JUNK = [
    b"not json", b"", b"\xff\xfe\x00", "[1, 2]", "null", '"text"', "42", "{}",
    '{"topic": "orderbook.50.BTCUSDT"}',
    '{"topic": ["publicTrade.BTCUSDT"], "data": []}',
    '{"topic": "publicTrade.XRPUSDT", "data": []}',
    '{"topic": "tickers.BTCUSDT", "type": "snapshot", "data": {}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "partial", "ts": 1, "data":'
    ' {"s": "BTCUSDT", "b": [], "a": [], "u": 18521289, "seq": 1}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data":'
    ' {"s": "BTCUSDT", "b": [["16493.50", "1"]], "a": [["x", "1"]], "u": 18521289, "seq": 1}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data":'
    ' {"s": "BTCUSDT", "b": [], "a": [], "u": "18521289", "seq": 1}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": [1], "data":'
    ' {"s": "BTCUSDT", "b": [], "a": [], "u": 18521289, "seq": 1}}',
    '{"op": "subscribe", "success": false, "req_id": ["x"]}',
    '{"op": ["subscribe"]}',
]  # fmt: skip


@pytest.mark.parametrize("frame", JUNK, ids=[str(i) for i in range(len(JUNK))])
def test_junk_is_counted_and_the_book_is_untouched(frame: str | bytes) -> None:
    proto = synced()
    before = book_state(proto)
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]
    assert book_state(proto) == before
