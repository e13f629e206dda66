"""Upbit market data and private streams as a pure protocol: frames in, actions out (§4).

One instance serves one connection slot: public (``/websocket/v1``: ``trade`` and
``orderbook``) or private (``/websocket/v1/private``: ``myOrder``, ``myAsset`` with a JWT in the
upgrade request, built fresh by ``connect_headers`` at every connect). The whole subscription
goes out as one request array (§4.2: there is no unsubscribe, and no ack; the first frame is
the implicit one). Frames are binary UTF-8 JSON (§4.2) in DEFAULT or SIMPLE keys, both read.

Books (§4.4): every orderbook message is a full top-N image, so each is published as a
``book_snapshot`` (and the bbo derived from it); there is no sequence to gap. A disconnect
makes the books invalid until the next image (``book_reset``, reason ``reconnect``).
Keepalive (§4.5): the text ``PING`` every ``ping_interval_s``; ``{"status":"UP"}`` answers.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from feedgate.events import (
    Bbo,
    BookSnapshot,
    Level,
    PrivateUpdate,
    Side,
    Status,
    StatusEvent,
    Trade,
)
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    Fatal,
    Resync,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.checks import brief, check_payload, clip, ms_to_us
from feedgate.protocol.heartbeat import PingSchedule
from feedgate.protocol.levels import check_level, check_trade, number_text
from feedgate.venues.upbit import wire
from feedgate.venues.upbit.auth import make_jwt
from feedgate.venues.upbit.options import REGION_HOSTS, UpbitOptions

EXCHANGE = "upbit"
PRIVATE_KINDS = {"my_order": wire.MY_ORDER, "my_asset": wire.MY_ASSET}
_SIDES = {"BID": Side.BUY, "ASK": Side.SELL}  # §4.3 ask_bid; taker meaning UNCONFIRMED
_SEEN_TRADES = 2048  # sequential ids remembered per code (SNAPSHOT trades repeat on reconnect)


@dataclass(slots=True)
class _Book:
    symbol: str
    code: str
    publish_book: bool = False
    publish_bbo: bool = False
    synced: bool = False
    bbo: tuple[Level | None, Level | None] = (None, None)


@dataclass(slots=True)
class _Tape:
    symbol: str
    seen: set[int] = field(default_factory=set)
    order: deque[int] = field(default_factory=deque)

    def first_time(self, sid: int) -> bool:
        if sid in self.seen:
            return False
        self.seen.add(sid)
        self.order.append(sid)
        if len(self.order) > _SEEN_TRADES:
            self.seen.discard(self.order.popleft())
        return True


class UpbitProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: UpbitOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self._depth = options.depth if options.depth is not None else wire.DEFAULT_DEPTH
        self._tapes: dict[str, _Tape] = {}
        self._books: dict[str, _Book] = {}
        self._private: dict[str, list[str]] = {}  # venue type → codes (my_order) or []
        self._codes: dict[str, str] = {}  # code → canonical symbol
        for topic in spec.topics:
            code = spec.venue_symbols.get(topic.symbol) or wire.venue_code(topic.symbol)
            self._codes[code] = topic.symbol
            if topic.channel == "trades":
                self._tapes[code] = _Tape(topic.symbol)
            elif topic.channel in ("book", "bbo"):
                book = self._books.setdefault(code, _Book(topic.symbol, code))
                book.publish_book |= topic.channel == "book"
                book.publish_bbo |= topic.channel == "bbo"
            elif topic.channel in PRIVATE_KINDS:
                codes = self._private.setdefault(PRIVATE_KINDS[topic.channel], [])
                if topic.channel == "my_order" and code not in codes:
                    codes.append(code)
            else:
                raise ValueError(f"upbit has no channel {topic.channel!r}")
        if self._private and (self._tapes or self._books):
            raise ValueError("upbit: private channels need a feed of their own (other endpoint)")
        if self._private and (options.access_key is None or options.secret_key is None):
            raise ValueError("upbit: private channels need access_key and secret_key options")
        self._ping = PingSchedule(options.ping_interval_s)
        self._subscribed = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def private(self) -> bool:
        return bool(self._private)

    def connect_url(self) -> str:
        """§4.1 ``wss://api.upbit.com/websocket/v1`` (``…/v1/private`` for private streams)."""
        base = (self.options.ws_url or REGION_HOSTS[self.options.region]).rstrip("/")
        return base + (wire.PRIVATE_PATH if self.private else wire.PUBLIC_PATH)

    def connect_headers(self, now: int) -> list[tuple[str, str]]:
        """§4.1 ``Authorization: Bearer <JWT>`` with a fresh nonce, private connections only."""
        access, secret = self.options.access_key, self.options.secret_key
        if not self.private or access is None or secret is None:
            return []
        token = make_jwt(
            access.get_secret_value(), secret.get_secret_value(), self.options.jwt_algorithm
        )
        return [("Authorization", f"Bearer {token}")]

    def on_open(self, now: int) -> list[Action]:
        """§4.2: the whole subscription as one request array."""
        self._subscribed = False
        self._ping.reset()
        self._ping.due(now)  # the first PING goes one interval from now
        types: list[tuple[str, list[str] | None]] = []
        if self._tapes:
            types.append((wire.TRADE, list(self._tapes)))
        if self._books:
            types.append(
                (wire.ORDERBOOK, [wire.book_code(c, self.options.depth) for c in self._books])
            )
        for kind, codes in self._private.items():
            types.append((kind, codes or None))
        frame = wire.request_frame(
            str(uuid.uuid4()), types, self.options.format,
            is_only_realtime=self.options.is_only_realtime,
        )  # fmt: skip
        return [Send(frame)]

    def on_tick(self, now: int) -> list[Action]:
        """§4.5: ``PING`` every ``ping_interval_s`` (the venue closes after 120 s idle)."""
        return [Send(wire.PING)] if self._ping.due(now) else []

    def carry_over(self, previous: VenueProtocol) -> None:
        """The trade ids already published per code: the venue sends the latest trade again
        on subscribe (SNAPSHOT), which the replacement must not publish a second time."""
        if isinstance(previous, UpbitProtocol):
            for code, tape in self._tapes.items():
                old = previous._tapes.get(code)
                if old is not None:
                    tape.seen, tape.order = set(old.seen), deque(old.order)

    def unsynced_books(self) -> int:
        return sum(1 for book in self._books.values() if not book.synced)

    def on_handover(self, now: int) -> list[Action]:
        """Every orderbook message is a whole image, so the next one replaces the old
        connection's book anyway: only the bbo (never published from here) goes out now, and a
        book with no image yet is reset (its first image comes with ``book_synced``)."""
        out: list[Action] = []
        for book in self._books.values():
            if not book.synced:
                out.append(Resync(book.symbol, "reconnect"))
                out.append(Emit(Status(
                    EXCHANGE, StatusEvent.BOOK_RESET, self.connection, "reconnect", now,
                    book.symbol, book.code,
                )))  # fmt: skip
                if book.publish_bbo:
                    out.append(Emit(Bbo(EXCHANGE, book.symbol, book.code, None, now, None, None,
                                        None, None)))  # fmt: skip
                continue
            if book.publish_bbo and book.bbo != (None, None):
                bid, ask = book.bbo
                out.append(Emit(Bbo(
                    EXCHANGE, book.symbol, book.code, None, now,
                    bid[0] if bid else None, bid[1] if bid else None,
                    ask[0] if ask else None, ask[1] if ask else None,
                )))  # fmt: skip
        return out

    def on_close(self, now: int) -> list[Action]:
        """Every image-backed book is invalid until the next image after reconnecting."""
        self._subscribed = False
        out: list[Action] = []
        for book in self._books.values():
            if not book.synced:
                continue
            book.synced = False
            out.append(Resync(book.symbol, "reconnect"))
            out.append(Emit(Status(
                EXCHANGE, StatusEvent.BOOK_RESET, self.connection, "reconnect", now,
                book.symbol, book.code,
            )))  # fmt: skip
            if book.publish_bbo and book.bbo != (None, None):
                out.append(Emit(Bbo(EXCHANGE, book.symbol, book.code, None, now, None, None,
                                    None, None)))  # fmt: skip
            book.bbo = (None, None)
        return out

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        """A binary (or text) frame of UTF-8 JSON (§4.2)."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        try:
            kind = msg.get("type", msg.get("ty"))
            if kind == wire.TRADE:
                # parsed first: a frame counted as a parse error must not mark the connection
                # up while the Subscribed it owes is dropped with the frame
                data = self._trade(msg, recv_ts)
                return self._ack(recv_ts) + data
            if kind == wire.ORDERBOOK:
                data = self._orderbook(msg, recv_ts)
                return self._ack(recv_ts) + data
            if kind in (wire.MY_ORDER, wire.MY_ASSET):
                data = self._private_update(kind, msg, recv_ts)
                return self._ack(recv_ts) + data
            if kind is None and msg.get("status") == "UP":
                return self._ack(recv_ts)  # §4.5 keepalive reply
            if kind is None and "error" in msg:
                return self._error(msg["error"], recv_ts)
        except (KeyError, TypeError, ValueError) as exc:
            return [CountParseError(f"{clip(kind)} frame: {type(exc).__name__}: {clip(exc)}")]
        return [CountParseError("unknown frame shape")]

    def _ack(self, recv_ts: int) -> list[Action]:
        """§4.2: no ack exists; the first data (or keepalive) frame shows the request took."""
        if self._subscribed:
            return []
        self._subscribed = True
        status = Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)
        return [Subscribed(), Emit(status)]

    def _trade(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§4.3 SIMPLE (as captured) ``{"ty":"trade","cd":"KRW-LAMB","tms":1618678262712,
        "td":"2021-04-17","ttm":"16:51:02","ttms":1618678262000,"tp":127.0,"tv":46.48838371,
        "ab":"BID","pcp":123.00000000,"c":"RISE","cp":4.00000000,"sid":1618678262000003,
        "st":"REALTIME"}``; DEFAULT spells the keys out (``trade_price``…). ``sequential_id``
        is the id (§9) and is unique but unordered (§4.3): repeats are dropped."""
        code = wire.get(msg, "code")
        tape = self._tapes.get(code) if type(code) is str else None
        if tape is None:
            raise ValueError(f"trade for unsubscribed code {brief(code)}")
        price = number_text(wire.get(msg, "trade_price"))
        size = number_text(wire.get(msg, "trade_volume"))
        check_trade(price, size)
        side = _SIDES[wire.get(msg, "ask_bid")]
        sid = wire.get(msg, "sequential_id")
        if type(sid) is not int:
            raise TypeError("sequential_id must be an integer")
        ts = ms_to_us(wire.get(msg, "trade_timestamp"))
        if not tape.first_time(sid):
            return []
        return [Emit(Trade(EXCHANGE, tape.symbol, code, ts, recv_ts, str(sid), price, size, side))]

    def _orderbook(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§4.4 SIMPLE (as captured) ``{"ty":"orderbook","cd":"KRW-LAMB","tms":1618678262640,
        "tas":25752275.55420627,"tbs":14407925.20098682,"obu":[{"ap":127.0,"bp":126.0,
        "as":280460.37885666,"bs":688682.44561413}, …],"st":"REALTIME"}``: unit i holds the
        i-th best ask and bid; a zero price is an empty slot (§4.4). Parsed whole first."""
        code = wire.get(msg, "code")
        book = self._books.get(code) if type(code) is str else None
        if book is None:
            raise ValueError(f"orderbook for unsubscribed code {brief(code)}")
        ts = ms_to_us(wire.get(msg, "timestamp"))
        units = wire.get(msg, "orderbook_units")
        if type(units) is not list:
            raise TypeError("orderbook_units must be a list")
        bids: list[Level] = []
        asks: list[Level] = []
        for unit in units:
            if type(unit) is not dict:
                raise TypeError("an orderbook unit must be an object")
            for side, price_key, size_key in (
                (asks, "ask_price", "ask_size"), (bids, "bid_price", "bid_size"),
            ):  # fmt: skip
                raw_price = wire.get(unit, price_key)
                if raw_price == 0 and type(raw_price) in (int, float):
                    continue
                price, size = number_text(raw_price), number_text(wire.get(unit, size_key))
                check_level(price, size)
                side.append((price, size))
        _check_order(bids, descending=True)
        _check_order(asks, descending=False)
        out: list[Action] = []
        if not book.synced:
            book.synced = True
            out.append(Emit(Status(
                EXCHANGE, StatusEvent.BOOK_SYNCED, self.connection, "", recv_ts, book.symbol, code,
            )))  # fmt: skip
        if book.publish_book:
            out.append(Emit(BookSnapshot(
                EXCHANGE, book.symbol, code, ts, recv_ts, tuple(bids), tuple(asks), self._depth,
            )))  # fmt: skip
        best = (bids[0] if bids else None, asks[0] if asks else None)
        if book.publish_bbo and best != book.bbo:
            bid, ask = best
            out.append(Emit(Bbo(
                EXCHANGE, book.symbol, code, ts, recv_ts,
                bid[0] if bid else None, bid[1] if bid else None,
                ask[0] if ask else None, ask[1] if ask else None,
            )))  # fmt: skip
        book.bbo = best
        return out

    def _private_update(self, kind: str, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """Private streams (the shapes are not in exchanges.md: UNCONFIRMED), e.g. SIMPLE
        ``{"ty":"myAsset","astuid":"…","ast":[{"cu":"KRW","b":1000.0,"l":0.0}],
        "asttms":1710146517259,"tms":1710146517267,"st":"REALTIME"}``: published as sent, with
        the message ``timestamp``; ``myOrder`` frames carry their market ``code``."""
        ts = ms_to_us(wire.get(msg, "timestamp"))
        name = "my_order" if kind == wire.MY_ORDER else "my_asset"
        symbol: str | None = None
        code = msg.get("code", msg.get("cd"))
        if kind == wire.MY_ORDER:
            if type(code) is not str:
                raise TypeError("myOrder needs a market code")
            symbol = self._codes.get(code) or wire.canonical(code)
        check_payload(msg)
        account = self.options.account
        return [Emit(PrivateUpdate(
            EXCHANGE, ts, recv_ts, account, name, msg, symbol,
            code if symbol is not None else None,
        ))]  # fmt: skip

    def _error(self, error: Any, recv_ts: int) -> list[Action]:
        """§4.6 ``{"error": {"name": "NO_CODES", "message": "..."}}``: a rejected request.
        ``INVALID_AUTH`` cannot get better by reconnecting: the connection stops."""
        if type(error) is not dict or type(error.get("name")) is not str:
            raise TypeError("error must be an object with a name")
        name = clip(error["name"])
        status = Status(EXCHANGE, StatusEvent.REJECTED, self.connection, name, recv_ts)
        out: list[Action] = [CountParseError(f"venue error {name}"), Emit(status)]
        if name == "INVALID_AUTH":
            out.append(Fatal("INVALID_AUTH"))
        return out


def _check_order(levels: list[Level], *, descending: bool) -> None:
    prices = [float(p) for p, _ in levels]
    ordered = sorted(prices, reverse=descending)
    if prices != ordered or len(set(prices)) != len(prices):
        raise ValueError("orderbook units are not in price order")
