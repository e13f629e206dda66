"""The sequence rule of Coinbase books (exchanges.md §2.7).

Coinbase numbers messages per connection, not per book: ``sequence_num`` in the envelope counts
every message of the socket. The protocol checks it once per frame and resyncs every book of the
connection on a jump, so the per-book rule ``BookSync`` asks has nothing left to decide.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedgate.protocol.sequencing import Order, Sequenced


class ConnectionOrdered:
    """Sequence rule for Coinbase books: order is checked once per connection on the envelope's
    ``sequence_num`` (§2.7), so every update that reaches a book is in order."""

    def order(self, update: Sequenced, local_id: int) -> Order:
        return Order.IN_ORDER

    def fit(self, snapshot_id: int, buffered: Sequence[Sequenced]) -> int | None:
        return 0

    def contiguous(self, previous: Sequenced, update: Sequenced) -> bool:
        return True
