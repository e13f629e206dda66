"""The VenueProtocol contract and the actions it returns (design §1.1).

A venue protocol is a pure state machine: the runtime hands it frames, REST bodies and the time,
and it answers with a list of actions for the runtime to carry out. It never awaits, opens sockets
or reads a clock, which makes every venue rule testable by feeding frames and asserting on
actions, and lets one asyncio runner serve every venue.

Lifecycle per connection (the runtime drives it in this order):
``connect_url()`` → ``on_open(now)`` → ``on_frame(...)``/``on_snapshot(...)``/``on_tick(now)``
… → ``on_close(now)`` → (reconnect) ``on_open(now)`` again. ``now`` is integer microseconds.

Make-before-break (``runtime/rotation.py``): a replacement connection gets a fresh instance,
which first ``carry_over``s what must outlive one socket from the instance it replaces, then
runs the same lifecycle while the old one keeps publishing; once ``unsynced_books()`` is 0 the
runtime switches publishing to it and calls ``on_handover(now)``, and the old instance is closed
without its output being published.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import msgspec

from feedgate.events import Event


@dataclass(frozen=True, slots=True)
class Send:
    """Send one text frame to the venue (paced by the runtime's per-connection rate limiter)."""

    data: str


class Emit(msgspec.Struct, gc=False):  # one per message: built in C, see feedgate.events
    """Publish one normalized event."""

    event: Event


@dataclass(frozen=True, slots=True)
class FetchSnapshot:
    """GET a REST snapshot; the body comes back through ``on_snapshot(key, body, now)``.

    ``weight`` is the request's cost against the venue's REST budget (Binance request weight).
    """

    key: str
    url: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close this connection and open it again (after backoff). ``reason`` labels the metric."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rotate:
    """Replace this connection without a gap (make-before-break): the venue announced that it
    will close it soon (Binance ``serverShutdown``, OKX notice 64008). The runtime opens a
    replacement, subscribes, switches publishing to it once it delivers, then closes this one;
    if no replacement is ready when this one closes, it reconnects as after ``Reconnect``.
    ``reason`` labels the metric and the ``rotated`` status."""

    reason: str


@dataclass(frozen=True, slots=True)
class Fatal:
    """Stop this connection for good: reconnecting cannot help (bad key, banned)."""

    reason: str


@dataclass(frozen=True, slots=True)
class CountParseError:
    """A frame could not be interpreted: counted, logged once in a while, and otherwise ignored."""

    detail: str


@dataclass(frozen=True, slots=True)
class Resync:
    """A book was invalidated; counted as ``feedgate_book_resyncs_total{reason}``."""

    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The venue confirmed the subscriptions: the connection counts as up."""


@dataclass(frozen=True, slots=True)
class Observe:
    """Record ``value`` in one of the venue histograms declared in ``feedgate.metrics``
    (``VENUE_HISTOGRAMS``), e.g. the announcement dispatch latency; ``labels`` in its order."""

    metric: str
    labels: tuple[str, ...]
    value: float


@dataclass(frozen=True, slots=True)
class Count:
    """Add one to a venue counter declared in ``feedgate.metrics`` (``VENUE_COUNTERS``)."""

    metric: str
    labels: tuple[str, ...]


Action = (
    Send | Emit | FetchSnapshot | Reconnect | Rotate | Fatal | CountParseError | Resync
    | Subscribed | Observe | Count
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Topic:
    """One subscription unit: a canonical symbol on one channel kind (``trades``, ``book``…)."""

    channel: str
    symbol: str


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """A venue's documented limits, used by the planner and the rate limiters."""

    topics_per_connection: int
    messages_per_second: float
    connects_per_window: int
    connect_window_s: float
    rest_weight_per_minute: int = 0
    messages_per_minute: int | None = None  # a second cap on sent messages (Upbit: 100/min)
    max_connection_lifetime_s: float | None = None


@dataclass(slots=True)
class ConnectionSpec:
    """What one connection slot carries: a stable id (``binance-03``) and its topics."""

    connection_id: str
    topics: tuple[Topic, ...]
    venue_symbols: dict[str, str] = field(default_factory=dict)


class VenueProtocol(ABC):
    """One venue connection's protocol state machine. Subclasses live in ``venues/<v>/``."""

    exchange: str

    @abstractmethod
    def connect_url(self) -> str:
        """The WebSocket URL to open (may encode the subscriptions, as Binance streams do)."""

    def connect_headers(self, now: int) -> list[tuple[str, str]]:
        """HTTP headers for the upgrade request, built at every (re)connect (API keys, a fresh
        JWT). Secrets go here and nowhere else: never into actions, statuses or logs."""
        return []

    @abstractmethod
    def on_open(self, now: int) -> list[Action]:
        """The socket is open: return the subscribe frames (fresh state, as after a reconnect)."""

    @abstractmethod
    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        """One received frame. Must not raise: bad input becomes ``CountParseError``."""

    def on_snapshot(self, key: str, body: bytes, now: int) -> list[Action]:
        """The REST body for a ``FetchSnapshot(key)``."""
        return []

    def on_snapshot_failed(self, key: str, reason: str, now: int) -> list[Action]:
        """The REST request for ``key`` failed after the runtime's retries."""
        return []

    def on_tick(self, now: int) -> list[Action]:
        """Called about once a second: application-level pings, book checkpoints, timers."""
        return []

    @abstractmethod
    def on_close(self, now: int) -> list[Action]:
        """The socket closed: every synced book is invalid now (``book_reset`` statuses)."""

    # -- make-before-break ----------------------------------------------------------------------

    def carry_over(self, previous: VenueProtocol) -> None:
        """This fresh instance will replace ``previous`` (same venue, same topics): copy what
        must outlive one socket, such as the ids of trades already published that the venue
        replays on subscribe, before ``on_open``. Copies, not shares: both run side by side."""
        return None

    def unsynced_books(self) -> int:
        """Books not synced yet; the runtime switches to a replacement only at 0."""
        return 0

    def on_handover(self, now: int) -> list[Action]:
        """Publishing switches to this connection now, from the one it replaces (whose output
        stops here). What it emitted so far was not published, so return what subscribers
        need to continue from it: each synced book whole (a ``book_snapshot`` that replaces
        the old connection's book, no reset) and the bbo; a book still syncing is reset."""
        return []
