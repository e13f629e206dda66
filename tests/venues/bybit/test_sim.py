"""Pure tests of the Bybit simulator (exchanges.md §6): sessions, control frames, book views,
faults, trades, REST; and the protocol driven by it in-process (no sockets)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import orjson
import pytest

from feedgate.events import BookSnapshot, Status, StatusEvent
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    Resync,
    Send,
    Topic,
)
from feedgate.venues.binance.simmarket import DepthChange, SymbolMarket
from feedgate.venues.bybit import VENUE, wire
from feedgate.venues.bybit.options import BybitOptions
from feedgate.venues.bybit.protocol import BybitProtocol
from feedgate.venues.bybit.sim import BybitSession, BybitSim, make_simulator
from feedgate.venues.bybit.simbook import SimBook

NOW = 1_786_310_819_000_000
SYMBOLS = ["BTC-USDT", "ETH-USDT", "DOGE-USDT"]


def make(**kwargs: Any) -> BybitSim:
    return BybitSim([(s.replace("-", ""), *s.split("-")) for s in SYMBOLS], seed=5, **kwargs)


def session(sim: BybitSim, category: str = "spot", *topics: str) -> BybitSession:
    opened = sim.open_session(f"/v5/public/{category}")
    assert opened is not None
    if topics:
        sim.on_client_text(opened, wire.request_frame("subscribe", list(topics), "sub-1"))
    return opened


def frames(sim: BybitSim, sess: BybitSession, now: int) -> list[dict[str, Any]]:
    rendered = (sim.render(sess, e) for e in sim.tick_events(now))
    return [orjson.loads(f) for f in rendered if f is not None]


def apply(book: dict[str, dict[Decimal, str]], data: dict[str, Any]) -> None:
    for key in ("b", "a"):
        for price, size in data[key]:
            if Decimal(size) == 0:
                book[key].pop(Decimal(price), None)
            else:
                book[key][Decimal(price)] = size


def ordered(book: dict[str, dict[Decimal, str]]) -> tuple[list[list[str]], list[list[str]]]:
    bids = [[str(p), book["b"][p]] for p in sorted(book["b"], reverse=True)]
    asks = [[str(p), book["a"][p]] for p in sorted(book["a"])]
    return bids, asks


def subscribe_image(sim: BybitSim, sess: BybitSession, topic: str, now: int) -> dict[str, Any]:
    """Subscribe ``topic`` (a book) alone: the ack, then its image at the next book step."""
    (ack,) = sim.on_client_text(sess, wire.request_frame("subscribe", [topic], "img"))
    assert orjson.loads(ack)["success"]
    (image,) = [f for f in frames(sim, sess, now) if f["topic"] == topic]
    assert image["type"] == "snapshot"
    return image


def as_decimal(levels: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(s)) for p, s in levels]


# -- sessions and control frames ---------------------------------------------------------------


def test_paths_select_the_category() -> None:
    sim = make()
    spot, linear = sim.open_session("/v5/public/spot"), sim.open_session("/v5/public/linear/")
    assert spot is not None and spot.category == "spot"
    assert linear is not None and linear.category == "linear"
    assert spot.conn_id != linear.conn_id
    for path in ("/v5/public/inverse", "/v5/public", "/stream", "/v5/private"):
        assert sim.open_session(path) is None


def test_subscribe_acks_then_the_next_step_sends_the_snapshot_of_that_depth() -> None:
    sim = make()
    spot, other = session(sim), session(sim, "spot", "orderbook.50.BTCUSDT")
    frames(sim, other, NOW)  # the other session's image
    (ack,) = sim.on_client_text(
        spot, wire.request_frame("subscribe", ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"], "s1")
    )
    assert orjson.loads(ack) == {"success": True, "ret_msg": "subscribe", "conn_id": spot.conn_id,
                                 "req_id": "s1", "op": "subscribe"}  # fmt: skip
    events = sim.tick_events(NOW + 100_000)
    (snap,) = [orjson.loads(f) for e in events if (f := sim.render(spot, e)) is not None]
    assert list(snap) == ["topic", "ts", "type", "data", "cts"]  # §6.4 spot key order
    assert snap["type"] == "snapshot" and len(snap["data"]["b"]) == len(snap["data"]["a"]) == 50
    assert (snap["ts"], snap["cts"]) == ((NOW + 100_000) // 1000, (NOW + 98_500) // 1000)
    u, bids, asks = sim.true_book("BTCUSDT")
    assert (snap["data"]["u"], snap["data"]["b"], snap["data"]["a"]) == (u, bids, asks)
    seen = [orjson.loads(f) for e in events if (f := sim.render(other, e)) is not None]
    assert [f["type"] for f in seen] in (["delta"], [])  # the image is not sent to others
    linear = session(sim, "linear")
    ack2 = orjson.loads(
        sim.on_client_text(linear, '{"op":"subscribe","args":["publicTrade.BTCUSDT"]}')[0]
    )
    assert (ack2["ret_msg"], ack2["req_id"]) == ("", "")  # as captured on linear


def test_ping_gets_the_category_pong() -> None:
    sim = make()
    spot, linear = session(sim), session(sim, "linear")
    assert orjson.loads(sim.on_client_text(spot, wire.ping_frame("p-1"))[0]) == {
        "success": True, "ret_msg": "pong", "conn_id": spot.conn_id, "op": "ping"
    }  # fmt: skip
    assert orjson.loads(sim.on_client_text(linear, wire.ping_frame("p-1"))[0])["req_id"] == "p-1"


def test_a_bad_topic_fails_the_whole_request() -> None:
    sim = make()
    spot = session(sim)
    args = ["publicTrade.BTCUSDT", "publicTrade.NOPEUSDT", "orderbook.25.BTCUSDT"]
    (reply,) = sim.on_client_text(spot, wire.request_frame("subscribe", args, "s1"))
    assert orjson.loads(reply) == {
        "success": False, "ret_msg": "Invalid topic: publicTrade.NOPEUSDT",
        "conn_id": spot.conn_id, "op": "subscribe",
    }  # fmt: skip
    assert sim.subscriptions(spot) == []
    eleven = [f"orderbook.{d}.{s}" for d in (1, 50, 200, 1000) for s in sim.symbols][:11]
    assert not orjson.loads(
        sim.on_client_text(spot, wire.request_frame("subscribe", eleven, "x"))[0]
    )["success"]
    echoing = make(echo_req_id_on_error=True)
    s2 = session(echoing)
    reply2 = orjson.loads(
        echoing.on_client_text(s2, wire.request_frame("subscribe", args, "s9"))[0]
    )
    assert reply2["req_id"] == "s9"


def test_unsubscribe_stops_the_topic() -> None:
    sim = make()
    spot = session(sim, "spot", "orderbook.50.BTCUSDT")
    assert frames(sim, spot, NOW)
    sim.on_client_text(spot, wire.request_frame("unsubscribe", ["orderbook.50.BTCUSDT"], "u1"))
    assert sim.subscriptions(spot) == [] and frames(sim, spot, NOW + 1) == []


# -- books ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [50, 200])
def test_snapshot_plus_deltas_is_the_true_top_and_u_is_consecutive(depth: int) -> None:
    sim = make(depth=depth)
    topic = f"orderbook.{depth}.ETHUSDT"
    spot = session(sim)
    snap = subscribe_image(sim, spot, topic, NOW)
    book: dict[str, dict[Decimal, str]] = {"b": {}, "a": {}}
    apply(book, snap["data"])
    last_u, sent_deltas = snap["data"]["u"], 0
    for step in range(600):
        sim.trade_events("ETHUSDT", NOW + step, 3)
        for frame in frames(sim, spot, NOW + step * 100_000):
            assert frame["type"] == "delta" and frame["data"]["u"] == last_u + 1
            last_u, sent_deltas = frame["data"]["u"], sent_deltas + 1
            apply(book, frame["data"])
            assert len(book["b"]) == len(book["a"]) == depth  # the venue keeps exactly N levels
    assert sent_deltas > 500
    u, bids, asks = sim.true_book("ETHUSDT")
    assert (last_u, *ordered(book)) == (u, bids, asks)
    assert Decimal(bids[0][0]) < Decimal(asks[0][0])


def test_skip_makes_a_u_gap_that_breaks_a_naive_book_and_resubscribing_heals() -> None:
    sim = make()
    spot = session(sim)
    snap = subscribe_image(sim, spot, "orderbook.50.BTCUSDT", NOW)
    book: dict[str, dict[Decimal, str]] = {"b": {}, "a": {}}
    apply(book, snap["data"])
    sim.skip_update_ids("BTCUSDT", 3)
    # the first message after the fault (a step whose change lies below the top 50 sends none)
    frame = next(f for step in range(1, 20) for f in frames(sim, spot, NOW + step))
    assert frame["data"]["u"] == snap["data"]["u"] + 4  # 3 ids never sent, then this one
    apply(book, frame["data"])
    _, bids, asks = sim.true_book("BTCUSDT")
    assert ordered(book) != (bids, asks)
    fresh = subscribe_image(sim, spot, "orderbook.50.BTCUSDT", NOW + 50)["data"]
    assert (fresh["u"], fresh["b"], fresh["a"]) == sim.true_book("BTCUSDT")


@pytest.mark.parametrize("restart", [False, True])
def test_venue_reset_sends_a_fresh_snapshot(restart: bool) -> None:
    sim = make()
    spot = session(sim, "spot", "orderbook.50.BTCUSDT", "orderbook.200.BTCUSDT")
    assert [f["type"] for f in frames(sim, spot, NOW)] == ["snapshot", "snapshot"]  # the images
    before = sim.true_book("BTCUSDT")[0]
    sim.venue_reset("BTCUSDT", restart=restart)
    reset = frames(sim, spot, NOW + 1)
    assert [(f["topic"], f["type"]) for f in reset] == [
        ("orderbook.50.BTCUSDT", "snapshot"), ("orderbook.200.BTCUSDT", "snapshot")
    ]  # fmt: skip
    assert reset[0]["data"]["u"] == (1 if restart else before + 1)
    assert (reset[0]["data"]["b"], reset[0]["data"]["a"]) == sim.true_book("BTCUSDT")[1:]
    nxt = next(
        f for step in range(2, 20) for f in frames(sim, spot, NOW + step) if "50." in f["topic"]
    )
    assert nxt["type"] == "delta" and nxt["data"]["u"] == reset[0]["data"]["u"] + 1


def test_depth_1_is_snapshots_only_each_the_true_top() -> None:
    sim = make()
    spot = session(sim, "spot", "orderbook.1.BTCUSDT")
    last: dict[str, Any] | None = None
    sent_frames = 0
    for step in range(300):
        for frame in frames(sim, spot, NOW + step * 100_000):
            data = frame["data"]
            assert frame["type"] == "snapshot" and len(data["b"]) == len(data["a"]) == 1
            assert (data["u"], data["b"], data["a"]) == sim.true_book("BTCUSDT", depth=1)
            if last is not None:
                assert data["u"] == last["u"] + 1 and (data["b"], data["a"]) != (
                    last["b"],
                    last["a"],
                )
            last, sent_frames = data, sent_frames + 1
    assert sent_frames > 30


class FrozenMarket(SymbolMarket):
    """A market whose book never changes (to see what an idle depth-1 topic sends)."""

    def next_depth(self, now_us: int) -> tuple[DepthChange | None, DepthChange]:
        return None, DepthChange(self.symbol, 0, 0, [], [], now_us)


def test_an_unchanged_depth_1_image_is_repeated_with_the_same_u_every_3_s() -> None:
    book = SimBook(FrozenMarket("BTCUSDT", "BTC", "USDT", random.Random(1)), random.Random(2))
    first = book.snapshot(1, NOW)
    book.views[1].sent_us = NOW
    book.snapshot(50, NOW)
    assert book.step(NOW + 1_000_000) == [] and book.step(NOW + 2_999_999) == []
    (again,) = book.step(NOW + 3_000_000)  # §6.5; nothing for the unchanged depth-50 topic
    assert (again.kind, again.depth, again.u, again.bids, again.asks) == (
        "snapshot", 1, first.u, first.bids, first.asks
    )  # fmt: skip
    assert book.step(NOW + 4_000_000) == []


# -- trades, REST, malformed -------------------------------------------------------------------


def test_trades_have_unique_ids_taker_sides_and_instrument_decimals() -> None:
    sim = make()
    spot = session(sim, "spot", "publicTrade.BTCUSDT")
    messages = [orjson.loads(f) for e in sim.trade_events("BTCUSDT", NOW, 200)
                if (f := sim.render(spot, e)) is not None]  # fmt: skip
    items = [t for m in messages for t in m["data"]]
    ids = [int(t["i"]) for t in items]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert {t["S"] for t in items} == {"Buy", "Sell"}
    assert all(len(t["p"].split(".")[1]) == 2 and t["BT"] is False for t in items)  # tick 0.01
    assert all(len({t["seq"] for t in m["data"]}) == 1 for m in messages)  # one seq per order
    assert len(sim.saturation_frames(spot, NOW, 50)) >= 50


def test_instruments_round_trip_and_linear_lists_perpetuals() -> None:
    sim = make()
    status, body = sim.http_get("/v5/market/instruments-info?category=spot&status=Trading") or (
        0,
        b"",
    )
    assert status == 200
    assert wire.parse_instruments(body) == {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT",
                                            "DOGE-USDT": "DOGEUSDT"}  # fmt: skip
    linear = orjson.loads((sim.http_get(wire.instruments_path("linear")) or (0, b""))[1])
    assert {i["contractType"] for i in linear["result"]["list"]} == {"LinearPerpetual"}
    assert orjson.loads((sim.http_get(wire.instruments_path("option")) or (0, b""))[1])["retCode"]
    assert sim.http_get("/api/v3/exchangeInfo") is None


def test_same_seed_same_market() -> None:
    a, b = make_simulator(SYMBOLS, seed=9), make_simulator(SYMBOLS, seed=9)
    for step in range(20):
        a.tick_events(NOW + step)
        b.tick_events(NOW + step)
    assert a.true_book("ETHUSDT") == b.true_book("ETHUSDT")


# -- the protocol against the simulator, in-process -------------------------------------------


class Loopback:
    """BybitProtocol talking to BybitSim without sockets."""

    def __init__(self, sim: BybitSim, **options: Any) -> None:
        self.sim = sim
        topics = tuple(Topic(c, s) for s in ("BTC-USDT", "ETH-USDT") for c in ("trades", "book"))
        self.proto = BybitProtocol(ConnectionSpec("bybit-00", topics), BybitOptions(**options))
        opened = sim.open_session("/v5/public/" + self.proto.connect_url().rsplit("/", 1)[1])
        assert opened is not None
        self.session = opened
        self.actions: list[Action] = []
        self.carry_out(self.proto.on_open(NOW))

    def carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            self.actions.append(action)
            if isinstance(action, Send):
                for reply in self.sim.on_client_text(self.session, action.data):
                    self.carry_out(self.proto.on_frame(reply, NOW))

    def tick(self, now: int) -> None:
        for event in self.sim.tick_events(now):
            frame = self.sim.render(self.session, event)
            if frame is not None:
                self.carry_out(self.proto.on_frame(frame, now))


def test_protocol_follows_the_simulator_through_gaps_and_resets() -> None:
    loop = Loopback(make())
    for step in range(50):
        loop.tick(NOW + step)
        if step == 10:
            loop.sim.skip_update_ids("BTCUSDT", 3)
        if step == 30:
            loop.sim.venue_reset("ETHUSDT", restart=True)
    assert [a for a in loop.actions if isinstance(a, Resync)] == [
        Resync("BTC-USDT", "gap"), Resync("ETH-USDT", "reset")
    ]  # fmt: skip
    assert not [a for a in loop.actions if isinstance(a, CountParseError)]
    for venue_symbol in ("BTCUSDT", "ETHUSDT"):
        book = loop.proto._books[venue_symbol].sync.book
        _, bids, asks = loop.sim.true_book(venue_symbol)
        assert as_decimal([list(x) for x in book.bids.top()]) == as_decimal(bids)
        assert as_decimal([list(x) for x in book.asks.top()]) == as_decimal(asks)
    snaps = [
        a.event for a in loop.actions if isinstance(a, Emit) and isinstance(a.event, BookSnapshot)
    ]
    assert sorted(s.symbol for s in snaps) == ["BTC-USDT", "BTC-USDT", "ETH-USDT", "ETH-USDT"]
    statuses = [
        a.event.event for a in loop.actions if isinstance(a, Emit) and isinstance(a.event, Status)
    ]
    assert statuses.count(StatusEvent.SUBSCRIBED) == 1


def test_sim_malformed_frames_are_two_parse_errors() -> None:
    loop = Loopback(make())
    for frame in loop.sim.malformed_frames():
        assert [type(a) for a in loop.proto.on_frame(frame, NOW)] == [CountParseError]


def test_venue_spec_urls_and_limits() -> None:
    options = BybitOptions(category="linear", rest_url="http://127.0.0.1:1/")
    assert VENUE.instruments_url(options) == (
        "http://127.0.0.1:1/v5/market/instruments-info?category=linear&status=Trading&limit=1000"
    )
    assert VENUE.topics_per_connection(BybitOptions(topics_per_connection=500)) == 500
    longest = sum(len(f"orderbook.1000.{'X' * 19}") for _ in range(500))
    assert longest <= 21_000  # §6.6 args budget per connection holds at the topic limit
    assert VENUE.limits.connects_per_window == 500 and VENUE.limits.connect_window_s == 300
