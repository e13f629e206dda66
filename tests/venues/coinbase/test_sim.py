"""The Coinbase simulator (exchanges.md §2): pure tests of its frames and market, the protocol
driven against it without sockets, and its server features over a real socket."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from decimal import Decimal
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from feedgate.events import BookSnapshot, Status, StatusEvent, Trade
from feedgate.protocol.base import Action, ConnectionSpec, Emit, Send, Topic
from feedgate.protocol.booksync import SyncState
from feedgate.runtime.simserver import SimServer
from feedgate.venues.coinbase import wire
from feedgate.venues.coinbase.options import CoinbaseOptions
from feedgate.venues.coinbase.protocol import CoinbaseProtocol
from feedgate.venues.coinbase.sim import CoinbaseSession, CoinbaseSim, make_simulator
from tests.conftest import wait_for

BTC, ETH = "BTC-USDT", "ETH-USDT"
NOW = 1_786_309_548_123_456
TEXT = re.compile(r"^(0|[1-9]\d*)(\.\d*[1-9])?$")  # captured spelling: "65083.67", "0.002186", "0"


def make(seed: int = 3) -> CoinbaseSim:
    return make_simulator([BTC, ETH], seed=seed)


def ask(sim: CoinbaseSim, session: CoinbaseSession, **request: Any) -> list[dict[str, Any]]:
    return [orjson.loads(f) for f in sim.on_client_text(session, orjson.dumps(request).decode())]


def subscribed(sim: CoinbaseSim, *channels: str) -> CoinbaseSession:
    session = sim.open_session("/")
    assert session is not None
    for channel in channels:
        ask(sim, session, type="subscribe", channel=channel, product_ids=[BTC, ETH])
    return session


def rendered(sim: CoinbaseSim, session: CoinbaseSession, events: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(f) for f in (sim.render(session, e) for e in events) if f is not None]


class Book:
    """A subscriber's book from l2_data frames (Decimal keys, the venue's text kept)."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[Decimal, list[str]]] = {"bid": {}, "offer": {}}

    def apply(self, event: dict[str, Any]) -> None:
        if event["type"] == "snapshot":
            self.sides = {"bid": {}, "offer": {}}
        for u in event["updates"]:
            side = self.sides[u["side"]]
            if Decimal(u["new_quantity"]) == 0:
                side.pop(Decimal(u["price_level"]), None)
            else:
                side[Decimal(u["price_level"])] = [u["price_level"], u["new_quantity"]]

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        bids, asks = self.sides["bid"], self.sides["offer"]
        return [bids[p] for p in sorted(bids, reverse=True)], [asks[p] for p in sorted(asks)]


# -- sessions and control frames (§2.2) ------------------------------------------------------------


def test_the_socket_is_at_the_root_path() -> None:
    sim = make()
    assert sim.open_session("/") is not None and sim.open_session("") is not None
    assert sim.open_session("/ws") is None
    assert sim.subscribe_deadline_s == 5.0 and sim.periodic_interval_s == 1.0
    assert sim.client_msgs_per_s == 8 and sim.server_ping_interval_s is None


def test_subscribe_answers_snapshots_then_the_cumulative_acknowledgement() -> None:
    sim = make()
    session = sim.open_session("/")
    assert session is not None and sim.subscriptions(session) == []
    beats = ask(sim, session, type="subscribe", channel="heartbeats")
    assert beats == [{
        "channel": "subscriptions", "client_id": "", "timestamp": beats[0]["timestamp"],
        "sequence_num": 0, "events": [{"subscriptions": {"heartbeats": ["heartbeats"]}}],
    }]  # fmt: skip
    trades = ask(sim, session, type="subscribe", channel="market_trades", product_ids=[BTC])
    assert [(m["channel"], m["sequence_num"]) for m in trades] == [
        ("market_trades", 1), ("subscriptions", 2)
    ]  # fmt: skip
    assert trades[0]["events"] == [{"type": "snapshot", "trades": []}]
    books = ask(sim, session, type="subscribe", channel="level2", product_ids=[ETH, BTC])
    assert [(m["channel"], m["events"][0].get("product_id")) for m in books] == [
        ("l2_data", ETH), ("l2_data", BTC), ("subscriptions", None)
    ]  # fmt: skip
    assert books[-1]["events"][0]["subscriptions"] == {
        "heartbeats": ["heartbeats"], "level2": [BTC, ETH], "market_trades": [BTC]
    }  # fmt: skip
    assert sim.subscriptions(session) == ["heartbeats", f"level2:{BTC}", f"level2:{ETH}",
                                          f"market_trades:{BTC}"]  # fmt: skip


@pytest.mark.parametrize(
    "request_",
    [
        {"type": "subscribe", "channel": "level2", "product_ids": [BTC, "XRP-USDT"]},
        {"type": "subscribe", "channel": "ticker", "product_ids": [BTC]},
        {"type": "subscribe", "channels": ["level2"], "product_ids": [BTC]},  # legacy shape
        {"type": "subscribe", "channel": "level2", "product_ids": BTC},
        {"type": "subscribe", "channel": "level2"},
        {"type": "frobnicate", "channel": "level2", "product_ids": [BTC]},
    ],
)
def test_a_bad_subscribe_fails_whole_with_an_error_frame(request_: dict[str, Any]) -> None:
    sim = make()
    session = sim.open_session("/")
    assert session is not None
    assert ask(sim, session, **request_) == [{"type": "error", "message": "failure to subscribe"}]
    assert sim.subscriptions(session) == [] and session.seq == 0
    assert sim.on_client_text(session, "{not json") == [wire.error_frame()]


def test_unsubscribe_by_products_or_whole_channel() -> None:
    sim = make()
    session = subscribed(sim, "level2", "market_trades")
    (ack,) = ask(sim, session, type="unsubscribe", channel="level2", product_ids=[BTC])
    assert ack["events"][0]["subscriptions"] == {"level2": [ETH], "market_trades": [BTC, ETH]}
    ask(sim, session, type="unsubscribe", channel="market_trades")
    assert sim.subscriptions(session) == [f"level2:{ETH}"]


# -- the market and its frames ----------------------------------------------------------------


def test_sequence_num_counts_every_message_of_each_connection() -> None:
    sim = make()
    a = subscribed(sim, "heartbeats", "level2", "market_trades")
    b = subscribed(sim, "level2")
    frames: dict[int, list[dict[str, Any]]] = {id(a): [], id(b): []}
    for step in range(200):
        now = NOW + step * 50_000
        events = sim.tick_events(now) + sim.trade_events(BTC, now, 2)
        for session in (a, b):
            frames[id(session)] += rendered(sim, session, events)
            frames[id(session)] += [orjson.loads(f) for f in sim.periodic_frames(session, now)]
    numbers_a = [m["sequence_num"] for m in frames[id(a)]]
    assert numbers_a == list(range(a.seq - len(numbers_a), a.seq))
    assert {m["channel"] for m in frames[id(a)]} == {"l2_data", "market_trades", "heartbeats"}
    numbers_b = [m["sequence_num"] for m in frames[id(b)]]
    assert numbers_b == list(range(3, 3 + len(numbers_b)))  # after 2 snapshots and the ack
    assert {m["channel"] for m in frames[id(b)]} == {"l2_data"}


def test_snapshot_plus_updates_equal_the_true_book_in_coinbase_text() -> None:
    sim = make()
    session = sim.open_session("/")
    assert session is not None
    books = {BTC: Book(), ETH: Book()}
    for m in ask(sim, session, type="subscribe", channel="level2", product_ids=[BTC, ETH])[:-1]:
        books[m["events"][0]["product_id"]].apply(m["events"][0])
    texts: list[str] = []
    for step in range(1500):
        now = NOW + step * 50_000
        sim.trade_events(ETH, now, 3)
        for m in rendered(sim, session, sim.tick_events(now)):
            (event,) = m["events"]
            assert (
                event["type"] == "update"
                and wire.rfc3339_us(event["updates"][0]["event_time"]) == now
            )
            books[event["product_id"]].apply(event)
            texts += [t for u in event["updates"] for t in (u["price_level"], u["new_quantity"])]
    for product, book in books.items():
        _, bids, asks = sim.true_book(product)
        assert book.levels() == (bids, asks)
        assert Decimal(bids[0][0]) < Decimal(asks[0][0])
    assert all(TEXT.match(t) for t in texts) and "0" in texts


def test_skip_update_ids_jumps_sequence_num_while_the_book_moves_on() -> None:
    sim = make()
    session = sim.open_session("/")
    assert session is not None
    book = Book()
    (snapshot, ack) = ask(sim, session, type="subscribe", channel="level2", product_ids=[BTC])
    book.apply(snapshot["events"][0])
    sim.skip_update_ids(BTC, 3)
    (update,) = rendered(sim, session, sim.tick_events(NOW))
    assert update["sequence_num"] == ack["sequence_num"] + 1 + 3  # §2.7: three messages lost
    book.apply(update["events"][0])  # a gateway ignoring the jump ...
    _, bids, asks = sim.true_book(BTC)
    assert book.levels() != (bids, asks)  # ... holds a wrong book
    ask(sim, session, type="unsubscribe", channel="level2", product_ids=[BTC])
    (fresh, _) = ask(sim, session, type="subscribe", channel="level2", product_ids=[BTC])
    book.apply(fresh["events"][0])
    assert book.levels() == (bids, asks)


def test_trades_are_newest_first_with_unique_ids_and_the_makers_side() -> None:
    sim = make()
    session = subscribed(sim, "market_trades")
    seen: list[int] = []
    for step in range(300):
        market = sim.markets[BTC]
        best_bid, best_ask = market.best_bid(), market.best_ask()
        (message,) = rendered(sim, session, sim.trade_events(BTC, NOW + step, 3))
        (event,) = message["events"]
        ids = [int(t["trade_id"]) for t in event["trades"]]
        assert ids == sorted(ids, reverse=True) and len(ids) >= 3
        seen += reversed(ids)
        for t in event["trades"]:
            atoms = int(Decimal(t["price"]) * 100_000_000)
            # a SELL print is a resting sell taken: at the offer; a BUY print at the bid
            assert atoms >= best_ask if t["side"] == "SELL" else atoms <= best_bid
            assert TEXT.match(t["price"]) and TEXT.match(t["size"])
            assert wire.rfc3339_us(t["time"]) == NOW + step
    assert seen == list(range(seen[0], seen[0] + len(seen)))
    snapshot = ask(sim, session, type="subscribe", channel="market_trades", product_ids=[BTC])[0]
    history = snapshot["events"][0]["trades"]
    assert [int(t["trade_id"]) for t in history] == seen[::-1][:100]


def test_heartbeats_once_a_call_for_subscribed_sessions_only() -> None:
    sim = make()
    quiet, beating = subscribed(sim, "level2"), subscribed(sim, "heartbeats")
    assert sim.periodic_frames(quiet, NOW) == []
    first, second = (orjson.loads(sim.periodic_frames(beating, NOW + i * 10**6)[0]) for i in (0, 1))
    assert [first["sequence_num"], second["sequence_num"]] == [1, 2]
    (event,) = second["events"]
    assert event["heartbeat_counter"] == 2 and first["events"][0]["heartbeat_counter"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+\d+\.\d{9}",
                        event["current_time"])  # fmt: skip


def test_saturation_frames_follow_trade_subscriptions_and_are_numbered() -> None:
    sim = make()
    session = subscribed(sim, "market_trades")
    frames = [orjson.loads(f) for f in sim.saturation_frames(session, NOW, 50)]
    assert len(frames) == 50
    assert [f["sequence_num"] for f in frames] == list(range(3, 53))  # after 2 snapshots, ack
    products = {t["product_id"] for f in frames for t in f["events"][0]["trades"]}
    assert products == {BTC, ETH}
    assert sim.saturation_frames(subscribed(sim, "level2"), NOW, 10) == []


def test_faults_and_rest() -> None:
    sim = make()
    session = subscribed(sim, "level2")
    assert sim.shutdown_frames(session, NOW) == []  # none documented (§2.8)
    proto = CoinbaseProtocol(ConnectionSpec("c", (Topic("book", BTC),)), CoinbaseOptions())
    proto.on_open(NOW)
    for frame in sim.malformed_frames():
        assert [type(a).__name__ for a in proto.on_frame(frame, NOW)] == ["CountParseError"]
    status, body = sim.http_get("/api/v3/brokerage/market/products?limit=5") or (0, b"")
    assert status == 200 and wire.parse_products(body) == {BTC: BTC, ETH: ETH}
    assert sim.http_get("/api/v3/brokerage/products/BTC-USDT") is None
    assert sim.venue_symbol("btc-usdt") == BTC and sim.symbols == [BTC, ETH]


# -- the protocol against the simulator, no sockets ----------------------------------------------


class Loop:
    """Carries the protocol's sends to the simulator and the replies back, like a socket: sends
    queue up in order (the runtime's send queue) and the venue answers them in that order."""

    def __init__(self, sim: CoinbaseSim, proto: CoinbaseProtocol) -> None:
        self.sim, self.proto = sim, proto
        session = sim.open_session("/")
        assert session is not None
        self.session = session
        self.actions: list[Action] = []
        self.outbox: deque[str] = deque()
        self.carry(proto.on_open(NOW))

    def carry(self, actions: list[Action]) -> None:
        self.actions += actions
        self.outbox.extend(a.data for a in actions if isinstance(a, Send))
        while self.outbox:
            for reply in self.sim.on_client_text(self.session, self.outbox.popleft()):
                frame_actions = self.proto.on_frame(reply, NOW)
                self.actions += frame_actions
                self.outbox.extend(a.data for a in frame_actions if isinstance(a, Send))

    def step(self, now: int) -> None:
        events = self.sim.tick_events(now) + self.sim.trade_events(BTC, now, 1)
        for frame in (self.sim.render(self.session, e) for e in events):
            if frame is not None:
                self.carry(self.proto.on_frame(frame, now))

    def statuses(self, event: StatusEvent) -> list[str | None]:
        return [a.event.symbol for a in self.actions if isinstance(a, Emit)
                and isinstance(a.event, Status) and a.event.event is event]  # fmt: skip


def _topics(*symbols: str) -> tuple[Topic, ...]:
    return tuple(Topic(c, s) for s in symbols for c in ("trades", "book", "bbo"))


def test_the_protocol_syncs_resyncs_after_a_gap_and_matches_the_true_book() -> None:
    sim = make()
    proto = CoinbaseProtocol(ConnectionSpec("c", _topics(BTC, ETH)), CoinbaseOptions())
    loop = Loop(sim, proto)
    for step in range(20):
        loop.step(NOW + step * 50_000)
    sim.skip_update_ids(ETH, 2)
    for step in range(20, 40):
        loop.step(NOW + step * 50_000)
    assert sorted(s for s in loop.statuses(StatusEvent.BOOK_RESET) if s) == [BTC, ETH]
    assert sorted(s for s in loop.statuses(StatusEvent.BOOK_SYNCED) if s) == [BTC, BTC, ETH, ETH]
    for product in (BTC, ETH):
        sync = proto._books[product].sync
        _, bids, asks = sim.true_book(product)
        assert sync.state is SyncState.SYNCED
        assert [list(level) for level in sync.book.bids.top()] == bids
        assert [list(level) for level in sync.book.asks.top()] == asks
    trades = [a.event for a in loop.actions if isinstance(a, Emit) and isinstance(a.event, Trade)]
    assert len(trades) >= 40 and len({t.id for t in trades}) == len(trades)


def test_an_unknown_product_is_found_rejected_and_the_rest_flows() -> None:
    sim = make()
    proto = CoinbaseProtocol(ConnectionSpec("c", _topics(BTC, "XRP-USDT")), CoinbaseOptions())
    loop = Loop(sim, proto)
    statuses = [
        a.event for a in loop.actions if isinstance(a, Emit) and isinstance(a.event, Status)
    ]
    reasons = [s.reason for s in statuses if s.event is StatusEvent.REJECTED]
    assert loop.statuses(StatusEvent.REJECTED) == ["XRP-USDT", "XRP-USDT"]
    assert reasons == ["market_trades: failure to subscribe", "level2: failure to subscribe"]
    assert proto._ledger.pending == ()  # every message answered, none misattributed
    assert sim.unknown_products.count("XRP-USDT") == 4  # in both messages, then alone in each
    loop.step(NOW + 50_000)
    assert any(isinstance(a, Emit) and isinstance(a.event, BookSnapshot) for a in loop.actions)
    assert any(isinstance(a, Emit) and isinstance(a.event, Trade) for a in loop.actions)


# -- the server features it asks for, over a real socket -------------------------------------------


async def test_the_server_closes_a_silent_client_and_beats_for_a_subscribed_one() -> None:
    sim = make()
    sim.subscribe_deadline_s, sim.periodic_interval_s = 0.3, 0.05
    async with SimServer(sim, trade_rate=None) as server:
        async with websockets.connect(server.ws_url) as silent:
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(3):
                    await silent.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with websockets.connect(server.ws_url) as client:
            await client.send(wire.subscribe_frame("heartbeats", []))
            channels: list[str] = []

            async def heartbeats() -> bool:
                channels.append(orjson.loads(await client.recv())["channel"])
                return channels.count("heartbeats") >= 3

            await wait_for(heartbeats, 3, "three heartbeats")
            assert channels[0] == "subscriptions"
