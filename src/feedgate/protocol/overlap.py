"""Each message published once while two connections of one slot overlap (make-before-break).

During a rotation the old connection stays authoritative: what it delivers is published at once,
and the ids of what it published during the overlap are remembered, per stream, in a bounded
window. What the replacement delivers is held instead (bounded, per stream): an id the old
connection published already is a duplicate and dropped; an id the old connection publishes
later takes the held copy out of the hold. At the switch the rest of the hold (what only the
replacement has seen so far: it was ahead) is released in the replacement's order, and from
then on the replacement is authoritative; for a grace period its messages are still checked
against the window, since it may lag behind the old one.

Why hold rather than publish whichever copy comes first: each connection delivers a stream in
the venue's order, so the old connection's messages up to the switch followed by the hold's
remainder are in the venue's order too. First-come would interleave the two connections and
publish a trade after a later one whenever the old connection lags. Holding adds no latency:
the old connection publishes the same messages meanwhile.

Ids are only compared for equality (Upbit's ``sequential_id`` is unique but unordered, OKX and
Coinbase ids are strings). Memory is bounded by ``window`` ids and ``hold`` messages per stream;
a full hold means the old connection has fallen far behind: ``overflow`` asks for the switch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

import orjson

from feedgate.events import Announcement, Event, Onchain, PrivateUpdate, Trade

T = TypeVar("T")

Key = tuple[Hashable, Hashable]
"""(stream, id): the stream is what ids are unique within (a symbol's trades)."""


def overlap_key(event: Event) -> Key | None:
    """The stream and id by which two connections' copies of ``event`` are recognised as one;
    None for events that are not deduplicated by id (books and bbo switch by a whole image at
    the handover, statuses are per connection)."""
    if isinstance(event, Trade):
        return (event.symbol, event.id)
    if isinstance(event, Announcement):
        return ("announcements", event.dedup_key)
    if isinstance(event, Onchain):
        # a log withdrawn by a reorg is a message of its own, next to the one it withdraws
        ident = (event.block_hash, event.tx_hash, event.log_index, event.removed)
        return (f"{event.network}:{event.kind}", ident)
    if isinstance(event, PrivateUpdate):
        # no venue id: both sockets deliver the same update, so its content is its identity
        body = orjson.dumps(event.payload, option=orjson.OPT_SORT_KEYS)
        return (f"{event.account}:{event.kind}", (event.ts, body))
    return None


class _Window:
    """The last ``size`` ids of one stream (a set for lookups, a deque for eviction order)."""

    __slots__ = ("ids", "order", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: set[Hashable] = set()
        self.order: deque[Hashable] = deque()

    def add(self, msg_id: Hashable) -> None:
        if msg_id in self.ids:
            return
        self.ids.add(msg_id)
        self.order.append(msg_id)
        if len(self.order) > self.size:
            self.ids.discard(self.order.popleft())


class OverlapMerge(Generic[T]):
    """One overlap of an old connection and its replacement; ``T`` is what a held message is."""

    def __init__(self, window: int = 10_000, hold: int = 10_000) -> None:
        if window < 1 or hold < 1:
            raise ValueError("window and hold must hold at least one id")
        self._window_size = window
        self._hold_limit = hold
        self._published: dict[Hashable, _Window] = {}
        self._held: dict[Hashable, dict[Hashable, T]] = {}
        self.switched = False
        self.overflow = False
        """A hold is full: the old connection is far behind the replacement; switch now."""
        self.duplicates = 0
        """Copies dropped because the other connection's copy was (or will be) published."""

    def old(self, stream: Hashable, msg_id: Hashable) -> None:
        """The old connection published ``msg_id`` (it is authoritative until the switch)."""
        if self.switched:
            return
        held = self._held.get(stream)
        if held is not None and msg_id in held:
            del held[msg_id]  # the replacement's copy was waiting for exactly this
            self.duplicates += 1
            return
        window = self._published.get(stream)
        if window is None:
            window = self._published[stream] = _Window(self._window_size)
        window.add(msg_id)

    def new(self, stream: Hashable, msg_id: Hashable, item: T) -> bool:
        """The replacement delivered ``item``: True means publish it now (after the switch, and
        only when the old connection did not publish it); otherwise it is held or dropped."""
        window = self._published.get(stream)
        if window is not None and msg_id in window.ids:
            self.duplicates += 1
            return False
        if self.switched:
            return True
        held = self._held.get(stream)
        if held is None:
            held = self._held[stream] = {}
        held[msg_id] = item
        if len(held) >= self._hold_limit:
            self.overflow = True
        return False

    def switch(self) -> list[T]:
        """The replacement takes over: what it holds that the old connection never published,
        in the order the replacement delivered it (per stream)."""
        self.switched = True
        released = [item for held in self._held.values() for item in held.values()]
        self._held.clear()
        return released

    def held(self) -> int:
        return sum(len(held) for held in self._held.values())
