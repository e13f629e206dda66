"""Kraken Spot WebSocket v2 market data, pure: frames in, actions out (exchanges.md §3).

One instance serves one connection slot. It connects to ``{ws_url}/v2``, subscribes the ``trade``
and ``book`` channels (one ack or error per symbol, §3.2), normalizes trades (§3.3) and keeps each
book synced from the venue's snapshot and updates, truncated to the depth and verified by CRC32
after every message (§3.4, §3.5, ``books.py``). A checksum mismatch resubscribes that one book.
Precisions for the checksum come from REST AssetPairs (fetched once, §3.5); the bbo is derived
from the verified book. An app-level ``ping`` goes out when the socket has been quiet (§3.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from feedgate.events import Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    FetchSnapshot,
    Reconnect,
    Resync,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.book import BookImage, BookUpdate
from feedgate.protocol.bookkeeper import BookKeeper, TrackedBook
from feedgate.protocol.booksync import WS_SNAPSHOT, BookSync
from feedgate.protocol.checks import brief, clip, epoch_us
from feedgate.protocol.heartbeat import PingSchedule
from feedgate.protocol.levels import number_text
from feedgate.venues.kraken import wire
from feedgate.venues.kraken.books import RULE, KrakenBook, parse_checksum, parse_levels
from feedgate.venues.kraken.options import KrakenOptions

EXCHANGE = "kraken"
INSTRUMENTS_KEY = "instruments"
"""``FetchSnapshot`` key of the AssetPairs request (venue symbols always contain a ``/``)."""
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
MAX_CHECKSUM_FAILURES = 5
"""Failures of one book without a verified update in between before it is given up (rejected)
instead of resubscribed again: past this the cause is not a lost message but, say, a wrong
precision, and resubscribing in a loop would only hammer the venue."""


@dataclass(slots=True)
class _Request:
    """A subscribe/unsubscribe waiting for its per-symbol answers (§3.2)."""

    method: str
    channel: str
    symbols: set[str]
    initial: bool  # part of on_open's subscriptions (a resubscribe after a mismatch is not)


class KrakenProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: KrakenOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self._books = BookKeeper(
            EXCHANGE, self.connection,
            checkpoint_interval_s=options.checkpoint_interval_s,
            depth=options.depth,
            resubscribe=self._resubscribe,
        )  # fmt: skip
        self._book_routes: dict[str, KrakenBook] = {}
        self._trade_routes: dict[str, str] = {}  # venue symbol → canonical
        for topic in spec.topics:
            venue_symbol = spec.venue_symbols.get(topic.symbol, topic.symbol.replace("-", "/"))
            if topic.channel == "trades":
                self._trade_routes[venue_symbol] = topic.symbol
            elif topic.channel in ("book", "bbo"):
                existing = self._books.get(venue_symbol)
                sync = existing.sync if existing else BookSync(RULE, WS_SNAPSHOT, options.depth)
                tracked = self._books.track(topic.symbol, venue_symbol, sync, topic.channel)
                if venue_symbol not in self._book_routes:
                    self._book_routes[venue_symbol] = KrakenBook(tracked, options.infer_precision)
        self._pending: dict[int, _Request] = {}
        self._next_id = 1
        self._subscribed = False
        self._instruments_done = False
        self._ping = PingSchedule(options.ping_interval_s)
        self._quiet_us = int(options.ping_interval_s * 1_000_000)
        self._last_frame_us = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def connect_url(self) -> str:
        return self.options.ws_url.rstrip("/") + wire.PATH

    def on_open(self, now: int) -> list[Action]:
        """Subscribe everything (§3.2) and, until it has answered once, ask for AssetPairs."""
        self._pending.clear()
        self._subscribed = False
        self._ping.reset()
        self._last_frame_us = now
        self._books.subscribe_all()
        actions: list[Action] = []
        if self._book_routes and not self._instruments_done:
            actions.append(FetchSnapshot(INSTRUMENTS_KEY, self.instruments_url()))
        batch = self.options.subscribe_batch
        for channel, symbols, depth in (
            (wire.TRADE, sorted(self._trade_routes), None),
            (wire.BOOK, sorted(self._book_routes), self.options.depth),
        ):
            for start in range(0, len(symbols), batch):
                chunk = symbols[start : start + batch]
                actions.append(self._request("subscribe", channel, chunk, depth, initial=True))
        return actions

    def unsynced_books(self) -> int:
        return self._books.unsynced()

    def on_handover(self, now: int) -> list[Action]:
        return self._books.handover(now)

    def on_close(self, now: int) -> list[Action]:
        self._subscribed = False
        self._pending.clear()
        for book in self._book_routes.values():
            book.forget()
        return self._books.close_all(now)

    def instruments_url(self) -> str:
        return self.options.rest_url.rstrip("/") + wire.ASSET_PAIRS_PATH

    def _request(
        self, method: str, channel: str, symbols: list[str], depth: int | None, *, initial: bool
    ) -> Send:
        req_id = self._next_id
        self._next_id += 1
        self._pending[req_id] = _Request(method, channel, set(symbols), initial)
        build = wire.subscribe_frame if method == "subscribe" else wire.unsubscribe_frame
        return Send(build(channel, symbols, req_id, depth))

    def _resubscribe(self, book: TrackedBook) -> list[Action]:
        """§3.5 on mismatch: unsubscribe and subscribe the book; the venue sends a new image."""
        symbol, depth = [book.venue_symbol], self.options.depth
        return [
            self._request("unsubscribe", wire.BOOK, symbol, depth, initial=False),
            self._request("subscribe", wire.BOOK, symbol, depth, initial=False),
        ]

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        self._last_frame_us = recv_ts
        channel = msg.get("channel")
        if channel is not None:
            if channel == wire.BOOK:
                return self._on_book(msg, recv_ts)
            if channel == wire.TRADE:
                return self._on_trades(msg, recv_ts)
            if channel == wire.HEARTBEAT or channel == wire.STATUS:
                return []  # §3.6 heartbeat, §3.1 status: liveness only
            return [CountParseError(f"unexpected channel {brief(channel)}")]
        if "error" in msg or "Error" in msg or msg.get("success") is False:
            return self._on_error(msg, recv_ts)
        method = msg.get("method")
        if method == "subscribe" or method == "unsubscribe":
            return self._on_ack(msg, recv_ts)
        if method == "pong":
            return []
        return [CountParseError("unknown frame shape")]

    def _on_book(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§3.4 ``{"channel": "book", "type": "snapshot"|"update", "data": [entry, …]}``; each
        entry is handled on its own, so a bad one cannot drop the others' deltas."""
        kind, data = msg.get("type"), msg.get("data")
        if (kind != "snapshot" and kind != "update") or type(data) is not list:
            return [CountParseError(f"book frame of type {brief(kind)} without a data list")]
        out: list[Action] = []
        for entry in data:
            try:
                self._book_entry(kind == "snapshot", entry, recv_ts, out)
            except _PARSE_ERRORS as exc:
                out.append(CountParseError(f"book {kind}: {type(exc).__name__}: {clip(exc)}"))
                symbol = entry.get("symbol") if type(entry) is dict else None
                book = self._book_routes.get(symbol) if type(symbol) is str else None
                if book is not None:  # §3.4: the image comes once per subscription
                    out += self._books.unreadable(book.tracked)
        return out

    def _book_entry(self, snapshot: bool, entry: Any, recv_ts: int, out: list[Action]) -> None:
        """§3.4 ``{"symbol": "BTC/USD", "bids": [], "asks": [{"price": 29431.1, "qty": 0.0}],
        "checksum": 3547452596, "timestamp": "2023-07-30T15:29:58.343415Z"}``."""
        symbol = entry["symbol"]
        book = self._book_routes.get(symbol) if type(symbol) is str else None
        if book is None:
            out.append(CountParseError(f"book data for unsubscribed symbol {brief(symbol)}"))
            return
        bids, raw_bids = parse_levels(entry.get("bids", []))
        asks, raw_asks = parse_levels(entry.get("asks", []))
        checksum = parse_checksum(entry["checksum"])
        stamp = entry.get("timestamp")
        ts = None if stamp is None else epoch_us(wire.parse_timestamp(stamp))
        if snapshot:
            image = BookImage(0, bids, asks, ts, recv_ts)
            outcome, refused = book.on_snapshot(image, raw_bids, raw_asks, checksum)
            if refused:
                out.append(Resync(book.tracked.symbol, "checksum"))
        else:
            update = BookUpdate(0, 0, bids, asks, ts, recv_ts)
            outcome = book.on_update(update, raw_bids, raw_asks, checksum)
        give_up = outcome.resubscribe and book.failures >= MAX_CHECKSUM_FAILURES
        if give_up:
            outcome.resubscribe = False
        self._books.carry_out(book.tracked, outcome, recv_ts, out)
        if give_up:
            depth = self.options.depth
            out.append(self._request("unsubscribe", wire.BOOK, [symbol], depth, initial=False))
            reason = f"checksum failed {book.failures} times in a row"
            out.extend(self._reject(wire.BOOK, symbol, reason, recv_ts))

    def _on_trades(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§3.3 ``{"channel": "trade", "type": "update", "data": [trade, …]}``."""
        kind, data = msg.get("type"), msg.get("data")
        if kind == "snapshot":
            return []  # §3.3 recent trades, only sent when asked for (we ask snapshot: false)
        if kind != "update" or type(data) is not list:
            return [CountParseError(f"trade frame of type {brief(kind)} without a data list")]
        out: list[Action] = []
        for entry in data:
            try:
                out.append(self._trade(entry, recv_ts))
            except _PARSE_ERRORS as exc:
                out.append(CountParseError(f"trade: {type(exc).__name__}: {clip(exc)}"))
        return out

    def _trade(self, entry: Any, recv_ts: int) -> Action:
        """§3.3 ``{"symbol": "BTC/USD", "side": "buy", "price": 105944.2, "qty": 0.00027625,
        "ord_type": "limit", "trade_id": 10218208, "timestamp": "2023-10-06T17:35:55.440295Z"}``;
        ``side`` is the taker's side."""
        venue_symbol = entry["symbol"]
        symbol = self._trade_routes.get(venue_symbol) if type(venue_symbol) is str else None
        if symbol is None:
            return CountParseError(f"trade for unsubscribed symbol {brief(venue_symbol)}")
        price, qty, trade_id = entry["price"], entry["qty"], entry["trade_id"]
        if type(trade_id) is not int:
            raise TypeError("trade_id must be an integer")
        for value in (price, qty):
            if type(value) is not float and type(value) is not int:
                raise TypeError("trade price/qty must be JSON numbers")
        if not (0.0 < float(price) < math.inf and 0.0 < float(qty) < math.inf):
            raise ValueError(f"trade out of range: {brief(price)} {brief(qty)}")
        ts = epoch_us(wire.parse_timestamp(entry["timestamp"]))
        return Emit(Trade(
            EXCHANGE, symbol, venue_symbol, ts, recv_ts, str(trade_id), number_text(price),
            number_text(qty), _SIDES[entry["side"]],
        ))  # fmt: skip

    def _on_ack(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§3.2 ``{"method": "subscribe", "result": {"channel": "book", "depth": 10,
        "snapshot": true, "symbol": "BTC/USD"}, "success": true, …, "req_id": 1}``."""
        result, req_id = msg.get("result"), msg.get("req_id")
        request = self._pending.get(req_id) if type(req_id) is int else None
        if request is None or type(result) is not dict or type(req_id) is not int:
            return []  # an answer to nothing we are waiting for
        symbol = result.get("symbol")
        if type(symbol) is str:
            request.symbols.discard(symbol)
        if not request.symbols:
            del self._pending[req_id]
        return self._maybe_subscribed(recv_ts)

    def _maybe_subscribed(self, recv_ts: int) -> list[Action]:
        """Every initial subscription was answered: the connection is up."""
        if self._subscribed or any(r.initial for r in self._pending.values()):
            return []
        if not self._trade_routes and not self._book_routes:
            return []
        self._subscribed = True
        status = Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)
        return [Subscribed(), Emit(status)]

    def _on_error(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§3.2 ``{"error": "Currency pair not supported XBT/USD", "method": "subscribe",
        "success": false, "symbol": "XBT/USD", …, "req_id": 1}``. An initial subscription that
        fails is rejected for good (``rejected`` status); a failed resubscribe reconnects."""
        reason = clip(msg.get("error", msg.get("Error", "unknown error")))
        req_id, symbol = msg.get("req_id"), msg.get("symbol")
        request = self._pending.get(req_id) if type(req_id) is int else None
        if request is None or type(req_id) is not int:
            return [CountParseError(f"venue error for no request of ours: {reason}")]
        if type(symbol) is str:
            failed = [symbol] if symbol in request.symbols else []
        else:
            failed = sorted(request.symbols)  # e.g. "Malformed request": the whole request
        request.symbols.difference_update(failed)
        if not request.symbols:
            del self._pending[req_id]
        if request.method == "unsubscribe" or not failed:
            return []  # e.g. unsubscribing what the venue already dropped
        if not request.initial:
            return [Reconnect("resubscribe_failed")]
        out: list[Action] = []
        for venue_symbol in failed:
            out.extend(self._reject(request.channel, venue_symbol, reason, recv_ts))
        out.extend(self._maybe_subscribed(recv_ts))
        return out

    def _reject(self, channel: str, venue_symbol: str, reason: str, recv_ts: int) -> list[Action]:
        """Drop a refused subscription for the life of the process (not retried on reconnect)."""
        symbol: str | None
        if channel == wire.TRADE:
            symbol = self._trade_routes.pop(venue_symbol, None)
        else:
            book = self._book_routes.pop(venue_symbol, None)
            symbol = None if book is None else book.tracked.symbol
            self._books.drop(venue_symbol)
        if symbol is None:
            return []
        return [Emit(Status(
            EXCHANGE, StatusEvent.REJECTED, self.connection, f"{channel}: {reason}", recv_ts,
            symbol, venue_symbol,
        ))]  # fmt: skip

    # -- REST and timers ------------------------------------------------------------------------

    def on_snapshot(self, key: str, body: bytes, now: int) -> list[Action]:
        """AssetPairs (§3.5 ``pair_decimals``/``lot_decimals``): the checksum precisions, for
        books whose precision no snapshot has verified yet. Body: ``{"error": [], "result":
        {"XXBTZUSD": {"wsname": "XBT/USD", "pair_decimals": 1, "lot_decimals": 8, …}}}``."""
        if key != INSTRUMENTS_KEY:
            return []
        try:
            pairs = wire.parse_asset_pairs(body)
        except (orjson.JSONDecodeError, *_PARSE_ERRORS) as exc:
            return [CountParseError(f"AssetPairs: {type(exc).__name__}: {clip(exc)}")]
        self._instruments_done = True
        by_venue = {pair.venue_symbol: pair for pair in pairs.values()}
        for venue_symbol, book in self._book_routes.items():
            pair = by_venue.get(venue_symbol)
            if pair is not None and not book.verified:
                book.set_precision(pair.price_dp, pair.qty_dp)
        return []

    def on_tick(self, now: int) -> list[Action]:
        """Book checkpoints; a ``ping`` (§3.6) when nothing arrived for ``ping_interval_s``."""
        actions = self._books.tick(now)
        if self._ping.due(now) and now - self._last_frame_us >= self._quiet_us:
            actions.append(Send(wire.ping_frame(self._next_id)))
            self._next_id += 1
        return actions
