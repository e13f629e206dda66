"""Kraken v2 books: a WS snapshot plus updates, truncated to the depth, checked by CRC32.

exchanges.md §3.4: the venue sends the image after the subscription and absolute updates after
it; each side is truncated to the subscribed depth after every message (the venue does not send
``qty: 0`` for levels pushed out of the window). §3.5: every snapshot and update carries the
CRC32 of the top 10 levels a side after that, and it is the only integrity check (no sequence
numbers, so the sequence rule here says "in order" to everything).

``KrakenBook`` wraps the shared ``BookSync`` (WS_SNAPSHOT table, ``depth`` truncation) and keeps,
beside the book, each level's checksum text (price and quantity digits at the pair's precision),
computed once when the level arrives; the checksum after a message is then 20 dict lookups and
one CRC. Following ``BookKeeper``'s rule for checksum venues, the check runs between the sync step
and ``carry_out``: a failed check replaces the outcome by ``on_checksum_mismatch()`` (book_reset,
unsubscribe + subscribe per §3.5), so a wrong delta is never published.

Truncation is made explicit in the published delta: a level that falls out of the window is
published with size ``"0"``, so a subscriber applying deltas holds exactly the gateway's book
without knowing Kraken's rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from feedgate.events import Level
from feedgate.protocol.book import BookImage, BookSide, BookUpdate
from feedgate.protocol.bookkeeper import TrackedBook
from feedgate.protocol.booksync import Outcome, SyncState
from feedgate.protocol.checks import brief
from feedgate.protocol.levels import number_text
from feedgate.protocol.sequencing import Order, Sequenced
from feedgate.venues.kraken.checksum import (
    CHECKSUM_LEVELS,
    Number,
    crc,
    infer_precision,
    level_digits,
)

RawLevels = list[tuple[Number, Number]]
_Ranked = tuple[str, Number, Number]  # (price text, price, qty)
_CRC_MAX = 2**32 - 1


class AlwaysInOrder:
    """The ``SequenceRule`` of a venue without sequence numbers (§3.4): every update is next."""

    def order(self, update: Sequenced, local_id: int) -> Order:
        return Order.IN_ORDER

    def fit(self, snapshot_id: int, buffered: Sequence[Sequenced]) -> int | None:
        return len(buffered)  # no REST images on Kraken: nothing buffered ever continues one

    def contiguous(self, previous: Sequenced, update: Sequenced) -> bool:
        return True


RULE = AlwaysInOrder()


def _number(value: Any) -> Number:
    if type(value) is not float and type(value) is not int:
        raise TypeError(f"price/qty must be a JSON number, not {type(value).__name__}")
    return value


def parse_levels(raw: Any) -> tuple[tuple[Level, ...], RawLevels]:
    """§3.4 ``[{"price": 29430.2, "qty": 0.18967538}, {"price": 29431.1, "qty": 0.0}]`` →
    (levels as the venue's decimal text, the numbers). Raises before anything is applied."""
    if type(raw) is not list:
        raise TypeError("levels must be a list of {price, qty} objects")
    levels: list[Level] = []
    numbers: RawLevels = []
    for item in raw:
        price, qty = _number(item["price"]), _number(item["qty"])
        if not (0.0 < float(price) < math.inf and 0.0 <= float(qty) < math.inf):
            raise ValueError(f"level out of range: {brief(price)} {brief(qty)}")
        levels.append((number_text(price), number_text(qty)))
        numbers.append((price, qty))
    return tuple(levels), numbers


def parse_checksum(value: Any) -> int:
    """§3.5 ``"checksum": 3547452596``: an unsigned 32-bit integer."""
    if type(value) is not int or not 0 <= value <= _CRC_MAX:
        raise ValueError(f"checksum must be an unsigned 32-bit integer, not {brief(value)}")
    return value


def _best(levels: tuple[Level, ...], numbers: RawLevels, descending: bool) -> list[_Ranked]:
    """An image's distinct non-zero levels, best first (a later duplicate wins, as in the book)."""
    seen: dict[str, _Ranked] = {}
    for (price_text, _), (price, qty) in zip(levels, numbers, strict=True):
        if qty:
            seen[price_text] = (price_text, price, qty)
        else:
            seen.pop(price_text, None)
    return sorted(seen.values(), key=lambda level: level[1], reverse=descending)


@dataclass(slots=True)
class KrakenBook:
    """One subscribed book: the shared sync state plus the checksum text of its levels."""

    tracked: TrackedBook
    infer: bool = True
    price_dp: int | None = None
    qty_dp: int | None = None
    inferred: bool = False
    """True while the precision came from ``infer_precision``, not the instrument list."""
    verified: bool = False
    """A snapshot's checksum matched under the precision: the instrument list no longer
    overrides it (a precision change on the venue shows up as failing checksums and is then
    inferred again from the next snapshot)."""
    asks: dict[str, str] = field(default_factory=dict)
    bids: dict[str, str] = field(default_factory=dict)
    """price text → checksum digits, exactly the levels the book holds."""
    failures: int = 0
    """Checksum failures since the last verified update (the protocol gives up after a few)."""

    def set_precision(self, price_dp: int, qty_dp: int, *, inferred: bool = False) -> None:
        self.price_dp, self.qty_dp, self.inferred = price_dp, qty_dp, inferred

    def forget(self) -> None:
        self.asks.clear()
        self.bids.clear()

    def checksum(self) -> int:
        """§3.5 over the book as it is now (after truncation)."""
        book = self.tracked.sync.book
        asks, bids = self.asks, self.bids
        return crc(
            [asks.get(p, "?") for p, _ in book.asks.top(CHECKSUM_LEVELS)],
            [bids.get(p, "?") for p, _ in book.bids.top(CHECKSUM_LEVELS)],
        )

    def on_snapshot(
        self, image: BookImage, bids: RawLevels, asks: RawLevels, checksum: int
    ) -> tuple[Outcome, bool]:
        """§3.4 image. Verified before it is loaded; returns (outcome, refused) where refused
        means the image failed while nothing was published (the caller counts the resync)."""
        sync = self.tracked.sync
        best_asks = _best(image.asks, asks, descending=False)
        best_bids = _best(image.bids, bids, descending=True)
        verified = self._verified(best_asks, best_bids, checksum)
        if not verified:
            self.forget()
            self.failures += 1
            if sync.state is SyncState.SYNCED:
                return sync.on_checksum_mismatch(), False
            return Outcome(resubscribe=True), True
        self.verified = True
        outcome = sync.on_ws_snapshot(image)
        self.forget()
        if outcome.publish_snapshot:
            depth = sync.depth
            price_dp, qty_dp = self.price_dp, self.qty_dp
            assert price_dp is not None and qty_dp is not None
            for target, ranked in ((self.asks, best_asks), (self.bids, best_bids)):
                for price_text, price, qty in ranked[:depth]:
                    target[price_text] = level_digits(price, qty, price_dp, qty_dp)
        return outcome, False

    def _verified(self, asks: list[_Ranked], bids: list[_Ranked], checksum: int) -> bool:
        top_asks = [(p, q) for _, p, q in asks[:CHECKSUM_LEVELS]]
        top_bids = [(p, q) for _, p, q in bids[:CHECKSUM_LEVELS]]
        price_dp, qty_dp = self.price_dp, self.qty_dp
        if price_dp is not None and qty_dp is not None:
            parts = [level_digits(p, q, price_dp, qty_dp) for p, q in (*top_asks, *top_bids)]
            if crc(parts[: len(top_asks)], parts[len(top_asks) :]) == checksum:
                return True
        if not self.infer:
            self.verified = False
            return False
        found = infer_precision(top_asks, top_bids, checksum)
        if found is None:
            self.verified = False
            return False
        self.set_precision(*found, inferred=True)
        return True

    def on_update(
        self, update: BookUpdate, bids: RawLevels, asks: RawLevels, checksum: int
    ) -> Outcome:
        """§3.4 update: apply, truncate, verify; the delta gains ``"0"`` for truncated levels."""
        sync = self.tracked.sync
        if sync.state is not SyncState.SYNCED:
            return sync.on_update(update)  # before the image: dropped by the table
        price_dp, qty_dp = self.price_dp, self.qty_dp
        if price_dp is None or qty_dp is None:  # cannot happen: the image was verified
            self.failures += 1
            return sync.on_checksum_mismatch()
        bid_parts = [level_digits(p, q, price_dp, qty_dp) if q else None for p, q in bids]
        ask_parts = [level_digits(p, q, price_dp, qty_dp) if q else None for p, q in asks]
        outcome = sync.on_update(update)
        if outcome.delta is None:
            return outcome
        book = sync.book
        update.bids = _mirror(self.bids, book.bids, update.bids, bid_parts)
        update.asks = _mirror(self.asks, book.asks, update.asks, ask_parts)
        if self.checksum() != checksum:
            self.forget()
            self.failures += 1
            return sync.on_checksum_mismatch()
        self.failures = 0
        return outcome


def _mirror(
    digits: dict[str, str], side: BookSide, levels: tuple[Level, ...], parts: list[str | None]
) -> tuple[Level, ...]:
    """Apply an update's levels to the checksum texts as the book applied them, drop the levels
    the book truncated, and return the levels to publish (truncated ones as ``"0"``)."""
    for (price, _), part in zip(levels, parts, strict=True):
        if part is None:
            digits.pop(price, None)
        else:
            digits[price] = part
    if len(digits) <= len(side):
        return levels
    kept = {price for price, _ in side.top()}
    evicted = [price for price in digits if price not in kept]
    for price in evicted:
        del digits[price]
    gone = frozenset(evicted)
    return (*(level for level in levels if level[0] not in gone), *((p, "0") for p in evicted))
