"""OKX ``seqId``/``prevSeqId`` as a ``SequenceRule`` (exchanges.md §5.5, §5.6).

Updates are ``BookUpdate(first_id=prevSeqId, last_id=seqId)``; a snapshot's image id is its
``seqId`` (its ``prevSeqId`` is -1 and says nothing). §5.5, against the local id ``L`` (the last
applied ``seqId``):

- ``prevSeqId == L``: in order. That covers the normal case (``seqId > prevSeqId``), the
  **venue reset** (``seqId < prevSeqId`` while ``prevSeqId`` still equals ``L``: "continue
  normally afterwards"; the book re-bases on the lower ``seqId``, it is not a gap) and the
  **no-update keepalive** (``prevSeqId == seqId == L``, empty sides), which is reported STALE:
  it holds nothing new, so nothing is applied or published.
- ``prevSeqId < L < seqId``: in order. Only after a REST snapshot (§5.6 new procedure: "the
  first kept event must satisfy ``prevSeqId <= snapshot seqId < seqId``"); sizes are absolute,
  so the update carries every level changed after ``L``.
- an update wholly inside a REST image just loaded (``prevSeqId < seqId <= L``, before any
  later update was applied): STALE. A WebSocket frame sent before the REST snapshot was taken
  can be read after it (two sockets). Anywhere else this shape is a gap, never stale: ids
  going down outside the documented reset would otherwise freeze a wrong book.
- anything else: a gap (``new.prevSeqId != last.seqId``) → resync.

The rule keeps one piece of state (the REST image id), so each book gets its own instance.
"""

from __future__ import annotations

from collections.abc import Sequence

from feedgate.protocol.sequencing import Order, Sequenced

SNAPSHOT_PREV_SEQ_ID = -1
"""§5.5: a snapshot's ``prevSeqId``."""


class SeqIdRule:
    __slots__ = ("rest_image",)

    def __init__(self) -> None:
        self.rest_image: int | None = None
        """The id of the REST snapshot last fitted, until the stream moves past it."""

    def order(self, update: Sequenced, local_id: int) -> Order:
        prev, seq = update.first_id, update.last_id
        image = self.rest_image
        if image is not None:
            if prev < seq <= image and local_id == image:
                return Order.STALE  # sent before the REST image was taken, read after it
            self.rest_image = None
        if prev == local_id:
            return Order.STALE if seq == local_id else Order.IN_ORDER
        if prev < local_id < seq:
            return Order.IN_ORDER
        return Order.GAP

    def fit(self, snapshot_id: int, buffered: Sequence[Sequenced]) -> int | None:
        """§5.6: drop buffered updates with ``seqId <= snapshot seqId``; the first kept one must
        have ``prevSeqId <= snapshot seqId`` (else the snapshot is too old: refetch)."""
        self.rest_image = snapshot_id
        for index, update in enumerate(buffered):
            if update.last_id <= snapshot_id:
                continue
            return index if update.first_id <= snapshot_id else None
        return len(buffered)

    def contiguous(self, previous: Sequenced, update: Sequenced) -> bool:
        """§5.5: each update's ``prevSeqId`` is the previous one's ``seqId`` (resets included)."""
        return update.first_id == previous.last_id
