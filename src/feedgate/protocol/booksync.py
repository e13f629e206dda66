"""The book sync state machine: when is a local book right, and what to do when it is not.

Theory of operation
-------------------
A venue book is a starting image (a snapshot) plus a stream of updates with absolute sizes per
price level. The local book is right only while every update since the image has been applied
in order. ``BookSync`` tracks that per symbol as a small state machine written down as a table.
Venues get their image in one of three ways, each with its own table:

``REST_SNAPSHOT`` (Binance §1.7): updates are buffered; a REST snapshot is requested once the
first update is buffered, so it can be checked against the stream; ``SequenceRule.fit`` says
from which buffered update the stream continues it, and the buffered rest is applied before the
book is published::

    IDLE ─subscribe─> WAIT_DELTA ─first delta─> WAIT_SNAPSHOT ─snapshot fits─> SYNCED
                                                  ^  │ too old / failed: refetch    │
                                                  │  └──────────┘                   │
                                                  └───────── gap: book_reset ───────┘

``WS_SNAPSHOT`` (Coinbase, Kraken, Bybit): the venue sends the image on the socket after the
subscription; updates before it are dropped. A gap or checksum mismatch resubscribes (the venue
then sends a fresh image); a new image while synced is a venue reset::

    IDLE ─subscribe─> WAIT_DELTA ─ws snapshot─> SYNCED ─gap / checksum: book_reset, resubscribe─┐
                          ^                                                                    │
                          └────────────────────────────────────────────────────────────────────┘

``WS_SNAPSHOT_WITH_REST_FALLBACK`` (OKX): as ``WS_SNAPSHOT``, but an update arriving before any
image means the venue stopped sending initial snapshots: buffer and fetch one over REST.

In every table: while not SYNCED nothing is published for the book; leaving SYNCED because of a
gap, checksum mismatch, venue reset or disconnect tells subscribers first (``book_reset``), and
only a fresh snapshot follows. ``BookSync`` decides; ``BookKeeper`` turns its ``Outcome`` into
actions the same way for every venue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from feedgate.protocol.book import BookImage, BookUpdate, L2Book, truncate
from feedgate.protocol.sequencing import Order, SequenceRule


class SyncState(StrEnum):
    IDLE = "idle"
    WAIT_DELTA = "wait_delta"  # subscribed, nothing usable yet (WS venues: waiting for the image)
    WAIT_SNAPSHOT = "wait_snapshot"  # buffering updates while a REST snapshot is fetched
    SYNCED = "synced"


class SyncInput(StrEnum):
    SUBSCRIBE = "subscribe"
    DELTA = "delta"  # an update while not synced
    WS_SNAPSHOT = "ws_snapshot"  # the venue sent a whole image on the socket
    SNAPSHOT_FITS = "snapshot_fits"
    SNAPSHOT_TOO_OLD = "snapshot_too_old"
    SNAPSHOT_FAILED = "snapshot_failed"
    DELTA_IN_ORDER = "delta_in_order"
    DELTA_STALE = "delta_stale"
    DELTA_GAP = "delta_gap"  # from the sequence rule, or a connection-wide gap (Coinbase)
    CHECKSUM_MISMATCH = "checksum_mismatch"
    DISCONNECT = "disconnect"


class Effect(StrEnum):
    BUFFER = "buffer"
    REQUEST_SNAPSHOT = "request_snapshot"
    LOAD_SNAPSHOT = "load_snapshot"  # load the REST image, apply the buffered rest, publish it
    LOAD_WS_SNAPSHOT = "load_ws_snapshot"  # load the image, drop any buffer, publish it
    APPLY = "apply"  # apply the update and publish it as a delta
    INVALIDATE = "invalidate"  # clear the book, tell subscribers (book_reset), count a resync
    CLEAR = "clear"  # forget book and buffer without telling anyone (nothing was published)
    RESUBSCRIBE = "resubscribe"  # ask the venue for this book again (it sends a fresh image)


S, I, E = SyncState, SyncInput, Effect  # noqa: E741 - short names keep the tables readable
Table = dict[tuple[SyncState, SyncInput], tuple[SyncState, tuple[Effect, ...]]]

_APPLY_ROW: Final = (S.SYNCED, I.DELTA_IN_ORDER)
_APPLY_IN_SYNC: Final = (S.SYNCED, (E.APPLY,))
"""Every table's row for an in-order update while synced (``BookSync.on_update`` checks by
identity that the table holds this very row before it applies the update inline)."""
_SYNCED, _IN_ORDER = SyncState.SYNCED, Order.IN_ORDER

_COMMON: Final[Table] = {
    (S.IDLE, I.SUBSCRIBE): (S.WAIT_DELTA, ()),
    _APPLY_ROW: _APPLY_IN_SYNC,
    (S.SYNCED, I.DELTA_STALE): (S.SYNCED, ()),
    (S.IDLE, I.DISCONNECT): (S.IDLE, ()),
    (S.WAIT_DELTA, I.DISCONNECT): (S.IDLE, (E.CLEAR,)),
    (S.WAIT_SNAPSHOT, I.DISCONNECT): (S.IDLE, (E.CLEAR,)),
    (S.SYNCED, I.DISCONNECT): (S.IDLE, (E.INVALIDATE,)),
}

_REST_ROWS: Final[Table] = {
    (S.WAIT_SNAPSHOT, I.DELTA): (S.WAIT_SNAPSHOT, (E.BUFFER,)),
    (S.WAIT_SNAPSHOT, I.SNAPSHOT_FITS): (S.SYNCED, (E.LOAD_SNAPSHOT,)),
    (S.WAIT_SNAPSHOT, I.SNAPSHOT_TOO_OLD): (S.WAIT_SNAPSHOT, (E.REQUEST_SNAPSHOT,)),
    (S.WAIT_SNAPSHOT, I.SNAPSHOT_FAILED): (S.WAIT_SNAPSHOT, (E.REQUEST_SNAPSHOT,)),
}

REST_SNAPSHOT: Final[Table] = {
    **_COMMON,
    **_REST_ROWS,
    (S.WAIT_DELTA, I.DELTA): (S.WAIT_SNAPSHOT, (E.BUFFER, E.REQUEST_SNAPSHOT)),
    (S.SYNCED, I.DELTA_GAP): (S.WAIT_SNAPSHOT, (E.INVALIDATE, E.BUFFER, E.REQUEST_SNAPSHOT)),
}
"""(state, input) → (next state, effects in order). A pair not listed is ignored (and counted)."""

WS_SNAPSHOT: Final[Table] = {
    **_COMMON,
    (S.WAIT_DELTA, I.DELTA): (S.WAIT_DELTA, ()),  # updates before the image cannot be used
    (S.WAIT_DELTA, I.WS_SNAPSHOT): (S.SYNCED, (E.LOAD_WS_SNAPSHOT,)),
    (S.SYNCED, I.WS_SNAPSHOT): (S.SYNCED, (E.INVALIDATE, E.LOAD_WS_SNAPSHOT)),  # venue reset
    (S.SYNCED, I.DELTA_GAP): (S.WAIT_DELTA, (E.INVALIDATE, E.RESUBSCRIBE)),
    (S.SYNCED, I.CHECKSUM_MISMATCH): (S.WAIT_DELTA, (E.INVALIDATE, E.RESUBSCRIBE)),
}

WS_SNAPSHOT_WITH_REST_FALLBACK: Final[Table] = {
    **WS_SNAPSHOT,
    **_REST_ROWS,
    (S.WAIT_DELTA, I.DELTA): (S.WAIT_SNAPSHOT, (E.BUFFER, E.REQUEST_SNAPSHOT)),
    (S.WAIT_SNAPSHOT, I.WS_SNAPSHOT): (S.SYNCED, (E.LOAD_WS_SNAPSHOT,)),  # the image won
}

TRANSITIONS: Final[Table] = REST_SNAPSHOT
"""The Binance table, kept under its first name."""


@dataclass(slots=True)
class Outcome:
    """What one step asks the venue protocol to do, in this order."""

    reset_reason: str | None = None  # publish book_reset and count a resync
    request_snapshot: bool = False
    resubscribe: bool = False
    publish_snapshot: bool = False  # the book was just (re)built: publish it whole
    delta: BookUpdate | None = None  # publish this update as a book_delta


@dataclass(slots=True)
class BookSync:
    """One symbol's book and its sync state (see the module docstring).

    ``depth`` truncates the book to that many levels a side after every change (Kraken).
    """

    rule: SequenceRule
    table: Table = field(default_factory=lambda: REST_SNAPSHOT)
    depth: int | None = None
    state: SyncState = SyncState.IDLE
    book: L2Book = field(default_factory=L2Book)
    local_id: int = 0
    buffer: list[BookUpdate] = field(default_factory=list)
    ignored_inputs: int = 0
    last_ts: int | None = None
    dirty: bool = False  # changed since the last checkpoint

    def subscribe(self) -> Outcome:
        return self._step(SyncInput.SUBSCRIBE, None, None, "")

    def disconnect(self) -> Outcome:
        return self._step(SyncInput.DISCONNECT, None, None, "reconnect")

    def on_update(self, update: BookUpdate) -> Outcome:
        if self.state is not _SYNCED:
            return self._step(SyncInput.DELTA, update, None, "")
        order = self.rule.order(update, self.local_id)
        if order is _IN_ORDER:
            if self.table.get(_APPLY_ROW) is _APPLY_IN_SYNC:
                # the common case, as every table writes it: the effect APPLY, inline
                book = self.book
                book.bids.set_many(update.bids)
                book.asks.set_many(update.asks)
                if self.depth is not None:
                    truncate(book, self.depth)
                self.local_id = update.last_id
                self.last_ts = update.ts
                self.dirty = True
                return Outcome(None, False, False, False, update)
            return self._step(SyncInput.DELTA_IN_ORDER, update, None, "")
        if order is Order.STALE:
            return self._step(SyncInput.DELTA_STALE, update, None, "")
        return self._step(SyncInput.DELTA_GAP, update, None, "gap")

    def on_snapshot(self, image: BookImage) -> Outcome:
        """A REST snapshot answered a ``request_snapshot``."""
        if self.state is not SyncState.WAIT_SNAPSHOT:
            return self._step(SyncInput.SNAPSHOT_FITS, None, image, "")  # ignored unless waiting
        start = self.rule.fit(image.last_id, self.buffer)
        if start is None:
            return self._step(SyncInput.SNAPSHOT_TOO_OLD, None, image, "")
        del self.buffer[:start]
        return self._step(SyncInput.SNAPSHOT_FITS, None, image, "")

    def on_ws_snapshot(self, image: BookImage) -> Outcome:
        """The venue sent a whole image on the socket (after subscribing, or as a reset)."""
        return self._step(SyncInput.WS_SNAPSHOT, None, image, "reset")

    def on_snapshot_failed(self) -> Outcome:
        return self._step(SyncInput.SNAPSHOT_FAILED, None, None, "")

    def on_gap(self, reason: str = "gap") -> Outcome:
        """A gap seen outside this book's own ids (a connection-wide sequence, Coinbase §2.7)."""
        return self._step(SyncInput.DELTA_GAP, None, None, reason)

    def on_checksum_mismatch(self) -> Outcome:
        """The venue protocol computed the book's checksum after a change and it differs."""
        return self._step(SyncInput.CHECKSUM_MISMATCH, None, None, "checksum")

    def _step(
        self, given: SyncInput, update: BookUpdate | None, image: BookImage | None, reason: str
    ) -> Outcome:
        outcome = Outcome()
        transition = self.table.get((self.state, given))
        if transition is None:
            self.ignored_inputs += 1
            return outcome
        was_synced = self.state is SyncState.SYNCED
        self.state, effects = transition
        for effect in effects:
            if effect is Effect.APPLY:
                assert update is not None
                self.book.apply(update.bids, update.asks)
                truncate(self.book, self.depth)
                self.local_id = update.last_id
                self.last_ts = update.ts
                self.dirty = True
                outcome.delta = update
            elif effect is Effect.BUFFER:
                if update is None:  # a gap known without an update (connection-wide)
                    continue
                if self.buffer and not self.rule.contiguous(self.buffer[-1], update):
                    self.buffer.clear()
                self.buffer.append(update)
            elif effect is Effect.REQUEST_SNAPSHOT:
                outcome.request_snapshot = True
            elif effect is Effect.RESUBSCRIBE:
                outcome.resubscribe = True
            elif effect is Effect.LOAD_SNAPSHOT:
                assert image is not None
                self._load(image)
                outcome.publish_snapshot = True
            elif effect is Effect.LOAD_WS_SNAPSHOT:
                assert image is not None
                self.buffer.clear()
                self._load(image)
                outcome.publish_snapshot = True
            elif effect is Effect.INVALIDATE:
                self._forget()
                if was_synced:
                    outcome.reset_reason = reason
            elif effect is Effect.CLEAR:
                self._forget()
        return outcome

    def _load(self, image: BookImage) -> None:
        self.book.load(image.bids, image.asks)
        self.local_id = image.last_id
        self.last_ts = image.ts
        for update in self.buffer:
            # §1.7 step 7: the update procedure applies to the buffered rest too; the buffer is
            # contiguous, so an update here is in order or stale (a re-sent older one), never a gap.
            if self.rule.order(update, self.local_id) is not Order.IN_ORDER:
                continue
            self.book.apply(update.bids, update.asks)
            self.local_id = update.last_id
            self.last_ts = update.ts
        truncate(self.book, self.depth)
        self.buffer.clear()
        self.dirty = False

    def _forget(self) -> None:
        self.book.clear()
        self.buffer.clear()
        self.local_id = 0
        self.dirty = False
