"""Coinbase Advanced Trade venue simulator (exchanges.md §2), pure: no clocks, sockets or asyncio.

``CoinbaseSim`` holds one seeded market per product (the Binance simulator's ``SymbolMarket``
random walk, rendered in Coinbase's decimal spelling) and speaks the venue's wire format through
``wire.py``, the same builders the protocol's tests read. The asyncio server
(``feedgate.runtime.simserver``) owns sockets and time and calls in here with the time in µs.

What it imitates: the market data socket at the root path (§2.1); one channel per subscribe
message, a channel's snapshot(s) and then the cumulative ``subscriptions`` acknowledgement, as
recorded (§2.2); an error frame, and no subscription, for a message naming an unknown product or
channel (shape UNCONFIRMED: the doc's example); ``sequence_num`` per connection from 0, over every
message (§2.7); ``heartbeats`` once a second (§2.6); ``market_trades`` newest first with the
maker's ``side`` (NOTES.md), a snapshot of the last 100 trades (as captured); ``l2_data`` full-book
snapshot then updates (§2.5); the 5 s subscribe deadline and 8 client messages/s (§2.2, §2.8);
and the public products list (captured shape).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from feedgate.venues.binance.simmarket import SymbolMarket, TakerOrder
from feedgate.venues.coinbase import wire

CHANNELS = (wire.LEVEL2, wire.MARKET_TRADES, wire.HEARTBEATS)
TRADE_HISTORY = 100  # a captured market_trades snapshot holds a product's last 100 trades
START_US = 1_786_309_548_000_000  # when the capture was recorded: the time before any timed call
PRODUCTS_PATH = "/api/v3/brokerage/market/products"


def coinbase_text(text: str) -> str:
    """The market model's 8-decimal text in Coinbase's spelling, as captured (``"65083.67"``,
    ``"0.002186"``, ``"0"``): trailing zeros and a bare point dropped."""
    if "." not in text:
        return text
    trimmed = text.rstrip("0")
    return trimmed[:-1] if trimmed.endswith(".") else trimmed


def _levels(levels: list[list[str]]) -> list[list[str]]:
    return [[coinbase_text(price), coinbase_text(size)] for price, size in levels]


@dataclass(slots=True)
class CoinbaseEvent:
    """One market message for the sessions subscribed to ``product`` on ``channel`` (``level2``
    or ``market_trades``), completed with each session's own ``sequence_num``. ``skip`` > 0 is
    that many messages lost on the way: they take sequence numbers and are never sent."""

    channel: str
    product: str
    head: bytes = b""
    tail: bytes = b""
    skip: int = 0


@dataclass(slots=True)
class CoinbaseSession:
    """One client connection: what it subscribed and its message counter."""

    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    """channel → products (``heartbeats`` → {"heartbeats"}, as the acknowledgement lists it)"""
    seq: int = 0
    """The next ``sequence_num`` (§2.7: per connection, from 0 as captured)."""
    heartbeats: int = 0

    def number(self) -> bytes:
        seq = self.seq
        self.seq = seq + 1
        return str(seq).encode()


class CoinbaseSim:
    """Deterministic Coinbase market for ``symbols`` = [(product id, base, quote), …]."""

    venue = "coinbase"

    def __init__(
        self,
        symbols: list[tuple[str, str, str]],
        *,
        seed: int = 0,
        levels: int = 300,
        changes_per_update: int = 4,
    ) -> None:
        # simserver features (simapi.OPTIONAL_FEATURES); per instance so tests can shorten them
        self.subscribe_deadline_s: float | None = 5.0  # §2.2
        self.periodic_interval_s = 1.0  # §2.6: heartbeats once a second
        self.client_msgs_per_s: int | None = 8  # §2.8: unauthenticated messages per second
        self.server_ping_interval_s: float | None = None  # keepalive is the heartbeats channel
        self._rng = random.Random(seed)
        self._symbols = list(symbols)
        self.markets = {
            product: SymbolMarket(
                product, base, quote, random.Random(self._rng.getrandbits(64)),
                levels=levels, changes_per_update=changes_per_update,
            )
            for product, base, quote in symbols
        }  # fmt: skip
        self._history: dict[str, deque[dict[str, Any]]] = {
            product: deque(maxlen=TRADE_HISTORY) for product in self.markets
        }
        self._skips: dict[str, int] = {}
        self._now_us = START_US
        self._rr = 0
        self.unknown_products: list[str] = []

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0) -> CoinbaseSim:
        """``["BTC-USDT"]``: product ids are canonical ``BASE-QUOTE`` already (§2.9)."""
        parts = [s.upper().split("-") for s in symbols]
        if any(len(p) != 2 or not all(p) for p in parts):
            raise ValueError(f"symbols must be BASE-QUOTE: {symbols}")
        return cls([(f"{b}-{q}", b, q) for b, q in parts], seed=seed)

    @property
    def symbols(self) -> list[str]:
        return list(self.markets)

    def venue_symbol(self, symbol: str) -> str:
        return symbol.upper()

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        """(the model's update counter, bids, asks), best first: what a correct book must equal."""
        market = self.markets[symbol]
        bids, asks = market.top(max(len(market.bids), len(market.asks)))
        return market.last_update_id, _levels(bids), _levels(asks)

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """The next book update of ``symbol`` comes after ``n`` lost messages: the book moves on
        meanwhile and every session subscribed to it sees ``sequence_num`` jump (§2.7)."""
        self.markets[symbol].skip_update_ids(n)
        self._skips[symbol] = self._skips.get(symbol, 0) + max(1, n)

    # -- market events --------------------------------------------------------------------------

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[CoinbaseEvent]:
        """One book step of each product in ``symbols`` (default all): ``l2_data`` updates."""
        self._now_us = now_us
        event_time = wire.format_rfc3339(now_us)
        stamp = self._stamp(now_us)
        out: list[CoinbaseEvent] = []
        for product in self.markets if symbols is None else symbols:
            _hidden, change = self.markets[product].next_depth(now_us)
            skip = self._skips.pop(product, 0)
            if skip:
                out.append(CoinbaseEvent(wire.LEVEL2, product, skip=skip))
            if change.bids or change.asks:
                bids, asks = _levels(change.bids), _levels(change.asks)
                event = wire.l2_event("update", product, event_time, bids, asks)
                out.append(self._event(wire.LEVEL2, wire.L2_DATA, product, stamp, event))
        return out

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[CoinbaseEvent]:
        """``n`` taker orders of ``symbol`` as one ``market_trades`` update (§2.4 batches them),
        one trade per fill, newest first."""
        self._now_us = now_us
        time = wire.format_rfc3339(now_us)
        trades: list[dict[str, Any]] = []
        market = self.markets[symbol]
        for _ in range(n):
            trades += self._trades(market.next_trade(now_us), time)
        self._history[symbol].extend(trades)
        trades.reverse()
        event = {"type": "update", "trades": trades}
        stamp = self._stamp(now_us)
        return [self._event(wire.MARKET_TRADES, wire.MARKET_TRADES, symbol, stamp, event)]

    def trade_ids(self, event: CoinbaseEvent) -> list[tuple[str, str]]:
        """The ``trade_id``s of a ``market_trades`` update (§2.4)."""
        if event.channel != wire.MARKET_TRADES:
            return []
        events = orjson.loads(event.tail[len(b',"events":') : -1])
        return [(t["product_id"], t["trade_id"]) for e in events for t in e["trades"]]

    def render(self, session: CoinbaseSession, event: CoinbaseEvent) -> bytes | None:
        """The frame ``session`` receives for ``event`` (None when not subscribed or lost)."""
        products = session.subscriptions.get(event.channel)
        if products is None or event.product not in products:
            return None
        if event.skip:
            session.seq += event.skip
            return None
        return event.head + session.number() + event.tail

    def periodic_frames(self, session: CoinbaseSession, now_us: int) -> list[bytes]:
        """§2.6 heartbeats, once a second to sessions subscribed to them."""
        self._now_us = max(self._now_us, now_us)
        if wire.HEARTBEATS not in session.subscriptions:
            return []
        session.heartbeats += 1
        go_time = wire.format_rfc3339(now_us, self._nanos(now_us))[:-1].replace("T", " ")
        monotonic = max(0, now_us - START_US) / 1e6
        event = wire.heartbeat_event(f"{go_time} +0000 UTC m=+{monotonic:.9f}", session.heartbeats)
        return [self._frame(session, wire.HEARTBEATS, event)]

    def saturation_frames(self, session: CoinbaseSession, now_us: int, n: int) -> list[bytes]:
        """About ``n`` ``market_trades`` frames (one taker order each) for the session's trade
        subscriptions, round-robin (benchmark mode: as fast as the client drains)."""
        products = sorted(p for p in session.subscriptions.get(wire.MARKET_TRADES, ()))
        products = [p for p in products if p in self.markets]
        if not products:
            return []
        self._now_us = now_us
        time = wire.format_rfc3339(now_us)
        head = b'{"channel":"market_trades","client_id":"","timestamp":"%s","sequence_num":' % (
            self._stamp(now_us).encode()
        )
        out: list[bytes] = []
        dumps = orjson.dumps
        while len(out) < n:
            self._rr = (self._rr + 1) % len(products)
            product = products[self._rr]
            trades = self._trades(self.markets[product].next_trade(now_us), time)
            self._history[product].extend(trades)
            trades.reverse()
            events = dumps([{"type": "update", "trades": trades}])
            out.append(head + session.number() + b',"events":' + events + b"}")
        return out

    def malformed_frames(self) -> list[bytes]:
        """A non-JSON text frame and a JSON frame of an unknown shape (§2.3: expect unknowns).
        Neither carries a ``sequence_num``: they are not messages of any one connection."""
        return [b"this is not json {", orjson.dumps({"channel": "mystery", "events": [{"x": 1}]})]

    def shutdown_frames(self, session: CoinbaseSession, now_us: int) -> list[bytes]:
        """Coinbase documents no shutdown notice (§2.8): nothing."""
        return []

    # -- sessions and control frames (§2.2) -----------------------------------------------------

    def open_session(self, path: str) -> CoinbaseSession | None:
        """The market data socket is the root path (§2.1); anything else is a 404."""
        return CoinbaseSession() if urlsplit(path).path in ("", "/") else None

    def subscriptions(self, session: CoinbaseSession) -> list[str]:
        return sorted(
            channel if channel == wire.HEARTBEATS else f"{channel}:{product}"
            for channel, products in session.subscriptions.items()
            for product in products
        )

    def on_client_text(self, session: CoinbaseSession, text: str) -> list[bytes]:
        """§2.2 ``{"type": "subscribe", "product_ids": [...], "channel": "level2"}`` (or
        ``unsubscribe``; without ``product_ids`` that drops the whole channel). A subscribe gets
        each product's snapshot, then the acknowledgement; an unknown product or channel fails
        the whole message with an error frame (UNCONFIRMED)."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [wire.error_frame()]
        if type(request) is not dict:
            return [wire.error_frame()]
        kind, channel = request.get("type"), request.get("channel")
        if kind not in ("subscribe", "unsubscribe") or channel not in CHANNELS:
            return [wire.error_frame()]
        products = request.get("product_ids")
        if channel == wire.HEARTBEATS:
            products = [wire.HEARTBEATS]
        elif products is None and kind == "unsubscribe":
            products = list(session.subscriptions.get(channel, ()))
        if type(products) is not list or not all(type(p) is str for p in products):
            return [wire.error_frame()]
        if kind == "unsubscribe":
            current = session.subscriptions.get(channel, set())
            current.difference_update(products)
            if not current:
                session.subscriptions.pop(channel, None)
            return [self._ack(session)]
        unknown = [p for p in products if p not in self.markets and channel != wire.HEARTBEATS]
        if unknown or not products:
            self.unknown_products += unknown
            return [wire.error_frame()]
        session.subscriptions.setdefault(channel, set()).update(products)
        replies = [] if channel == wire.HEARTBEATS else [
            self._snapshot(session, channel, product) for product in products
        ]  # fmt: skip
        replies.append(self._ack(session))
        return replies

    def _snapshot(self, session: CoinbaseSession, channel: str, product: str) -> bytes:
        """§2.5 the whole book, or §2.4 the last trades newest first, of one product."""
        if channel == wire.LEVEL2:
            market = self.markets[product]
            bids, asks = market.top(max(len(market.bids), len(market.asks)))
            time = wire.format_rfc3339(self._now_us)
            event = wire.l2_event("snapshot", product, time, _levels(bids), _levels(asks))
            return self._frame(session, wire.L2_DATA, event)
        trades = list(reversed(self._history[product]))
        return self._frame(session, wire.MARKET_TRADES, {"type": "snapshot", "trades": trades})

    def _ack(self, session: CoinbaseSession) -> bytes:
        """§2.2 the cumulative acknowledgement, channels in alphabetical order (as captured)."""
        subscriptions = {c: sorted(session.subscriptions[c]) for c in sorted(session.subscriptions)}
        return self._frame(session, wire.SUBSCRIPTIONS, wire.subscriptions_event(subscriptions))

    # -- REST ---------------------------------------------------------------------------------

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """``/api/v3/brokerage/market/products`` (captured shape); None = 404."""
        if urlsplit(path).path == PRODUCTS_PATH:
            return 200, wire.products_body(self._symbols)
        return None

    # -- rendering ----------------------------------------------------------------------------

    def _trades(self, order: TakerOrder, time: str) -> list[dict[str, Any]]:
        """One trade per fill, ``side`` the maker's: a taker sell hits a resting buy (NOTES.md)."""
        side = "BUY" if order.buyer_is_maker else "SELL"
        price = coinbase_text(order.price)
        return [
            wire.trade(order.symbol, order.first_id + i, price, coinbase_text(size), time, side)
            for i, size in enumerate(order.fills)
        ]

    def _nanos(self, now_us: int) -> int:
        return (now_us * 7919) % 1000  # the envelope has ns digits (§2.9); any will do

    def _stamp(self, now_us: int) -> str:
        return wire.format_rfc3339(now_us, self._nanos(now_us))

    def _event(
        self, channel: str, name: str, product: str, stamp: str, event: dict[str, Any]
    ) -> CoinbaseEvent:
        """The envelope (§2.3) split around ``sequence_num``, which each session fills in."""
        head = b'{"channel":"%s","client_id":"","timestamp":"%s","sequence_num":' % (
            name.encode(),
            stamp.encode(),
        )
        tail = b',"events":' + orjson.dumps([event]) + b"}"
        return CoinbaseEvent(channel, product, head, tail)

    def _frame(self, session: CoinbaseSession, channel: str, event: dict[str, Any]) -> bytes:
        seq = session.seq
        session.seq += 1
        return wire.envelope(channel, self._stamp(self._now_us), seq, [event])


def make_simulator(symbols: list[str], *, seed: int = 0) -> CoinbaseSim:
    """The ``simserver`` entry point: canonical ``BASE-QUOTE`` symbols."""
    return CoinbaseSim.from_canonical(symbols, seed=seed)
