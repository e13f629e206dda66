"""Coinbase Advanced Trade market data as a pure protocol: frames in, actions out (exchanges.md §2).

One instance serves one connection slot. It subscribes ``heartbeats``, ``market_trades`` and
``level2`` with one message per channel (§2.2, §2.6), normalizes trades, and keeps each book from
its WebSocket snapshot plus updates through ``BookSync`` (``WS_SNAPSHOT`` table); the best
bid/offer is derived from the synced book.

Integrity (§2.7): ``sequence_num`` counts every message of the connection, whatever its channel
or product. Any jump means some message was lost and nobody can tell whose, so every book of the
connection resyncs: synced ones publish ``book_reset``, and all of them are asked again with one
``unsubscribe`` + ``subscribe`` ``level2`` pair, which brings fresh snapshots. Resubscribing (not
reconnecting) keeps trades and heartbeats flowing and costs two messages; should a fresh snapshot
be lost in turn, that loss is itself a jump and the books are asked again. A counter that starts
over is expected only on a new connection (``on_open`` forgets it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from feedgate.events import Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.book import BookImage, BookUpdate
from feedgate.protocol.bookkeeper import BookKeeper, TrackedBook
from feedgate.protocol.booksync import WS_SNAPSHOT, BookSync, SyncState
from feedgate.protocol.checks import brief, clip, epoch_us
from feedgate.protocol.levels import check_trade
from feedgate.venues.coinbase import wire
from feedgate.venues.coinbase.ledger import Ledger, Request
from feedgate.venues.coinbase.options import CoinbaseOptions
from feedgate.venues.coinbase.sequencing import ConnectionOrdered

EXCHANGE = "coinbase"
_FRAME_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


_RULE = ConnectionOrdered()


def _newest_first(trades: list[Any]) -> bool:
    """Trades of a message come newest first (every multi-trade message of the capture); the
    doc's example is oldest first. Published oldest first either way."""
    if len(trades) < 2:
        return False
    try:
        return int(trades[0]["trade_id"]) > int(trades[-1]["trade_id"])
    except _FRAME_ERRORS:
        return True


@dataclass(slots=True)
class _TradeRoute:
    symbol: str
    last_id: int | None = None
    """The newest numeric ``trade_id`` published: a reconnect's snapshot backfills after it."""


class CoinbaseProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: CoinbaseOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self._taker_side = wire.TAKER_SIDE[options.trade_side]
        self._trades: dict[str, _TradeRoute] = {}
        self._books = BookKeeper(
            EXCHANGE, self.connection,
            checkpoint_interval_s=options.checkpoint_interval_s,
            resubscribe=self._ask_again,
        )  # fmt: skip
        self._aliased: list[tuple[str, str, str]] = []  # (symbol, product, symbol owning it)
        owners: dict[str, str] = {}
        for topic in spec.topics:
            product = spec.venue_symbols.get(topic.symbol, topic.symbol.upper())
            owner = owners.setdefault(product, topic.symbol)
            if owner != topic.symbol:  # BTC-USDC and BTC-USD are one book (§2.8)
                if (topic.symbol, product, owner) not in self._aliased:
                    self._aliased.append((topic.symbol, product, owner))
                continue
            if topic.channel == "trades":
                self._trades[product] = _TradeRoute(topic.symbol)
            else:
                existing = self._books.get(product)
                sync = existing.sync if existing else BookSync(_RULE, WS_SNAPSHOT)
                self._books.track(topic.symbol, product, sync, topic.channel)
        self._ledger = Ledger()
        self._seq: int | None = None
        self._again: set[str] = set()  # products whose book is asked for again after this frame
        self._subscribed = False
        self._opened = False

    # -- lifecycle ------------------------------------------------------------------------------

    def connect_url(self) -> str:
        return self.options.ws_url

    def on_open(self, now: int) -> list[Action]:
        """§2.2: subscribe within 5 s, one channel per message; ``heartbeats`` first (§2.6)."""
        self._seq = None
        self._subscribed = False
        self._ledger.reset()
        self._again.clear()
        self._books.subscribe_all()
        actions: list[Action] = []
        if not self._opened:
            self._opened = True
            for symbol, product, owner in self._aliased:
                reason = f"same book as {owner} ({product}) on this connection (§2.8)"
                actions.append(Emit(Status(
                    EXCHANGE, StatusEvent.REJECTED, self.connection, reason, now, symbol, product
                )))  # fmt: skip
        actions.append(self._subscribe(wire.HEARTBEATS, ()))
        if self._trades:
            actions.append(self._subscribe(wire.MARKET_TRADES, sorted(self._trades)))
        books = sorted(book.venue_symbol for book in self._books)
        if books:
            actions.append(self._subscribe(wire.LEVEL2, books))
        return actions

    def carry_over(self, previous: VenueProtocol) -> None:
        """The newest trade id published per product: with ``backfill_trades`` a replacement's
        ``market_trades`` snapshot then backfills only what came after it, as after a
        reconnect (and without it, the snapshot is skipped as on a first connection)."""
        if isinstance(previous, CoinbaseProtocol):
            for product, route in self._trades.items():
                old = previous._trades.get(product)
                if old is not None:
                    route.last_id = old.last_id

    def unsynced_books(self) -> int:
        return self._books.unsynced()

    def on_handover(self, now: int) -> list[Action]:
        return self._books.handover(now)

    def on_close(self, now: int) -> list[Action]:
        self._subscribed = False
        self._again.clear()
        return self._books.close_all(now)

    def on_tick(self, now: int) -> list[Action]:
        """Refresh the ``book:*`` key of books that changed, at most once per interval."""
        return self._books.tick(now)

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        actions: list[Action] = []
        seq = msg.get("sequence_num")
        if seq is not None:
            if type(seq) is not int:
                # dropped whole: if it was a real message, the next one shows the jump
                return [CountParseError(f"sequence_num is not an integer: {brief(seq)}")]
            last, self._seq = self._seq, seq
            if last is not None and seq != last + 1:
                self._connection_gap(recv_ts, actions)
        channel = msg.get("channel")
        if msg.get("type") == "error":
            self._on_error(msg, recv_ts, actions)
        elif channel == wire.L2_DATA:
            self._on_l2(msg, seq, recv_ts, actions)
        elif channel == wire.MARKET_TRADES:
            self._on_trades(msg, recv_ts, actions)
        elif channel == wire.HEARTBEATS:
            if not self._subscribed:
                self._up(recv_ts, actions)
        elif channel == wire.SUBSCRIPTIONS:
            self._on_ack(msg, recv_ts, actions)
        elif channel is None:
            actions.append(CountParseError("unknown frame shape"))
        else:
            actions.append(CountParseError(f"unexpected channel {brief(channel)}"))
        if self._again:
            self._ask_books_again(actions)
        return actions

    def _on_l2(self, msg: dict[str, Any], seq: int | None, recv_ts: int, out: list[Action]) -> None:
        """§2.5, one event a message as captured::

            {"channel": "l2_data", "client_id": "", "timestamp": "2024-10-08T09:10:53.374050957Z",
             "sequence_num": 345, "events": [{"type": "update", "product_id": "BTC-USD",
             "updates": [{"side": "bid", "event_time": "2024-10-08T09:10:53.335085Z",
                          "price_level": "62313.58", "new_quantity": "0"}]}]}

        A ``snapshot`` event replaces the book; an ``update`` applies absolute sizes. An event
        that cannot be read lost its book an update: that book resyncs (all of them when the
        product cannot be told)."""
        if not self._subscribed:
            self._up(recv_ts, out)
        number = -1 if seq is None else seq
        events = msg.get("events")
        if type(events) is not list:
            out.append(CountParseError("l2_data: events is not a list"))
            self._connection_gap(recv_ts, out)
            return
        for event in events:
            book: TrackedBook | None = None
            try:
                product = event["product_id"]
                book = self._books.get(product) if type(product) is str else None
                if book is None:
                    detail = f"l2_data for an unexpected product {brief(product)}"
                    out.append(CountParseError(detail))
                    continue
                updates = event["updates"]
                bids, asks = wire.l2_levels(updates)
                stamp = updates[0]["event_time"] if updates else msg["timestamp"]
                ts = epoch_us(wire.rfc3339_us(stamp))
                kind = event["type"]
                if kind == "update":
                    update = BookUpdate(number, number, bids, asks, ts, recv_ts)
                    outcome = book.sync.on_update(update)
                elif kind == "snapshot":
                    outcome = book.sync.on_ws_snapshot(BookImage(number, bids, asks, ts, recv_ts))
                else:
                    raise ValueError(f"unknown l2_data event type {brief(kind)}")
            except _FRAME_ERRORS as exc:
                out.append(CountParseError(f"l2_data event: {type(exc).__name__}: {clip(exc)}"))
                if book is None:
                    self._connection_gap(recv_ts, out)
                else:
                    self._lost(book, recv_ts, out)
                continue
            self._books.carry_out(book, outcome, recv_ts, out)

    def _on_trades(self, msg: dict[str, Any], recv_ts: int, out: list[Action]) -> None:
        """§2.4, published oldest first (``_newest_first``)::

            {"channel": "market_trades", "client_id": "", "timestamp": "…", "sequence_num": 5,
             "events": [{"type": "update", "trades": [{"trade_id": "995098701",
             "product_id": "BTC-USD", "price": "68900.00", "size": "0.05000000", "side": "SELL",
             "time": "2026-04-07T14:30:02.800000Z"}, …]}]}

        ``snapshot`` events (recent trades) are history: published only after a reconnect, and
        only the trades newer than the last one published (``backfill_trades``)."""
        if not self._subscribed:
            self._up(recv_ts, out)
        bad = 0
        try:
            events = msg["events"]
            if type(events) is not list:
                raise TypeError("events is not a list")
            for event in events:
                kind = event["type"]
                if kind == "snapshot" and not self.options.backfill_trades:
                    continue
                if kind not in ("update", "snapshot"):
                    raise ValueError(f"unknown market_trades event type {brief(kind)}")
                trades = event["trades"]
                if type(trades) is not list:
                    raise TypeError("trades is not a list")
                for raw in reversed(trades) if _newest_first(trades) else trades:
                    try:
                        self._trade(raw, kind == "snapshot", recv_ts, out)
                    except _FRAME_ERRORS:
                        bad += 1
        except _FRAME_ERRORS as exc:
            out.append(CountParseError(f"market_trades: {type(exc).__name__}: {clip(exc)}"))
            return
        if bad:
            out.append(CountParseError(f"market_trades: {bad} trade(s) could not be read"))

    def _trade(self, raw: dict[str, Any], history: bool, recv_ts: int, out: list[Action]) -> None:
        product = raw["product_id"]
        route = self._trades.get(product) if type(product) is str else None
        if route is None:
            raise KeyError(f"trade for an unexpected product {brief(product)}")
        trade_id, price, size, side = raw["trade_id"], raw["price"], raw["size"], raw["side"]
        if type(trade_id) is int:
            trade_id = str(trade_id)
        if type(trade_id) is not str or not trade_id:
            raise TypeError("trade_id must be a string")
        if type(price) is not str or type(size) is not str or type(side) is not str:
            raise TypeError("price, size and side must be strings")
        check_trade(price, size)
        ts = epoch_us(wire.rfc3339_us(raw["time"]))
        number = int(trade_id) if trade_id.isascii() and trade_id.isdigit() else None
        last = route.last_id
        if history and (last is None or number is None or number <= last):
            return  # first connection, or already published
        if number is not None and (last is None or number > last):
            route.last_id = number
        taker = self._taker_side.get(side, Side.UNKNOWN)
        trade = Trade(EXCHANGE, route.symbol, product, ts, recv_ts, trade_id, price, size, taker)
        out.append(Emit(trade))

    # -- subscriptions (§2.2) -------------------------------------------------------------------

    def _subscribe(self, channel: str, products: Sequence[str]) -> Send:
        self._ledger.sent(Request(channel, tuple(products)))
        return Send(wire.subscribe_frame(channel, list(products)))

    def _up(self, recv_ts: int, out: list[Action]) -> None:
        """The venue accepted a subscription (an acknowledgement, or data: a channel's snapshot
        arrives before its acknowledgement, as captured): the connection is up."""
        self._subscribed = True
        out.append(Subscribed())
        out.append(Emit(Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)))

    def _on_ack(self, msg: dict[str, Any], recv_ts: int, out: list[Action]) -> None:
        """§2.2 ``{"channel": "subscriptions", …, "events": [{"subscriptions": {"level2":
        ["BTC-USD"], "market_trades": ["BTC-USD", "ETH-USD"]}}]}``, cumulative."""
        try:
            subscriptions = wire.parse_subscriptions(msg["events"])
        except _FRAME_ERRORS as exc:
            out.append(CountParseError(f"subscriptions: {type(exc).__name__}: {clip(exc)}"))
            return
        self._ledger.on_ack(subscriptions)
        if not self._subscribed:
            self._up(recv_ts, out)

    def _on_error(self, msg: dict[str, Any], recv_ts: int, out: list[Action]) -> None:
        """§2.2 error (shape UNCONFIRMED; ``{"type":"error","message":"failure to subscribe"}``).
        It names no request, so it answers the oldest unanswered subscribe message (``Ledger``).
        A message of several products is sent again one product a message, to find the culprit;
        a one-product message rejected is that product's ``rejected`` status on that channel.
        Every other subscription keeps flowing."""
        reason = wire.error_text(msg)
        request = self._ledger.answer_error()
        if request is None:
            out.append(CountParseError(f"venue error answering no subscription: {reason}"))
            return
        missing = self._ledger.unconfirmed(request) or ()
        wanted = [p for p in missing if self._wants(request.channel, p)]
        if not wanted:
            out.append(CountParseError(f"venue error for {request.channel}: {reason}"))
        elif len(wanted) > 1:
            out.extend(self._subscribe(request.channel, [product]) for product in wanted)
        else:
            self._reject(request.channel, wanted[0], reason, recv_ts, out)

    def _wants(self, channel: str, product: str) -> bool:
        if channel == wire.MARKET_TRADES:
            return product in self._trades
        return channel == wire.LEVEL2 and self._books.get(product) is not None

    def _reject(
        self, channel: str, product: str, reason: str, recv_ts: int, out: list[Action]
    ) -> None:
        """The venue refused ``product`` on ``channel``: stop asking for it (also after
        reconnects, since it would be refused again) and tell subscribers once."""
        if channel == wire.MARKET_TRADES:
            symbol = self._trades.pop(product).symbol
        else:
            book = self._books[product]
            symbol = book.symbol
            if book.sync.state is SyncState.SYNCED:  # published already: tell subscribers first
                self._books.carry_out(book, book.sync.on_gap("rejected"), recv_ts, out)
            self._books.drop(product)
            self._again.discard(product)
        out.append(Emit(Status(
            EXCHANGE, StatusEvent.REJECTED, self.connection, f"{channel}: {reason}", recv_ts,
            symbol, product,
        )))  # fmt: skip

    # -- books and gaps (§2.7) ------------------------------------------------------------------

    def _connection_gap(self, recv_ts: int, out: list[Action]) -> None:
        """A message of this connection was lost (§2.7): every book resyncs."""
        for book in self._books:
            self._lost(book, recv_ts, out)

    def _lost(self, book: TrackedBook, recv_ts: int, out: list[Action]) -> None:
        """``book`` may have missed an update: a synced book is reset (``book_reset``) and asked
        for again; a book still waiting for its snapshot is asked again (the lost message may
        have been that snapshot), with nothing to tell subscribers."""
        state = book.sync.state
        if state is SyncState.SYNCED:
            self._books.carry_out(book, book.sync.on_gap("gap"), recv_ts, out)
        elif state is SyncState.WAIT_DELTA:
            self._again.add(book.venue_symbol)

    def _ask_again(self, book: TrackedBook) -> list[Action]:
        """``BookKeeper``'s resubscribe hook: collected, and sent once per frame for all books."""
        self._again.add(book.venue_symbol)
        return []

    def _ask_books_again(self, out: list[Action]) -> None:
        """§2.7: ``unsubscribe`` + ``subscribe`` ``level2`` for the books to resync, one pair for
        all of them; the venue answers with fresh snapshots. A book that got its snapshot in the
        very frame that showed the gap is whole already and not asked again."""
        products = []
        for product in sorted(self._again):
            book = self._books.get(product)
            if book is not None and book.sync.state is not SyncState.SYNCED:
                products.append(product)
        self._again.clear()
        if products:
            out.append(Send(wire.unsubscribe_frame(wire.LEVEL2, products)))
            out.append(self._subscribe(wire.LEVEL2, products))
