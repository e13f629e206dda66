"""UpdateIdRange: Binance Spot ``U``/``u`` ordering and snapshot fit (exchanges.md §1.7)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedgate.protocol.sequencing import Order, UpdateIdRange

RULE = UpdateIdRange()


@dataclass(frozen=True)
class R:
    first_id: int
    last_id: int


@pytest.mark.parametrize(
    ("first", "last", "local", "expected"),
    [
        (90, 99, 100, Order.STALE),  # u < local
        (95, 100, 100, Order.STALE),  # u == local holds nothing newer
        (101, 101, 100, Order.IN_ORDER),  # the normal next event: U == local + 1
        (101, 140, 100, Order.IN_ORDER),
        (95, 105, 100, Order.IN_ORDER),  # overlaps the book: U <= local + 1 <= u
        (102, 105, 100, Order.GAP),  # U > local + 1: event 101 was missed
        (500, 600, 100, Order.GAP),
    ],
)
def test_order(first: int, last: int, local: int, expected: Order) -> None:
    assert RULE.order(R(first, last), local) is expected


def test_fit_boundary_u_equals_l_plus_1_is_valid() -> None:
    assert RULE.fit(103, [R(104, 106)]) == 0


def test_fit_gap_between_snapshot_and_stream_is_too_old() -> None:
    assert RULE.fit(103, [R(105, 106)]) is None
    assert RULE.fit(103, [R(101, 102), R(105, 106)]) is None  # the first u > L decides


def test_fit_drops_updates_inside_the_snapshot() -> None:
    buffered = [R(90, 95), R(96, 100), R(101, 104), R(105, 110)]
    assert RULE.fit(100, buffered) == 2
    assert RULE.fit(102, buffered) == 2  # L inside [U; u] of the third
    assert RULE.fit(104, buffered) == 3


def test_fit_everything_buffered_is_older_gives_an_empty_remainder() -> None:
    buffered = [R(90, 95), R(96, 100)]
    assert RULE.fit(100, buffered) == 2
    assert RULE.fit(10_000, buffered) == 2
    assert RULE.fit(5, []) == 0


def test_contiguous() -> None:
    assert RULE.contiguous(R(100, 105), R(106, 107))
    assert RULE.contiguous(R(100, 105), R(103, 108))  # overlap
    assert not RULE.contiguous(R(100, 105), R(107, 108))


@st.composite
def stream(draw: st.DrawFn) -> tuple[list[R], int]:
    """A continuous diff stream (each ``U == previous u + 1``) and a snapshot id near it."""
    start = draw(st.integers(1, 10_000))
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=20))
    updates, first = [], start
    for size in sizes:
        updates.append(R(first, first + size - 1))
        first += size
    snapshot = draw(st.integers(start - 10, first + 10))
    return updates, snapshot


@settings(max_examples=300, deadline=None)
@given(stream())
def test_fit_on_a_continuous_stream(case: tuple[list[R], int]) -> None:
    updates, snapshot = case
    index = RULE.fit(snapshot, updates)
    if snapshot < updates[0].first_id - 1:
        assert index is None  # §1.7 step 4: snapshot older than the first buffered U
        return
    assert index is not None
    remaining = updates[index:]
    assert all(u.last_id <= snapshot for u in updates[:index])
    if remaining:
        assert remaining[0].first_id <= snapshot + 1 <= remaining[0].last_id
        assert RULE.order(remaining[0], snapshot) is Order.IN_ORDER
    else:
        assert updates[-1].last_id <= snapshot
