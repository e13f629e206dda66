"""OKX v5 public venue simulator (exchanges.md §5), pure: no clocks, sockets or asyncio.

``OkxSim`` holds one seeded market per instrument (``simbook.OkxMarket``) and speaks the venue's
wire format through ``wire.py``, the same builders the protocol's tests read. The asyncio server
(``feedgate.runtime.simserver``) owns sockets and time and calls in here.

What it imitates: ``/ws/v5/public`` sessions; ``subscribe``/``unsubscribe`` with an ack per arg,
``60018`` errors for unknown instruments or channels and ``60012`` for bad requests (§5.2); the
text ``ping`` → ``pong`` (§5.7, no WebSocket ping frames); ``books`` as a snapshot
(``prevSeqId`` -1) on subscribe then updates every tick, with occasional keepalives (§5.4-5.5);
``bbo-tbt`` when the touch changes; ``trades`` (§5.3); the ``notice`` before an upgrade (§5.2);
REST instruments and books (§5.6). Options: ``initial_snapshot=False`` (the venue stopped sending
the initial snapshot: the gateway must use REST, §5.6) and ``legacy_checksum=True`` (real CRC32
checksums instead of 0).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from feedgate.venues.okx import wire
from feedgate.venues.okx.simbook import OkxMarket

_REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,32}")
Key = tuple[str, str]
"""(channel, instId)."""


@dataclass(slots=True)
class OkxEvent:
    """One push for one (channel, instId); rendered once, the same bytes for every session."""

    key: Key
    data: dict[str, Any]
    action: str | None = None
    frame: bytes | None = None


@dataclass(slots=True)
class OkxSession:
    """One client connection (§5.1)."""

    conn_id: str
    subs: dict[Key, None] = field(default_factory=dict)
    """Subscribed (channel, instId) in subscription order (a dict used as an ordered set)."""
    ops: int = 0
    """subscribe/unsubscribe requests received (§5.7: 480 per hour per connection)."""


class OkxSim:
    """Deterministic OKX spot market for ``symbols`` = [(instId, base, quote), …]."""

    venue = "okx"
    server_ping_interval_s: float | None = None  # §5.7: keepalive is the text ping
    client_msgs_per_s: int | None = None  # UNCONFIRMED: no per-second limit documented (§5.7)
    subscribe_deadline_s: float | None = 30.0  # §5.7: nothing subscribed within 30 s → closed

    def __init__(
        self,
        symbols: list[tuple[str, str, str]],
        *,
        seed: int = 0,
        levels: int = 200,
        keepalive_every: int = 25,
        legacy_checksum: bool = False,
        initial_snapshot: bool = True,
    ) -> None:
        rng = random.Random(seed)
        self._symbols = list(symbols)
        self.markets = {
            inst: OkxMarket(
                inst, base, quote, random.Random(rng.getrandbits(64)),
                levels=levels, keepalive_every=keepalive_every, legacy_checksum=legacy_checksum,
            )
            for inst, base, quote in symbols
        }  # fmt: skip
        self.initial_snapshot = initial_snapshot
        self.books_requests: list[str] = []
        """instIds of REST books requests served (tests check the fallback path)."""
        self._bbo: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
        self._sessions = 0
        self._rr = 0

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0, **options: Any) -> OkxSim:
        """``["BTC-USDT"]`` → instId ``BTC-USDT`` (§5.8: spot instIds are BASE-QUOTE)."""
        parts = [s.upper().split("-") for s in symbols]
        if any(len(p) != 2 or not all(p) for p in parts):
            raise ValueError(f"symbols must be BASE-QUOTE: {symbols}")
        return cls([(f"{b}-{q}", b, q) for b, q in parts], seed=seed, **options)

    @property
    def symbols(self) -> list[str]:
        return list(self.markets)

    def venue_symbol(self, symbol: str) -> str:
        return symbol.upper()

    @property
    def legacy_checksum(self) -> bool:
        return any(m.legacy_checksum for m in self.markets.values())

    @legacy_checksum.setter
    def legacy_checksum(self, on: bool) -> None:
        for market in self.markets.values():
            market.legacy_checksum = on

    # -- faults -----------------------------------------------------------------------------------

    def skip_update_ids(self, symbol: str, n: int) -> None:
        self.markets[symbol].skip_update_ids(n)

    def checksum_flip(self, symbol: str) -> None:
        self.markets[symbol].checksum_flip()

    def reset_sequence(self, symbol: str) -> None:
        """The next ``books`` update of ``symbol`` has ``seqId < prevSeqId`` (§5.5)."""
        self.markets[symbol].reset_sequence()

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        """(seqId, bids, asks) best first: what a correct local book must equal."""
        return self.markets[symbol].true_book()

    # -- events for the server --------------------------------------------------------------------

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[OkxEvent]:
        market = self.markets[symbol]
        key = (wire.TRADES, symbol)
        return [OkxEvent(key, market.next_trade(now_us)) for _ in range(n)]

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[OkxEvent]:
        """One 100 ms step of each book (§5.4): a ``books`` update, and a ``bbo-tbt`` push when
        the touch changed."""
        out: list[OkxEvent] = []
        ms = now_us // 1000
        for inst in self.markets if symbols is None else symbols:
            market = self.markets[inst]
            s = market.step(now_us)
            data = wire.book_data(s.asks, s.bids, ms, s.checksum, s.prev_seq_id, s.seq_id)
            out.append(OkxEvent((wire.BOOKS, inst), data, "update"))
            if s.keepalive:
                continue
            best = market.best()
            if best != self._bbo.get(inst):
                self._bbo[inst] = best
                bids, asks = best
                out.append(OkxEvent((wire.BBO_TBT, inst), wire.bbo_data(asks, bids, ms, s.seq_id)))
        return out

    def trade_ids(self, event: OkxEvent) -> list[tuple[str, str]]:
        """A ``trades`` push's ``tradeId`` (§5.3: the last fill of the aggregation)."""
        channel, inst = event.key
        return [(inst, event.data["tradeId"])] if channel == wire.TRADES else []

    def render(self, session: OkxSession, event: OkxEvent) -> bytes | None:
        if event.key not in session.subs:
            return None
        frame = event.frame
        if frame is None:
            channel, inst = event.key
            frame = event.frame = wire.push_frame(channel, inst, [event.data], event.action)
        return frame

    def saturation_frames(self, session: OkxSession, now_us: int, n: int) -> list[bytes]:
        """About ``n`` trade frames for the session's ``trades`` subscriptions, round-robin."""
        insts = [i for (c, i) in session.subs if c == wire.TRADES and i in self.markets]
        if not insts:
            return []
        out: list[bytes] = []
        push = wire.push_frame
        while len(out) < n:
            self._rr = (self._rr + 1) % len(insts)
            inst = insts[self._rr]
            out.append(push(wire.TRADES, inst, [self.markets[inst].next_trade(now_us)]))
        return out

    def malformed_frames(self) -> list[bytes]:
        """Not JSON; a push on a channel nobody subscribed; a trade with a numeric ``px``."""
        inst = next(iter(self.markets), "BTC-USDT")
        bad_trade = wire.trade_data(inst, "1", "1", "1", "buy", 1_700_000_000_000, 1, 1)
        bad_trade["px"] = 42219.9
        return [
            b"this is not json {",
            wire.push_frame("mystery", inst, [{"x": [1, 2]}]),
            wire.push_frame(wire.TRADES, inst, [bad_trade]),
        ]

    def shutdown_frames(self, session: OkxSession, now_us: int) -> list[bytes]:
        """§5.2: the ``64008`` notice 30 s before an upgrade disconnect."""
        return [wire.notice_frame(session.conn_id)]

    # -- sessions and control frames (§5.2) -------------------------------------------------------

    def open_session(self, path: str) -> OkxSession | None:
        """``/ws/v5/public`` (§5.1); anything else is a 404."""
        if urlsplit(path).path.rstrip("/") != wire.PUBLIC_PATH:
            return None
        self._sessions += 1
        return OkxSession(conn_id=f"{0xA4D3AE55 + self._sessions:08x}")

    def subscriptions(self, session: OkxSession) -> list[str]:
        return [f"{channel}:{inst}" for channel, inst in session.subs]

    def on_client_text(self, session: OkxSession, text: str) -> list[bytes]:
        """One client text frame → reply frames (§5.2, §5.7)."""
        if text == wire.PING:
            return [wire.PONG.encode()]
        conn = session.conn_id
        invalid = f"Invalid request: {text}"
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [wire.error_frame("60012", invalid, None, conn)]
        if not isinstance(request, dict):
            return [wire.error_frame("60012", invalid, None, conn)]
        rid = request.get("id")
        if rid is not None and not (isinstance(rid, str) and _REQUEST_ID.fullmatch(rid)):
            return [wire.error_frame("60012", invalid, None, conn)]
        op, args = request.get("op"), request.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            return [wire.error_frame("60012", invalid, rid, conn)]
        session.ops += 1
        out: list[bytes] = []
        initial: list[bytes] = []  # data follows every answer of the request, as captured
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst = arg.get("instId") if isinstance(arg, dict) else None
            if not isinstance(channel, str) or not isinstance(inst, str):
                out.append(wire.error_frame("60012", invalid, rid, conn))
            elif channel not in wire.CHANNELS or inst not in self.markets:
                msg = wire.unknown_instrument_msg(channel, inst)
                out.append(wire.error_frame(wire.UNKNOWN_INSTRUMENT, msg, rid, conn))
            elif op == "unsubscribe":
                session.subs.pop((channel, inst), None)
                out.append(wire.ack_frame(op, channel, inst, rid, conn))
            else:
                session.subs[(channel, inst)] = None
                out.append(wire.ack_frame(op, channel, inst, rid, conn))
                initial.extend(self._initial(channel, inst))
        return out + initial

    def _initial(self, channel: str, inst: str) -> list[bytes]:
        """What follows a subscribe ack: the ``books`` snapshot (§5.4, unless the venue stopped
        sending it, §5.6) or the current ``bbo-tbt``."""
        market = self.markets[inst]
        if channel == wire.BOOKS and self.initial_snapshot:
            bids, asks = market.levels(wire.BOOKS_DEPTH)
            data = wire.book_data(asks, bids, market.last_ms, market.checksum(), -1, market.seq_id)
            return [wire.push_frame(channel, inst, [data], "snapshot")]
        if channel == wire.BBO_TBT:
            bids, asks = market.best()
            data = wire.bbo_data(asks, bids, market.last_ms, market.seq_id)
            return [wire.push_frame(channel, inst, [data])]
        return []

    # -- REST (§5.6) ------------------------------------------------------------------------------

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """``/api/v5/public/instruments?instType=SPOT`` and ``/api/v5/market/books?instId=X&sz=N``
        (``sz`` 1-400, default 1 — UNCONFIRMED, as the error codes); None = 404."""
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/api/v5/public/instruments":
            listed = self._symbols if query.get("instType") == "SPOT" else []
            return 200, wire.instruments_body(listed)
        if parts.path != "/api/v5/market/books":
            return None
        inst = query.get("instId", "")
        market = self.markets.get(inst)
        if market is None:
            return 400, wire.rest_error_body("51001", "Instrument ID does not exist")
        try:
            size = int(query.get("sz", "1"))
        except ValueError:
            size = 0
        if size < 1:
            return 400, wire.rest_error_body("51000", "Parameter sz error")
        self.books_requests.append(inst)
        bids, asks = market.levels(min(size, wire.BOOKS_DEPTH))
        return 200, wire.rest_books_body(asks, bids, market.last_ms, market.seq_id)


def make_simulator(symbols: list[str], *, seed: int = 0, **options: Any) -> OkxSim:
    """The ``simserver`` entry point: canonical ``BASE-QUOTE`` symbols; ``options`` are
    ``OkxSim``'s (``initial_snapshot``, ``legacy_checksum``, ``keepalive_every``, ``levels``)."""
    return OkxSim.from_canonical(symbols, seed=seed, **options)
