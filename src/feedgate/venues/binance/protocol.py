"""Binance Spot market data as a pure protocol: frames in, actions out (exchanges.md §1).

One instance serves one connection slot. It connects to the combined-stream endpoint, subscribes
with SUBSCRIBE messages (acked per id), normalizes ``trade``/``aggTrade`` into trades and keeps
each ``depth@100ms`` book synced by the documented REST snapshot procedure (§1.7) through
``BookSync``; the best bid/offer is derived from the synced book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from feedgate.events import (
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
    FetchSnapshot,
    Rotate,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.book import BookImage, BookUpdate
from feedgate.protocol.bookkeeper import BookKeeper, TrackedBook
from feedgate.protocol.booksync import REST_SNAPSHOT, BookSync
from feedgate.protocol.checks import brief, clip, epoch_us
from feedgate.protocol.levels import check_levels, check_trade, parse_levels
from feedgate.protocol.sequencing import UpdateIdRange
from feedgate.venues.binance import wire
from feedgate.venues.binance.options import BinanceOptions, snapshot_weight
from feedgate.venues.binance.typed import (
    NOT_TYPED,
    AggTradeData,
    DepthData,
    TradeData,
    decode_stream_frame,
)

EXCHANGE = "binance"
_RULE = UpdateIdRange()
SELL, BUY = Side.SELL, Side.BUY  # an enum member lookup costs about a dict lookup: once here
_SHAPES = {wire.TRADE: TradeData, wire.AGG_TRADE: AggTradeData, wire.DEPTH: DepthData}


@dataclass(slots=True)
class _Route:
    """Where frames of one stream go."""

    kind: str  # wire.TRADE, wire.AGG_TRADE or wire.DEPTH
    symbol: str
    venue_symbol: str
    book: TrackedBook | None = None  # set for depth streams only
    # derived from kind: the trade id's field ("t" in trade, "a" in aggTrade, §1.3, §1.4) and
    # the typed shape of the stream's data (feedgate.venues.binance.typed)
    id_key: str = field(init=False)
    shape: type = field(init=False)

    def __post_init__(self) -> None:
        self.id_key = "a" if self.kind == wire.AGG_TRADE else "t"
        self.shape = _SHAPES[self.kind]


@dataclass(slots=True)
class _PendingSubscribe:
    streams: list[str] = field(default_factory=list)


class BinanceProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: BinanceOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self._scale = 1 if options.time_unit == "us" else 1000  # venue time unit → µs
        trade_suffix = wire.AGG_TRADE if options.trade_stream == "aggTrade" else wire.TRADE
        self._routes: dict[str, _Route] = {}
        self._books = BookKeeper(
            EXCHANGE, self.connection,
            checkpoint_interval_s=options.checkpoint_interval_s,
            request_snapshot=self._snapshot_request,
        )  # fmt: skip
        for topic in spec.topics:
            venue_symbol = spec.venue_symbols.get(topic.symbol, topic.symbol.replace("-", ""))
            if topic.channel == "trades":
                stream = wire.stream_name(venue_symbol, trade_suffix)
                self._routes[stream] = _Route(trade_suffix, topic.symbol, venue_symbol)
            elif topic.channel in ("book", "bbo"):
                existing = self._books.get(venue_symbol)
                sync = existing.sync if existing else BookSync(_RULE, REST_SNAPSHOT)
                book = self._books.track(topic.symbol, venue_symbol, sync, topic.channel)
                stream = wire.stream_name(venue_symbol, wire.DEPTH)
                self._routes[stream] = _Route(wire.DEPTH, topic.symbol, venue_symbol, book)
        self._pending: dict[int, _PendingSubscribe] = {}
        self._next_id = 1
        self._subscribed = False

    # -- lifecycle ------------------------------------------------------------------------------

    def connect_url(self) -> str:
        url = f"{self.options.ws_url.rstrip('/')}/stream"
        return url + "?timeUnit=MICROSECOND" if self.options.time_unit == "us" else url

    def on_open(self, now: int) -> list[Action]:
        self._pending.clear()
        self._subscribed = False
        self._books.subscribe_all()
        streams = sorted(self._routes)
        batch = self.options.subscribe_batch
        actions: list[Action] = []
        for start in range(0, len(streams), batch):
            chunk = streams[start : start + batch]
            request_id = self._next_id
            self._next_id += 1
            self._pending[request_id] = _PendingSubscribe(chunk)
            actions.append(Send(wire.subscribe_frame(chunk, request_id)))
        return actions

    def on_close(self, now: int) -> list[Action]:
        self._subscribed = False
        return self._books.close_all(now)

    def unsynced_books(self) -> int:
        return self._books.unsynced()

    def on_handover(self, now: int) -> list[Action]:
        return self._books.handover(now)

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        if type(frame) is not str:  # bytes: msgspec does not check the UTF-8 of fields it skips
            return self._on_untyped_frame(frame, recv_ts)
        try:
            typed = decode_stream_frame(frame)
        except NOT_TYPED:
            return self._on_untyped_frame(frame, recv_ts)
        route = self._routes.get(typed.stream)
        data = typed.data
        if route is None or type(data) is not route.shape:
            return self._on_untyped_frame(frame, recv_ts)  # it tells what is unexpected
        try:
            if type(data) is TradeData:
                trade_id = data.t
            elif type(data) is AggTradeData:
                trade_id = data.a
            else:  # the third shape (mypy does not narrow the rest of a type() chain)
                return self._typed_depth(route, cast(DepthData, data), recv_ts)
            # Inline: most frames are trades, and a call costs as much as a field here.
            price, size = data.p, data.q
            check_trade(price, size)
            trade = Trade(
                EXCHANGE, route.symbol, route.venue_symbol, epoch_us(data.T * self._scale),
                recv_ts, str(trade_id), price, size, SELL if data.m else BUY,
            )  # fmt: skip
            return [Emit(trade)]
        except (TypeError, ValueError) as exc:
            return [CountParseError(f"{route.kind} frame: {type(exc).__name__}: {clip(exc)}")]

    def _on_untyped_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        """Any frame the typed decoding refused: read as plain JSON, and judged field by
        field."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        stream = msg.get("stream")
        if stream is not None:
            route = self._routes.get(stream) if type(stream) is str else None
            if route is None:
                if stream == "!serverShutdown":
                    return [Rotate("server_shutdown")]  # §1.8: replace before it closes
                return [CountParseError(f"unexpected stream {brief(stream)}")]
            try:
                data = msg["data"]
                if route.book is not None:
                    return self._depth(route, data, recv_ts)
                # §1.3 {"e":"trade","t":5123456789,"p":"94250.01","q":"0.0012","T":…,"m":true};
                # §1.4 aggTrade has the id in "a". m (buyer is maker) true: the taker sold.
                # Inline: most frames are trades, and a call costs as much as a field here.
                price, size, maker = data["p"], data["q"], data["m"]
                if type(price) is not str or type(size) is not str or type(maker) is not bool:
                    raise TypeError("trade price/size must be strings and m a boolean")
                check_trade(price, size)
                ts = epoch_us(int(data["T"]) * self._scale)
                trade = Trade(
                    EXCHANGE, route.symbol, route.venue_symbol, ts, recv_ts,
                    str(int(data[route.id_key])), price, size, SELL if maker else BUY,
                )  # fmt: skip
                return [Emit(trade)]
            except (KeyError, TypeError, ValueError) as exc:
                return [CountParseError(f"{route.kind} frame: {type(exc).__name__}: {clip(exc)}")]
        if "result" in msg and "id" in msg:
            return self._on_ack(msg, recv_ts)
        if "code" in msg or "error" in msg:
            return self._on_error(msg, recv_ts)
        if msg.get("e") == "serverShutdown":  # raw-stream form of §1.8
            return [Rotate("server_shutdown")]
        return [CountParseError("unknown frame shape")]

    def _typed_depth(self, route: _Route, data: DepthData, recv_ts: int) -> list[Action]:
        """§1.5, as ``_depth``, from the typed shape: the levels are already pairs of strings, so
        only their texts are checked."""
        book = route.book
        assert book is not None
        update = BookUpdate(
            data.U, data.u, check_levels(data.b), check_levels(data.a),
            epoch_us(data.E * self._scale), recv_ts,
        )  # fmt: skip
        return self._apply_update(book, update, recv_ts)

    def _depth(self, route: _Route, data: dict[str, Any], recv_ts: int) -> list[Action]:
        """§1.5 ``{"e":"depthUpdate","E":…,"s":…,"U":157,"u":160,"b":[["p","q"]],"a":[…]}``."""
        book = route.book
        assert book is not None
        update = BookUpdate(
            int(data["U"]), int(data["u"]), parse_levels(data["b"]), parse_levels(data["a"]),
            epoch_us(int(data["E"]) * self._scale), recv_ts,
        )  # fmt: skip
        return self._apply_update(book, update, recv_ts)

    def _apply_update(self, book: TrackedBook, update: BookUpdate, recv_ts: int) -> list[Action]:
        actions: list[Action] = []
        self._books.carry_out(book, book.sync.on_update(update), recv_ts, actions)
        return actions

    def _on_ack(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§1.2 ``{"result": null, "id": 1}``: the SUBSCRIBE with that id took effect."""
        request_id = msg["id"]
        if type(request_id) is not int or self._pending.pop(request_id, None) is None:
            return []  # an answer to something we did not ask (LIST_SUBSCRIPTIONS) or twice
        if self._pending or self._subscribed:
            return []
        return self._all_answered(recv_ts)

    def _all_answered(self, recv_ts: int) -> list[Action]:
        """Every SUBSCRIBE was answered: the connection is up (``Subscribed`` and the status)."""
        self._subscribed = True
        status = Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)
        return [Subscribed(), Emit(status)]

    def _on_error(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§1.2 error ``{"code": 2, "msg": "Invalid request: …", "id": 5}`` (flat; a nested
        ``{"error": {…}}`` form is UNCONFIRMED and accepted too). Without an id we cannot tell
        which request failed: count it and carry on."""
        error = msg.get("error") if isinstance(msg.get("error"), dict) else msg
        assert isinstance(error, dict)
        reason = f"code {clip(error.get('code'))}: {clip(error.get('msg'))}"
        request_id = msg.get("id", error.get("id"))
        pending = self._pending.pop(request_id, None) if type(request_id) is int else None
        if pending is None:
            return [CountParseError(f"venue error without a known request id: {reason}")]
        actions: list[Action] = []
        rejected = {self._routes[s].symbol: self._routes[s].venue_symbol for s in pending.streams}
        for stream in pending.streams:
            route = self._routes.pop(stream)
            if route.book is not None:
                self._books.drop(route.venue_symbol)
        for symbol, venue_symbol in sorted(rejected.items()):
            status = Status(
                EXCHANGE,
                StatusEvent.REJECTED,
                self.connection,
                reason,
                recv_ts,
                symbol,
                venue_symbol,
            )
            actions.append(Emit(status))
        if not self._pending and not self._subscribed and self._routes:
            actions.extend(self._all_answered(recv_ts))
        return actions

    # -- snapshots and books -------------------------------------------------------------------

    def on_snapshot(self, key: str, body: bytes, now: int) -> list[Action]:
        """§1.6 ``{"lastUpdateId": 71234566990, "bids": [["94250.00", "1.18"]], "asks": […]}``."""
        book = self._books.get(key)
        if book is None:
            return []
        try:
            raw = orjson.loads(body)
            image = BookImage(
                last_id=int(raw["lastUpdateId"]),
                bids=parse_levels(raw["bids"]),
                asks=parse_levels(raw["asks"]),
                ts=None,
                recv_ts=now,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            actions: list[Action] = [CountParseError(f"depth snapshot: {clip(exc)}")]
            self._books.carry_out(book, book.sync.on_snapshot_failed(), now, actions)
            return actions
        actions = []
        self._books.carry_out(book, book.sync.on_snapshot(image), now, actions)
        return actions

    def on_snapshot_failed(self, key: str, reason: str, now: int) -> list[Action]:
        return self._books.snapshot_failed(key, now)

    def on_tick(self, now: int) -> list[Action]:
        """Refresh the ``book:*`` key of books that changed, at most once per interval."""
        return self._books.tick(now)

    def _snapshot_request(self, book: TrackedBook) -> Action:
        """§1.6 ``GET /api/v3/depth?symbol=BTCUSDT&limit=N`` with its request weight."""
        limit = self.options.snapshot_limit
        base = self.options.rest_url.rstrip("/")
        url = f"{base}/api/v3/depth?symbol={book.venue_symbol}&limit={limit}"
        return FetchSnapshot(book.venue_symbol, url, snapshot_weight(limit))
