"""Sequence rules: where a venue update sits relative to the local book.

A rule answers two questions for the book sync machine (``book.py``):
- ``order(update, local_id)``: is this live update in order, stale (already contained) or past a
  gap (updates were missed)?
- ``fit(snapshot_id, buffered)``: given a REST snapshot id and the buffered updates, from which
  buffered update does the stream continue the snapshot, or is the snapshot too old?
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol


class Order(StrEnum):
    IN_ORDER = "in_order"
    STALE = "stale"
    GAP = "gap"


IN_ORDER, STALE, GAP = Order.IN_ORDER, Order.STALE, Order.GAP
"""Module constants: an enum member lookup costs about a dict lookup, on every book update."""


class Sequenced(Protocol):
    @property
    def first_id(self) -> int: ...

    @property
    def last_id(self) -> int: ...


class SequenceRule(Protocol):
    def order(self, update: Sequenced, local_id: int) -> Order: ...

    def fit(self, snapshot_id: int, buffered: Sequence[Sequenced]) -> int | None: ...

    def contiguous(self, previous: Sequenced, update: Sequenced) -> bool: ...


class UpdateIdRange:
    """Updates carry an inclusive id range ``[first_id, last_id]`` (Binance Spot ``U``/``u``).

    Binance "How to manage a local order book correctly" (corrected 2025-11-12), update procedure:
    ``u < local`` → ignore; ``U > local + 1`` → gap; otherwise apply and set local = ``u``.
    An update with ``u == local`` holds nothing newer than the book, so it is stale as well.

    Snapshot fit (exchanges.md §1.7 implementation note): drop buffered updates with
    ``u <= lastUpdateId``; the first remaining one continues the snapshot iff ``U <= L + 1``.
    The doc's wording "lastUpdateId within [U; u]" is off by one at ``U == L + 1``; the update rule
    is what we follow.
    """

    def order(self, update: Sequenced, local_id: int) -> Order:
        if update.last_id <= local_id:
            return STALE
        if update.first_id > local_id + 1:
            return GAP
        return IN_ORDER

    def fit(self, snapshot_id: int, buffered: Sequence[Sequenced]) -> int | None:
        for index, update in enumerate(buffered):
            if update.last_id <= snapshot_id:
                continue
            return index if update.first_id <= snapshot_id + 1 else None
        return len(buffered)

    def contiguous(self, previous: Sequenced, update: Sequenced) -> bool:
        return update.first_id <= previous.last_id + 1
