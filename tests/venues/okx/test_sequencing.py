"""SeqIdRule: OKX seqId/prevSeqId continuity (exchanges.md §5.5, §5.6)."""

from __future__ import annotations

from feedgate.protocol.book import BookImage, BookUpdate
from feedgate.protocol.booksync import (
    WS_SNAPSHOT_WITH_REST_FALLBACK,
    BookSync,
    SyncState,
)
from feedgate.protocol.sequencing import Order
from feedgate.venues.okx.sequencing import SNAPSHOT_PREV_SEQ_ID, SeqIdRule

BID = (("100", "1"),)


def upd(prev: int, seq: int, bids: tuple[tuple[str, str], ...] = BID) -> BookUpdate:
    return BookUpdate(prev, seq, bids, (), None, 0)


def image(seq: int) -> BookImage:
    return BookImage(seq, (("99", "5"),), (("101", "5"),), None, 0)


def test_in_order_keepalive_reset_and_gap() -> None:
    rule = SeqIdRule()
    assert rule.order(upd(10, 15), 10) is Order.IN_ORDER
    assert rule.order(upd(15, 15, ()), 15) is Order.STALE  # keepalive: nothing new
    assert rule.order(upd(15, 3), 15) is Order.IN_ORDER  # reset: seqId < prevSeqId == local
    assert rule.order(upd(16, 20), 15) is Order.GAP  # missed 15 -> 16
    assert rule.order(upd(12, 14), 15) is Order.GAP  # older ids outside a REST image: a gap
    assert rule.order(upd(2, 3), 15) is Order.GAP  # a reset whose prevSeqId is not ours


def test_the_documented_example_chain_never_gaps() -> None:
    """§5.5: snapshot (-1, 10) -> (10, 15) -> keepalive (15, 15) -> reset (15, 3) -> (3, 5)."""
    sync = BookSync(SeqIdRule(), WS_SNAPSHOT_WITH_REST_FALLBACK)
    sync.subscribe()
    snapshot = BookImage(10, (("100", "1"),), (("101", "1"),), None, 0)
    assert SNAPSHOT_PREV_SEQ_ID == -1  # the snapshot's prevSeqId is not an id: only seqId counts
    assert sync.on_ws_snapshot(snapshot).publish_snapshot
    published = []
    for prev, seq in ((10, 15), (15, 15), (15, 3), (3, 5)):
        outcome = sync.on_update(upd(prev, seq, () if prev == seq else (("100", str(seq)),)))
        assert outcome.reset_reason is None and not outcome.resubscribe
        published.append(outcome.delta is not None)
    assert published == [True, False, True, True]  # the keepalive publishes nothing
    assert sync.state is SyncState.SYNCED and sync.local_id == 5
    assert sync.book.bids.top() == (("100", "5"),)


def test_gap_resubscribes() -> None:
    sync = BookSync(SeqIdRule(), WS_SNAPSHOT_WITH_REST_FALLBACK)
    sync.subscribe()
    sync.on_ws_snapshot(image(10))
    outcome = sync.on_update(upd(11, 12))
    assert outcome.reset_reason == "gap" and outcome.resubscribe and outcome.delta is None
    assert sync.state is SyncState.WAIT_DELTA and len(sync.book.bids) == 0


def test_rest_fit_follows_the_new_procedure() -> None:
    """§5.6: drop seqId <= snapshot seqId; the first kept must have prevSeqId <= snapshot seqId."""
    rule = SeqIdRule()
    buffered = [upd(5, 8), upd(8, 12), upd(12, 20)]
    assert rule.fit(12, buffered) == 2  # (12, 20) continues exactly
    assert rule.fit(15, buffered) == 2  # snapshot seqId inside (12, 20]: it straddles
    assert rule.fit(4, buffered) is None  # older than the first update: refetch
    assert rule.fit(25, buffered) == 3  # newer than everything buffered
    assert rule.contiguous(upd(8, 12), upd(12, 20))
    assert rule.contiguous(upd(8, 12), upd(12, 3))  # a reset keeps prevSeqId == last seqId
    assert not rule.contiguous(upd(8, 12), upd(13, 20))


def test_after_a_rest_image_straddling_and_contained_updates() -> None:
    rule = SeqIdRule()
    rule.fit(15, [])
    assert rule.order(upd(12, 14), 15) is Order.STALE  # sent before the image, read after it
    assert rule.order(upd(14, 15), 15) is Order.STALE
    assert rule.order(upd(14, 18), 15) is Order.IN_ORDER  # straddles the image
    # once the stream is past the image, older ids are a gap again
    assert rule.order(upd(12, 14), 18) is Order.GAP


def test_rest_fallback_end_to_end_in_the_sync_machine() -> None:
    sync = BookSync(SeqIdRule(), WS_SNAPSHOT_WITH_REST_FALLBACK)
    sync.subscribe()
    first = sync.on_update(upd(5, 8))  # an update before any snapshot: fetch one
    assert first.request_snapshot and sync.state is SyncState.WAIT_SNAPSHOT
    sync.on_update(upd(8, 12, (("100", "2"),)))
    sync.on_update(upd(12, 20, (("100", "3"),)))
    outcome = sync.on_snapshot(BookImage(15, (("100", "9"),), (("101", "1"),), None, 0))
    assert outcome.publish_snapshot and sync.state is SyncState.SYNCED
    assert sync.local_id == 20 and sync.book.bids.top() == (("100", "3"),)
    late = sync.on_update(upd(20, 22, (("100", "4"),)))
    assert late.delta is not None and sync.local_id == 22


def test_a_rest_image_older_than_the_buffer_is_refetched() -> None:
    sync = BookSync(SeqIdRule(), WS_SNAPSHOT_WITH_REST_FALLBACK)
    sync.subscribe()
    sync.on_update(upd(30, 31))
    outcome = sync.on_snapshot(image(20))
    assert outcome.request_snapshot and sync.state is SyncState.WAIT_SNAPSHOT
