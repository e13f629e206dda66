"""L2 order books: price levels kept sorted best first, with the venue's decimal text.

``BookUpdate`` and ``BookImage`` are the parsed venue update and snapshot that
``protocol/booksync.py`` (the sync state machine, with its theory of operation) feeds into an
``L2Book``. ``depth`` truncation and checksums are applied by the venue protocol on top.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass

from feedgate.events import Level


def is_zero(size: str) -> bool:
    """True for every spelling of zero a venue uses ("0", "0.00000000", "0E-8").

    Without parsing the common cases: nothing left after stripping zeros and dots is zero; a
    nonzero digit first, and no exponent, is not. Anything else is parsed."""
    rest = size.strip("0.")
    if not rest:
        return True
    if rest[0] in _NONZERO and "e" not in rest and "E" not in rest:
        return False
    return float(size) == 0.0


_NONZERO = frozenset("123456789")


class BookSide:
    """One side of a book: price → level, kept sorted best first.

    Keys are floats of the venue's decimal text (exact enough to order any price with at most 15
    significant digits); bids store negated keys so that ascending order is always best first.
    The original strings are kept for output, so nothing is ever re-rendered.

    Parsing a price costs more than a dict lookup, and the same few hundred prices come back in
    update after update: ``_key_of`` remembers them (bounded: forgotten past ``KEY_CACHE``).
    """

    __slots__ = ("_key_of", "_keys", "_levels", "_sign")

    KEY_CACHE = 8192

    def __init__(self, descending: bool) -> None:
        self._sign = -1.0 if descending else 1.0
        self._levels: dict[float, Level] = {}
        self._keys: list[float] = []
        self._key_of: dict[str, float] = {}

    def set(self, price: str, size: str) -> None:
        self.set_many(((price, size),))

    def set_many(self, levels: tuple[Level, ...]) -> None:
        """Apply absolute sizes in order (size zero deletes). One loop for a whole update,
        with the side's state in locals: this runs for every level of every depth frame."""
        sign, book, keys, key_of = self._sign, self._levels, self._keys, self._key_of
        for level in levels:
            price, size = level
            key = key_of.get(price)
            if key is None:
                if len(key_of) >= self.KEY_CACHE:
                    key_of.clear()
                key = key_of[price] = sign * float(price)
            rest = size.strip("0.")  # is_zero(size), inline (it runs for every level)
            if not rest or (
                (rest[0] not in _NONZERO or "e" in rest or "E" in rest) and float(size) == 0.0
            ):
                if book.pop(key, None) is not None:
                    del keys[bisect_left(keys, key)]
                continue
            if key not in book:
                insort(keys, key)
            book[key] = level

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
        self.bids.set_many(bids)
        self.asks.set_many(asks)

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


def truncate(book: L2Book, depth: int | None) -> None:
    """Keep the best ``depth`` levels a side (venues like Kraken define their book that way)."""
    if depth is not None:
        book.bids.truncate(depth)
        book.asks.truncate(depth)
