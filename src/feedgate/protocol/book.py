"""L2 order books and the sync state machine that keeps them right.

Theory of operation
-------------------
A venue book is a starting image (a snapshot, from REST or the WebSocket) plus a stream of
updates that carry absolute sizes per price level. The local book is right only while every update
since the image has been applied in order. ``BookSync`` tracks that, per symbol, as a small state
machine written down as a table (``TRANSITIONS``):

    IDLE ──subscribe──> WAIT_DELTA ──first delta──> WAIT_SNAPSHOT ──snapshot fits──> SYNCED
                                                      ^    │ too old / failed: refetch   │
                                                      │    └─────────────┘               │
                                                      └──────── gap: book_reset ─────────┘

- While not SYNCED, updates are buffered (only a contiguous run is kept: a hole in the buffer
  makes everything before it useless) and nothing is published for the book.
- A REST snapshot is requested once the first update is buffered, so the procedure can check the
  snapshot against the stream (Binance §1.7). ``SequenceRule.fit`` says from which buffered
  update the stream continues it; the buffered rest is applied before the snapshot is published,
  so the published snapshot already includes it.
- In SYNCED, each update is in order (apply, publish the delta), stale (ignore) or after a gap. A
  gap, a checksum mismatch or a venue reset makes the book invalid: subscribers get a
  ``book_reset`` status first, the book resyncs by itself, and only a fresh snapshot follows.
- A disconnect invalidates every synced book on that connection; the next subscribe starts over.

``BookSync`` decides; the venue protocol turns its ``Outcome`` into actions (status events,
snapshot requests, published deltas). Nothing here knows about a particular venue.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from feedgate.events import Level
from feedgate.protocol.sequencing import Order, SequenceRule


def is_zero(size: str) -> bool:
    """True for every spelling of zero a venue uses ("0", "0.00000000")."""
    return float(size) == 0.0


class BookSide:
    """One side of a book: price → level, kept sorted best first.

    Keys are floats of the venue's decimal text (exact enough to order any price with at most 15
    significant digits); bids store negated keys so that ascending order is always best first.
    The original strings are kept for output, so nothing is ever re-rendered.
    """

    __slots__ = ("_keys", "_levels", "_sign")

    def __init__(self, descending: bool) -> None:
        self._sign = -1.0 if descending else 1.0
        self._levels: dict[float, Level] = {}
        self._keys: list[float] = []

    def set(self, price: str, size: str) -> None:
        key = self._sign * float(price)
        if float(size) == 0.0:
            if self._levels.pop(key, None) is not None:
                del self._keys[bisect_left(self._keys, key)]
            return
        if key not in self._levels:
            insort(self._keys, key)
        self._levels[key] = (price, size)

    def clear(self) -> None:
        self._levels.clear()
        self._keys.clear()

    def best(self) -> Level | None:
        return self._levels[self._keys[0]] if self._keys else None

    def top(self, n: int | None = None) -> tuple[Level, ...]:
        keys = self._keys if n is None else self._keys[:n]
        levels = self._levels
        return tuple(levels[k] for k in keys)

    def truncate(self, n: int) -> None:
        for key in self._keys[n:]:
            del self._levels[key]
        del self._keys[n:]

    def __len__(self) -> int:
        return len(self._keys)


class L2Book:
    """A price-level book: bids descending, asks ascending."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = BookSide(descending=True)
        self.asks = BookSide(descending=False)

    def load(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        self.clear()
        self.apply(bids, asks)

    def apply(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        for price, size in bids:
            self.bids.set(price, size)
        for price, size in asks:
            self.asks.set(price, size)

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def is_crossed(self) -> bool:
        bid, ask = self.bids.best(), self.asks.best()
        return bid is not None and ask is not None and float(bid[0]) >= float(ask[0])


@dataclass(slots=True)  # one per depth frame: not frozen, see feedgate.events on the cost
class BookUpdate:
    """A parsed venue update: the id range it covers and absolute sizes per level."""

    first_id: int
    last_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts: int | None
    recv_ts: int


@dataclass(frozen=True, slots=True)
class BookImage:
    """A parsed snapshot: the last update id it includes and its levels."""

    last_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    ts: int | None
    recv_ts: int


class SyncState(StrEnum):
    IDLE = "idle"
    WAIT_DELTA = "wait_delta"
    WAIT_SNAPSHOT = "wait_snapshot"
    SYNCED = "synced"


class SyncInput(StrEnum):
    SUBSCRIBE = "subscribe"
    DELTA = "delta"  # an update while not synced
    SNAPSHOT_FITS = "snapshot_fits"
    SNAPSHOT_TOO_OLD = "snapshot_too_old"
    SNAPSHOT_FAILED = "snapshot_failed"
    DELTA_IN_ORDER = "delta_in_order"
    DELTA_STALE = "delta_stale"
    DELTA_GAP = "delta_gap"
    DISCONNECT = "disconnect"


class Effect(StrEnum):
    BUFFER = "buffer"
    REQUEST_SNAPSHOT = "request_snapshot"
    LOAD_SNAPSHOT = "load_snapshot"  # load the image, apply the buffered rest, publish it
    APPLY = "apply"  # apply the update and publish it as a delta
    INVALIDATE = "invalidate"  # clear the book, tell subscribers (book_reset), count a resync
    CLEAR = "clear"  # forget book and buffer without telling anyone (nothing was published)


S, I, E = SyncState, SyncInput, Effect  # noqa: E741 - short names keep the table readable

TRANSITIONS: Final[dict[tuple[SyncState, SyncInput], tuple[SyncState, tuple[Effect, ...]]]] = {
    (S.IDLE, I.SUBSCRIBE): (S.WAIT_DELTA, ()),
    (S.WAIT_DELTA, I.DELTA): (S.WAIT_SNAPSHOT, (E.BUFFER, E.REQUEST_SNAPSHOT)),
    (S.WAIT_SNAPSHOT, I.DELTA): (S.WAIT_SNAPSHOT, (E.BUFFER,)),
    (S.WAIT_SNAPSHOT, I.SNAPSHOT_FITS): (S.SYNCED, (E.LOAD_SNAPSHOT,)),
    (S.WAIT_SNAPSHOT, I.SNAPSHOT_TOO_OLD): (S.WAIT_SNAPSHOT, (E.REQUEST_SNAPSHOT,)),
    (S.WAIT_SNAPSHOT, I.SNAPSHOT_FAILED): (S.WAIT_SNAPSHOT, (E.REQUEST_SNAPSHOT,)),
    (S.SYNCED, I.DELTA_IN_ORDER): (S.SYNCED, (E.APPLY,)),
    (S.SYNCED, I.DELTA_STALE): (S.SYNCED, ()),
    (S.SYNCED, I.DELTA_GAP): (S.WAIT_SNAPSHOT, (E.INVALIDATE, E.BUFFER, E.REQUEST_SNAPSHOT)),
    (S.IDLE, I.DISCONNECT): (S.IDLE, ()),
    (S.WAIT_DELTA, I.DISCONNECT): (S.IDLE, (E.CLEAR,)),
    (S.WAIT_SNAPSHOT, I.DISCONNECT): (S.IDLE, (E.CLEAR,)),
    (S.SYNCED, I.DISCONNECT): (S.IDLE, (E.INVALIDATE,)),
}
"""(state, input) → (next state, effects in order). A pair not listed is ignored (and counted)."""


@dataclass(slots=True)
class Outcome:
    """What one step asks the venue protocol to do, in this order."""

    reset_reason: str | None = None  # publish book_reset and count a resync
    request_snapshot: bool = False
    publish_snapshot: bool = False  # the book was just (re)built: publish it whole
    delta: BookUpdate | None = None  # publish this update as a book_delta


@dataclass(slots=True)
class BookSync:
    """One symbol's book and its sync state (see the module docstring)."""

    rule: SequenceRule
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
        if self.state is not SyncState.SYNCED:
            return self._step(SyncInput.DELTA, update, None, "")
        order = self.rule.order(update, self.local_id)
        if order is Order.IN_ORDER:
            return self._step(SyncInput.DELTA_IN_ORDER, update, None, "")
        if order is Order.STALE:
            return self._step(SyncInput.DELTA_STALE, update, None, "")
        return self._step(SyncInput.DELTA_GAP, update, None, "gap")

    def on_snapshot(self, image: BookImage) -> Outcome:
        if self.state is not SyncState.WAIT_SNAPSHOT:
            return self._step(SyncInput.SNAPSHOT_FITS, None, image, "")  # ignored unless waiting
        start = self.rule.fit(image.last_id, self.buffer)
        if start is None:
            return self._step(SyncInput.SNAPSHOT_TOO_OLD, None, image, "")
        del self.buffer[:start]
        return self._step(SyncInput.SNAPSHOT_FITS, None, image, "")

    def on_snapshot_failed(self) -> Outcome:
        return self._step(SyncInput.SNAPSHOT_FAILED, None, None, "")

    def _step(
        self, given: SyncInput, update: BookUpdate | None, image: BookImage | None, reason: str
    ) -> Outcome:
        outcome = Outcome()
        transition = TRANSITIONS.get((self.state, given))
        if transition is None:
            self.ignored_inputs += 1
            return outcome
        was_synced = self.state is SyncState.SYNCED
        self.state, effects = transition
        for effect in effects:
            if effect is Effect.APPLY:
                assert update is not None
                self.book.apply(update.bids, update.asks)
                self.local_id = update.last_id
                self.last_ts = update.ts
                self.dirty = True
                outcome.delta = update
            elif effect is Effect.BUFFER:
                assert update is not None
                if self.buffer and not self.rule.contiguous(self.buffer[-1], update):
                    self.buffer.clear()
                self.buffer.append(update)
            elif effect is Effect.REQUEST_SNAPSHOT:
                outcome.request_snapshot = True
            elif effect is Effect.LOAD_SNAPSHOT:
                assert image is not None
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
        self.buffer.clear()
        self.dirty = False

    def _forget(self) -> None:
        self.book.clear()
        self.buffer.clear()
        self.local_id = 0
        self.dirty = False
