"""CoinbaseProtocol, pure: feed §2 frames (exchanges.md) and a time, assert on actions.
Subscribing, trades, books and the connection-wide sequence rule; errors are in
test_protocol_errors.py."""

from __future__ import annotations

import json

from feedgate.events import Bbo, BookDelta, BookSnapshot, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import CountParseError, Emit, Resync, Send, Subscribed, Topic
from feedgate.protocol.booksync import SyncState
from tests.venues.actions import events, of_type
from tests.venues.coinbase.frames import (
    BTC,
    CONN,
    DOC_ACK,
    DOC_HEARTBEAT,
    DOC_L2_SNAPSHOT,
    DOC_L2_UPDATE,
    DOC_SUBSCRIBE_HEARTBEATS,
    DOC_SUBSCRIBE_LEVEL2,
    DOC_SUBSCRIBE_TRADES,
    DOC_TRADES,
    ETH,
    EVENT_US,
    T0,
    Venue,
    all_topics,
    book_state,
    connected,
    make,
    numbered,
    sent,
    trade,
)

# -- connecting and subscribing (§2.1, §2.2, §2.6) ----------------------------------------------


def test_connects_to_the_market_data_root() -> None:
    assert make(Topic("trades", BTC)).connect_url() == "wss://advanced-trade-ws.coinbase.com"
    assert make(Topic("trades", BTC), ws_url="ws://127.0.0.1:9").connect_url() == "ws://127.0.0.1:9"


def test_on_open_sends_one_channel_per_message_heartbeats_first() -> None:
    frames = sent(make(*all_topics(ETH, BTC)).on_open(T0))
    assert frames == [
        json.loads(DOC_SUBSCRIBE_HEARTBEATS),
        json.loads(DOC_SUBSCRIBE_TRADES),
        json.loads(DOC_SUBSCRIBE_LEVEL2),
    ]
    bbo_only = sent(make(Topic("bbo", ETH)).on_open(T0))
    assert [f["channel"] for f in bbo_only] == ["heartbeats", "level2"]


def test_subscribed_at_the_first_acknowledgement() -> None:
    proto = make(*all_topics(BTC))
    proto.on_open(T0)
    assert proto.on_frame(DOC_ACK, T0 + 1) == [
        Subscribed(), Emit(Status("coinbase", StatusEvent.SUBSCRIBED, CONN, "", T0 + 1))
    ]  # fmt: skip
    assert proto.on_frame(numbered(DOC_ACK, 1), T0 + 2) == []


def test_a_snapshot_before_its_acknowledgement_already_means_subscribed() -> None:
    """As recorded: a channel's snapshot comes before the acknowledgement listing it."""
    proto = make(Topic("book", BTC), Topic("bbo", BTC))
    proto.on_open(T0)
    actions = proto.on_frame(DOC_L2_SNAPSHOT, T0 + 5)
    assert actions[:2] == [
        Subscribed(), Emit(Status("coinbase", StatusEvent.SUBSCRIBED, CONN, "", T0 + 5))
    ]  # fmt: skip
    snapshot, synced, bbo = events(actions[2:])
    assert snapshot == BookSnapshot(
        "coinbase", BTC, BTC, 1_728_378_635_171_517, T0 + 5,
        (("62317.89", "0.032355"),), (("62394.77", "0.0170024"),), None,
    )  # fmt: skip
    assert synced == Status("coinbase", StatusEvent.BOOK_SYNCED, CONN, "", T0 + 5, BTC, BTC)
    assert bbo == Bbo(
        "coinbase", BTC, BTC, 1_728_378_635_171_517, T0 + 5,
        "62317.89", "0.032355", "62394.77", "0.0170024",
    )  # fmt: skip


def test_heartbeats_publish_nothing() -> None:
    venue = connected(make(*all_topics(BTC)))
    assert venue.heartbeat() == []


# -- trades (§2.4) --------------------------------------------------------------------------------


def test_doc_trades_publish_the_takers_side() -> None:
    """``side`` names the maker (NOTES.md): a ``BUY`` print was a taker selling."""
    proto = make(Topic("trades", BTC))
    proto.on_open(T0)
    actions = proto.on_frame(DOC_TRADES, T0 + 7)
    assert actions[:2] == [
        Subscribed(), Emit(Status("coinbase", StatusEvent.SUBSCRIBED, CONN, "", T0 + 7))
    ]  # fmt: skip
    assert events(actions[2:]) == [
        Trade("coinbase", BTC, BTC, 1_775_572_202_789_012, T0 + 7, "995098700", "68900.50",
              "0.00150000", Side.SELL),
        Trade("coinbase", BTC, BTC, 1_775_572_202_800_000, T0 + 7, "995098701", "68900.00",
              "0.05000000", Side.BUY),
    ]  # fmt: skip


def test_trade_side_option_taker_publishes_side_as_sent() -> None:
    venue = connected(make(Topic("trades", BTC), trade_side="taker"))
    got = of_type(venue.trades(trade("7", "BUY"), trade("8", "SELL"), trade("9", "?")), Trade)
    assert [(t.id, t.side) for t in got] == [("7", Side.BUY), ("8", Side.SELL), ("9", Side.UNKNOWN)]


def test_newest_first_messages_publish_oldest_first() -> None:
    """The capture's multi-trade messages list the newest trade first."""
    venue = connected(make(Topic("trades", BTC), Topic("trades", ETH)))
    newest_first = (trade("12", "SELL"), trade("11", "BUY", product=ETH), trade("10", "SELL"))
    got = of_type(venue.trades(*newest_first), Trade)
    assert [(t.id, t.symbol) for t in got] == [("10", BTC), ("11", ETH), ("12", BTC)]


def test_trade_snapshot_is_history_then_backfills_what_a_reconnect_missed() -> None:
    proto = make(Topic("trades", BTC))
    venue = connected(proto)
    history = (trade("5", "BUY"), trade("4", "BUY"))
    assert of_type(venue.trades(*history, kind="snapshot"), Trade) == []
    assert [t.id for t in of_type(venue.trades(trade("6", "SELL")), Trade)] == ["6"]
    proto.on_close(T0)
    venue = connected(proto)
    recent = (trade("9", "BUY"), trade("8", "SELL"), trade("7", "BUY"), trade("6", "SELL"))
    got = of_type(venue.trades(*recent, kind="snapshot"), Trade)
    assert [(t.id, t.side) for t in got] == [("7", Side.SELL), ("8", Side.BUY), ("9", Side.SELL)]
    assert [t.id for t in of_type(venue.trades(trade("10", "BUY")), Trade)] == ["10"]


def test_backfill_can_be_turned_off() -> None:
    proto = make(Topic("trades", BTC), backfill_trades=False)
    venue = connected(proto)
    venue.trades(trade("6", "SELL"))
    proto.on_close(T0)
    venue = connected(proto)
    assert venue.trades(trade("8", "SELL"), trade("7", "BUY"), kind="snapshot") == []


# -- books (§2.5) ---------------------------------------------------------------------------------


def test_doc_update_applies_absolute_sizes_and_moves_the_bbo() -> None:
    proto = make(Topic("book", BTC), Topic("bbo", BTC))
    proto.on_open(T0)
    proto.on_frame(numbered(DOC_L2_SNAPSHOT, 0), T0)
    actions = proto.on_frame(numbered(DOC_L2_UPDATE, 1), T0 + 9)
    assert events(actions) == [
        BookDelta("coinbase", BTC, BTC, EVENT_US, T0 + 9, (("62313.58", "0"),),
                  (("62394.77", "0.0270024"),)),
        Bbo("coinbase", BTC, BTC, EVENT_US, T0 + 9, "62317.89", "0.032355", "62394.77",
            "0.0270024"),
    ]  # fmt: skip
    assert book_state(proto)[2] == (("62394.77", "0.0270024"),)


def test_updates_before_the_snapshot_are_dropped() -> None:
    proto = make(Topic("book", BTC))
    venue = connected(proto)
    assert venue.book("update", BTC, [["99.00", "1"]]) == []
    assert book_state(proto) == (SyncState.WAIT_DELTA, (), ())
    venue.book("snapshot", BTC, [["100.00", "1.5"]], [["101.00", "2.5"]])
    assert book_state(proto) == (SyncState.SYNCED, (("100.00", "1.5"),), (("101.00", "2.5"),))


def test_a_new_snapshot_while_synced_is_a_venue_reset() -> None:
    proto = make(Topic("book", BTC))
    venue = connected(proto, sync=(BTC,))
    actions = venue.book("snapshot", BTC, [["99.00", "1"]], [["102.00", "1"]])
    kinds = [(type(e).__name__, getattr(e, "event", None)) for e in events(actions)]
    assert kinds == [
        ("Status", StatusEvent.BOOK_RESET),
        ("BookSnapshot", None),
        ("Status", StatusEvent.BOOK_SYNCED),
    ]
    assert book_state(proto) == (SyncState.SYNCED, (("99.00", "1"),), (("102.00", "1"),))


# -- the connection-wide sequence rule (§2.7) -----------------------------------------------------


def test_a_lost_message_resets_every_book_and_asks_all_of_them_again_once() -> None:
    proto = make(*all_topics(BTC, ETH))
    venue = connected(proto, sync=(BTC, ETH))
    venue.lose()
    now = venue.now + 1000
    actions = venue.heartbeat()
    assert actions[:6] == [
        Resync(BTC, "gap"),
        Emit(Status("coinbase", StatusEvent.BOOK_RESET, CONN, "gap", now, BTC, BTC)),
        Emit(Bbo("coinbase", BTC, BTC, None, now, None, None, None, None)),
        Resync(ETH, "gap"),
        Emit(Status("coinbase", StatusEvent.BOOK_RESET, CONN, "gap", now, ETH, ETH)),
        Emit(Bbo("coinbase", ETH, ETH, None, now, None, None, None, None)),
    ]
    assert sent(actions[6:]) == [
        {"type": "unsubscribe", "product_ids": [BTC, ETH], "channel": "level2"},
        {"type": "subscribe", "product_ids": [BTC, ETH], "channel": "level2"},
    ]
    assert len(actions) == 8
    # trades keep flowing, updates wait for the fresh images
    assert [t.id for t in of_type(venue.trades(trade("1", "BUY")), Trade)] == ["1"]
    assert venue.book("update", BTC, [["100.00", "9"]]) == []
    assert [type(e) for e in events(venue.book("snapshot", ETH, [["1", "1"]]))] == [
        BookSnapshot, Status, Bbo
    ]  # fmt: skip
    assert book_state(proto, ETH)[0] is SyncState.SYNCED
    assert book_state(proto, BTC)[0] is SyncState.WAIT_DELTA


def test_the_frame_showing_the_gap_is_itself_used() -> None:
    """A snapshot arriving right after a lost message is whole: not asked for again."""
    proto = make(Topic("book", BTC), Topic("book", ETH))
    venue = connected(proto, sync=(ETH,))
    venue.lose(2)
    actions = venue.book("snapshot", BTC, [["100.00", "1"]], [["101.00", "1"]])
    assert [(r.symbol, r.reason) for r in actions if isinstance(r, Resync)] == [(ETH, "gap")]
    assert sent(actions) == [
        {"type": "unsubscribe", "product_ids": [ETH], "channel": "level2"},
        {"type": "subscribe", "product_ids": [ETH], "channel": "level2"},
    ]
    assert book_state(proto, BTC)[0] is SyncState.SYNCED


def test_a_gap_while_waiting_for_snapshots_asks_again_without_a_reset() -> None:
    """The lost message may have been the snapshot itself; nothing was published, so nothing
    is reset."""
    proto = make(Topic("book", BTC), Topic("trades", BTC))
    venue = connected(proto)
    venue.lose()
    actions = venue.heartbeat()
    assert events(actions) == [] and not [a for a in actions if isinstance(a, Resync)]
    assert [f["type"] for f in sent(actions)] == ["unsubscribe", "subscribe"]


def test_a_counter_going_back_on_one_connection_is_a_gap() -> None:
    proto = make(Topic("book", BTC))
    venue = connected(proto, sync=(BTC,))
    venue.seq -= 2
    assert [r.reason for r in venue.heartbeat() if isinstance(r, Resync)] == ["gap"]


def test_a_reconnect_starts_the_counter_over_without_a_gap() -> None:
    proto = make(Topic("book", BTC), Topic("bbo", BTC))
    venue = connected(proto, sync=(BTC,))
    assert venue.seq > 1
    closed = proto.on_close(T0 + 50)
    assert closed == [
        Resync(BTC, "reconnect"),
        Emit(Status("coinbase", StatusEvent.BOOK_RESET, CONN, "reconnect", T0 + 50, BTC, BTC)),
        Emit(Bbo("coinbase", BTC, BTC, None, T0 + 50, None, None, None, None)),
    ]
    venue = connected(proto, sync=(BTC,))  # sequence_num 0 again
    assert book_state(proto)[0] is SyncState.SYNCED
    assert venue.heartbeat() == []


def test_an_unreadable_update_resyncs_its_book_only() -> None:
    proto = make(Topic("book", BTC), Topic("book", ETH))
    venue = connected(proto, sync=(BTC, ETH))
    actions = venue.book("update", BTC, [["x", "1"]])
    assert [type(a) for a in actions[:2]] == [CountParseError, Resync]
    assert [r.symbol for r in actions if isinstance(r, Resync)] == [BTC]
    assert sent(actions)[-1] == {"type": "subscribe", "product_ids": [BTC], "channel": "level2"}
    assert book_state(proto, ETH)[0] is SyncState.SYNCED


def test_frames_without_sequence_num_are_not_sequence_checked() -> None:
    proto = make(Topic("book", BTC))
    venue = connected(proto, sync=(BTC,))
    msg = json.loads(DOC_HEARTBEAT)
    del msg["sequence_num"]
    assert proto.on_frame(json.dumps(msg), T0) == []
    assert venue.heartbeat() == []


def test_checkpoints_refresh_changed_books_on_tick() -> None:
    proto = make(Topic("book", BTC), checkpoint_interval_s=1.0)
    venue = connected(proto, sync=(BTC,))
    assert proto.on_tick(venue.now + 5_000_000) == []
    venue.book("update", BTC, [["99.50", "3"]])
    (checkpoint,) = events(proto.on_tick(venue.now + 6_000_000))
    assert isinstance(checkpoint, BookSnapshot) and checkpoint.checkpoint
    assert checkpoint.bids == (("100.00", "1.5"), ("99.50", "3"))
    assert proto.on_tick(venue.now + 6_500_000) == []


def test_bbo_only_books_publish_no_book_messages() -> None:
    proto = make(Topic("bbo", BTC))
    venue = connected(proto)
    published = events(venue.book("snapshot", BTC, [["100.00", "1"]], [["101.00", "1"]]))
    published += events(venue.book("update", BTC, [["100.00", "2"]]))
    assert [type(e) for e in published] == [Status, Bbo, Bbo]


def test_one_protocol_per_connection_keeps_its_own_counter() -> None:
    first, second = make(Topic("book", BTC)), make(Topic("book", BTC))
    a, b = connected(first, sync=(BTC,)), Venue(second)
    second.on_open(T0)
    for _ in range(3):
        a.heartbeat()
    b.book("snapshot", BTC, [["100.00", "1"]], [["101.00", "1"]])
    assert book_state(second)[0] is SyncState.SYNCED
    assert not [x for x in a.heartbeat() if isinstance(x, (Resync, Send))]
