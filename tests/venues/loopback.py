"""Any venue's protocol talking to that venue's simulator in-process, without sockets: what the
connection runner and ``SimServer`` do, minus time, pacing and faults. The protocol's sends go
to ``sim.on_client_text`` and the replies come back as frames, snapshot requests are answered by
``sim.http_get``, and each step of the simulated market is rendered into the frames this
session receives. ``Follower`` rebuilds the published books from the emitted events the way a
subscriber does, so a test can compare them with the simulator's true book.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from feedgate.events import BookDelta, BookSnapshot, Status, StatusEvent
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    FetchSnapshot,
    Send,
    Topic,
    VenueProtocol,
)
from feedgate.venues import get_venue
from tests.venues.actions import events
from tests.venues.refbook import Side, best_first, set_level

SYMBOLS = ("BTC-USDT", "ETH-USDT")
T0 = 1_700_000_000_000_000
STEP_US = 100_000  # one market step: 100 ms, the simulators' usual depth interval


def make_sim(venue: str, symbols: tuple[str, ...] = SYMBOLS, seed: int = 3) -> Any:
    module = importlib.import_module(f"feedgate.venues.{venue}.sim")
    return module.make_simulator(list(symbols), seed=seed)


def make_protocol(
    venue: str, sim: Any, symbols: tuple[str, ...] = SYMBOLS, **options: Any
) -> VenueProtocol:
    """The venue's protocol for every public channel it offers over ``symbols``, pointed at
    ``sim`` (its URLs are never dialled: only their paths reach the simulator), with the
    venue's ``options`` besides."""
    spec = get_venue(venue)
    urls = {"ws_url": "ws://sim", "rest_url": "http://sim"}
    validated = spec.options_type.model_validate(
        {**urls, **getattr(sim, "gateway_options", {}), **options}
    )
    channels = sorted(spec.channels)
    if spec.symbolless:
        topics = tuple(Topic(channel, "") for channel in channels)
        mapping: dict[str, str] = {}
    else:
        topics = tuple(Topic(channel, symbol) for symbol in symbols for channel in channels)
        mapping = {symbol: sim.venue_symbol(symbol) for symbol in symbols}
    return spec.make_protocol(ConnectionSpec(f"{venue}-00", topics, mapping), validated)


def url_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Loopback:
    """One connection between ``proto`` and ``sim``; ``now`` advances one step at a time."""

    proto: VenueProtocol
    sim: Any
    now: int = T0
    session: Any = None
    follower: Follower = field(default_factory=lambda: Follower())
    seen: list[str | bytes] = field(default_factory=list)
    """Every frame the protocol was given, in order."""
    log: list[Action] = field(default_factory=list)
    """Every action the protocol returned, in order."""
    snapshots: list[FetchSnapshot] = field(default_factory=list)
    """Requested, served before the next market step (the runtime fetches them meanwhile)."""
    check: Callable[[list[Action]], None] | None = None
    """Called with every list of actions the protocol returns (a test's assertions)."""

    def open(self, *, answer: bool = True) -> list[Action]:
        """Connect: what ``on_open`` answered, carried out unless ``answer`` is False (the
        subscriptions then wait, unanswered, for ``carry_out``)."""
        path = url_path(self.proto.connect_url())
        if getattr(self.sim, "wants_headers", False):
            headers = {k.lower(): v for k, v in self.proto.connect_headers(self.now)}
            self.session = self.sim.open_session(path, headers)
        else:
            self.session = self.sim.open_session(path)
        assert self.session is not None, f"the simulator refused {path}"
        actions = self.proto.on_open(self.now)
        return self.carry_out(actions) if answer else actions

    def close(self) -> list[Action]:
        return self.carry_out(self.proto.on_close(self.now))

    def carry_out(self, actions: list[Action]) -> list[Action]:
        """Do what the runtime would with ``actions``: sends reach the simulator, whose replies
        are frames again; snapshot requests wait for the next market step. Returns
        ``actions``."""
        if self.check is not None:
            self.check(actions)
        self.log += actions
        self.follower.apply(actions)
        for action in actions:
            if isinstance(action, Send):
                for reply in self.sim.on_client_text(self.session, action.data):
                    self.frame(reply)
            elif isinstance(action, FetchSnapshot):
                self.snapshots.append(action)
        return actions

    def frame(self, frame: str | bytes) -> list[Action]:
        """One frame from the venue: what ``on_frame`` answered (already carried out)."""
        self.seen.append(frame)
        return self.carry_out(self.proto.on_frame(frame, self.now))

    def market_frames(self, trades: int = 1) -> list[bytes]:
        """One market step (book updates, then ``trades`` trades a symbol) as the frames this
        session receives, once the snapshots asked for meanwhile were served. The simulator's
        state moves on: call once per step."""
        asked, self.snapshots = self.snapshots, []  # asked again meanwhile: the next step
        for action in asked:
            answer = self.sim.http_get(url_path(action.url))
            assert answer is not None, f"the simulator has no {action.url}"
            self.carry_out(self.proto.on_snapshot(action.key, answer[1], self.now))
        self.now += STEP_US
        events = list(self.sim.tick_events(self.now))
        for symbol in self.sim.symbols:
            events += self.sim.trade_events(symbol, self.now, trades)
        rendered = (self.sim.render(self.session, event) for event in events)
        return [frame for frame in rendered if frame is not None]

    def step(self, trades: int = 1) -> list[Action]:
        out: list[Action] = []
        for frame in self.market_frames(trades):
            out += self.frame(frame)
        return out


@dataclass
class Follower:
    """The books as a subscriber sees them (``refbook``: the venue's text keyed by ``Decimal``
    price): loaded from ``book_snapshot``, moved by ``book_delta``, gone from ``book_reset`` until
    the next snapshot. A delta for a book it does not hold raises: one was published on an
    invalid book."""

    books: dict[str, tuple[Side, Side]] = field(default_factory=dict)

    def apply(self, actions: list[Action]) -> None:
        for event in events(actions):
            if isinstance(event, Status) and event.event is StatusEvent.BOOK_RESET:
                self.books.pop(event.venue_symbol or "", None)
                continue
            if isinstance(event, BookSnapshot) and not event.checkpoint:
                self.books[event.venue_symbol] = ({}, {})
            elif not isinstance(event, BookDelta):
                continue
            bids, asks = self.books[event.venue_symbol]
            for side, levels in ((bids, event.bids), (asks, event.asks)):
                for price, size in levels:
                    set_level(side, price, size)

    def levels(self, venue_symbol: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
        return as_decimals(*best_first(*self.books[venue_symbol]))


def as_decimals(*sides: Iterable[Sequence[str]]) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    return tuple([(Decimal(p), Decimal(s)) for p, s in side] for side in sides)


def true_levels(sim: Any, venue_symbol: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    _, bids, asks = sim.true_book(venue_symbol)
    return as_decimals(bids, asks)
