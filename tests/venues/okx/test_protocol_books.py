"""OkxProtocol books, pure: WS snapshot + seqId/prevSeqId (§5.4-5.5), the REST fallback (§5.6),
the legacy checksum (§5.6, Appendix A vectors), resync by resubscribing one instId (§5.5)."""

from __future__ import annotations

import orjson

from feedgate.events import Bbo, BookDelta, BookSnapshot, Status, StatusEvent
from feedgate.protocol.base import CountParseError, FetchSnapshot, Resync, Topic
from feedgate.protocol.booksync import SyncState
from feedgate.venues.okx import wire
from feedgate.venues.okx.protocol import OkxProtocol
from tests.venues.actions import of_type
from tests.venues.okx.frames import (
    BTC,
    DOC_SNAPSHOT,
    DOC_UPDATE,
    ETH,
    T0,
    ack,
    all_topics,
    books,
    make,
    opened,
    sent,
)

SNAP_SEQ = 123456
# §5.6 / Appendix A: the book behind "3366.1:7:3366.8:9:3366:6:3368:8" (-1881014294), then the
# update that makes it "3366.1:7:3366.8:9:3368:8:3372:8" (831078360)
CK_BIDS = [["3366.1", "7", "0", "1"], ["3366", "6", "0", "1"]]
CK_ASKS = [["3366.8", "9", "0", "1"], ["3368", "8", "0", "1"]]
CK_1, CK_2 = -1881014294, 831078360


def state(proto: OkxProtocol, inst: str = BTC) -> tuple[object, ...]:
    sync = proto._books[inst].sync
    return sync.state, sync.book.bids.top(), sync.book.asks.top(), sync.local_id


def synced(*topics: Topic, **options: object) -> OkxProtocol:
    proto = opened(make(*(topics or all_topics(BTC, ETH)), **options))
    proto.on_frame(DOC_SNAPSHOT, T0)
    proto.on_frame(DOC_SNAPSHOT.replace(BTC, ETH), T0)
    return proto


def test_doc_snapshot_then_update() -> None:
    proto = opened(make(*all_topics(BTC)))
    actions = proto.on_frame(DOC_SNAPSHOT, T0)
    (snap,) = of_type(actions, BookSnapshot)
    assert snap.bids == (("8476.97", "256"), ("8475.55", "101"))  # order count dropped
    assert snap.asks == (("8476.98", "415"), ("8477", "7"))
    assert (snap.ts, snap.depth, snap.checkpoint) == (1597026383085000, 400, False)
    assert [s.event for s in of_type(actions, Status)] == [StatusEvent.BOOK_SYNCED]
    (bbo,) = of_type(actions, Bbo)
    assert (bbo.bid_price, bbo.ask_price) == ("8476.97", "8476.98")
    actions = proto.on_frame(DOC_UPDATE, T0 + 1)
    (delta,) = of_type(actions, BookDelta)
    assert delta.asks == (("8476.98", "0"), ("8477.3", "5")) and delta.ts == 1597026383185000
    assert state(proto) == (
        SyncState.SYNCED,
        (("8476.97", "250"), ("8475.55", "101")),
        (("8477", "7"), ("8477.3", "5")),
        SNAP_SEQ + 1,
    )
    assert [b.ask_price for b in of_type(actions, Bbo)] == ["8477"]


def test_keepalive_publishes_nothing() -> None:
    proto = synced()
    before = state(proto)
    assert proto.on_frame(books(BTC, "update", SNAP_SEQ, SNAP_SEQ), T0 + 1) == []  # §5.5
    assert state(proto) == before


def test_sequence_reset_is_not_a_gap() -> None:
    proto = synced()
    actions = proto.on_frame(
        books(BTC, "update", SNAP_SEQ, 3, bids=[["8476.97", "1", "0", "1"]]), T0 + 1
    )
    assert not of_type(actions, Status) and not [a for a in actions if isinstance(a, Resync)]
    assert of_type(actions, BookDelta)
    actions = proto.on_frame(books(BTC, "update", 3, 5, asks=[["8477", "2", "0", "1"]]), T0 + 2)
    assert of_type(actions, BookDelta) and state(proto)[3] == 5


def test_gap_resubscribes_that_book_only() -> None:
    proto = synced()
    actions = proto.on_frame(books(BTC, "update", SNAP_SEQ + 5, SNAP_SEQ + 6), T0 + 1)
    assert Resync(BTC, "gap") in actions
    statuses = of_type(actions, Status)
    assert [(s.event, s.symbol, s.reason) for s in statuses] == [
        (StatusEvent.BOOK_RESET, BTC, "gap")
    ]
    (empty,) = of_type(actions, Bbo)
    assert (empty.bid_price, empty.ask_price) == (None, None)
    assert not of_type(actions, BookDelta)
    unsub, sub = sent(actions)
    assert (unsub["op"], unsub["args"]) == ("unsubscribe", [{"channel": "books", "instId": BTC}])
    assert (sub["op"], sub["args"]) == ("subscribe", [{"channel": "books", "instId": BTC}])
    assert state(proto, ETH)[0] is SyncState.SYNCED  # the other book is untouched
    assert of_type(proto.on_frame(DOC_UPDATE.replace(BTC, ETH), T0 + 2), BookDelta)
    # the old subscription's tail is dropped, even past the unsubscribe ack
    tail = books(BTC, "update", SNAP_SEQ + 6, SNAP_SEQ + 7)
    assert proto.on_frame(tail, T0 + 3) == []
    assert proto.on_frame(ack(unsub["id"], "books", BTC, "unsubscribe"), T0 + 4) == []
    assert proto.on_frame(tail, T0 + 5) == []
    assert proto.on_frame(ack(sub["id"], "books", BTC), T0 + 6) == []
    fresh = proto.on_frame(DOC_SNAPSHOT, T0 + 7)
    assert of_type(fresh, BookSnapshot) and state(proto)[0] is SyncState.SYNCED


def test_update_before_any_snapshot_falls_back_to_rest() -> None:
    proto = opened(make(*all_topics(BTC)))
    first = proto.on_frame(books(BTC, "update", 100, 105, bids=[["10", "1", "0", "1"]]), T0)
    (fetch,) = [a for a in first if isinstance(a, FetchSnapshot)]
    assert fetch == FetchSnapshot(
        BTC, "https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=400", 1
    )
    assert proto.on_frame(books(BTC, "update", 105, 110, bids=[["10", "2", "0", "1"]]), T0) == []
    body = wire.rest_books_body(
        [["11", "1", "0", "1"]], [["10", "9", "0", "1"]], 1_700_000_000_000, 107
    )
    actions = proto.on_snapshot(BTC, body, T0 + 1)
    (snap,) = of_type(actions, BookSnapshot)
    assert snap.bids == (("10", "2"),)  # (105, 110] straddles 107 and is applied on top
    assert state(proto)[3] == 110
    # ids that move without levels publish nothing, and the stream goes on from them
    assert of_type(proto.on_frame(books(BTC, "update", 110, 111), T0 + 2), BookDelta) == []
    (delta,) = of_type(
        proto.on_frame(books(BTC, "update", 111, 112, asks=[["11", "0", "0", "0"]]), T0 + 3),
        BookDelta,
    )
    assert delta.asks == (("11", "0"),) and state(proto)[3] == 112


def test_rest_snapshot_too_old_bad_or_failed_is_fetched_again() -> None:
    proto = opened(make(Topic("book", BTC)))
    proto.on_frame(books(BTC, "update", 100, 105), T0)
    old = wire.rest_books_body([], [["10", "1", "0", "1"]], 0, 99)
    assert [a.key for a in proto.on_snapshot(BTC, old, T0) if isinstance(a, FetchSnapshot)] == [BTC]
    no_seq = orjson.dumps({"code": "0", "msg": "", "data": [{"asks": [], "bids": [], "ts": "1"}]})
    actions = proto.on_snapshot(BTC, no_seq, T0)
    assert isinstance(actions[0], CountParseError)
    assert [a for a in actions if isinstance(a, FetchSnapshot)]
    error = wire.rest_error_body("51001", "Instrument ID does not exist")
    assert isinstance(proto.on_snapshot(BTC, error, T0)[0], CountParseError)
    assert [
        a for a in proto.on_snapshot_failed(BTC, "HTTP 500", T0) if isinstance(a, FetchSnapshot)
    ]
    assert proto.on_snapshot("NOPE-USDT", old, T0) == []
    assert state(proto)[0] is SyncState.WAIT_SNAPSHOT


def test_ws_snapshot_wins_over_a_pending_rest_snapshot() -> None:
    proto = opened(make(Topic("book", BTC)))
    proto.on_frame(books(BTC, "update", 100, 105), T0)
    assert of_type(proto.on_frame(DOC_SNAPSHOT, T0 + 1), BookSnapshot)
    late = wire.rest_books_body([], [["10", "1", "0", "1"]], 0, 106)
    assert proto.on_snapshot(BTC, late, T0 + 2) == []  # synced already: ignored
    assert state(proto)[3] == SNAP_SEQ


def test_past_the_hourly_budget_a_gap_resyncs_over_rest() -> None:
    proto = synced(Topic("book", BTC), ops_per_hour=2)  # the subscribe used one of two
    actions = proto.on_frame(books(BTC, "update", SNAP_SEQ + 5, SNAP_SEQ + 6), T0 + 1)
    assert Resync(BTC, "gap") in actions and sent(actions) == []
    actions = proto.on_frame(books(BTC, "update", SNAP_SEQ + 6, SNAP_SEQ + 7), T0 + 2)
    assert [a.key for a in actions if isinstance(a, FetchSnapshot)] == [BTC]


def test_reconnect_resets_every_synced_book() -> None:
    proto = synced()
    actions = proto.on_close(T0 + 1)
    resets = [s for s in of_type(actions, Status) if s.event is StatusEvent.BOOK_RESET]
    assert sorted((s.symbol, s.reason) for s in resets) == [(BTC, "reconnect"), (ETH, "reconnect")]
    assert state(proto)[0] is SyncState.IDLE
    proto.on_open(T0 + 2)
    assert state(proto)[0] is SyncState.WAIT_DELTA


def test_missing_seq_ids_are_a_parse_error_unless_legacy() -> None:
    proto = opened(make(Topic("book", BTC)))
    actions = proto.on_frame(books(BTC, "snapshot", None, None, bids=CK_BIDS, asks=CK_ASKS), T0)
    assert len(actions) == 1 and isinstance(actions[0], CountParseError)
    assert state(proto)[0] is SyncState.WAIT_DELTA


def test_bad_levels_leave_the_book_untouched() -> None:
    proto = synced()
    before = state(proto)
    for level in (["1", "2"], ["x", "1", "0", "1"], ["-1", "1", "0", "1"], [1, "1", "0", "1"]):
        frame = books(
            BTC, "update", SNAP_SEQ, SNAP_SEQ + 1, bids=[["8476.97", "9", "0", "1"], level]
        )
        actions = proto.on_frame(frame, T0 + 1)
        assert len(actions) == 1 and isinstance(actions[0], CountParseError), level
    assert state(proto) == before


def test_checkpoints_refresh_changed_books() -> None:
    proto = synced(Topic("book", BTC), checkpoint_interval_s=1.0)
    proto.on_frame(DOC_UPDATE, T0 + 10)
    (checkpoint,) = of_type(proto.on_tick(T0 + 2_000_000), BookSnapshot)
    assert checkpoint.checkpoint and checkpoint.asks[0] == ("8477", "7")
    assert of_type(proto.on_tick(T0 + 4_000_000), BookSnapshot) == []  # unchanged since


# -- legacy checksum (§5.6) -----------------------------------------------------------------------


def ck_synced(**options: object) -> OkxProtocol:
    proto = opened(make(*all_topics(BTC), legacy_checksum=True, **options))
    actions = proto.on_frame(books(BTC, "snapshot", -1, 10, CK_BIDS, CK_ASKS, CK_1), T0)
    assert of_type(actions, BookSnapshot)
    return proto


def test_checksums_that_match_pass() -> None:
    proto = ck_synced()
    update = books(
        BTC, "update", 10, 11, [["3366", "0", "0", "0"]], [["3372", "8", "0", "1"]], CK_2
    )
    actions = proto.on_frame(update, T0 + 1)
    assert of_type(actions, BookDelta) and not of_type(actions, Status)


def test_a_mismatch_resyncs_and_the_bad_delta_is_never_published() -> None:
    proto = ck_synced()
    update = books(
        BTC, "update", 10, 11, [["3366", "0", "0", "0"]], [["3372", "8", "0", "1"]], CK_2 + 1
    )
    actions = proto.on_frame(update, T0 + 1)
    assert not of_type(actions, BookDelta)
    assert Resync(BTC, "checksum") in actions
    assert [s.reason for s in of_type(actions, Status)] == ["checksum"]
    assert [f["op"] for f in sent(actions)] == ["unsubscribe", "subscribe"]


def test_a_snapshot_with_a_wrong_checksum_is_not_trusted() -> None:
    proto = opened(make(Topic("book", BTC), legacy_checksum=True))
    actions = proto.on_frame(books(BTC, "snapshot", -1, 10, CK_BIDS, CK_ASKS, CK_2), T0)
    assert [f["op"] for f in sent(actions)] == ["unsubscribe", "subscribe"]
    assert state(proto)[0] is SyncState.WAIT_DELTA


def test_zero_means_no_checksum_and_off_means_unchecked() -> None:
    proto = ck_synced()
    update = books(BTC, "update", 10, 11, [["3366", "0", "0", "0"]], [], 0)  # §5.6: always 0 now
    assert of_type(proto.on_frame(update, T0 + 1), BookDelta)
    plain = opened(make(Topic("book", BTC)))
    plain.on_frame(books(BTC, "snapshot", -1, 10, CK_BIDS, CK_ASKS, 12345), T0)
    assert of_type(plain.on_frame(books(BTC, "update", 10, 11, CK_BIDS, [], 999), T0), BookDelta)


def test_legacy_unsequenced_frames_are_numbered_locally() -> None:
    proto = opened(make(Topic("book", BTC), legacy_checksum=True, legacy_unsequenced=True))
    assert of_type(
        proto.on_frame(books(BTC, "snapshot", None, None, CK_BIDS, CK_ASKS, CK_1), T0), BookSnapshot
    )
    update = books(
        BTC, "update", None, None, [["3366", "0", "0", "0"]], [["3372", "8", "0", "1"]], CK_2
    )
    assert of_type(proto.on_frame(update, T0 + 1), BookDelta)
    assert state(proto)[3] == 2  # the snapshot is 1, this update 2
    wrong = books(BTC, "update", None, None, [["3366.1", "1", "0", "1"]], [], CK_2)
    assert Resync(BTC, "checksum") in proto.on_frame(wrong, T0 + 2)


def test_a_multi_element_frame_is_checked_whole_before_anything_applies() -> None:
    proto = synced()
    before = state(proto)
    good = orjson.loads(books(BTC, "update", SNAP_SEQ, SNAP_SEQ + 1, [["8476.97", "1", "0", "1"]]))
    unsequenced = dict(good["data"][0], bids=[["8476.97", "2", "0", "1"]])
    del unsequenced["seqId"]
    good["data"].append(unsequenced)
    actions = proto.on_frame(orjson.dumps(good), T0 + 1)
    assert len(actions) == 1 and isinstance(actions[0], CountParseError)
    assert state(proto) == before
