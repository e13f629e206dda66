"""OKX v5 public market data as a pure protocol: frames in, actions out (exchanges.md §5).

One instance serves one connection slot on ``/ws/v5/public``. It subscribes with ``subscribe``
requests (acked per arg, §5.2), normalizes ``trades`` (§5.3), keeps each ``books`` book synced
through ``BookSync`` with the ``WS_SNAPSHOT_WITH_REST_FALLBACK`` table and ``SeqIdRule`` (§5.4-5.6:
the WebSocket snapshot normally, a REST snapshot when updates arrive without one), optionally
validates the legacy checksum (§5.6), and derives the bbo from the book or, by option, from
``bbo-tbt``. A gap or checksum mismatch resubscribes that one instId's ``books`` (§5.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from feedgate.events import Bbo, Level, Side, Status, StatusEvent, Trade
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
from feedgate.protocol.booksync import WS_SNAPSHOT_WITH_REST_FALLBACK, BookSync, Outcome, SyncState
from feedgate.protocol.checks import brief, clip
from feedgate.protocol.heartbeat import PingSchedule
from feedgate.protocol.levels import check_trade
from feedgate.venues.okx import wire
from feedgate.venues.okx.checksum import LEVELS, legacy_checksum
from feedgate.venues.okx.options import OkxOptions
from feedgate.venues.okx.sequencing import SeqIdRule
from feedgate.venues.okx.subscriptions import Arg, Subscriptions

EXCHANGE = "okx"
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}
_PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)
_NO_BBO: tuple[Level | None, Level | None] = (None, None)
_ACTIONS = frozenset({"snapshot", "update"})


@dataclass(slots=True)
class _Route:
    """Where pushes of one (channel, instId) go."""

    kind: str  # wire.TRADES, wire.BOOKS or wire.BBO_TBT
    symbol: str
    venue_symbol: str
    book: TrackedBook | None = None
    bbo: tuple[Level | None, Level | None] = _NO_BBO  # last bbo published from bbo-tbt


class OkxProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: OkxOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self._check = options.legacy_checksum
        self._routes: dict[tuple[str, str], _Route] = {}
        self._books = BookKeeper(
            EXCHANGE, self.connection,
            checkpoint_interval_s=options.checkpoint_interval_s,
            depth=wire.BOOKS_DEPTH,
            request_snapshot=self._snapshot_request,
            resubscribe=self._resubscribe,
        )  # fmt: skip
        bbo_from_book = options.bbo_source == "books"
        for topic in spec.topics:
            inst = spec.venue_symbols.get(topic.symbol, topic.symbol)
            if topic.channel == "trades":
                self._routes[(wire.TRADES, inst)] = _Route(wire.TRADES, topic.symbol, inst)
            elif topic.channel == "book" or (topic.channel == "bbo" and bbo_from_book):
                existing = self._books.get(inst)
                sync = existing.sync if existing else BookSync(
                    SeqIdRule(), WS_SNAPSHOT_WITH_REST_FALLBACK
                )  # fmt: skip
                book = self._books.track(topic.symbol, inst, sync, topic.channel)
                self._routes[(wire.BOOKS, inst)] = _Route(wire.BOOKS, topic.symbol, inst, book)
            elif topic.channel == "bbo":
                self._routes[(wire.BBO_TBT, inst)] = _Route(wire.BBO_TBT, topic.symbol, inst)
            else:
                raise ValueError(f"okx has no {topic.channel!r} channel")
        self._subs = Subscriptions(options.ops_per_hour)
        self._ping = PingSchedule(options.ping_interval_s)
        self._resubscribing: set[str] = set()  # instIds whose books are being resubscribed
        self._subscribed = False
        self._now = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def connect_url(self) -> str:
        return self.options.public_url()

    def on_open(self, now: int) -> list[Action]:
        """§5.2: subscribe every (channel, instId), ``symbols_per_request`` symbols a request."""
        self._now = now
        self._subs.reset()
        self._subscribed = False
        self._resubscribing.clear()
        self._ping.reset()
        self._books.subscribe_all()
        by_inst: dict[str, list[Arg]] = {}
        for channel, inst in self._routes:
            by_inst.setdefault(inst, []).append((channel, inst))
        groups = list(by_inst.values())
        step = self.options.symbols_per_request
        actions: list[Action] = []
        for start in range(0, len(groups), step):
            args = [arg for group in groups[start : start + step] for arg in group]
            actions.append(Send(self._subs.request("subscribe", args, now, initial=True)))
        return actions

    def on_close(self, now: int) -> list[Action]:
        self._subscribed = False
        actions = self._books.close_all(now)
        for route in self._routes.values():
            if route.kind == wire.BBO_TBT and route.bbo != _NO_BBO:
                route.bbo = _NO_BBO  # no valid best price until subscribed again
                actions.append(Emit(self._bbo_event(route, None, now, None, None)))
        return actions

    def unsynced_books(self) -> int:
        return self._books.unsynced()

    def on_handover(self, now: int) -> list[Action]:
        """The books whole (``BookKeeper.handover``), and the touch of every ``bbo-tbt`` route:
        what this connection tracked as published was never published."""
        actions = self._books.handover(now)
        for route in self._routes.values():
            if route.kind == wire.BBO_TBT and route.bbo != _NO_BBO:
                actions.append(Emit(self._bbo_event(route, None, now, *route.bbo)))
        return actions

    def on_tick(self, now: int) -> list[Action]:
        """Book checkpoints, and the §5.7 text ``ping`` once ``ping_interval_s`` passed without
        a frame (every frame restarts the schedule)."""
        self._now = now
        actions = self._books.tick(now)
        if self._ping.due(now):
            actions.append(Send(wire.PING))
        return actions

    # -- frames -----------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        self._now = recv_ts
        self._ping.reset()
        if frame == wire.PONG or frame == b"pong":
            return []  # §5.7: the answer to our text ping (not JSON)
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        try:
            arg = msg.get("arg")
            if "data" in msg and type(arg) is dict:
                route = self._routes.get((arg["channel"], arg["instId"]))
                if route is None:
                    return [CountParseError(f"unexpected push {brief(arg)}")]
                if route.kind == wire.BOOKS:
                    return self._on_books(route, msg, recv_ts)
                if route.kind == wire.TRADES:
                    return self._on_trades(route, msg["data"], recv_ts)
                return self._on_bbo(route, msg["data"], recv_ts)
            event = msg.get("event")
            if event == "subscribe" or event == "unsubscribe":
                return self._on_ack(msg, event, recv_ts)
            if event == "error":
                return self._on_error(msg, recv_ts)
            if event == "notice":  # §5.2 (64008): closing in 30 s for an upgrade; replace it
                return [Rotate("server_shutdown")]
        except _PARSE_ERRORS as exc:
            return [CountParseError(f"{type(exc).__name__}: {clip(exc)}")]
        return [CountParseError("unknown frame shape")]

    def _on_trades(self, route: _Route, data: Any, recv_ts: int) -> list[Action]:
        """§5.3 ``{"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [{"instId":
        "BTC-USDT", "tradeId": "130639474", "px": "42219.9", "sz": "0.12060306", "side": "buy",
        "ts": "1630048897897", "count": "3", "source": "0", "seqId": 1234}]}``; ``side`` is the
        taker's. Every element is checked before anything is emitted."""
        if type(data) is not list:
            raise TypeError("trades data must be a list")
        actions: list[Action] = []
        for item in data:
            trade_id, px, sz = item["tradeId"], item["px"], item["sz"]
            if type(trade_id) is not str or type(px) is not str or type(sz) is not str:
                raise TypeError("tradeId, px and sz must be strings")
            if not trade_id:
                raise ValueError("empty tradeId")
            check_trade(px, sz)
            actions.append(Emit(Trade(
                EXCHANGE, route.symbol, route.venue_symbol, wire.parse_ts(item["ts"]), recv_ts,
                trade_id, px, sz, _SIDES[item["side"]],
            )))  # fmt: skip
        return actions

    def _on_books(self, route: _Route, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§5.4 ``{"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", "data":
        [{"asks": [["8476.98", "0", "0", "0"]], "bids": [["8476.97", "250", "0", "11"]],
        "ts": "1597026383185", "checksum": 0, "prevSeqId": 123456, "seqId": 123457}]}``
        (``action`` ``snapshot`` has ``prevSeqId`` -1). Every element is parsed before any is
        applied, so a bad frame never half-updates a book."""
        action, data = msg.get("action"), msg["data"]
        if action not in _ACTIONS or type(data) is not list:
            raise ValueError(f"books frame with action {brief(action)}")
        parsed = [
            (
                wire.parse_levels(item["bids"]), wire.parse_levels(item["asks"]),
                wire.parse_ts(item["ts"]), wire.seq_field(item, "prevSeqId"),
                wire.seq_field(item, "seqId"), wire.seq_field(item, "checksum"),
            )
            for item in data
        ]  # fmt: skip
        legacy = self.options.legacy_unsequenced
        if not legacy and any(p[3] is None or p[4] is None for p in parsed):
            raise ValueError("books data without seqId/prevSeqId (§5.5)")
        book = route.book
        assert book is not None
        sync = book.sync
        inst = route.venue_symbol
        actions: list[Action] = []
        for bids, asks, ts, prev, seq, checksum in parsed:
            if prev is None or seq is None:
                prev, seq = sync.local_id, sync.local_id + 1  # numbered locally (legacy)
            outcome: Outcome
            if action == "snapshot":
                self._resubscribing.discard(inst)
                outcome = sync.on_ws_snapshot(BookImage(seq, bids, asks, ts, recv_ts))
            elif inst in self._resubscribing:
                continue  # the old subscription's tail: a fresh snapshot follows the ack
            else:
                outcome = sync.on_update(BookUpdate(prev, seq, bids, asks, ts, recv_ts))
                if not bids and not asks:
                    outcome.delta = None  # ids moved, levels did not: nothing to publish
            if (
                self._check
                and checksum  # 0: the venue no longer sends one (§5.6)
                and sync.state is SyncState.SYNCED
                and (outcome.delta is not None or outcome.publish_snapshot)
                and legacy_checksum(sync.book.bids.top(LEVELS), sync.book.asks.top(LEVELS))
                != checksum
            ):
                outcome = sync.on_checksum_mismatch()  # the wrong book is never published
            self._books.carry_out(book, outcome, recv_ts, actions)
        return actions

    def _on_bbo(self, route: _Route, data: Any, recv_ts: int) -> list[Action]:
        """§5.4 ``{"arg": {"channel": "bbo-tbt", "instId": "BCH-USDT-SWAP"}, "data": [{"asks":
        [["111.06", "55154", "0", "2"]], "bids": [["111.05", "57745", "0", "2"]],
        "ts": "1670324386802", "seqId": 363996337}]}``: published when either side changed."""
        if type(data) is not list:
            raise TypeError("bbo-tbt data must be a list")
        parsed = [
            (wire.parse_levels(i["bids"]), wire.parse_levels(i["asks"]), wire.parse_ts(i["ts"]))
            for i in data
        ]
        actions: list[Action] = []
        for bids, asks, ts in parsed:
            best = (bids[0] if bids else None, asks[0] if asks else None)
            if best != route.bbo:
                route.bbo = best
                actions.append(Emit(self._bbo_event(route, ts, recv_ts, best[0], best[1])))
        return actions

    def _bbo_event(
        self, route: _Route, ts: int | None, recv_ts: int, bid: Level | None, ask: Level | None
    ) -> Bbo:
        return Bbo(
            EXCHANGE, route.symbol, route.venue_symbol, ts, recv_ts,
            bid[0] if bid else None, bid[1] if bid else None,
            ask[0] if ask else None, ask[1] if ask else None,
        )  # fmt: skip

    # -- control frames (§5.2) --------------------------------------------------------------------

    def _on_ack(self, msg: dict[str, Any], event: str, recv_ts: int) -> list[Action]:
        """§5.2 ``{"id": "1512", "event": "subscribe", "arg": {"channel": "books",
        "instId": "BTC-USDT"}, "connId": "a4d3ae55"}`` (the 2022 capture has no ``id``)."""
        arg = msg["arg"]
        key = (arg["channel"], arg["instId"])
        if type(key[0]) is not str or type(key[1]) is not str:
            raise TypeError("ack arg must name a channel and an instId")
        if self._subs.acked(msg.get("id"), event, key) is None:
            return []  # an answer to something we did not ask
        if event == "subscribe" and key[0] == wire.BOOKS:
            self._resubscribing.discard(key[1])
        return self._maybe_up(recv_ts)

    def _maybe_up(self, recv_ts: int) -> list[Action]:
        """Every first request was answered: the connection is up (if anything is left)."""
        if self._subscribed or self._subs.initial_pending() or not self._routes:
            return []
        self._subscribed = True
        status = Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)
        return [Subscribed(), Emit(status)]

    def _on_error(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§5.2 ``{"id": "1512", "event": "error", "code": "60012", "msg": "Invalid request: …",
        "connId": "a4d3ae55"}``. An unknown instrument is ``60018`` naming it
        (``channel:books,instId:BTC-XXX doesn't exist``): that symbol is rejected (a
        ``rejected`` status, not retried on reconnect) and every other subscription goes on. An
        error on a first request that names nothing rejects that request's unanswered symbols;
        one on a book resync is counted, and the book syncs over REST on its next update."""
        reason = f"code {clip(msg.get('code'))}: {clip(msg.get('msg'))}"
        request_id = msg.get("id")
        request = self._subs.get(request_id)
        ours = {route.venue_symbol for route in self._routes.values()}
        targets = wire.named_inst_ids(msg.get("msg")) & ours
        if not targets and request is not None and request.initial:
            targets = {inst for _, inst in request.pending} & ours
        if not targets:
            if request is None:
                return [CountParseError(f"venue error without a known request: {reason}")]
            assert type(request_id) is str
            self._subs.drop(request_id)
            self._resubscribing.difference_update(inst for _, inst in request.pending)
            return [CountParseError(f"venue error on a book resubscribe: {reason}")]
        actions: list[Action] = []
        for inst in sorted(targets):
            actions.extend(self._reject(inst, reason, recv_ts))
        actions.extend(self._maybe_up(recv_ts))
        return actions

    def _reject(self, inst: str, reason: str, recv_ts: int) -> list[Action]:
        routes = [key for key in self._routes if key[1] == inst]
        symbol = self._routes[routes[0]].symbol
        for key in routes:
            del self._routes[key]
        self._books.drop(inst)
        self._resubscribing.discard(inst)
        self._subs.forget(inst)
        status = Status(
            EXCHANGE, StatusEvent.REJECTED, self.connection, reason, recv_ts, symbol, inst
        )
        return [Emit(status)]

    # -- snapshots and resyncs --------------------------------------------------------------------

    def on_snapshot(self, key: str, body: bytes, now: int) -> list[Action]:
        """The REST fallback's body (``wire.parse_rest_books``, §5.6)."""
        self._now = now
        book = self._books.get(key)
        if book is None:
            return []
        actions: list[Action] = []
        try:
            seq, bids, asks, ts = wire.parse_rest_books(body)
        except (orjson.JSONDecodeError, *_PARSE_ERRORS) as exc:
            actions.append(CountParseError(f"books snapshot: {type(exc).__name__}: {clip(exc)}"))
            self._books.carry_out(book, book.sync.on_snapshot_failed(), now, actions)
            return actions
        image = BookImage(seq, bids, asks, ts, now)
        self._books.carry_out(book, book.sync.on_snapshot(image), now, actions)
        return actions

    def on_snapshot_failed(self, key: str, reason: str, now: int) -> list[Action]:
        return self._books.snapshot_failed(key, now)

    def _snapshot_request(self, book: TrackedBook) -> Action:
        """§5.6 ``GET /api/v5/market/books?instId=BTC-USDT&sz=400``."""
        base = self.options.rest_url.rstrip("/")
        url = f"{base}/api/v5/market/books?instId={book.venue_symbol}&sz={wire.BOOKS_DEPTH}"
        return FetchSnapshot(book.venue_symbol, url)

    def _resubscribe(self, book: TrackedBook) -> list[Action]:
        """§5.5 gap: unsubscribe and subscribe that instId's ``books`` (a fresh snapshot follows;
        updates in between belong to the old subscription and are dropped). Past the hourly
        request budget (§5.7) nothing is sent: the book is then unsynced while its updates keep
        coming, and the table's REST fallback syncs it from the next one."""
        inst = book.venue_symbol
        if self._subs.budget_left(self._now) < 2:
            return []
        self._resubscribing.add(inst)
        args = [(wire.BOOKS, inst)]
        return [
            Send(self._subs.request("unsubscribe", args, self._now, initial=False)),
            Send(self._subs.request("subscribe", args, self._now, initial=False)),
        ]
