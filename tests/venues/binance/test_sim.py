"""Pure tests of the Binance simulator (exchanges.md §1): ids, books, control frames, text."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from feedgate.venues.binance import sim as sim_module
from feedgate.venues.binance import simmarket
from feedgate.venues.binance.sim import BinanceSession, BinanceSim, StreamEvent
from feedgate.venues.binance.wire import parse_exchange_info

DECIMAL = re.compile(r"^\d+\.\d{8}$")  # §1.3/§1.5: 8-decimal strings
NOW = 1_767_225_600_123_456
SYMBOLS = ["BTC-USDT", "ETH-USDT", "BLZ-ETH", "DOGE-USDT"]


def make(seed: int = 7) -> BinanceSim:
    return BinanceSim.from_canonical(SYMBOLS, seed=seed)


def apply(book: dict[str, dict[str, str]], bids: list[list[str]], asks: list[list[str]]) -> None:
    for side, levels in (("b", bids), ("a", asks)):
        for price, qty in levels:
            if float(qty) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = qty


def from_snapshot(body: bytes) -> tuple[int, dict[str, dict[str, str]]]:
    snap = orjson.loads(body)
    return snap["lastUpdateId"], {
        "b": dict(map(tuple, snap["bids"])),
        "a": dict(map(tuple, snap["asks"])),
    }


def ordered(book: dict[str, dict[str, str]]) -> tuple[list[list[str]], list[list[str]]]:
    bids = sorted(book["b"].items(), key=lambda kv: float(kv[0]), reverse=True)
    asks = sorted(book["a"].items(), key=lambda kv: float(kv[0]))
    return [list(x) for x in bids], [list(x) for x in asks]


def test_sim_modules_are_pure() -> None:
    banned = {"asyncio", "socket", "websockets", "redis", "time", "aiohttp", "datetime"}
    for module in (sim_module, simmarket):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & banned, (module.__name__, names)


def test_update_ids_are_continuous_and_books_stay_uncrossed() -> None:
    sim = make()
    last = {s: sim.true_book(s)[0] for s in sim.symbols}
    for step in range(2000):
        for symbol in sim.symbols:
            sim.next_trade(symbol, NOW + step)
            change = sim.next_depth(symbol, NOW + step)
            assert change.first_id == last[symbol] + 1  # §1.7: U == previous u + 1
            assert change.last_id >= change.first_id
            last[symbol] = change.last_id
            market = sim.markets[symbol]
            assert market.best_bid() < market.best_ask()
    for symbol in sim.symbols:
        _, bids, asks = sim.true_book(symbol)
        assert 150 <= len(bids) <= 400 and 150 <= len(asks) <= 400


def test_snapshot_plus_diffs_equals_true_book() -> None:
    sim = make()
    states = {s: from_snapshot(sim.depth_snapshot(s, 5000)) for s in sim.symbols}
    for step in range(3000):
        for symbol in sim.symbols:
            for _ in range(3):
                sim.next_trade(symbol, NOW + step)
            change = sim.next_depth(symbol, NOW + step)
            apply(states[symbol][1], change.bids, change.asks)
            states[symbol] = (change.last_id, states[symbol][1])
    for symbol, (update_id, book) in states.items():
        assert (update_id, *ordered(book)) == sim.true_book(symbol)


def test_snapshot_is_the_top_of_the_true_book() -> None:
    sim = make()
    for step in range(50):
        sim.next_depth("BTCUSDT", NOW + step)
    last_id, bids, asks = sim.true_book("BTCUSDT")
    snap = orjson.loads(sim.depth_snapshot("BTCUSDT", 20))
    assert snap == {"lastUpdateId": last_id, "bids": bids[:20], "asks": asks[:20]}
    assert float(snap["bids"][0][0]) < float(snap["asks"][0][0])


def test_skip_update_ids_makes_a_gap_that_breaks_a_naive_book() -> None:
    sim = make()
    last_id, book = from_snapshot(sim.depth_snapshot("ETHUSDT", 5000))
    sim.skip_update_ids("ETHUSDT", 3)
    change = sim.next_depth("ETHUSDT", NOW)
    assert change.first_id > last_id + 1  # §1.7: a gap
    assert change.first_id == last_id + 4
    apply(book, change.bids, change.asks)  # a gateway that ignores the gap ...
    _, bids, asks = sim.true_book("ETHUSDT")
    assert ordered(book) != (bids, asks)  # ... holds a wrong book
    resync_id, resynced = from_snapshot(sim.depth_snapshot("ETHUSDT", 5000))
    assert (resync_id, *ordered(resynced)) == sim.true_book("ETHUSDT")
    follow = sim.next_depth("ETHUSDT", NOW + 1)
    assert follow.first_id == change.last_id + 1


def test_same_seed_same_market() -> None:
    a, b = make(seed=11), make(seed=11)
    for step in range(100):
        assert a.next_trade("BTCUSDT", step) == b.next_trade("BTCUSDT", step)
        assert a.next_depth("BTCUSDT", step) == b.next_depth("BTCUSDT", step)
    assert a.depth_snapshot("BTCUSDT", 100) == b.depth_snapshot("BTCUSDT", 100)
    assert make(seed=12).depth_snapshot("BTCUSDT", 100) != a.depth_snapshot("BTCUSDT", 100)


def test_decimal_text_shape() -> None:
    sim = make()
    texts: list[str] = []
    zeros = 0
    for step in range(300):
        order = sim.next_trade("BTCUSDT", NOW)
        texts += [order.price, order.qty, *order.fills]
        change = sim.next_depth("BLZETH", NOW + step)
        for price, qty in change.bids + change.asks:
            texts += [price, qty]
            zeros += qty == "0.00000000"
    _, bids, asks = sim.true_book("DOGEUSDT")
    texts += [t for level in bids + asks for t in level]
    assert all(DECIMAL.match(t) for t in texts), [t for t in texts if not DECIMAL.match(t)][:5]
    assert zeros > 0  # deletes are sent as "0.00000000" (§1.5)
    assert bids[0][0].startswith("0.3") and sim.true_book("BTCUSDT")[1][0][0].startswith("94")


def test_trade_and_agg_trade_payloads() -> None:
    sim = make()
    events = sim.trade_events("BTCUSDT", NOW, 50)
    trades = [e.payload for e in events if e.topic == "btcusdt@trade"]
    aggs = [e.payload for e in events if e.topic == "btcusdt@aggTrade"]
    assert len(aggs) == 50 and len(trades) >= 50
    assert set(trades[0]) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}  # §1.3
    assert set(aggs[0]) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}  # §1.4
    ids = [t["t"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + 50))
    assert [i for a in aggs for i in range(a["f"], a["l"] + 1)] == ids
    assert {t["m"] for t in trades} == {True, False}


def test_rendering_follows_wrapper_and_time_unit() -> None:
    sim = make()
    event = sim.trade_events("BTCUSDT", NOW, 1)[0]
    raw_ms = BinanceSession(combined=False, micro=False, streams={"btcusdt@trade": None})
    wrapped_us = BinanceSession(combined=True, micro=True, streams={"btcusdt@trade": None})
    other = BinanceSession(combined=True, micro=True, streams={"ethusdt@trade": None})
    raw = orjson.loads(sim.render(raw_ms, event) or b"")
    wrapped = orjson.loads(sim.render(wrapped_us, event) or b"")
    assert raw["E"] == raw["T"] == NOW // 1000 and raw["e"] == "trade"
    assert wrapped["stream"] == "btcusdt@trade" and wrapped["data"]["E"] == NOW
    assert sim.render(other, event) is None
    shutdown = orjson.loads(sim.shutdown_frames(wrapped_us, NOW)[0])
    assert shutdown == {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": NOW}}


def test_slow_depth_stream_merges_ten_updates() -> None:
    sim = make()
    last_id, book = from_snapshot(sim.depth_snapshot("BTCUSDT", 5000))
    slow: list[StreamEvent] = []
    for step in range(20):
        slow += [e for e in sim.tick_events(NOW + step) if e.topic == "btcusdt@depth"]
    assert len(slow) == 2
    for event in slow:
        data: dict[str, Any] = event.payload
        assert data["U"] == last_id + 1
        apply(book, data["b"], data["a"])
        last_id = data["u"]
    assert (last_id, *ordered(book)) == sim.true_book("BTCUSDT")


def test_sessions_from_urls() -> None:
    sim = make()
    s = sim.open_session("/stream?streams=btcusdt@trade/ethusdt@depth@100ms&timeUnit=MICROSECOND")
    assert s is not None and s.combined and s.micro
    assert list(s.streams) == ["btcusdt@trade", "ethusdt@depth@100ms"]
    raw = sim.open_session("/ws/btcusdt%40aggTrade")
    assert raw is not None and not raw.combined and not raw.micro
    assert list(raw.streams) == ["btcusdt@aggTrade"]
    empty = sim.open_session("/stream")
    assert empty is not None and not empty.streams
    assert sim.open_session("/nope") is None
    with pytest.raises(ValueError):
        sim.open_session("/stream?streams=btcusdt@trade&timeUnit=NANOSECOND")


def test_control_frames_acks_and_errors() -> None:
    sim = make()
    s = sim.open_session("/stream")
    assert s is not None

    def ask(request: Any) -> Any:
        text = request if isinstance(request, str) else orjson.dumps(request).decode()
        (reply,) = sim.on_client_text(s, text)
        return orjson.loads(reply)

    assert ask(
        {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@depth@100ms"], "id": 1}
    ) == {"result": None, "id": 1}
    assert ask({"method": "UNSUBSCRIBE", "params": ["ethusdt@depth@100ms"], "id": "a1"}) == {
        "result": None,
        "id": "a1",
    }
    assert ask({"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {"result": ["btcusdt@trade"], "id": 3}
    assert ask({"method": "SUBSCRIBE", "params": ["xyzusdt@trade"], "id": None}) == {
        "result": None,
        "id": None,
    }  # unknown symbols are accepted silently ...
    assert s.unknown == ["xyzusdt@trade"] and sim.unknown_streams == ["xyzusdt@trade"]  # ... noted
    assert ask("{not json")["code"] == 3
    assert ask({"method": "FROB", "id": 4}) == {
        "code": 2,
        "msg": "Invalid request: unknown method 'FROB'",
        "id": 4,
    }
    assert ask({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1.5})["code"] == 2
    assert ask({"method": "SUBSCRIBE", "params": [], "id": "x" * 37})["code"] == 2
    assert ask({"params": [], "id": 6})["code"] == 2
    assert ask({"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 7})["code"] == 2
    assert ask({"method": "SET_PROPERTY", "params": ["combined", False], "id": 8}) == {
        "result": None,
        "id": 8,
    }
    assert ask({"method": "GET_PROPERTY", "params": ["combined"], "id": 9}) == {
        "result": False,
        "id": 9,
    }
    assert ask({"method": "SET_PROPERTY", "params": ["colour", 1], "id": 10}) == {
        "code": 0,
        "msg": "Unknown property",
        "id": 10,
    }
    assert ask({"method": "SET_PROPERTY", "params": ["combined", 1], "id": 11})["code"] == 1


def test_saturation_frames_follow_subscriptions() -> None:
    sim = make()
    s = sim.open_session("/ws/ethusdt@aggTrade")
    assert s is not None
    frames = [orjson.loads(f) for f in sim.saturation_frames(s, NOW, 100)]
    assert len(frames) == 100
    assert {(f["e"], f["s"]) for f in frames} == {("aggTrade", "ETHUSDT")}
    assert frames[0]["E"] == NOW // 1000
    none = sim.open_session("/ws/ethusdt@depth@100ms")
    assert none is not None and sim.saturation_frames(none, NOW, 10) == []


def test_rest_routes() -> None:
    sim = make()
    status, body = sim.http_get("/api/v3/depth?symbol=BTCUSDT&limit=5") or (0, b"")
    assert status == 200 and len(orjson.loads(body)["bids"]) == 5
    assert sim.http_get("/api/v3/depth?symbol=NOPE") == (
        400,
        b'{"code":-1121,"msg":"Invalid symbol."}',
    )
    status, body = sim.http_get("/api/v3/exchangeInfo") or (0, b"")
    assert status == 200
    assert parse_exchange_info(body) == {s: s.replace("-", "") for s in SYMBOLS}
    assert sim.http_get("/api/v3/ticker") is None
