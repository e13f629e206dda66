"""L2 book sides and books (protocol/book.py), pure.

Id ranges follow Binance Spot (exchanges.md §1.5/§1.7): updates carry ``[U; u]``, snapshots
``lastUpdateId``; the sequencing rule is ``UpdateIdRange``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedgate.events import Level
from feedgate.protocol.book import BookImage, BookSide, BookUpdate, L2Book, is_zero
from feedgate.protocol.booksync import SyncInput, SyncState

S, In = SyncState, SyncInput


def upd(
    first: int, last: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()
) -> BookUpdate:
    return BookUpdate(first, last, bids, asks, ts=last * 1000, recv_ts=last * 1000 + 7)


def img(last: int, bids: tuple[Level, ...] = (), asks: tuple[Level, ...] = ()) -> BookImage:
    return BookImage(last, bids, asks, ts=None, recv_ts=0)


def prices(side: BookSide) -> list[str]:
    return [price for price, _ in side.top()]


# -- BookSide / L2Book ---------------------------------------------------------------------------


def test_bids_descending_and_asks_ascending_numerically_not_lexically() -> None:
    book = L2Book()
    for price in ("9.5", "10.1", "100", "0.95"):
        book.bids.set(price, "1")
        book.asks.set(price, "1")
    assert prices(book.bids) == ["100", "10.1", "9.5", "0.95"]
    assert prices(book.asks) == ["0.95", "9.5", "10.1", "100"]
    assert book.bids.best() == ("100", "1")
    assert book.asks.best() == ("0.95", "1")


def test_levels_keep_the_venue_text_and_replace_by_numeric_price() -> None:
    side = BookSide(descending=True)
    side.set("94250.01000000", "1.20450000")
    side.set("94250.01", "0.50000000")  # the same price spelled differently replaces the level
    assert side.top() == (("94250.01", "0.50000000"),)
    assert len(side) == 1


@pytest.mark.parametrize("zero", ["0", "0.00000000", "0.0", "00.000"])
def test_every_zero_spelling_deletes_the_level(zero: str) -> None:
    side = BookSide(descending=False)
    side.set("10.1", "3")
    side.set("10.2", "4")
    side.set("10.1", zero)
    assert side.top() == (("10.2", "4"),)
    assert len(side) == 1
    assert is_zero(zero)


def test_is_zero_is_false_for_nonzero_sizes() -> None:
    assert not is_zero("0.00000001")
    assert not is_zero("1")


def test_deleting_an_absent_level_is_fine() -> None:
    side = BookSide(descending=True)
    side.set("5", "1")
    side.set("6", "0.00000000")  # never there: levels outside the snapshot window are unknown
    assert side.top() == (("5", "1"),)
    side.set("5", "0")
    side.set("5", "0")  # deleting twice is fine as well
    assert side.top() == ()
    assert side.best() is None
    assert len(side) == 0


def test_top_and_truncate() -> None:
    side = BookSide(descending=False)
    for price in ("5", "1", "4", "2", "3"):
        side.set(price, price)
    assert side.top(2) == (("1", "1"), ("2", "2"))
    assert side.top(0) == ()
    assert side.top(99) == side.top()
    assert len(side.top()) == 5
    side.truncate(3)
    assert side.top() == (("1", "1"), ("2", "2"), ("3", "3"))
    assert len(side) == 3
    # a level dropped by truncate can come back, and removal of a dropped level is a no-op
    side.set("5", "0")
    side.set("4", "9")
    assert side.top() == (("1", "1"), ("2", "2"), ("3", "3"), ("4", "9"))
    side.truncate(0)
    assert side.top() == ()
    assert side.best() is None


def test_l2book_load_replaces_everything() -> None:
    book = L2Book()
    book.apply((("1", "1"),), (("9", "1"),))
    book.load((("2", "5"), ("3", "6"), ("2.5", "0")), (("4", "7"),))
    assert book.bids.top() == (("3", "6"), ("2", "5"))
    assert book.asks.top() == (("4", "7"),)
    assert not book.is_crossed()
    book.apply((("4", "1"),), ())
    assert book.is_crossed()
    book.clear()
    assert book.bids.top() == () and book.asks.top() == ()
    assert not book.is_crossed()


_PRICE = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999"), places=8)
_SIZE = st.sampled_from(["0", "0.00000000", "1", "2.5", "0.00100000", "1000"])


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(st.tuples(_PRICE, _SIZE), max_size=60))
def test_book_side_matches_a_plain_dict(descending: bool, ops: list[tuple[Decimal, str]]) -> None:
    side = BookSide(descending=descending)
    reference: dict[Decimal, Level] = {}
    for price, size in ops:
        text = f"{price:f}"
        side.set(text, size)
        if Decimal(size) == 0:
            reference.pop(price, None)
        else:
            reference[price] = (text, size)
    expected = tuple(reference[p] for p in sorted(reference, reverse=descending))
    assert side.top() == expected
    assert len(side) == len(expected)
    assert side.best() == (expected[0] if expected else None)
