"""The BookSync state machine (protocol/booksync.py), pure: the REST-snapshot table.

Id ranges follow Binance Spot (exchanges.md §1.5/§1.7): updates carry ``[U; u]``, snapshots
``lastUpdateId``; the sequencing rule is ``UpdateIdRange``. The WS-snapshot tables are in
``test_booksync_ws.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from feedgate.events import Level
from feedgate.protocol.book import BookImage, BookSide, BookUpdate
from feedgate.protocol.booksync import (
    TRANSITIONS,
    BookSync,
    Effect,
    Outcome,
    SyncInput,
    SyncState,
)
from feedgate.protocol.sequencing import UpdateIdRange

S, In = SyncState, SyncInput


def upd(
    first: int, last: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()
) -> BookUpdate:
    return BookUpdate(first, last, bids, asks, ts=last * 1000, recv_ts=last * 1000 + 7)


def img(last: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookImage:
    return BookImage(last, bids, asks, ts=None, recv_ts=0)


def prices(side: BookSide) -> list[str]:
    return [price for price, _ in side.top()]


# -- BookSync: driving the machine ---------------------------------------------------------------

SNAP_BIDS: tuple[Level, ...] = (("10", "2"), ("9", "1"))
SNAP_ASKS: tuple[Level, ...] = (("11", "1"), ("12", "3"))


def make_sync() -> BookSync:
    return BookSync(UpdateIdRange())


def drive_to(state: SyncState) -> BookSync:
    """A BookSync in ``state`` by the public API: subscribe, one delta, a fitting snapshot."""
    sync = make_sync()
    if state is S.IDLE:
        return sync
    sync.subscribe()
    if state is S.WAIT_DELTA:
        return sync
    sync.on_update(upd(101, 105, bids=(("10", "5"),)))
    if state is S.WAIT_SNAPSHOT:
        return sync
    sync.on_snapshot(img(103, SNAP_BIDS, SNAP_ASKS))
    assert state is S.SYNCED
    return sync


def test_drive_to_reaches_each_state() -> None:
    for state in SyncState:
        sync = drive_to(state)
        assert sync.state is state
        assert sync.ignored_inputs == 0
    synced = drive_to(S.SYNCED)
    assert synced.local_id == 105
    assert synced.book.bids.top() == (("10", "5"), ("9", "1"))


# How to produce each input from the public API, given the machine is in a state where that call
# maps to the input (on_update maps to DELTA unless SYNCED; on_snapshot to SNAPSHOT_FITS unless
# WAIT_SNAPSHOT).
def _feed(sync: BookSync, given: SyncInput) -> Outcome:
    local = sync.local_id
    calls: dict[SyncInput, Callable[[], Outcome]] = {
        In.SUBSCRIBE: sync.subscribe,
        In.DISCONNECT: sync.disconnect,
        In.DELTA: lambda: sync.on_update(upd(106, 108, asks=(("11", "0"),))),
        In.SNAPSHOT_FITS: lambda: sync.on_snapshot(img(104, (("10", "7"),), (("13", "1"),))),
        In.SNAPSHOT_TOO_OLD: lambda: sync.on_snapshot(img(50, (("1", "1"),), ())),
        In.SNAPSHOT_FAILED: sync.on_snapshot_failed,
        In.DELTA_IN_ORDER: lambda: sync.on_update(upd(local + 1, local + 2, bids=(("9", "0"),))),
        In.DELTA_STALE: lambda: sync.on_update(upd(local - 3, local, bids=(("9", "0"),))),
        In.DELTA_GAP: lambda: sync.on_update(upd(local + 5, local + 6, bids=(("9", "0"),))),
    }
    return calls[given]()


def _reachable(state: SyncState) -> list[SyncInput]:
    inputs = [In.SUBSCRIBE, In.DISCONNECT, In.SNAPSHOT_FAILED]
    if state is S.SYNCED:
        inputs += [In.DELTA_IN_ORDER, In.DELTA_STALE, In.DELTA_GAP, In.SNAPSHOT_FITS]
    elif state is S.WAIT_SNAPSHOT:
        inputs += [In.DELTA, In.SNAPSHOT_FITS, In.SNAPSHOT_TOO_OLD]
    else:
        inputs += [In.DELTA, In.SNAPSHOT_FITS]
    return inputs


REACHABLE = [(state, given) for state in SyncState for given in _reachable(state)]


def test_every_row_of_the_table_is_reachable_from_the_public_api() -> None:
    assert set(TRANSITIONS) <= set(REACHABLE)


@pytest.mark.parametrize(
    ("state", "given"), sorted(TRANSITIONS), ids=[f"{s}-{i}" for s, i in sorted(TRANSITIONS)]
)
def test_each_transition_row(state: SyncState, given: SyncInput) -> None:
    next_state, effects = TRANSITIONS[(state, given)]
    sync = drive_to(state)
    book_before = (sync.book.bids.top(), sync.book.asks.top())
    local_before = sync.local_id

    outcome = _feed(sync, given)

    assert sync.ignored_inputs == 0, "a listed pair must not count as ignored"
    assert sync.state is next_state
    assert outcome.request_snapshot == (Effect.REQUEST_SNAPSHOT in effects)
    assert outcome.publish_snapshot == (Effect.LOAD_SNAPSHOT in effects)
    assert (outcome.delta is not None) == (Effect.APPLY in effects)
    invalidated_synced = Effect.INVALIDATE in effects and state is S.SYNCED
    assert (outcome.reset_reason is not None) == invalidated_synced
    if Effect.BUFFER in effects:
        assert sync.buffer, "the update must be buffered"
    if Effect.INVALIDATE in effects or Effect.CLEAR in effects:
        assert sync.book.bids.top() == () and sync.book.asks.top() == ()
        assert sync.local_id == 0
        if Effect.BUFFER not in effects:
            assert sync.buffer == []
    if Effect.LOAD_SNAPSHOT in effects:
        assert sync.buffer == []
        assert sync.local_id == 105  # snapshot 104 plus the buffered 101-105
        assert sync.book.bids.top() == (("10", "5"),)
    if Effect.APPLY in effects:
        assert sync.local_id == local_before + 2
        assert (sync.book.bids.top(), sync.book.asks.top()) != book_before
    if not effects:
        assert (sync.book.bids.top(), sync.book.asks.top()) == book_before
        assert sync.local_id == local_before


UNLISTED = [pair for pair in REACHABLE if pair not in TRANSITIONS]


def test_there_are_unlisted_pairs_to_check() -> None:
    assert (S.SYNCED, In.SNAPSHOT_FITS) in UNLISTED  # a late duplicate snapshot
    assert (S.IDLE, In.DELTA) in UNLISTED  # an update before subscribing


@pytest.mark.parametrize(("state", "given"), UNLISTED, ids=[f"{s}-{i}" for s, i in UNLISTED])
def test_an_unlisted_pair_is_ignored_and_counted(state: SyncState, given: SyncInput) -> None:
    sync = drive_to(state)
    before = (
        sync.book.bids.top(),
        sync.book.asks.top(),
        list(sync.buffer),
        sync.local_id,
        sync.last_ts,
    )
    outcome = _feed(sync, given)
    assert outcome == Outcome()
    assert sync.state is state
    assert sync.ignored_inputs == 1
    after = (
        sync.book.bids.top(),
        sync.book.asks.top(),
        list(sync.buffer),
        sync.local_id,
        sync.last_ts,
    )
    assert after == before


# -- buffering and snapshot fit ------------------------------------------------------------------


def buffering() -> BookSync:
    sync = make_sync()
    sync.subscribe()
    return sync


def test_first_update_requests_the_snapshot_once() -> None:
    sync = buffering()
    first = sync.on_update(upd(101, 105))
    second = sync.on_update(upd(106, 110))
    assert first.request_snapshot and not second.request_snapshot
    assert first.delta is None and second.delta is None
    assert [u.first_id for u in sync.buffer] == [101, 106]


def test_a_hole_in_the_buffer_drops_what_is_before_it() -> None:
    sync = buffering()
    sync.on_update(upd(101, 105))
    sync.on_update(upd(106, 108))
    sync.on_update(upd(104, 109))  # overlapping is still contiguous
    assert [(u.first_id, u.last_id) for u in sync.buffer] == [(101, 105), (106, 108), (104, 109)]
    sync.on_update(upd(120, 121))  # 110..119 missing
    assert [(u.first_id, u.last_id) for u in sync.buffer] == [(120, 121)]
    sync.on_update(upd(122, 125))
    assert [(u.first_id, u.last_id) for u in sync.buffer] == [(120, 121), (122, 125)]
    # a snapshot older than the hole no longer fits; one after it does
    assert sync.on_snapshot(img(108)).request_snapshot
    assert sync.state is S.WAIT_SNAPSHOT
    assert sync.on_snapshot(img(119)).publish_snapshot
    assert sync.local_id == 125


def test_boundary_first_update_starting_right_after_the_snapshot_fits() -> None:
    sync = buffering()
    sync.on_update(upd(104, 106, bids=(("10", "9"),)))
    outcome = sync.on_snapshot(img(103, SNAP_BIDS, SNAP_ASKS))  # U == L + 1
    assert outcome.publish_snapshot and not outcome.request_snapshot
    assert sync.state is S.SYNCED
    assert sync.local_id == 106
    assert sync.book.bids.top() == (("10", "9"), ("9", "1"))


def test_snapshot_before_the_stream_is_too_old_and_refetched() -> None:
    sync = buffering()
    sync.on_update(upd(105, 106, bids=(("10", "9"),)))
    outcome = sync.on_snapshot(img(103, SNAP_BIDS, SNAP_ASKS))  # U > L + 1
    assert outcome.request_snapshot and not outcome.publish_snapshot
    assert outcome.reset_reason is None
    assert sync.state is S.WAIT_SNAPSHOT
    assert sync.book.bids.top() == () and sync.local_id == 0
    assert [u.first_id for u in sync.buffer] == [105], "the buffer is kept for the next snapshot"
    sync.on_update(upd(107, 107))
    assert sync.on_snapshot(img(106, SNAP_BIDS, SNAP_ASKS)).publish_snapshot
    assert sync.local_id == 107
    assert sync.book.bids.top() == SNAP_BIDS  # 105-106 is inside the snapshot: not re-applied


def test_snapshot_newer_than_everything_buffered_fits_with_an_empty_remainder() -> None:
    sync = buffering()
    sync.on_update(upd(101, 103, bids=(("10", "0"),)))
    sync.on_update(upd(104, 105, asks=(("11", "0"),)))
    outcome = sync.on_snapshot(img(110, SNAP_BIDS, SNAP_ASKS))
    assert outcome.publish_snapshot
    assert sync.state is S.SYNCED and sync.local_id == 110
    assert (sync.book.bids.top(), sync.book.asks.top()) == (SNAP_BIDS, SNAP_ASKS)
    assert sync.buffer == []
    assert sync.on_update(upd(108, 110)).delta is None  # stale
    assert sync.on_update(upd(111, 112, bids=(("9", "4"),))).delta is not None
    assert sync.book.bids.top() == (("10", "2"), ("9", "4"))


def test_buffered_rest_is_applied_before_the_snapshot_is_published() -> None:
    sync = buffering()
    sync.on_update(upd(99, 100, bids=(("10", "100"),)))  # inside the snapshot: dropped
    sync.on_update(upd(101, 103, bids=(("10", "0"),)))  # straddles L = 102
    sync.on_update(upd(104, 106, asks=(("11.5", "4"),), bids=(("9.5", "1"),)))
    outcome = sync.on_snapshot(img(102, SNAP_BIDS, SNAP_ASKS))
    assert outcome.publish_snapshot and outcome.delta is None
    assert sync.book.bids.top() == (("9.5", "1"), ("9", "1"))
    assert sync.book.asks.top() == (("11", "1"), ("11.5", "4"), ("12", "3"))
    assert sync.local_id == 106
    assert sync.last_ts == 106 * 1000, "the published snapshot is as of the last applied update"
    assert sync.buffer == []
    assert not sync.dirty


def test_stale_update_in_the_buffer_is_not_applied_over_newer_data() -> None:
    """§1.7 step 7: the update procedure (``u <= local`` → ignore) applies to the buffered
    remainder as well; a re-sent older update must neither roll back levels nor local id."""
    sync = buffering()
    sync.on_update(upd(101, 105, bids=(("10", "7"),)))
    sync.on_update(upd(103, 104, bids=(("10", "3"),)))  # older than what precedes it
    sync.on_snapshot(img(100, SNAP_BIDS, SNAP_ASKS))
    assert sync.state is S.SYNCED
    assert sync.local_id == 105
    assert sync.book.bids.best() == ("10", "7")
    outcome = sync.on_update(upd(106, 107))
    assert outcome.reset_reason is None and outcome.delta is not None


def test_snapshot_failure_requests_again_and_keeps_the_buffer() -> None:
    sync = buffering()
    sync.on_update(upd(101, 105))
    outcome = sync.on_snapshot_failed()
    assert outcome.request_snapshot
    assert sync.state is S.WAIT_SNAPSHOT
    assert len(sync.buffer) == 1


# -- live updates --------------------------------------------------------------------------------


def test_in_order_updates_are_applied_and_published() -> None:
    sync = drive_to(S.SYNCED)
    update = upd(106, 109, bids=(("9", "0"), ("8", "2")), asks=(("11", "5"),))
    outcome = sync.on_update(update)
    assert outcome.delta is update
    assert outcome.reset_reason is None and not outcome.request_snapshot
    assert sync.book.bids.top() == (("10", "5"), ("8", "2"))
    assert sync.book.asks.top() == (("11", "5"), ("12", "3"))
    assert sync.local_id == 109 and sync.last_ts == 109 * 1000
    assert sync.dirty
    overlap = upd(108, 111, asks=(("12", "0"),))  # U <= local < u: still in order (§1.7)
    assert sync.on_update(overlap).delta is overlap
    assert sync.local_id == 111


def test_stale_updates_are_ignored() -> None:
    sync = drive_to(S.SYNCED)
    for stale in (upd(100, 104, bids=(("10", "0"),)), upd(105, 105, bids=(("10", "0"),))):
        outcome = sync.on_update(stale)
        assert outcome == Outcome()
    assert sync.book.bids.best() == ("10", "5")
    assert sync.local_id == 105
    assert sync.state is S.SYNCED


def test_gap_resets_with_reason_gap_then_requests_a_new_snapshot() -> None:
    sync = drive_to(S.SYNCED)
    gap = upd(107, 108, bids=(("10", "1"),))  # 106 missing
    outcome = sync.on_update(gap)
    assert outcome.reset_reason == "gap"
    assert outcome.request_snapshot
    assert outcome.delta is None and not outcome.publish_snapshot
    assert sync.state is S.WAIT_SNAPSHOT
    assert sync.book.bids.top() == () and sync.book.asks.top() == ()
    assert sync.buffer == [gap], "the update after the gap starts the new buffer"
    follow = sync.on_update(upd(109, 110, asks=(("11", "2"),)))
    assert follow.delta is None and follow.reset_reason is None and not follow.request_snapshot
    resynced = sync.on_snapshot(img(108, SNAP_BIDS, SNAP_ASKS))
    assert resynced.publish_snapshot and resynced.reset_reason is None
    assert sync.local_id == 110
    assert sync.book.asks.top() == (("11", "2"), ("12", "3"))


def test_disconnect_of_a_synced_book_resets_with_reason_reconnect() -> None:
    sync = drive_to(S.SYNCED)
    outcome = sync.disconnect()
    assert outcome.reset_reason == "reconnect"
    assert not outcome.request_snapshot
    assert sync.state is S.IDLE
    assert sync.book.bids.top() == () and sync.local_id == 0
    sync.subscribe()
    assert sync.state is S.WAIT_DELTA
    assert sync.on_update(upd(500, 501)).request_snapshot


@pytest.mark.parametrize("state", [S.IDLE, S.WAIT_DELTA, S.WAIT_SNAPSHOT])
def test_disconnect_of_an_unsynced_book_is_silent(state: SyncState) -> None:
    sync = drive_to(state)
    outcome = sync.disconnect()
    assert outcome == Outcome()
    assert sync.state is S.IDLE
    assert sync.buffer == []
    assert sync.ignored_inputs == 0
