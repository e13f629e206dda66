"""Binance Spot venue simulator (exchanges.md §1), pure: no clocks, sockets or asyncio.

``BinanceSim`` holds one seeded market per symbol (``simmarket.SymbolMarket``) and speaks the
venue's wire format through ``wire.py``, the same builders the protocol's tests read. The
asyncio server (``feedgate.runtime.simserver``) owns sockets and time and calls in here with the
time in microseconds; everything venue-specific (URL shapes, control frames, REST routes, frame
rendering) lives here, so the server stays venue-agnostic.

Sessions (§1.1): ``/stream?streams=a/b`` uses the combined wrapper, ``/ws/<stream>`` sends raw
payloads; ``timeUnit=MICROSECOND`` makes every ``E``/``T`` microseconds.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from feedgate.venues.binance import wire
from feedgate.venues.binance.simmarket import DepthChange, SymbolMarket, TakerOrder
from feedgate.venues.binance.simsession import (
    BinanceSession,
    StreamEvent,
    payload_for,
    valid_request_id,
)

SLOW_DEPTH = "depth"
"""``<symbol>@depth``: the 1000 ms diff stream (§1.1), ten 100 ms updates merged."""
SLOW_EVERY = 10
MAX_STREAMS = 1024  # §1.9


class BinanceSim:
    """Deterministic Binance Spot market for ``symbols`` = [(venue_symbol, base, quote), …]."""

    venue = "binance"

    def __init__(
        self,
        symbols: list[tuple[str, str, str]],
        *,
        seed: int = 0,
        levels: int = 300,
        changes_per_update: int = 4,
    ) -> None:
        self._rng = random.Random(seed)
        self._symbols = list(symbols)
        self.markets = {
            s: SymbolMarket(
                s,
                b,
                q,
                random.Random(self._rng.getrandbits(64)),
                levels=levels,
                changes_per_update=changes_per_update,
            )
            for s, b, q in symbols
        }
        self.unknown_streams: list[str] = []
        self._slow: dict[str, tuple[int, dict[str, str], dict[str, str]]] = {}
        self._ticks: dict[str, int] = {}
        self._rr = 0

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0) -> BinanceSim:
        """``["BTC-USDT"]`` → venue ``BTCUSDT`` (§1.10: uppercase in payloads and REST)."""
        parts = [s.upper().split("-") for s in symbols]
        if any(len(p) != 2 or not all(p) for p in parts):
            raise ValueError(f"symbols must be BASE-QUOTE: {symbols}")
        return cls([(b + q, b, q) for b, q in parts], seed=seed)

    @property
    def symbols(self) -> list[str]:
        return list(self.markets)

    # -- market data (pure model) ----------------------------------------------------------------

    def next_trade(self, symbol: str, now_us: int) -> TakerOrder:
        return self.markets[symbol].next_trade(now_us)

    def next_depth(self, symbol: str, now_us: int) -> DepthChange:
        """Advance one 100 ms diff (§1.5): ``U`` = previous ``u`` + 1 unless ids were skipped."""
        market = self.markets[symbol]
        hidden, change = market.next_depth(now_us)
        for part in (hidden, change):
            if part is not None:
                self._merge_slow(part)
        return change

    def skip_update_ids(self, symbol: str, n: int) -> None:
        self.markets[symbol].skip_update_ids(n)

    def venue_symbol(self, symbol: str) -> str:
        """``BTC-USDT`` → ``BTCUSDT`` (§1.10)."""
        return symbol.replace("-", "").upper()

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        """(last update id, bids, asks), best first: what a correct local book must equal."""
        market = self.markets[symbol]
        bids, asks = market.top(len(market.bids) + len(market.asks))
        return market.last_update_id, bids, asks

    def depth_snapshot(self, symbol: str, limit: int = 100) -> bytes:
        """§1.6 REST body: top ``limit`` levels, ``lastUpdateId`` = the last generated ``u``."""
        market = self.markets[symbol]
        bids, asks = market.top(limit)
        return wire.depth_snapshot_body(market.last_update_id, bids, asks)

    def exchange_info(self) -> bytes:
        return wire.exchange_info_body(self._symbols)

    def _merge_slow(self, change: DepthChange) -> None:
        first, bids, asks = self._slow.get(change.symbol, (change.first_id, {}, {}))
        bids.update((p, q) for p, q in change.bids)
        asks.update((p, q) for p, q in change.asks)
        self._slow[change.symbol] = (first, bids, asks)

    # -- events for the server ------------------------------------------------------------------

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[StreamEvent]:
        """``n`` taker orders → ``@trade`` events (one per fill) and ``@aggTrade`` events."""
        out: list[StreamEvent] = []
        for _ in range(n):
            out.extend(self._order_events(self.markets[symbol].next_trade(now_us)))
        return out

    def _order_events(self, o: TakerOrder) -> list[StreamEvent]:
        t = o.time_us
        events = [
            StreamEvent(
                wire.stream_name(o.symbol, wire.TRADE),
                wire.trade_payload(o.symbol, o.first_id + i, o.price, q, t, o.buyer_is_maker, t),
            )
            for i, q in enumerate(o.fills)
        ]
        agg = wire.agg_trade_payload(
            o.symbol,
            o.agg_id,
            o.price,
            o.qty,
            o.first_id,
            o.first_id + len(o.fills) - 1,
            t,
            o.buyer_is_maker,
            t,
        )
        events.append(StreamEvent(wire.stream_name(o.symbol, wire.AGG_TRADE), agg))
        return events

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[StreamEvent]:
        """One 100 ms step of each book in ``symbols`` (default all): ``@depth@100ms`` events;
        every tenth step of a symbol also flushes its merged 1000 ms ``@depth`` event (§1.1)."""
        out: list[StreamEvent] = []
        for symbol in self.markets if symbols is None else symbols:
            c = self.next_depth(symbol, now_us)
            out.append(
                StreamEvent(
                    wire.stream_name(symbol, wire.DEPTH),
                    wire.depth_payload(symbol, c.first_id, c.last_id, c.bids, c.asks, now_us),
                )
            )
            self._ticks[symbol] = ticks = self._ticks.get(symbol, 0) + 1
            if ticks % SLOW_EVERY == 0 and symbol in self._slow:
                first, bids, asks = self._slow.pop(symbol)
                out.append(
                    StreamEvent(
                        wire.stream_name(symbol, SLOW_DEPTH),
                        wire.depth_payload(
                            symbol,
                            first,
                            c.last_id,
                            [[p, q] for p, q in sorted(bids.items(), reverse=True, key=_price_key)],
                            [[p, q] for p, q in sorted(asks.items(), key=_price_key)],
                            now_us,
                        ),
                    )
                )
        return out

    def trade_ids(self, event: StreamEvent) -> list[tuple[str, str]]:
        """The trade a gateway on the default ``trade`` stream publishes (§1.3 id ``t``)."""
        if wire.split_stream(event.topic)[1] != wire.TRADE:
            return []
        return [(event.payload["s"], str(event.payload["t"]))]

    def render(self, session: BinanceSession, event: StreamEvent) -> bytes | None:
        """The frame this session gets for ``event``, or None when it is not subscribed."""
        if event.topic not in session.streams:
            return None
        key = session.fmt
        frame = event.cache[key]
        if frame is None:
            payload = payload_for(event, session.micro)
            frame = (
                orjson.dumps({"stream": event.topic, "data": payload})
                if session.combined
                else orjson.dumps(payload)
            )
            event.cache[key] = frame
        return frame

    def saturation_frames(self, session: BinanceSession, now_us: int, n: int) -> list[bytes]:
        """About ``n`` trade frames for the session's ``@trade``/``@aggTrade`` streams, generated
        round-robin over its symbols (benchmark mode: as fast as the client drains).

        Hot path: renders straight from ``wire`` payloads, without ``StreamEvent``s or caching.
        """
        plan: list[tuple[SymbolMarket, str | None, str | None]] = []
        for symbol in self.trade_symbols(session):
            topics = [wire.stream_name(symbol, kind) for kind in (wire.TRADE, wire.AGG_TRADE)]
            wanted = [topic if topic in session.streams else None for topic in topics]
            plan.append((self.markets[symbol], wanted[0], wanted[1]))
        if not plan:
            return []
        t = now_us if session.micro else now_us // 1000
        combined, dumps = session.combined, orjson.dumps
        trade, agg_trade = wire.trade_payload, wire.agg_trade_payload
        out: list[bytes] = []
        while len(out) < n:
            self._rr = (self._rr + 1) % len(plan)
            market, trade_topic, agg_topic = plan[self._rr]
            o = market.next_trade(now_us)
            if trade_topic is not None:
                for i, q in enumerate(o.fills):
                    p = trade(o.symbol, o.first_id + i, o.price, q, t, o.buyer_is_maker, t)
                    out.append(dumps({"stream": trade_topic, "data": p}) if combined else dumps(p))
            if agg_topic is not None:
                p = agg_trade(
                    o.symbol,
                    o.agg_id,
                    o.price,
                    o.qty,
                    o.first_id,
                    o.first_id + len(o.fills) - 1,
                    t,
                    o.buyer_is_maker,
                    t,
                )
                out.append(dumps({"stream": agg_topic, "data": p}) if combined else dumps(p))
        return out

    def trade_symbols(self, session: BinanceSession) -> list[str]:
        out: list[str] = []
        for stream in session.streams:
            lower, suffix = wire.split_stream(stream)
            symbol = lower.upper()
            if (
                suffix in (wire.TRADE, wire.AGG_TRADE)
                and symbol in self.markets
                and symbol not in out
            ):
                out.append(symbol)
        return out

    def malformed_frames(self) -> list[bytes]:
        """A non-JSON text frame and a JSON frame of an unknown shape (§0: expect unknowns)."""
        return [
            b"this is not json {",
            orjson.dumps({"stream": "unknown@mystery", "data": {"e": "mystery", "x": [1, 2]}}),
        ]

    def shutdown_frames(self, session: BinanceSession, now_us: int) -> list[bytes]:
        """§1.8 ``serverShutdown`` in the session's wrapper and time unit."""
        event_time = now_us if session.micro else now_us // 1000
        if session.combined:
            return [wire.server_shutdown(event_time)]
        return [orjson.dumps({"e": "serverShutdown", "E": event_time})]

    # -- sessions and control frames (§1.1, §1.2) ------------------------------------------------

    def open_session(self, path: str) -> BinanceSession | None:
        """``/stream?streams=a/b[&timeUnit=MICROSECOND]`` or ``/ws[/<stream>]``; None = 404.
        Raises ValueError (→ HTTP 400) for an invalid ``timeUnit``."""
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        unit = query.get("timeUnit", ["MILLISECOND"])[0].upper()
        if unit not in ("MILLISECOND", "MICROSECOND"):
            raise ValueError(f"Invalid timeUnit: {unit}")
        route = unquote(parts.path).rstrip("/")
        if route == "/stream":
            session = BinanceSession(combined=True, micro=unit == "MICROSECOND")
            streams = "/".join(query.get("streams", []))
        elif route == "/ws" or route.startswith("/ws/"):
            session = BinanceSession(combined=False, micro=unit == "MICROSECOND")
            streams = route[len("/ws/") :]
        else:
            return None
        self._subscribe(session, [s for s in streams.split("/") if s])
        return session

    def subscriptions(self, session: BinanceSession) -> list[str]:
        return list(session.streams)

    def on_client_text(self, session: BinanceSession, text: str) -> list[bytes]:
        """Handle one client text frame (§1.2) and return the reply frames."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [wire.error_frame(3, "Invalid JSON: expected value at line 1 column 1")]
        if not isinstance(request, dict):
            return [wire.error_frame(2, "Invalid request: expected an object")]
        request_id = request.get("id")
        if not valid_request_id(request_id):
            return [wire.error_frame(2, "Invalid request: request ID must be an unsigned integer")]
        method = request.get("method")
        params = request.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return [
                    wire.error_frame(2, "Invalid request: params must be stream names", request_id)
                ]
            if method == "UNSUBSCRIBE":
                for stream in params:
                    session.streams.pop(stream, None)
            elif len(session.streams.keys() | set(params)) > MAX_STREAMS:  # §1.9; text UNCONFIRMED
                return [wire.error_frame(2, "Invalid request: too many streams", request_id)]
            else:
                self._subscribe(session, params)
            return [wire.ack_frame(request_id)]
        if method == "LIST_SUBSCRIPTIONS":
            return [orjson.dumps({"result": list(session.streams), "id": request_id})]
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            return [self._property(session, method, params, request_id)]
        if method is None:
            return [wire.error_frame(2, "Invalid request: missing field `method`", request_id)]
        return [wire.error_frame(2, f"Invalid request: unknown method {method!r}", request_id)]

    def _property(
        self,
        session: BinanceSession,
        method: str,
        params: Any,
        request_id: int | str | None,
    ) -> bytes:
        """§1.2 ``SET_PROPERTY``/``GET_PROPERTY`` ``["combined", true]``: codes 0, 1, 2."""
        if not isinstance(params, list) or not params or not isinstance(params[0], str):
            return wire.error_frame(2, "Invalid request: invalid property name", request_id)
        if params[0] != "combined":
            return wire.error_frame(0, "Unknown property", request_id)
        if method == "GET_PROPERTY":
            return orjson.dumps({"result": session.combined, "id": request_id})
        if len(params) != 2 or not isinstance(params[1], bool):
            return wire.error_frame(1, "Invalid value type: expected Boolean", request_id)
        session.combined = params[1]
        return wire.ack_frame(request_id)

    def _subscribe(self, session: BinanceSession, streams: list[str]) -> None:
        for stream in streams:
            if stream not in session.streams and not self._known(stream):
                session.unknown.append(stream)
                self.unknown_streams.append(stream)
            session.streams[stream] = None

    def _known(self, stream: str) -> bool:
        lower, suffix = wire.split_stream(stream)
        return (
            lower == lower.lower()
            and lower.upper() in self.markets
            and suffix in (wire.TRADE, wire.AGG_TRADE, wire.DEPTH, SLOW_DEPTH)
        )

    # -- REST (§1.6) ------------------------------------------------------------------------------

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """``/api/v3/depth?symbol=X&limit=N`` and ``/api/v3/exchangeInfo``; None = 404."""
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/api/v3/exchangeInfo":
            return 200, self.exchange_info()
        if parts.path != "/api/v3/depth":
            return None
        symbol = query.get("symbol", "")
        if symbol not in self.markets:
            return 400, orjson.dumps({"code": -1121, "msg": "Invalid symbol."})
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 0
        if limit < 1:  # error text UNCONFIRMED; above 5000 the venue truncates to 5000 (§1.6)
            return 400, orjson.dumps(
                {
                    "code": -1100,
                    "msg": "Illegal characters found in "
                    "parameter 'limit'; legal range is '1-5000'.",
                }
            )
        return 200, self.depth_snapshot(symbol, min(limit, 5000))


def _price_key(item: tuple[str, str]) -> tuple[int, str]:
    """Numeric order of fixed-8-decimal text without parsing: integer-part length, then text."""
    return item[0].index("."), item[0]


def make_simulator(symbols: list[str], *, seed: int = 0) -> BinanceSim:
    """The ``simserver`` entry point: canonical ``BASE-QUOTE`` symbols."""
    return BinanceSim.from_canonical(symbols, seed=seed)
