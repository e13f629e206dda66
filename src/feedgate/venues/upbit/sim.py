"""Upbit venue simulator (exchanges.md §4), pure: no clocks, sockets or asyncio.

One seeded market per code (Binance's ``SymbolMarket``, reused for prices: its 8-decimal texts
become JSON doubles here, §4.8). Trades go out one per fill with a unique ``sequential_id``;
after every book step each subscribed code gets a full top-N ``orderbook`` image (§4.4). Frames
are binary (§4.2), DEFAULT or SIMPLE per the session's format object. ``PING`` is answered with
``{"status":"UP"}``, which then repeats every 10 s (§4.5). The private endpoint checks the JWT
(``wants_headers``) and sends ``myOrder``/``myAsset`` events on a timer (shapes UNCONFIRMED).

Faults: ``skip_update_ids`` withholds the next orderbook images of a code (the book moves on;
the next image is whole again, so nothing is lost: §4.4 has no sequence to gap);
``idle_expired`` says when the venue would close a silent client (120 s, §4.5) — the shared
server has no hook to act on it (see NOTES.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from feedgate.venues.binance.simmarket import SymbolMarket
from feedgate.venues.upbit import wire
from feedgate.venues.upbit.auth import InvalidToken, verify
from feedgate.venues.upbit.simsession import UpbitSession, apply_request

DEMO_ACCESS_KEY = "sim-access-key"
DEMO_SECRET_KEY = "sim-secret-key-0123456789abcdef"
UP_INTERVAL_US = 10_000_000  # §4.5 status UP every 10 s


@dataclass(slots=True)
class UpbitEvent:
    """One message in DEFAULT keys; rendered once per (format, depth)."""

    kind: str
    code: str
    message: dict[str, Any]
    cache: dict[tuple[str, int], bytes] = field(default_factory=dict)


def _num(text: str) -> float:
    """Decimal text → the JSON double the venue sends (§4.8)."""
    return float(text)


class UpbitSim:
    venue = "upbit"
    binary_frames = True  # §4.2
    wants_headers = True  # the private endpoint's JWT
    server_ping_interval_s: float | None = None  # the venue answers pings; it sends none
    client_msgs_per_s = 5  # §4.7 (the 100 a minute cap is counted per session, not enforced)
    periodic_interval_s = 1.0

    def __init__(
        self, symbols: list[tuple[str, str, str]], *, seed: int = 0, levels: int = 60,
        idle_timeout_s: float = 120.0, private_interval_s: float = 1.0,
    ) -> None:  # fmt: skip
        rng = random.Random(seed)
        self._rng = rng
        self.markets = {
            code: SymbolMarket(code, base, quote, random.Random(rng.getrandbits(64)), levels=levels)
            for code, base, quote in symbols
        }
        self.idle_timeout_us = int(idle_timeout_s * 1_000_000)
        self.private_interval_us = int(private_interval_s * 1_000_000)
        self.keys = {DEMO_ACCESS_KEY: DEMO_SECRET_KEY}
        self.gateway_options: dict[str, Any] = {}
        self.auth_failures = 0
        self._prev_close = {c: _num(m.top(1)[0][0][0]) for c, m in self.markets.items()}
        self._last_trade: dict[str, dict[str, Any]] = {}
        self._withheld: dict[str, int] = {}
        self._last_client_us: dict[int, int] = {}
        self._next_up: dict[int, int] = {}
        self._next_private: dict[int, int] = {}
        self._order_seq = 0
        self._rr = 0
        self._clock_us = 0  # the latest time the server passed in (client frames come without)

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0, **kw: Any) -> UpbitSim:
        """``["BTC-USDT"]`` → code ``USDT-BTC`` (§4.8)."""
        parts = [s.upper().split("-") for s in symbols]
        if any(len(p) != 2 or not all(p) for p in parts):
            raise ValueError(f"symbols must be BASE-QUOTE: {symbols}")
        return cls([(f"{q}-{b}", b, q) for b, q in parts], seed=seed, **kw)

    @property
    def symbols(self) -> list[str]:
        return list(self.markets)

    def venue_symbol(self, symbol: str) -> str:
        return wire.venue_code(symbol)

    # -- market data ------------------------------------------------------------------------------

    def _units(self, code: str) -> list[tuple[float, float, float, float]]:
        bids, asks = self.markets[code].top(wire.DEFAULT_DEPTH)
        units = []
        for i in range(max(len(bids), len(asks))):
            ask = asks[i] if i < len(asks) else ["0", "0"]
            bid = bids[i] if i < len(bids) else ["0", "0"]
            units.append((_num(ask[0]), _num(bid[0]), _num(ask[1]), _num(bid[1])))
        return units

    def _book_event(self, code: str, now_us: int, stream_type: str) -> UpbitEvent:
        msg = wire.orderbook_message(code, now_us // 1000, self._units(code), stream_type)
        return UpbitEvent(wire.ORDERBOOK, code, msg)

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[UpbitEvent]:
        """``n`` taker orders → one §4.3 trade per fill."""
        self._clock_us = max(self._clock_us, now_us)
        out: list[UpbitEvent] = []
        for _ in range(n):
            out += self._order_trades(self.markets[symbol], now_us)
        return out

    def _order_trades(self, market: SymbolMarket, now_us: int) -> list[UpbitEvent]:
        o = market.next_trade(now_us)
        ms, out = now_us // 1000, []
        for i, qty in enumerate(o.fills):
            msg = wire.trade_message(
                o.symbol, ms, ms, _num(o.price), _num(qty), "ASK" if o.buyer_is_maker else "BID",
                self._prev_close[o.symbol], o.first_id + i, "REALTIME",
            )  # fmt: skip
            self._last_trade[o.symbol] = msg
            out.append(UpbitEvent(wire.TRADE, o.symbol, msg))
        return out

    def trade_ids(self, event: UpbitEvent) -> list[tuple[str, str]]:
        """A trade's ``sequential_id`` (§4.3, the gateway's trade id)."""
        if event.kind != wire.TRADE:
            return []
        return [(event.code, str(event.message["sequential_id"]))]

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[UpbitEvent]:
        """One book step per code, then its whole top-30 image (§4.4)."""
        self._clock_us = max(self._clock_us, now_us)
        out: list[UpbitEvent] = []
        for code in self.markets if symbols is None else symbols:
            self.markets[code].next_depth(now_us)
            if self._withheld.get(code):
                self._withheld[code] -= 1
                continue
            out.append(self._book_event(code, now_us, "REALTIME"))
        return out

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """Withhold the next ``n`` images of ``symbol`` while its book moves (see module doc)."""
        self._withheld[symbol] = self._withheld.get(symbol, 0) + max(1, n)

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        """(0: no update ids, §4.4; bids, asks) of the top 30 pairs."""
        bids, asks = self.markets[symbol].top(wire.DEFAULT_DEPTH)
        return 0, bids, asks

    # -- rendering --------------------------------------------------------------------------------

    def render(self, session: UpbitSession, event: UpbitEvent) -> bytes | None:
        if event.kind == wire.TRADE:
            if event.code not in session.trades:
                return None
            depth = 0
        elif event.kind == wire.ORDERBOOK:
            depth = session.books.get(event.code, -1)
            if depth < 0:
                return None
        else:
            return None
        key = (session.fmt, depth)
        frame = event.cache.get(key)
        if frame is None:
            msg = event.message
            if depth:
                msg = {**msg, "orderbook_units": msg["orderbook_units"][:depth]}
                units = msg["orderbook_units"]
                msg["total_ask_size"] = sum(u["ask_size"] for u in units)
                msg["total_bid_size"] = sum(u["bid_size"] for u in units)
            frame = event.cache[key] = orjson.dumps(_in_format(msg, session.fmt))
        return frame

    def saturation_frames(self, session: UpbitSession, now_us: int, n: int) -> list[bytes]:
        codes = sorted(session.trades)
        if not codes:
            return []
        out: list[bytes] = []
        while len(out) < n:
            self._rr = (self._rr + 1) % len(codes)
            for event in self._order_trades(self.markets[codes[self._rr]], now_us):
                frame = self.render(session, event)
                if frame is not None:
                    out.append(frame)
        return out

    def malformed_frames(self) -> list[bytes]:
        """A non-JSON frame and a JSON frame of an unknown type (§0: expect unknowns)."""
        return [b"this is not json {", orjson.dumps({"ty": "mystery", "cd": "KRW-BTC"})]

    def shutdown_frames(self, session: UpbitSession, now_us: int) -> list[bytes]:
        return []  # Upbit announces nothing before closing

    # -- sessions ---------------------------------------------------------------------------------

    def open_session(self, path: str, headers: dict[str, str] | None = None) -> UpbitSession | None:
        """``/websocket/v1`` or ``/websocket/v1/private`` (§4.1); the private path needs a valid
        ``Authorization: Bearer <JWT>`` (PermissionError → HTTP 401 missing / 403 invalid)."""
        route = path.split("?", 1)[0].rstrip("/")
        if route == wire.PUBLIC_PATH:
            return UpbitSession(private=False)
        if route != wire.PRIVATE_PATH:
            return None
        auth = (headers or {}).get("authorization", "")
        if not auth.startswith("Bearer "):
            self.auth_failures += 1
            raise PermissionError("missing bearer token")
        try:
            claims = verify(auth[len("Bearer ") :], self.keys)
        except InvalidToken as exc:
            self.auth_failures += 1
            raise PermissionError(f"invalid token: {exc}") from None
        return UpbitSession(private=True, access_key=str(claims["access_key"]))

    def subscriptions(self, session: UpbitSession) -> list[str]:
        return session.subscriptions()

    def on_client_text(self, session: UpbitSession, text: str) -> list[bytes]:
        """``PING`` → status UP (§4.5); a request array → its initial snapshots (§4.2) or an
        error (§4.6). The server passes no time: the latest one it gave stands in."""
        now_us = self._clock_us
        session.messages += 1
        sid = id(session)
        self._last_client_us[sid] = now_us
        if text == wire.PING:
            session.pinged = True
            return [wire.STATUS_UP]
        error = apply_request(session, text, set(self.markets))
        if error is not None:
            return [error]
        out: list[bytes] = []
        if wire.ORDERBOOK not in session.realtime_only:
            for code in session.books:
                frame = self.render(session, self._book_event(code, now_us, "SNAPSHOT"))
                out += [frame] if frame else []
        if wire.TRADE not in session.realtime_only:
            for code in sorted(session.trades):
                last = self._last_trade.get(code)
                if last is not None:
                    event = UpbitEvent(wire.TRADE, code, {**last, "stream_type": "SNAPSHOT"})
                    frame = self.render(session, event)
                    out += [frame] if frame else []
        return out

    def idle_expired(self, session: UpbitSession, now_us: int) -> bool:
        """§4.5: the venue closes a connection after ``idle_timeout_s`` without client data."""
        # 0 = a client frame that came before the server had passed any time in: count from now
        last = self._last_client_us.get(id(session)) or now_us
        self._last_client_us[id(session)] = last
        return now_us - last >= self.idle_timeout_us

    def should_close(self, session: UpbitSession, now_us: int) -> str | None:
        """The server's idle close (simapi: checked once a second)."""
        self._clock_us = max(self._clock_us, now_us)
        return "idle timeout" if self.idle_expired(session, now_us) else None

    def periodic_frames(self, session: UpbitSession, now_us: int) -> list[bytes]:
        """Status UP every 10 s once pinged (§4.5); private events on their timer."""
        self._clock_us = max(self._clock_us, now_us)
        sid, out = id(session), []
        if session.pinged and now_us >= self._next_up.setdefault(sid, now_us + UP_INTERVAL_US):
            self._next_up[sid] = now_us + UP_INTERVAL_US
            out.append(wire.STATUS_UP)
        if session.private and now_us >= self._next_private.get(sid, 0):
            self._next_private[sid] = now_us + self.private_interval_us
            out += self._private_frames(session, now_us)
        return out

    def _private_frames(self, session: UpbitSession, now_us: int) -> list[bytes]:
        """One ``myOrder`` and one ``myAsset`` event (field names per Upbit's KR docs for the
        private streams; not in exchanges.md: UNCONFIRMED)."""
        ms, out = now_us // 1000, []
        if session.my_order is not None:
            code = (session.my_order or sorted(self.markets))[0]
            self._order_seq += 1
            price = _num(self.markets[code].top(1)[0][0][0])
            order = {
                "type": wire.MY_ORDER, "code": code, "uuid": f"sim-order-{self._order_seq}",
                "ask_bid": "BID", "order_type": "limit", "state": "wait", "price": price,
                "volume": 0.001, "remaining_volume": 0.001, "executed_volume": 0.0,
                "trades_count": 0, "timestamp": ms, "order_timestamp": ms,
                "stream_type": "REALTIME",
            }  # fmt: skip
            out.append(orjson.dumps(_private_format(order, session.fmt)))
        if session.my_asset:
            asset = {
                "type": wire.MY_ASSET, "asset_uuid": f"sim-asset-{ms}",
                "assets": [{"currency": "KRW", "balance": 1000000.0, "locked": 0.0}],
                "asset_timestamp": ms, "timestamp": ms, "stream_type": "REALTIME",
            }  # fmt: skip
            out.append(orjson.dumps(_private_format(asset, session.fmt)))
        return out

    # -- REST -------------------------------------------------------------------------------------

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """``GET /v1/market/all`` in the captured shape; None = 404."""
        if path.split("?", 1)[0] != wire.MARKETS_PATH:
            return None
        return 200, wire.markets_body([(c, c.split("-")[1]) for c in self.markets])


_PRIVATE_SIMPLE = {
    "type": "ty", "code": "cd", "uuid": "uid", "ask_bid": "ab", "order_type": "ot",
    "state": "s", "price": "p", "volume": "v", "remaining_volume": "rv",
    "executed_volume": "ev", "trades_count": "tc", "timestamp": "tms", "order_timestamp": "otms",
    "stream_type": "st", "asset_uuid": "astuid", "assets": "ast", "currency": "cu",
    "balance": "b", "locked": "l", "asset_timestamp": "asttms",
}  # fmt: skip
"""SIMPLE names of the private fields (Upbit KR docs; UNCONFIRMED, not in exchanges.md)."""


def _private_format(msg: dict[str, Any], fmt: str) -> Any:
    if fmt != "SIMPLE":
        return msg

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {_PRIVATE_SIMPLE.get(k, k): walk(x) for k, x in v.items()}
        return [walk(x) for x in v] if isinstance(v, list) else v

    return walk(msg)


def _in_format(msg: dict[str, Any], fmt: str) -> Any:
    return wire.simple(msg) if fmt == "SIMPLE" else msg


def make_simulator(symbols: list[str], *, seed: int = 0) -> UpbitSim:
    """The ``simserver`` entry point: canonical ``BASE-QUOTE`` symbols."""
    return UpbitSim.from_canonical(symbols, seed=seed)
