"""Pure tests of the Kraken simulator (exchanges.md §3): control frames, truncated books with
checksums judged by the Appendix A reference, trades, faults, REST, and the protocol on top."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest

from feedgate.events import BookDelta, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    FetchSnapshot,
    Resync,
    Send,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.kraken import wire
from feedgate.venues.kraken.options import KrakenOptions
from feedgate.venues.kraken.protocol import KrakenProtocol
from feedgate.venues.kraken.sim import KrakenSession, KrakenSim, make_simulator
from tests.venues.kraken.docframes import RefBook, decimal_levels

NOW = 1_767_225_600_123_456
SYMBOLS = ["BTC-USDT", "ETH-USDT", "DOGE-USD"]


def make(seed: int = 7) -> KrakenSim:
    return make_simulator(SYMBOLS, seed=seed)


def request(method: str, channel: str, symbols: list[Any], req_id: int = 1, **params: Any) -> str:
    return json.dumps({"method": method, "params": {"channel": channel, "symbol": symbols,
                                                    **params}, "req_id": req_id})  # fmt: skip


def session(sim: KrakenSim) -> KrakenSession:
    opened = sim.open_session("/v2")
    assert opened is not None
    return opened


def decoded(frames: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(f, parse_float=Decimal) for f in frames]


def precisions(sim: KrakenSim) -> dict[str, tuple[int, int]]:
    """From the simulator's REST AssetPairs, as the gateway reads it."""
    answer = sim.http_get("/0/public/AssetPairs")
    assert answer is not None and answer[0] == 200
    return {
        p.venue_symbol: (p.price_dp, p.qty_dp) for p in wire.parse_asset_pairs(answer[1]).values()
    }


class Client:
    """A reference client: Decimal books truncated to the depth, checksums by Appendix A."""

    def __init__(self, sim: KrakenSim, depth: int, symbols: list[str]) -> None:
        self.sim, self.session, self.depth = sim, session(sim), depth
        self.books: dict[str, RefBook] = {}
        self.mismatches: list[str] = []
        self.pushed_out = 0
        dps = precisions(sim)
        replies = decoded(sim.on_client_text(self.session, request("subscribe", "book", symbols,
                                                                   depth=depth)))  # fmt: skip
        for frame in replies:
            if frame.get("channel") == "book":
                entry = frame["data"][0]
                book = self.books[entry["symbol"]] = RefBook(depth, *dps[entry["symbol"]])
                book.apply(entry)
                assert book.checksum() == entry["checksum"]

    def feed(self, frames: list[bytes]) -> None:
        for frame in decoded(frames):
            if frame.get("channel") != "book":
                continue
            for entry in frame["data"]:
                book = self.books[entry["symbol"]]
                before = len(book.bids) + len(book.asks)
                book.apply(entry, truncate=False)
                grew = len(book.bids) + len(book.asks)
                book.apply({"bids": [], "asks": []})
                self.pushed_out += grew - (len(book.bids) + len(book.asks)) > 0 and grew > before
                if book.checksum() != entry["checksum"]:
                    self.mismatches.append(entry["symbol"])

    def run(self, steps: int, start: int = NOW) -> None:
        for step in range(steps):
            now = start + step * 50_000
            events = self.sim.tick_events(now)
            for symbol in self.sim.symbols:
                events += self.sim.trade_events(symbol, now, 1)
            self.feed([f for f in (self.sim.render(self.session, e) for e in events) if f])

    def matches_true_book(self, symbol: str) -> bool:
        _, bids, asks = self.sim.true_book(symbol)
        mine = self.books[symbol].levels()
        return (decimal_levels(bids), decimal_levels(asks)) == mine


def test_session_path_and_connect_status() -> None:
    sim = make()
    assert sim.open_session("/v1") is None and sim.open_session("/") is None
    s = session(sim)
    first = decoded(sim.on_client_text(s, '{"method": "ping", "req_id": 101}'))
    assert first[0]["channel"] == "status" and first[0]["data"][0]["system"] == "online"  # §3.1
    assert first[1]["method"] == "pong" and first[1]["req_id"] == 101  # §3.6
    again = decoded(sim.on_client_text(s, '{"method": "ping", "req_id": 102}'))
    assert [f.get("method") for f in again] == ["pong"], "the status message comes once"


def test_subscribe_acks_per_symbol_then_snapshots() -> None:
    sim = make()
    s = session(sim)
    s.greeted = True
    frames = decoded(sim.on_client_text(s, request("subscribe", "book", ["BTC/USDT", "ETH/USDT"],
                                                   req_id=4, depth=25)))  # fmt: skip
    acks, snapshots = frames[:2], frames[2:]
    assert [a["result"] for a in acks] == [
        {"channel": "book", "depth": 25, "snapshot": True, "symbol": "BTC/USDT"},
        {"channel": "book", "depth": 25, "snapshot": True, "symbol": "ETH/USDT"},
    ]
    assert all(a["success"] is True and a["req_id"] == 4 and a["method"] == "subscribe"
               for a in acks)  # fmt: skip
    assert [(f["type"], len(f["data"][0]["bids"]), len(f["data"][0]["asks"])) for f in snapshots] \
        == [("snapshot", 25, 25)] * 2  # fmt: skip
    assert sim.subscriptions(s) == ["book:BTC/USDT", "book:ETH/USDT"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (request("subscribe", "book", ["XBT/USD"]), "Currency pair not supported XBT/USD"),
        (request("subscribe", "book", ["BTC/USDT"], depth=7), "Invalid depth 7"),
        (request("unsubscribe", "trade", ["BTC/USDT"]), "Subscription Not Found"),
        (request("subscribe", "ohlc", ["BTC/USDT"]), "Channel ohlc not supported"),
        ("[]", "Malformed request"),
    ],
)
def test_errors(text: str, error: str) -> None:
    sim = make()
    s = session(sim)
    s.greeted = True
    (frame,) = decoded(sim.on_client_text(s, text))
    assert frame["error"] == error and frame["success"] is False
    if error.startswith("Currency"):
        assert frame["symbol"] == "XBT/USD" and frame["req_id"] == 1  # §3.2 per-symbol error


def test_double_subscribe_is_refused_and_unsubscribe_stops_updates() -> None:
    sim = make()
    s = session(sim)
    s.greeted = True
    sim.on_client_text(s, request("subscribe", "book", ["BTC/USDT"]))
    (again,) = decoded(sim.on_client_text(s, request("subscribe", "book", ["BTC/USDT"])))
    assert again["error"] == "Already subscribed"
    (ack,) = decoded(sim.on_client_text(s, request("unsubscribe", "book", ["BTC/USDT"], depth=10)))
    assert ack["method"] == "unsubscribe" and ack["result"]["symbol"] == "BTC/USDT"
    events = [e for step in range(20) for e in sim.tick_events(NOW + step)]
    assert events and [sim.render(s, e) for e in events] == [None] * len(events)


def test_heartbeat_only_once_subscribed() -> None:
    sim = make()
    s = session(sim)
    assert sim.periodic_frames(s, NOW) == []
    sim.on_client_text(s, request("subscribe", "trade", ["BTC/USDT"]))
    assert sim.periodic_frames(s, NOW) == [b'{"channel":"heartbeat"}']


@pytest.mark.parametrize("depth", [10, 25, 1000])
def test_updates_keep_a_truncating_client_equal_to_the_true_book(depth: int) -> None:
    """§3.4/§3.5: snapshot + updates, truncated to the depth, give the true top ``depth`` and
    every checksum matches (Appendix A over Decimal levels); pushed-out levels are not sent."""
    sim = make()
    client = Client(sim, depth, sim.symbols)
    client.run(600)
    assert client.mismatches == []
    for symbol in sim.symbols:
        assert client.matches_true_book(symbol)
        assert len(client.books[symbol].bids) == min(depth, len(sim.feeds[symbol].market.bids))
    if depth < 100:
        assert client.pushed_out > 0, "truncation was not exercised"


def test_precisions_follow_the_tick_and_come_from_asset_pairs() -> None:
    sim = make()
    assert precisions(sim) == {"BTC/USDT": (2, 8), "ETH/USDT": (3, 8), "DOGE/USD": (7, 8)}
    assert sim.http_get("/0/public/Ticker") is None
    body = orjson.loads(sim.http_get("/0/public/AssetPairs?pair=XBTUSDT")[1])  # type: ignore[index]
    assert body["result"]["XBTUSDT"]["wsname"] == "XBT/USDT", "legacy naming on REST (§3.8)"


def test_skip_update_ids_breaks_the_next_checksum_for_a_client() -> None:
    sim = make()
    client = Client(sim, 10, ["BTC/USDT", "ETH/USDT"])
    client.run(20)
    truth_before = sim.true_book("BTC/USDT")
    sim.skip_update_ids("BTC/USDT", 3)
    client.run(10, NOW + 10**6)
    assert client.mismatches and set(client.mismatches) == {"BTC/USDT"}
    assert sim.true_book("BTC/USDT")[1:] != truth_before[1:]


def test_checksum_flip_corrupts_exactly_one_update() -> None:
    sim = make()
    client = Client(sim, 10, ["BTC/USDT"])
    client.run(5)
    sim.checksum_flip("BTC/USDT")
    client.run(30, NOW + 10**6)
    assert client.mismatches == ["BTC/USDT"]
    assert client.matches_true_book("BTC/USDT"), "only the checksum was wrong"


def test_trades_follow_the_doc_shape_with_consecutive_ids() -> None:
    sim = make()
    frames = [e.frame for e in sim.trade_events("BTC/USDT", NOW, 50)]
    trades = [t for f in decoded(frames) for t in f["data"]]
    assert {f["channel"] for f in decoded(frames)} == {"trade"}
    assert set(trades[0]) == {"symbol", "side", "price", "qty", "ord_type", "trade_id", "timestamp"}
    ids = [t["trade_id"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert {t["side"] for t in trades} == {"buy", "sell"}
    assert wire.parse_timestamp(trades[0]["timestamp"]) == NOW


def test_saturation_frames_serve_the_trade_subscriptions() -> None:
    sim = make()
    s = session(sim)
    assert sim.saturation_frames(s, NOW, 10) == []
    sim.on_client_text(s, request("subscribe", "trade", ["ETH/USDT"]))
    frames = decoded(sim.saturation_frames(s, NOW, 10))
    assert len(frames) >= 10 and {t["symbol"] for f in frames for t in f["data"]} == {"ETH/USDT"}


def test_malformed_frames_are_counted_by_the_protocol() -> None:
    sim = make()
    proto = KrakenProtocol(ConnectionSpec("k", (Topic("book", "BTC-USDT"),)), KrakenOptions())
    for frame in sim.malformed_frames():
        assert [type(a) for a in proto.on_frame(frame, NOW)] == [CountParseError]
    assert sim.shutdown_frames(session(sim), NOW) == []


class Loopback:
    """The protocol wired to the simulator without sockets (REST answered by ``http_get``)."""

    def __init__(self, sim: KrakenSim, symbols: list[str], **options: Any) -> None:
        self.sim = sim
        topics = tuple(Topic(c, s) for s in symbols for c in ("trades", "book"))
        spec = ConnectionSpec("kraken-00", topics, {s: sim.venue_symbol(s) for s in symbols})
        self.proto = KrakenProtocol(spec, KrakenOptions(ws_url="ws://sim", rest_url="http://sim",
                                                        **options))  # fmt: skip
        self.session = session(sim)
        self.actions: list[Action] = []
        self.carry_out(self.proto.on_open(NOW))

    def carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            self.actions.append(action)
            if isinstance(action, Send):
                self.carry_out_frames(self.sim.on_client_text(self.session, action.data))
            elif isinstance(action, FetchSnapshot):
                answer = self.sim.http_get(action.url.removeprefix("http://sim"))
                assert answer is not None
                self.carry_out(self.proto.on_snapshot(action.key, answer[1], NOW))

    def carry_out_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.carry_out(self.proto.on_frame(frame, NOW))

    def run(self, steps: int) -> None:
        for step in range(steps):
            events = self.sim.tick_events(NOW + step)
            for symbol in self.sim.symbols:
                events += self.sim.trade_events(symbol, NOW + step, 1)
            self.carry_out_frames([f for f in (self.sim.render(self.session, e) for e in events)
                                   if f])  # fmt: skip


def test_protocol_over_the_simulator_stays_synced_and_equal() -> None:
    sim = make()
    loop = Loopback(sim, SYMBOLS)
    loop.run(300)
    assert [a for a in loop.actions if isinstance(a, (Resync, CountParseError))] == []
    assert sum(isinstance(a, Emit) and isinstance(a.event, BookDelta) for a in loop.actions) > 500
    assert sum(isinstance(a, Emit) and isinstance(a.event, Trade) for a in loop.actions) >= 900
    for symbol in SYMBOLS:
        book = loop.proto._book_routes[sim.venue_symbol(symbol)]
        assert not book.inferred, "precisions came from AssetPairs"
        _, bids, asks = sim.true_book(sim.venue_symbol(symbol))
        assert decimal_levels(book.tracked.sync.book.bids.top()) == decimal_levels(bids)
        assert decimal_levels(book.tracked.sync.book.asks.top()) == decimal_levels(asks)


def test_protocol_recovers_from_a_flipped_checksum_over_the_simulator() -> None:
    sim = make()
    loop = Loopback(sim, ["BTC-USDT"], depth=25)
    loop.run(10)
    sim.checksum_flip("BTC/USDT")
    loop.run(50)
    assert [a for a in loop.actions if isinstance(a, Resync)] == [Resync("BTC-USDT", "checksum")]
    sync = loop.proto._books["BTC/USDT"].sync
    assert sync.state is SyncState.SYNCED and len(sync.book.bids.top()) == 25
    _, bids, _ = sim.true_book("BTC/USDT")
    assert decimal_levels(sync.book.bids.top()) == decimal_levels(bids)
