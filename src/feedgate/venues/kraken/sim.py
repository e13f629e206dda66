"""Kraken Spot WebSocket v2 venue simulator (exchanges.md §3), pure: no clocks, sockets or asyncio.

``KrakenSim`` holds one seeded market per symbol (Binance's ``SymbolMarket``, seen through
``simbook.KrakenBookFeed``) and speaks Kraken v2 through ``wire.py``: the session path ``/v2``,
per-symbol subscribe/unsubscribe acks and errors (§3.2), book snapshots and updates truncated to
the subscribed depth with CRC32 checksums (§3.4/§3.5), trades (§3.3), ``heartbeat`` about once a
second and ``pong`` for ``ping`` (§3.6), and REST ``/0/public/AssetPairs`` with the precisions.
The server (``feedgate.runtime.simserver``) owns sockets and time and calls in with µs.

Simplifications: the connect-time status message (§3.1) goes out with the first reply (the
server has no on-connect hook); heartbeats are sent every second, not only when quiet; trade
snapshots are acked but never sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from feedgate.venues.binance.simmarket import SymbolMarket, fmt
from feedgate.venues.kraken import wire
from feedgate.venues.kraken.simbook import QTY_DP, KrakenBookFeed, Levels, number

Topic = tuple[str, str, int]
"""(channel, venue symbol, depth); trades use depth 0."""


@dataclass(slots=True)
class KrakenEvent:
    """One frame for one topic, rendered once for every session subscribed to it."""

    topic: Topic
    frame: bytes


@dataclass(slots=True)
class KrakenSession:
    """What one client connection subscribed (§3.2): (channel, symbol) → depth."""

    connection_id: int
    subs: dict[tuple[str, str], int] = field(default_factory=dict)
    topics: set[Topic] = field(default_factory=set)
    greeted: bool = False


def _levels(levels: Levels) -> list[wire.WireLevel]:
    return [(number(p), number(q)) for p, q in levels]


class KrakenSim:
    """Deterministic Kraken v2 market for ``symbols`` = [(venue symbol, base, quote), …]."""

    venue = "kraken"
    server_ping_interval_s: float | None = None  # §3.6: keepalive is app-level
    client_msgs_per_s: int | None = 20  # §3.7: dynamic, no published number (UNCONFIRMED)
    periodic_interval_s = 1.0  # §3.6 heartbeat ~1/s

    def __init__(
        self, symbols: list[tuple[str, str, str]], *, seed: int = 0, levels: int = 300
    ) -> None:
        rng = random.Random(seed)
        self._pairs = list(symbols)
        self.feeds = {
            s: KrakenBookFeed(
                SymbolMarket(s, b, q, random.Random(rng.getrandbits(64)), levels=levels)
            )
            for s, b, q in symbols
        }
        self._depth: dict[str, int] = {}  # last subscribed book depth per symbol (true_book)
        self._now_us = 0
        self._next_connection = rng.randrange(10**10, 10**11)
        self._rr = 0

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0) -> KrakenSim:
        """``["BTC-USD"]`` → venue ``BTC/USD`` (§3.8)."""
        parts = [s.upper().split("-") for s in symbols]
        if any(len(p) != 2 or not all(p) for p in parts):
            raise ValueError(f"symbols must be BASE-QUOTE: {symbols}")
        return cls([(f"{b}/{q}", b, q) for b, q in parts], seed=seed)

    @property
    def symbols(self) -> list[str]:
        return list(self.feeds)

    def venue_symbol(self, symbol: str) -> str:
        """``BTC-USD`` → ``BTC/USD`` (§3.8)."""
        return symbol.upper().replace("-", "/")

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        """(steps, bids, asks) best first, truncated to the depth last subscribed for ``symbol``
        (10 before any): exactly what a correct gateway book holds (§3.4)."""
        feed = self.feeds[symbol]
        bids, asks = feed.top(self._depth.get(symbol, 10))
        text = [[[fmt(p), fmt(q)] for p, q in side.items()] for side in (bids, asks)]
        return feed.steps, text[0], text[1]

    def precisions(self) -> dict[str, tuple[int, int]]:
        return {s: (feed.price_dp, QTY_DP) for s, feed in self.feeds.items()}

    # -- market data ---------------------------------------------------------------------------

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[KrakenEvent]:
        """``n`` taker orders of ``symbol``, one §3.3 message each (one trade per fill)."""
        self._now_us = now_us
        return [KrakenEvent((wire.TRADE, symbol, 0), self._trade_frame(symbol, now_us))
                for _ in range(n)]  # fmt: skip

    def _trade_frame(self, symbol: str, now_us: int) -> bytes:
        o = self.feeds[symbol].market.next_trade(now_us)
        side = "sell" if o.buyer_is_maker else "buy"
        ord_type = "market" if o.agg_id % 3 else "limit"
        ts = wire.format_timestamp(now_us)
        price = float(o.price)
        return wire.trade_frame([
            wire.trade_entry(symbol, side, price, float(q), ord_type, o.first_id + i, ts)
            for i, q in enumerate(o.fills)
        ])  # fmt: skip

    def trade_ids(self, event: KrakenEvent) -> list[tuple[str, str]]:
        """The ``trade_id``s of a trade message (§3.3)."""
        if event.topic[0] != wire.TRADE:
            return []
        return [(t["symbol"], str(t["trade_id"])) for t in orjson.loads(event.frame)["data"]]

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[KrakenEvent]:
        """One market step of each book in ``symbols``: an update per subscribed depth."""
        self._now_us = now_us
        ts = wire.format_timestamp(now_us)
        out: list[KrakenEvent] = []
        for symbol in self.feeds if symbols is None else symbols:
            for depth, (bids, asks, checksum) in self.feeds[symbol].step(now_us).items():
                entry = wire.book_entry(symbol, _levels(bids), _levels(asks), checksum, ts)
                out.append(
                    KrakenEvent((wire.BOOK, symbol, depth), wire.book_frame("update", [entry]))
                )
        return out

    def render(self, session: KrakenSession, event: KrakenEvent) -> bytes | None:
        return event.frame if event.topic in session.topics else None

    def periodic_frames(self, session: KrakenSession, now_us: int) -> list[bytes]:
        """§3.6 heartbeat, once a subscription exists."""
        return [wire.HEARTBEAT_FRAME] if session.subs else []

    def saturation_frames(self, session: KrakenSession, now_us: int, n: int) -> list[bytes]:
        """About ``n`` trade frames for the session's trade subscriptions, round-robin."""
        symbols = [s for (channel, s) in session.subs if channel == wire.TRADE]
        if not symbols:
            return []
        out: list[bytes] = []
        while len(out) < n:
            self._rr = (self._rr + 1) % len(symbols)
            out.append(self._trade_frame(symbols[self._rr], now_us))
        return out

    def malformed_frames(self) -> list[bytes]:
        """A non-JSON text frame and a JSON frame of an unknown channel (§0: expect unknowns)."""
        unknown = {"channel": "mystery", "type": "update", "data": [{"x": [1, 2]}]}
        return [b"this is not json {", orjson.dumps(unknown)]

    def shutdown_frames(self, session: KrakenSession, now_us: int) -> list[bytes]:
        return []  # Kraken announces no shutdown on the socket (§3)

    # -- faults ----------------------------------------------------------------------------------

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """No ids on Kraken: the next step moves the touch sizes without sending them, so the
        next update's checksum (of the true book) does not match a client's book (§3.5)."""
        self.feeds[symbol].market.skip_update_ids(n)

    def checksum_flip(self, symbol: str) -> None:
        """The next book update of ``symbol`` carries a wrong checksum."""
        self.feeds[symbol].flip_next()

    # -- sessions and control frames (§3.2, §3.6) ------------------------------------------------

    def open_session(self, path: str) -> KrakenSession | None:
        if urlsplit(path).path.rstrip("/") != wire.PATH:
            return None
        self._next_connection += 1
        return KrakenSession(self._next_connection)

    def subscriptions(self, session: KrakenSession) -> list[str]:
        return [f"{channel}:{symbol}" for channel, symbol in session.subs]

    def on_client_text(self, session: KrakenSession, text: str) -> list[bytes]:
        replies = self._answer(session, text)
        if not session.greeted:
            session.greeted = True
            replies.insert(0, wire.status_frame(session.connection_id))
        return replies

    def _answer(self, session: KrakenSession, text: str) -> list[bytes]:
        stamp = wire.format_timestamp(self._now_us)
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            return [wire.error_frame("error", "Malformed request", None, None, stamp, stamp)]
        method, req_id = request.get("method"), request.get("req_id")
        if method == "ping":
            return [wire.pong_frame(req_id, stamp, stamp)]
        params = request.get("params")
        if method not in ("subscribe", "unsubscribe") or not isinstance(params, dict):
            return [wire.error_frame("error", "Malformed request", None, req_id, stamp, stamp)]
        channel, symbols = params.get("channel"), params.get("symbol")
        if channel not in (wire.BOOK, wire.TRADE) or not isinstance(symbols, list):
            error = f"Channel {channel} not supported"  # text UNCONFIRMED
            return [wire.error_frame(method, error, None, req_id, stamp, stamp)]
        depth = params.get("depth", 10) if channel == wire.BOOK else 0
        if channel == wire.BOOK and depth not in wire.DEPTHS:
            return [wire.error_frame(method, f"Invalid depth {depth}", None, req_id, stamp, stamp)]
        acks: list[bytes] = []
        snapshots: list[bytes] = []
        for symbol in symbols:
            refusal = self._check(session, method, channel, symbol)
            if refusal is not None:
                name = symbol if isinstance(symbol, str) else None
                acks.append(wire.error_frame(method, refusal, name, req_id, stamp, stamp))
                continue
            result: dict[str, Any] = {"channel": channel}
            if channel == wire.BOOK:
                result["depth"] = depth
            if method == "unsubscribe":
                session.topics.discard((channel, symbol, session.subs.pop((channel, symbol))))
            else:
                result["snapshot"] = bool(params.get("snapshot", channel == wire.BOOK))
                session.subs[(channel, symbol)] = depth
                session.topics.add((channel, symbol, depth))
                if channel == wire.BOOK:
                    self._depth[symbol] = depth
                    if result["snapshot"]:
                        snapshots.append(self._snapshot(symbol, depth))
            result["symbol"] = symbol
            acks.append(wire.ack_frame(method, result, req_id, stamp, stamp))
        return acks + snapshots

    def _check(self, session: KrakenSession, method: str, channel: str, symbol: Any) -> str | None:
        """The §3.2 per-symbol error, or None (texts other than the first UNCONFIRMED)."""
        if not isinstance(symbol, str) or symbol not in self.feeds:
            return f"Currency pair not supported {symbol}"
        subscribed = (channel, symbol) in session.subs
        if method == "subscribe" and subscribed:
            return "Already subscribed"
        if method == "unsubscribe" and not subscribed:
            return "Subscription Not Found"
        return None

    def _snapshot(self, symbol: str, depth: int) -> bytes:
        """§3.4 snapshot of the current window (no ``timestamp``, as in the capture)."""
        bids, asks, checksum = self.feeds[symbol].subscribe(depth)
        entry = wire.book_entry(symbol, _levels(bids), _levels(asks), checksum, None)
        return wire.book_frame("snapshot", [entry])

    # -- REST --------------------------------------------------------------------------------------

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """``/0/public/AssetPairs`` (§3.5 precisions); None = 404."""
        if urlsplit(path).path != wire.ASSET_PAIRS_PATH:
            return None
        pairs = [(b, q, self.feeds[s].price_dp, QTY_DP) for s, b, q in self._pairs]
        return 200, wire.asset_pairs_body(pairs)


def make_simulator(symbols: list[str], *, seed: int = 0) -> KrakenSim:
    """The ``simserver`` entry point: canonical ``BASE-QUOTE`` symbols."""
    return KrakenSim.from_canonical(symbols, seed=seed)
