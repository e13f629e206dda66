"""Normalized events: what venue protocols emit and the publisher turns into messages.

They mirror the message schema of design §2.2 minus ``v`` and ``seq``, which the publisher adds
per channel. Prices and sizes are decimal strings exactly as the venue wrote them; timestamps are
integer microseconds since the epoch (``ts`` is the venue's event time or None, ``recv_ts`` the
gateway's receive time taken before parsing).

The per-message types (``Trade``, ``BookDelta``, ``Bbo``) are ``msgspec.Struct``s, built in C:
a ``Trade`` costs 0.20 µs where a slotted dataclass's generated ``__init__`` cost 0.45 µs (a
frozen one about five times that), several percent of a core at the rates a worker handles. They
behave like the dataclasses they were (positional or keyword fields, ``==``, ``repr``, pickling)
and are not frozen, for the same reason; treat them as immutable all the same, nothing mutates
an event. They hold only strings, numbers and tuples of strings, so they can never be part of a
reference cycle and the garbage collector does not track them (``gc=False``): they do not count
toward its thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec

Level = tuple[str, str]
"""One book level: (price, size) as the venue's decimal strings."""


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"
    UNKNOWN = "unknown"


class StatusEvent(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SUBSCRIBED = "subscribed"
    REJECTED = "rejected"
    BOOK_RESET = "book_reset"
    BOOK_SYNCED = "book_synced"
    STALE = "stale"
    RECOVERED = "recovered"
    ROTATED = "rotated"
    """Publishing switched to a replacement connection of the same slot (make-before-break):
    no data was lost or repeated, books continue from a ``book_snapshot`` without a reset."""


class Trade(msgspec.Struct, gc=False):  # see the module docstring
    exchange: str
    symbol: str
    venue_symbol: str
    ts: int | None
    recv_ts: int
    id: str
    price: str
    size: str
    side: Side


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A whole book (best first). ``checkpoint`` snapshots only refresh the ``book:*`` key.

    A checkpoint is not published on the channel: it carries the seq of the last message already
    published there, so a late joiner reading the key applies exactly the deltas after it.
    """

    exchange: str
    symbol: str
    venue_symbol: str
    ts: int | None
    recv_ts: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    depth: int | None
    checkpoint: bool = False


class BookDelta(msgspec.Struct, gc=False):  # see the module docstring
    """Absolute new sizes for changed levels; size "0" (any zero spelling) deletes the level."""

    exchange: str
    symbol: str
    venue_symbol: str
    ts: int | None
    recv_ts: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class Bbo(msgspec.Struct, gc=False):  # see the module docstring
    exchange: str
    symbol: str
    venue_symbol: str
    ts: int | None
    recv_ts: int
    bid_price: str | None
    bid_size: str | None
    ask_price: str | None
    ask_size: str | None


@dataclass(frozen=True, slots=True)
class Status:
    """A change in a connection's or a book's health, published on ``feedgate:status``."""

    exchange: str
    event: StatusEvent
    connection: str
    reason: str
    recv_ts: int
    symbol: str | None = None
    venue_symbol: str | None = None
    ts: int | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    """A listing announcement (design §2.2), published on ``announcements:{publisher}``.

    ``exchange`` is the source feed (``cryptolisting``); ``publisher`` the exchange that
    announced. ``ts`` is the publish time when the source gives one, else its detection time.
    ``dedup_key`` is stable across reconnects (the source may send an announcement twice).
    """

    exchange: str
    ts: int | None
    recv_ts: int
    publisher: str
    listing_type: str
    tickers: tuple[str, ...]
    title: str
    url: str | None
    is_test: bool
    publish_ts: int | None
    detected_ts: int | None
    dispatch_ts: int | None
    dedup_key: str
    symbol: None = None
    venue_symbol: None = None


@dataclass(frozen=True, slots=True)
class Onchain:
    """A chain event (design §2.2), published on ``onchain:{network}:{kind}``.

    ``kind`` is ``heads`` or ``logs``; ``payload`` holds the node's object as sent, plus decoded
    fields where feedgate knows the event (ERC-20 ``Transfer``: ``from``, ``to``, ``value`` as a
    decimal string). ``removed`` marks a log withdrawn by a reorg (published, never dropped).
    """

    exchange: str
    ts: int | None
    recv_ts: int
    network: str
    kind: str
    block_number: int
    block_hash: str | None
    tx_hash: str | None
    log_index: int | None
    removed: bool
    payload: dict[str, object]
    symbol: None = None
    venue_symbol: None = None


@dataclass(frozen=True, slots=True)
class PrivateUpdate:
    """An authenticated account stream's message (Upbit ``myOrder``/``myAsset``), published on
    ``private:{exchange}:{account}:{kind}``, a namespace that needs a Redis ACL user of its own."""

    exchange: str
    ts: int | None
    recv_ts: int
    account: str
    kind: str
    payload: dict[str, object]
    symbol: str | None = None
    venue_symbol: str | None = None


Event = Trade | BookSnapshot | BookDelta | Bbo | Status | Announcement | Onchain | PrivateUpdate
