"""One connection's books, and the one way every venue turns book outcomes into actions.

A venue protocol parses frames into ``BookUpdate``/``BookImage`` and feeds them to the symbol's
``BookSync``; it hands the resulting ``Outcome`` to ``BookKeeper.carry_out``, which produces, in
this order: the resync count and ``book_reset`` status (plus an empty bbo, so bbo-only
subscribers learn it too), the REST snapshot request or resubscribe frames the venue builds,
the published snapshot with its ``book_synced`` status, the published delta, and the bbo when
the best levels changed. ``tick`` refreshes the ``book:*`` key of changed books (checkpoints).

Checksum venues verify the book between the ``BookSync`` step and ``carry_out``: when the
check fails they replace the outcome by ``sync.on_checksum_mismatch()``, so the delta that made
the book wrong is never published.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from feedgate.events import Bbo, BookDelta, BookSnapshot, Level, Status, StatusEvent
from feedgate.protocol.base import Action, Emit, Resync
from feedgate.protocol.booksync import BookSync, Outcome, SyncState


@dataclass(slots=True)
class TrackedBook:
    symbol: str
    venue_symbol: str
    sync: BookSync
    publish_book: bool = False
    publish_bbo: bool = False
    bbo: tuple[Level | None, Level | None] = (None, None)
    last_checkpoint_us: int = 0
    images_asked: int = 0
    """Images asked for again since the last one loaded (``BookKeeper.unreadable``)."""


SnapshotRequest = Callable[[TrackedBook], Action]
Resubscribe = Callable[[TrackedBook], list[Action]]
MAX_IMAGES_ASKED = 5
"""Images asked for again in a row, without one that could be read, before giving up until the
next reconnect: a venue whose images never parse (a format change) is not asked in a loop."""


class BookKeeper:
    def __init__(
        self,
        exchange: str,
        connection: str,
        *,
        checkpoint_interval_s: float = 1.0,
        depth: int | None = None,
        request_snapshot: SnapshotRequest | None = None,
        resubscribe: Resubscribe | None = None,
    ) -> None:
        """``depth``: the published ``depth`` field (levels kept; None = the venue's full book).
        ``request_snapshot`` builds the FetchSnapshot for REST venues; ``resubscribe`` the frames
        that make a WS venue send a fresh image of one book."""
        self.exchange = exchange
        self.connection = connection
        self.checkpoint_us = int(checkpoint_interval_s * 1_000_000)
        self.depth = depth
        self._request_snapshot = request_snapshot
        self._resubscribe = resubscribe
        self._books: dict[str, TrackedBook] = {}

    def track(self, symbol: str, venue_symbol: str, sync: BookSync, channel: str) -> TrackedBook:
        """Register (or extend) a book; ``channel`` is ``book`` or ``bbo``."""
        book = self._books.get(venue_symbol)
        if book is None:
            book = self._books[venue_symbol] = TrackedBook(symbol, venue_symbol, sync)
        if channel == "book":
            book.publish_book = True
        elif channel == "bbo":
            book.publish_bbo = True
        else:
            raise ValueError(f"a book carries 'book' or 'bbo', not {channel!r}")
        return book

    def get(self, venue_symbol: str) -> TrackedBook | None:
        return self._books.get(venue_symbol)

    def drop(self, venue_symbol: str) -> None:
        self._books.pop(venue_symbol, None)

    def __getitem__(self, venue_symbol: str) -> TrackedBook:
        return self._books[venue_symbol]

    def __iter__(self) -> Iterator[TrackedBook]:
        return iter(self._books.values())

    def __len__(self) -> int:
        return len(self._books)

    def subscribe_all(self) -> None:
        for book in self._books.values():
            book.sync.subscribe()

    def close_all(self, now: int) -> list[Action]:
        """The connection closed: every synced book is invalid now."""
        out: list[Action] = []
        for book in self._books.values():
            self.carry_out(book, book.sync.disconnect(), now, out)
        return out

    def snapshot_failed(self, venue_symbol: str, now: int) -> list[Action]:
        """A REST snapshot request gave up (after the runtime's retries): ask again."""
        book = self._books.get(venue_symbol)
        if book is None:
            return []
        out: list[Action] = []
        self.carry_out(book, book.sync.on_snapshot_failed(), now, out)
        return out

    def unsynced(self) -> int:
        return sum(1 for book in self._books.values() if book.sync.state is not SyncState.SYNCED)

    def handover(self, now: int) -> list[Action]:
        """Make-before-break: this connection's books replace the old connection's for
        subscribers. A synced book goes out whole: a ``book_snapshot`` on the same channel
        (its ``seq`` continues, so subscribers load it in place of their book; no reset) and
        its bbo. Nothing this connection emitted before was published, so the bbo is compared
        with nothing (the runtime drops one equal to the old connection's last). A book not
        synced yet cannot continue the old connection's image: it is reset, and publishes its
        snapshot with ``book_synced`` when it syncs."""
        out: list[Action] = []
        for book in self._books.values():
            sync = book.sync
            if sync.state is SyncState.SYNCED:
                if book.publish_book:
                    out.append(Emit(self.snapshot(book, now, checkpoint=False)))
                book.last_checkpoint_us = now
                sync.dirty = False
                book.bbo = (None, None)
                self._bbo(book, sync.last_ts, now, out)
                continue
            out.append(Resync(book.symbol, "reconnect"))
            out.append(Emit(Status(
                self.exchange, StatusEvent.BOOK_RESET, self.connection, "reconnect", now,
                book.symbol, book.venue_symbol,
            )))  # fmt: skip
            if book.publish_bbo:
                out.append(Emit(Bbo(
                    self.exchange, book.symbol, book.venue_symbol, None, now,
                    None, None, None, None,
                )))  # fmt: skip
            book.bbo = (None, None)
        return out

    def unreadable(self, book: TrackedBook) -> list[Action]:
        """A frame of ``book`` could not be read (already counted as a parse error). A synced
        book sees the loss in its next update (ids, checksum); one still waiting for the image a
        WebSocket venue sends once per subscription may have lost that very image, and would
        otherwise drop every update while the connection's other books keep its channel alive:
        ask for the image again (``resubscribe``), up to ``MAX_IMAGES_ASKED`` times in a row."""
        if self._resubscribe is None or book.sync.state is not SyncState.WAIT_DELTA:
            return []
        if book.images_asked >= MAX_IMAGES_ASKED:
            return []
        book.images_asked += 1
        return self._resubscribe(book)

    def tick(self, now: int) -> list[Action]:
        """Refresh the ``book:*`` key of changed books, at most once per interval each."""
        out: list[Action] = []
        for book in self._books.values():
            sync = book.sync
            due = now - book.last_checkpoint_us >= self.checkpoint_us
            if book.publish_book and sync.dirty and sync.state is SyncState.SYNCED and due:
                out.append(Emit(self.snapshot(book, now, checkpoint=True)))
                book.last_checkpoint_us = now
                sync.dirty = False
        return out

    def carry_out(self, book: TrackedBook, outcome: Outcome, now: int, out: list[Action]) -> None:
        if outcome.reset_reason is not None:
            out.append(Resync(book.symbol, outcome.reset_reason))
            out.append(Emit(Status(
                self.exchange, StatusEvent.BOOK_RESET, self.connection, outcome.reset_reason,
                now, book.symbol, book.venue_symbol,
            )))  # fmt: skip
            if book.publish_bbo and book.bbo != (None, None):
                # there is no valid best price until the resync
                out.append(Emit(Bbo(
                    self.exchange, book.symbol, book.venue_symbol, None, now,
                    None, None, None, None,
                )))  # fmt: skip
            book.bbo = (None, None)
        if outcome.request_snapshot:
            if self._request_snapshot is None:
                raise RuntimeError(f"{self.exchange}: a REST snapshot was asked for but not wired")
            out.append(self._request_snapshot(book))
        if outcome.resubscribe:
            if self._resubscribe is None:
                raise RuntimeError(f"{self.exchange}: a resubscribe was asked for but not wired")
            out.extend(self._resubscribe(book))
        if outcome.publish_snapshot:
            book.images_asked = 0
            if book.publish_book:
                out.append(Emit(self.snapshot(book, now, checkpoint=False)))
            book.last_checkpoint_us = now
            out.append(Emit(Status(
                self.exchange, StatusEvent.BOOK_SYNCED, self.connection, "", now, book.symbol,
                book.venue_symbol,
            )))  # fmt: skip
            self._bbo(book, book.sync.last_ts, now, out)
        delta = outcome.delta
        if delta is not None:
            if book.publish_book:
                out.append(Emit(BookDelta(
                    self.exchange, book.symbol, book.venue_symbol, delta.ts, delta.recv_ts,
                    delta.bids, delta.asks,
                )))  # fmt: skip
            self._bbo(book, delta.ts, delta.recv_ts, out)

    def snapshot(self, book: TrackedBook, now: int, checkpoint: bool) -> BookSnapshot:
        levels = book.sync.book
        return BookSnapshot(
            self.exchange, book.symbol, book.venue_symbol, book.sync.last_ts, now,
            levels.bids.top(), levels.asks.top(), self.depth, checkpoint,
        )  # fmt: skip

    def _bbo(self, book: TrackedBook, ts: int | None, recv_ts: int, out: list[Action]) -> None:
        if not book.publish_bbo:
            return
        bid, ask = book.sync.book.bids.best(), book.sync.book.asks.best()
        if (bid, ask) == book.bbo:
            return
        book.bbo = (bid, ask)
        out.append(Emit(Bbo(
            self.exchange, book.symbol, book.venue_symbol, ts, recv_ts,
            bid[0] if bid else None, bid[1] if bid else None,
            ask[0] if ask else None, ask[1] if ask else None,
        )))  # fmt: skip
