"""The WS-snapshot tables of the BookSync machine (protocol/booksync.py), pure.

Shapes follow the WS-snapshot venues of exchanges.md (Kraken, Bybit: the image comes on the
socket; OKX: with a REST fallback). A plain id counter rule stands in for each venue's own.
"""

from __future__ import annotations

import pytest

from feedgate.events import Level
from feedgate.protocol.book import BookImage, BookUpdate
from feedgate.protocol.booksync import (
    WS_SNAPSHOT,
    WS_SNAPSHOT_WITH_REST_FALLBACK,
    BookSync,
    Outcome,
    SyncState,
)
from feedgate.protocol.sequencing import UpdateIdRange

S = SyncState
BIDS: tuple[Level, ...] = (("10", "2"), ("9", "1"))
ASKS: tuple[Level, ...] = (("11", "1"), ("12", "3"))


def upd(n: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookUpdate:
    return BookUpdate(n, n, bids, asks, ts=n, recv_ts=n)


def image(last: int, bids: tuple[Level, ...] = BIDS, asks: tuple[Level, ...] = ASKS) -> BookImage:
    return BookImage(last, bids, asks, ts=last, recv_ts=last)


def synced(table: dict = WS_SNAPSHOT, depth: int | None = None) -> BookSync:  # type: ignore[type-arg]
    sync = BookSync(UpdateIdRange(), table, depth)
    sync.subscribe()
    assert sync.on_ws_snapshot(image(5)) == Outcome(publish_snapshot=True)
    assert sync.state is S.SYNCED
    return sync


def test_updates_before_the_image_are_dropped_then_the_image_syncs() -> None:
    sync = BookSync(UpdateIdRange(), WS_SNAPSHOT)
    sync.subscribe()
    assert sync.on_update(upd(3, (("8", "1"),))) == Outcome()
    assert sync.state is S.WAIT_DELTA and sync.buffer == []
    assert sync.on_ws_snapshot(image(5)).publish_snapshot
    assert sync.book.bids.top() == BIDS and sync.local_id == 5


def test_in_order_updates_apply_and_truncate_to_depth() -> None:
    sync = synced(depth=2)
    outcome = sync.on_update(upd(6, (("9.5", "4"),)))
    assert outcome.delta is not None and sync.book.bids.top() == (("10", "2"), ("9.5", "4"))


@pytest.mark.parametrize("table", [WS_SNAPSHOT, WS_SNAPSHOT_WITH_REST_FALLBACK])
def test_gap_and_checksum_reset_then_resubscribe(table: dict) -> None:  # type: ignore[type-arg]
    sync = synced(table)
    assert sync.on_update(upd(9)) == Outcome(reset_reason="gap", resubscribe=True)
    assert sync.state is S.WAIT_DELTA and sync.book.bids.top() == ()
    sync.on_ws_snapshot(image(20))
    sync.on_update(upd(21, (("10", "7"),)))
    assert sync.on_checksum_mismatch() == Outcome(reset_reason="checksum", resubscribe=True)
    assert sync.state is S.WAIT_DELTA


def test_connection_wide_gap_resets_a_synced_book() -> None:
    sync = synced()
    assert sync.on_gap("sequence_gap") == Outcome(reset_reason="sequence_gap", resubscribe=True)
    unsynced = BookSync(UpdateIdRange(), WS_SNAPSHOT)
    unsynced.subscribe()
    assert unsynced.on_gap() == Outcome() and unsynced.ignored_inputs == 1


def test_a_new_image_while_synced_is_a_venue_reset() -> None:
    sync = synced()
    outcome = sync.on_ws_snapshot(image(1, bids=(("7", "1"),)))
    assert outcome == Outcome(reset_reason="reset", publish_snapshot=True)
    assert sync.book.bids.top() == (("7", "1"),) and sync.local_id == 1


def test_checksum_mismatch_while_unsynced_is_ignored() -> None:
    sync = BookSync(UpdateIdRange(), WS_SNAPSHOT)
    sync.subscribe()
    assert sync.on_checksum_mismatch() == Outcome() and sync.ignored_inputs == 1


def test_rest_fallback_when_no_image_comes() -> None:
    sync = BookSync(UpdateIdRange(), WS_SNAPSHOT_WITH_REST_FALLBACK)
    sync.subscribe()
    assert sync.on_update(upd(6, (("9.5", "4"),))) == Outcome(request_snapshot=True)
    sync.on_update(upd(7))
    assert sync.on_snapshot(image(6)).publish_snapshot
    assert sync.state is S.SYNCED and sync.local_id == 7


def test_a_late_image_wins_over_the_rest_fallback() -> None:
    sync = BookSync(UpdateIdRange(), WS_SNAPSHOT_WITH_REST_FALLBACK)
    sync.subscribe()
    sync.on_update(upd(6))
    assert sync.on_ws_snapshot(image(8)).publish_snapshot
    assert sync.state is S.SYNCED and sync.buffer == [] and sync.local_id == 8
    assert sync.on_snapshot(image(6)) == Outcome()  # the REST answer arrives too late: ignored
