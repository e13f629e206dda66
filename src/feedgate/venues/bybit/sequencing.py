"""Bybit's ``u`` update-id rule for ``orderbook.{depth}`` (exchanges.md §6.5), as a SequenceRule.

Each Bybit book message carries one ``u`` (no range, no previous id), so an update is the range
``[u, u]``. §6.5 says ``u`` must increase and that ``u <= last`` (other than the ``u == 1``
restart, handled by the protocol as a snapshot, or the depth-1 repeat) or an unexpected jump
means: resubscribe to force a snapshot. Whether ``u`` is exactly ``last + 1`` is UNCONFIRMED in
the docs but holds for every delta in the 2026 capture, so ``strict`` (the default) treats any
other value as a gap; without it only a ``u`` that does not increase is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedgate.protocol.sequencing import Order, Sequenced


class BybitUpdateId:
    """§6.5 ``u`` continuity. ``strict``: ``u == last + 1`` is required (capture-verified);
    ``repeats``: depth 1 re-sends an unchanged snapshot with the same ``u`` every 3 s, which is
    stale rather than a gap."""

    __slots__ = ("repeats", "strict")

    def __init__(self, *, strict: bool = True, repeats: bool = False) -> None:
        self.strict = strict
        self.repeats = repeats

    def order(self, update: Sequenced, local_id: int) -> Order:
        u = update.last_id
        if u == local_id + 1:
            return Order.IN_ORDER
        if u > local_id:
            return Order.GAP if self.strict else Order.IN_ORDER
        if u == local_id and self.repeats:
            return Order.STALE
        return Order.GAP  # §6.5: u did not increase

    def fit(self, snapshot_id: int, buffered: Sequence[Sequenced]) -> int | None:
        """Bybit images come on the socket (WS_SNAPSHOT), so nothing is buffered in practice;
        for completeness: skip updates the image contains, the next must follow it."""
        for index, update in enumerate(buffered):
            if update.last_id <= snapshot_id:
                continue
            return index if self.order(update, snapshot_id) is Order.IN_ORDER else None
        return len(buffered)

    def contiguous(self, previous: Sequenced, update: Sequenced) -> bool:
        return self.order(update, previous.last_id) is Order.IN_ORDER
