"""Bybit v5 public venue simulator (exchanges.md §6), pure: no clocks, sockets or asyncio.

``BybitSim`` holds one seeded book per symbol (``simbook.SimBook``) and speaks the v5 public
protocol through ``wire.py``, the builders the protocol's tests read: sessions on
``/v5/public/spot`` and ``/v5/public/linear`` (one market serves both), ``subscribe`` /
``unsubscribe`` with acks and failures, ``{"op":"ping"}`` → pong, an ``orderbook.{depth}``
snapshot after the subscribe ack (at the next book step, stamped with its time; that session
gets nothing of the topic before it) then deltas, ``publicTrade`` messages, and the REST
instrument list. The asyncio server (``feedgate.runtime.simserver``) owns sockets and time.

Simulator choices where §6 is silent (UNCONFIRMED, see NOTES.md): a subscribe with any unknown
topic fails as a whole (nothing of it is applied) with ``"Invalid topic: <topic>"`` and, like
the documented sample, no ``req_id`` unless ``echo_req_id_on_error``; more than 10 args fails
with ``"args size >10"``; subscribing a topic again is acknowledged and re-sends its snapshot.
The idle cut (§6.6, ~10 minutes without ping or data) is not modelled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from feedgate.venues.binance.simmarket import SymbolMarket, TakerOrder
from feedgate.venues.bybit import wire
from feedgate.venues.bybit.options import MAX_ARGS_PER_SUBSCRIBE
from feedgate.venues.bybit.simbook import BookFrame, SimBook, cut

MAX_ARGS_CHARS = 21_000  # §6.6 total args length per connection
_CATEGORIES = (wire.SPOT, wire.LINEAR)


@dataclass(slots=True)
class StreamEvent:
    """One message for one topic, rendered at most once per category."""

    topic: str
    book: BookFrame | None = None
    trade: tuple[str, int, list[dict[str, Any]]] | None = None  # (symbol, ts ms, items)
    image: bool = False  # a subscribe snapshot: only for sessions still waiting for it
    cache: list[bytes | None] = field(default_factory=lambda: [None, None])


@dataclass(slots=True)
class BybitSession:
    """One client connection: its endpoint category and subscribed topics (in order)."""

    category: str
    conn_id: str
    topics: dict[str, None] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    """Book topics subscribed whose first image has not been sent yet."""


def _render(event: StreamEvent, category: str) -> bytes:
    if event.book is not None:
        f = event.book
        return orjson.dumps(wire.book_message(
            category, f.depth, f.symbol, f.kind, f.bids, f.asks, f.u, f.seq, f.ts_ms, f.cts_ms,
        ))  # fmt: skip
    assert event.trade is not None
    symbol, ts_ms, items = event.trade
    return orjson.dumps(wire.trade_message(category, symbol, ts_ms, items))


class BybitSim:
    """Deterministic Bybit market for ``symbols`` = [(venue_symbol, base, quote), …].

    ``depth`` is the book depth ``true_book`` describes (the gateway's default, 50)."""

    venue = "bybit"
    server_ping_interval_s: float | None = None  # keepalive is the client's {"op":"ping"} (§6.6)
    client_msgs_per_s: int | None = None  # no client message rate documented for public streams

    def __init__(
        self,
        symbols: list[tuple[str, str, str]],
        *,
        seed: int = 0,
        levels: int = 300,
        depth: int = 50,
        echo_req_id_on_error: bool = False,
    ) -> None:
        self._rng = random.Random(seed)
        self._symbols = list(symbols)
        self.books = {
            s: SimBook(
                SymbolMarket(s, b, q, random.Random(self._rng.getrandbits(64)), levels=levels),
                random.Random(self._rng.getrandbits(64)),
            )
            for s, b, q in symbols
        }
        self.depth = depth
        self.echo_req_id_on_error = echo_req_id_on_error
        self._images: set[str] = set()  # book topics whose image is due at the next step
        self._sessions = 0
        self._rr = 0

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0) -> BybitSim:
        """``["BTC-USDT"]`` → venue ``BTCUSDT`` (§6.7: uppercase, no separator)."""
        parts = [s.upper().split("-") for s in symbols]
        if any(len(p) != 2 or not all(p) for p in parts):
            raise ValueError(f"symbols must be BASE-QUOTE: {symbols}")
        return cls([(b + q, b, q) for b, q in parts], seed=seed)

    @property
    def symbols(self) -> list[str]:
        return list(self.books)

    def venue_symbol(self, symbol: str) -> str:
        """``BTC-USDT`` → ``BTCUSDT`` (§6.7)."""
        return symbol.replace("-", "").upper()

    def true_book(
        self, symbol: str, depth: int | None = None
    ) -> tuple[int, list[list[str]], list[list[str]]]:
        """(``u`` of that depth's topic, bids, asks) best first: exactly the top ``depth``
        (default ``self.depth``) levels, what a correct gateway book of that topic holds."""
        return self.books[symbol].true_book(depth or self.depth)

    # -- faults ----------------------------------------------------------------------------------

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """§6.5 gap: the next book step applies changes it never sends and jumps ``u`` by
        ``n`` more on every depth of ``symbol``."""
        self.books[symbol].skip(n)

    def venue_reset(self, symbol: str, *, restart: bool = False) -> None:
        """§6.5: the next book step sends a fresh ``snapshot`` on every depth of ``symbol``
        instead of a delta; ``restart`` makes it ``u == 1`` (the service restarted)."""
        self.books[symbol].reset(restart)

    def malformed_frames(self) -> list[bytes]:
        """A non-JSON text frame and a JSON frame of an unknown topic (§0: expect unknowns)."""
        return [
            b"this is not json {",
            orjson.dumps({"topic": "mystery.BTCUSDT", "type": "snapshot", "ts": 1, "data": {}}),
        ]

    def shutdown_frames(self, session: BybitSession, now_us: int) -> list[bytes]:
        """§6 documents no shutdown notice."""
        return []

    # -- events for the server ------------------------------------------------------------------

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[StreamEvent]:
        """``n`` taker orders of ``symbol``, one ``publicTrade`` message each (§6.3)."""
        book = self.books[symbol]
        topic = wire.trade_topic(symbol)
        out = []
        for _ in range(n):
            order, seq = book.trade(now_us)
            out.append(StreamEvent(topic, trade=(symbol, now_us // 1000, _items(book, order, seq))))
        return out

    def trade_ids(self, event: StreamEvent) -> list[tuple[str, str]]:
        """The ``i`` of each fill in a ``publicTrade`` message (§6.3)."""
        if event.trade is None:
            return []
        symbol, _, items = event.trade
        return [(symbol, item["i"]) for item in items]

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[StreamEvent]:
        """One book step of each symbol in ``symbols`` (default all), every subscribed depth,
        then the images new subscribers wait for (§6.5: snapshot first, then deltas)."""
        out: list[StreamEvent] = []
        for symbol in self.books if symbols is None else symbols:
            book = self.books[symbol]
            for frame in book.step(now_us):
                out.append(StreamEvent(wire.book_topic(frame.depth, symbol), book=frame))
            for depth in book.views:
                topic = wire.book_topic(depth, symbol)
                if topic in self._images:
                    self._images.discard(topic)
                    out.append(StreamEvent(topic, book=book.snapshot(depth, now_us), image=True))
        return out

    def render(self, session: BybitSession, event: StreamEvent) -> bytes | None:
        """The frame this session gets for ``event``, or None when it is not subscribed."""
        topic = event.topic
        if topic not in session.topics:
            return None
        if topic in session.waiting:
            if not event.image:
                return None  # nothing of a book before its image
            session.waiting.discard(topic)
        elif event.image:
            return None
        index = 0 if session.category == wire.SPOT else 1
        frame = event.cache[index]
        if frame is None:
            frame = event.cache[index] = _render(event, session.category)
        return frame

    def saturation_frames(self, session: BybitSession, now_us: int, n: int) -> list[bytes]:
        """About ``n`` ``publicTrade`` frames for the session's trade topics, round-robin."""
        books = [self.books[s] for s in self.trade_symbols(session)]
        if not books:
            return []
        out: list[bytes] = []
        category, ts_ms = session.category, now_us // 1000
        while len(out) < n:
            self._rr = (self._rr + 1) % len(books)
            book = books[self._rr]
            order, seq = book.trade(now_us)
            message = wire.trade_message(category, book.symbol, ts_ms, _items(book, order, seq))
            out.append(orjson.dumps(message))
        return out

    def trade_symbols(self, session: BybitSession) -> list[str]:
        out: list[str] = []
        for topic in session.topics:
            parts = wire.split_topic(topic)
            if parts is not None and parts[0] == wire.TRADE and parts[2] in self.books:
                out.append(parts[2])
        return out

    # -- sessions and control frames (§6.1, §6.2) ------------------------------------------------

    def open_session(self, path: str) -> BybitSession | None:
        """``/v5/public/spot`` or ``/v5/public/linear``; None (404) for anything else."""
        route = urlsplit(path).path.rstrip("/")
        category = route.removeprefix("/v5/public/")
        if route == category or category not in _CATEGORIES:
            return None
        self._sessions += 1
        conn_id = f"{self._rng.getrandbits(80):020x}-{self._sessions}"
        return BybitSession(category, conn_id)

    def subscriptions(self, session: BybitSession) -> list[str]:
        return list(session.topics)

    def on_client_text(self, session: BybitSession, text: str) -> list[bytes]:
        """One client frame (§6.2) → the reply frames (acks, pongs, errors, book snapshots)."""
        conn = session.conn_id
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [wire.error_frame("", conn, "Invalid JSON")]  # text UNCONFIRMED
        if not isinstance(request, dict):
            return [wire.error_frame("", conn, "Invalid request")]  # text UNCONFIRMED
        op, raw_id = request.get("op"), request.get("req_id")
        req_id = raw_id if isinstance(raw_id, str) else None
        if op == "ping":
            return [wire.pong_frame(session.category, conn, req_id)]
        if op not in ("subscribe", "unsubscribe"):
            return [wire.error_frame(str(op), conn, f"Invalid op: {op}")]  # text UNCONFIRMED
        error_id = req_id if self.echo_req_id_on_error else None
        args = request.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return [wire.error_frame(op, conn, "Invalid args", error_id)]  # text UNCONFIRMED
        if op == "unsubscribe":
            for topic in args:
                session.topics.pop(topic, None)
                session.waiting.discard(topic)
            return [self._ack(session, op, req_id)]
        if len(args) > MAX_ARGS_PER_SUBSCRIBE:  # §6.6; text UNCONFIRMED
            return [wire.error_frame(op, conn, f"args size >{MAX_ARGS_PER_SUBSCRIBE}", error_id)]
        bad = [topic for topic in args if not self._known(topic)]
        if bad:  # §6.2 failure sample
            return [wire.error_frame(op, conn, f"Invalid topic: {bad[0]}", error_id)]
        if sum(map(len, {*session.topics, *args})) > MAX_ARGS_CHARS:  # §6.6; text UNCONFIRMED
            return [wire.error_frame(op, conn, "args length exceeds 21000", error_id)]
        for topic in args:
            session.topics[topic] = None
            parts = wire.split_topic(topic)
            if parts is not None and parts[1] is not None:
                self.books[parts[2]].view(parts[1])  # its deltas start now
                session.waiting.add(topic)
                self._images.add(topic)
        return [self._ack(session, op, req_id)]

    def _ack(self, session: BybitSession, op: str, req_id: str | None) -> bytes:
        """§6.2 spot ack (``ret_msg`` = the op, ``req_id`` when sent); the linear ack in the 2026
        capture has ``ret_msg`` ``""`` and ``req_id`` ``""`` when none was sent."""
        if session.category == wire.SPOT:
            return wire.ack_frame(op, session.conn_id, req_id)
        return wire.ack_frame(op, session.conn_id, req_id or "", "")

    def _known(self, topic: str) -> bool:
        parts = wire.split_topic(topic)
        if parts is None or parts[2] not in self.books:
            return False
        return parts[1] is None or parts[1] in wire.DEPTHS

    # -- REST --------------------------------------------------------------------------------------

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """``/v5/market/instruments-info?category=spot|linear`` (shape as captured); None = 404."""
        parts = urlsplit(path)
        if parts.path != "/v5/market/instruments-info":
            return None
        category = parse_qs(parts.query).get("category", [""])[0]
        if category not in _CATEGORIES:  # body UNCONFIRMED
            body = {"retCode": 10001, "retMsg": "params error: category is invalid", "result": {}}
            return 200, orjson.dumps(body)
        return 200, wire.instruments_body(category, self._symbols, 0)  # no clock here: time 0


def _items(book: SimBook, order: TakerOrder, seq: int) -> list[dict[str, Any]]:
    """One taker order's fills as §6.3 items: numeric-string ids, taker side ``S``."""
    price = cut(order.price, book.price_decimals)
    taker_buys = not order.buyer_is_maker
    ms = order.time_us // 1000
    symbol, first, dp = order.symbol, order.first_id, book.qty_decimals
    return [
        wire.trade_item(symbol, str(first + i), price, cut(q, dp), taker_buys, ms, seq)
        for i, q in enumerate(order.fills)
    ]


def make_simulator(symbols: list[str], *, seed: int = 0) -> BybitSim:
    """The ``simserver`` entry point: canonical ``BASE-QUOTE`` symbols."""
    return BybitSim.from_canonical(symbols, seed=seed)
