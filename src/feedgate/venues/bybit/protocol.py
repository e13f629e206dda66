"""Bybit v5 public market data as a pure protocol: frames in, actions out (exchanges.md §6).

One instance serves one connection slot on ``/v5/public/spot`` or ``/v5/public/linear`` (the
same frames). It subscribes ``publicTrade.{symbol}`` and ``orderbook.{depth}.{symbol}`` in
messages of at most 10 args (§6.6), pings with ``{"op":"ping"}`` every 20 s (§6.6), normalizes
trades, and keeps each book through ``BookSync``'s WS_SNAPSHOT table: the image comes on the
socket, a later image or ``u == 1`` is a venue reset (book_reset, then the fresh snapshot,
§6.5), and a ``u`` gap resubscribes that one topic so the venue sends a fresh image. The best
bid/offer is derived from the synced book.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from feedgate.events import Level, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.book import BookImage, BookUpdate, L2Book
from feedgate.protocol.bookkeeper import BookKeeper, TrackedBook
from feedgate.protocol.booksync import WS_SNAPSHOT, BookSync, Outcome, SyncState
from feedgate.protocol.checks import brief, clip, ms_to_us
from feedgate.protocol.heartbeat import PingSchedule
from feedgate.protocol.levels import check_trade, parse_levels
from feedgate.venues.bybit import wire
from feedgate.venues.bybit.options import BybitOptions
from feedgate.venues.bybit.sequencing import BybitUpdateId
from feedgate.venues.bybit.subscriptions import Ledger, Request

EXCHANGE = "bybit"
_SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}  # §6.3: S is the taker's side


@dataclass(slots=True)
class _Route:
    """Where frames of one topic go: trades (``book`` None) or a book."""

    symbol: str
    venue_symbol: str
    book: TrackedBook | None = None


def _us(ms: Any) -> int:
    """§6.7 ``ts``/``T``/``cts`` are epoch ms numbers (a doc note shows ``ts`` quoted once, so a
    digit string is accepted too) → integer µs."""
    return ms_to_us(int(ms) if type(ms) is str else ms)


class BybitProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: BybitOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self._depth = options.depth
        rule = BybitUpdateId(
            strict=options.strict_u_continuity and options.depth != 1,
            repeats=options.depth == 1,
        )
        self._books = BookKeeper(
            EXCHANGE, self.connection,
            checkpoint_interval_s=options.checkpoint_interval_s,
            depth=options.depth,
            resubscribe=self._resubscribe,
        )  # fmt: skip
        self._routes: dict[str, _Route] = {}
        for topic in spec.topics:
            venue_symbol = spec.venue_symbols.get(topic.symbol, topic.symbol.replace("-", ""))
            if topic.channel == "trades":
                self._routes[wire.trade_topic(venue_symbol)] = _Route(topic.symbol, venue_symbol)
            elif topic.channel in ("book", "bbo"):
                existing = self._books.get(venue_symbol)
                sync = existing.sync if existing else BookSync(rule, WS_SNAPSHOT, options.depth)
                book = self._books.track(topic.symbol, venue_symbol, sync, topic.channel)
                name = wire.book_topic(options.depth, venue_symbol)
                self._routes[name] = _Route(topic.symbol, venue_symbol, book)
        self._ledger = Ledger()
        self._ping = PingSchedule(options.ping_interval_s)
        self._subscribed = False

    # -- lifecycle ------------------------------------------------------------------------------

    def connect_url(self) -> str:
        """§6.1 ``wss://stream.bybit.com/v5/public/spot`` (or ``…/linear``)."""
        return f"{self.options.ws_url.rstrip('/')}/v5/public/{self.options.category}"

    def on_open(self, now: int) -> list[Action]:
        self._ledger.clear()
        self._subscribed = False
        self._ping.reset()
        self._ping.due(now)  # start the clock: the first ping goes one interval from now
        self._books.subscribe_all()
        topics = sorted(self._routes)
        batch = self.options.subscribe_batch
        return [
            self._request("subscribe", topics[i : i + batch], initial=True)
            for i in range(0, len(topics), batch)
        ]

    def unsynced_books(self) -> int:
        return self._books.unsynced()

    def on_handover(self, now: int) -> list[Action]:
        return self._books.handover(now)

    def on_close(self, now: int) -> list[Action]:
        self._subscribed = False
        return self._books.close_all(now)

    def on_tick(self, now: int) -> list[Action]:
        """§6.6 ``{"op":"ping"}`` every ``ping_interval_s``; book checkpoints."""
        actions = self._books.tick(now)
        if self._ping.due(now):
            actions.append(Send(wire.ping_frame(self._ledger.next_id("ping"))))
        return actions

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        topic = msg.get("topic")
        route: _Route | None = None
        try:
            if topic is not None:
                route = self._routes.get(topic) if type(topic) is str else None
                if route is None:
                    return [CountParseError(f"unexpected topic {brief(topic)}")]
                if route.book is None:
                    return self._trades(route, msg["data"], recv_ts)
                return self._book(route, msg, recv_ts)
            op = msg.get("op")
            if op is not None:
                return self._on_op(op, msg, recv_ts)
        except (KeyError, TypeError, ValueError) as exc:
            where = clip(topic or "control")
            out: list[Action] = [
                CountParseError(f"{where} frame: {type(exc).__name__}: {clip(exc)}")
            ]
            if route is not None and route.book is not None:
                out += self._books.unreadable(route.book)  # §6.5: the image comes only once
            return out
        return [CountParseError("unknown frame shape")]

    def _trades(self, route: _Route, data: Any, recv_ts: int) -> list[Action]:
        """§6.3 ``{"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1672304486868,
        "data": [{"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001",
        "p": "16578.50", "i": "2290000000061666327", "BT": false, "RPI": false,
        "seq": 1783284617}]}``: one trade per item, all or none of a frame."""
        if type(data) is not list:
            raise TypeError("publicTrade data must be a list")
        out: list[Action] = []
        skip_block = not self.options.include_block_trades
        for item in data:
            price, size, trade_id = item["p"], item["v"], item["i"]
            if type(price) is not str or type(size) is not str or type(trade_id) is not str:
                raise TypeError("trade p, v and i must be strings")
            if not trade_id:  # subscribers deduplicate by it: a trade must be named
                raise ValueError("empty trade id i")
            check_trade(price, size)
            side = _SIDES[item["S"]]
            ts = _us(item["T"])
            if skip_block and item.get("BT") is True:
                continue
            out.append(Emit(Trade(
                EXCHANGE, route.symbol, route.venue_symbol, ts, recv_ts, trade_id, price, size,
                side,
            )))  # fmt: skip
        return out

    def _book(self, route: _Route, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§6.4 ``{"topic": "orderbook.50.BTCUSDT", "ts": 1687940967466, "type": "delta",
        "data": {"s": "BTCUSDT", "b": [["30247.20", "30.028"], ["30240.00", "0"]],
        "a": [["30248.70", "0"], ["30249.30", "0.892"]], "u": 177400507,
        "seq": 66544703342}, "cts": 1687940967464}``. Parsed whole before the book is touched.
        ``ts`` is the matching-engine time ``cts`` (correlates with trade ``T``), else ``ts``."""
        kind, data = msg["type"], msg["data"]
        if type(data) is not dict:
            raise TypeError("orderbook data must be an object")
        u = data["u"]
        if type(u) is not int:
            raise TypeError(f"u must be an integer, not {brief(u)}")
        cts = msg.get("cts")
        ts = _us(cts if cts is not None else msg["ts"])
        bids, asks = parse_levels(data["b"]), parse_levels(data["a"])
        book = route.book
        assert book is not None
        sync = book.sync
        outcome: Outcome
        if kind == "delta" and u != 1:
            outcome = sync.on_update(BookUpdate(u, u, bids, asks, ts, recv_ts))
        elif kind == "snapshot" or kind == "delta":
            if self._depth == 1 and u != 1 and sync.state is SyncState.SYNCED:
                # §6.5: depth 1 is snapshot-only; each replaces the one level a side
                update = BookUpdate(
                    u, u, _replace(sync.book, bids, True), _replace(sync.book, asks, False), ts,
                    recv_ts,
                )  # fmt: skip
                outcome = sync.on_update(update)
            else:  # §6.5: a later snapshot, or u == 1 (service restart), resets the book
                outcome = sync.on_ws_snapshot(BookImage(u, bids, asks, ts, recv_ts))
        else:
            raise ValueError(f"unknown orderbook type {brief(kind)}")
        actions: list[Action] = []
        self._books.carry_out(book, outcome, recv_ts, actions)
        return actions

    # -- requests and replies (§6.2) --------------------------------------------------------------

    def _request(self, op: str, args: list[str], *, initial: bool) -> Send:
        request = self._ledger.new(op, args, initial=initial)
        return Send(wire.request_frame(op, args, request.req_id))

    def _resubscribe(self, book: TrackedBook) -> list[Action]:
        """§6.5: unsubscribe and subscribe the one topic; the venue then sends a fresh image."""
        topic = [wire.book_topic(self._depth, book.venue_symbol)]
        return [
            self._request("unsubscribe", topic, initial=False),
            self._request("subscribe", topic, initial=False),
        ]

    def _on_op(self, op: Any, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§6.2 replies: ``{"success": true, "ret_msg": "subscribe", "conn_id": "…",
        "req_id": "sub-1", "op": "subscribe"}``, the failure form with ``"success": false``,
        and the pong ``{"success": true, "ret_msg": "pong", …, "op": "ping"}``."""
        if op in ("ping", "pong"):
            return []  # the frame itself kept the transport clock alive
        if op not in ("subscribe", "unsubscribe"):
            return [CountParseError(f"unknown op {brief(op)}")]
        success = msg["success"]
        if type(success) is not bool:
            raise TypeError("success must be a boolean")
        ret_msg = msg.get("ret_msg")
        reason = ret_msg if type(ret_msg) is str else ""
        request = self._ledger.match(op, msg.get("req_id"), reason)
        if op == "unsubscribe":
            return []  # failing to unsubscribe a topic the venue had already dropped is harmless
        if request is None:
            if success:
                return []  # an answer to nothing we wait for (a request of an earlier socket)
            return [CountParseError(f"{op} error for no pending request: {clip(reason)}")]
        if success or "already subscribed" in reason.lower():  # the latter UNCONFIRMED
            return self._maybe_all_answered(request, recv_ts)
        return self._rejected(request, reason, recv_ts)

    def _maybe_all_answered(self, request: Request, recv_ts: int) -> list[Action]:
        """Every initial subscribe was answered: the connection is up."""
        if not request.initial or self._subscribed or self._ledger.initial_pending():
            return []
        if not self._routes:
            return []  # everything was rejected: nothing is flowing
        self._subscribed = True
        status = Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)
        return [Subscribed(), Emit(status)]

    def _rejected(self, request: Request, reason: str, recv_ts: int) -> list[Action]:
        """A failed subscribe answers the whole request (§6.2 has one reply per request, and
        whether the venue applied the other args is not documented). The args its ``ret_msg``
        names are rejected; when it names none of a multi-arg request's args, every arg is
        retried alone, so each gets a definite answer and the valid ones keep flowing."""
        named = wire.named_topics(reason, request.args)
        if not named and len(request.args) == 1:
            named = list(request.args)
        actions: list[Action] = [
            self._request("subscribe", [arg], initial=request.initial)
            for arg in request.args
            if arg not in named
        ]
        rejected: dict[str, str] = {}
        for arg in named:
            route = self._routes.pop(arg, None)
            if route is None:
                continue
            if route.book is not None:
                self._books.drop(route.venue_symbol)
            rejected[route.symbol] = route.venue_symbol
        for symbol, venue_symbol in sorted(rejected.items()):
            actions.append(Emit(Status(
                EXCHANGE, StatusEvent.REJECTED, self.connection, clip(reason or "subscribe failed"),
                recv_ts, symbol, venue_symbol,
            )))  # fmt: skip
        actions.extend(self._maybe_all_answered(request, recv_ts))
        return actions


def _replace(book: L2Book, levels: tuple[Level, ...], bids: bool) -> tuple[Level, ...]:
    """Depth-1 image as a delta against the held level: the new level, and a delete of the old
    price when it moved."""
    side = book.bids if bids else book.asks
    new_prices = {price for price, _ in levels}
    gone = tuple((price, "0") for price, _ in side.top() if price not in new_prices)
    return gone + levels
