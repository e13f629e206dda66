"""Replay the recorded Bybit session (captures/bybit.jsonl.zst) through BybitProtocol.

The capture (2026, see captures/README.md) holds two connections: ``/v5/public/linear``
(BTC, ETH, SOL, DOGE) and ``/v5/public/spot`` (BTC, ETH), each with ``orderbook.200`` snapshot
and deltas, ``publicTrade``, ``tickers`` and ``kline.1``, plus both instrument lists. We
subscribe trades and books at depth 200 on each, feed every received frame in order, and check
trades and books against values computed here independently from the frames (exchanges.md §6).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from feedgate.events import BookDelta, BookSnapshot, Level, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Resync,
    Send,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.bybit.options import BybitOptions
from feedgate.venues.bybit.protocol import BybitProtocol
from feedgate.venues.bybit.wire import parse_instruments
from tests.venues.actions import of_type
from tests.venues.captures import capture_marker, read_capture, us
from tests.venues.refbook import best_first, set_level

CAPTURE = "bybit.jsonl.zst"
pytestmark = capture_marker(CAPTURE)

OURS = ("orderbook", "publicTrade")


@dataclass
class Connection:
    conn: str
    category: str
    opened_at: float
    sent_args: list[str] = field(default_factory=list)
    recv: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    symbols: dict[str, str] = field(default_factory=dict)  # canonical → venue


@dataclass
class Capture:
    instruments: dict[str, dict[str, str]]  # category → canonical → venue
    connections: dict[str, Connection]  # category → connection


@pytest.fixture(scope="module")
def capture() -> Capture:
    header, records = read_capture(CAPTURE)
    assert header["exchange"] == "BYBIT"
    instruments: dict[str, dict[str, str]] = {}
    connections: dict[str, Connection] = {}
    by_conn: dict[str, Connection] = {}
    for record in records:
        if record["t"] == "http":
            (category,) = parse_qs(urlsplit(record["url"]).query)["category"]
            instruments[category] = parse_instruments(record["data"].encode())
        elif record["t"] == "connect":
            category = record["addr"].rsplit("/", 1)[1]
            conn = Connection(record["conn"], category, record["ts"])
            connections[category] = by_conn[record["conn"]] = conn
        elif record["t"] == "send":
            by_conn[record["conn"]].sent_args += json.loads(record["data"])["args"]
        elif record["t"] == "recv":
            conn = by_conn[record["conn"]]
            conn.recv.append((record["ts"], record["data"], json.loads(record["data"])))
    for conn in connections.values():
        venue = {a.rsplit(".", 1)[1] for a in conn.sent_args if a.startswith("orderbook.200.")}
        listed = instruments[conn.category]
        conn.symbols = {c: v for c, v in listed.items() if v in venue}
        assert set(conn.symbols.values()) == venue
    return Capture(instruments, connections)


def test_instrument_lists_split_base_and_quote(capture: Capture) -> None:
    spot, linear = capture.instruments["spot"], capture.instruments["linear"]
    assert len(spot) == 557 and spot["BTC-USDT"] == "BTCUSDT" and spot["ETH-USDT"] == "ETHUSDT"
    assert len(linear) == 760  # the 40 dated LinearFutures share base/quote with a perpetual
    assert linear["BTC-USDT"] == "BTCUSDT" and linear["BTC-USDC"] == "BTCPERP"
    assert capture.connections["linear"].symbols == {
        "BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT", "SOL-USDT": "SOLUSDT",
        "DOGE-USDT": "DOGEUSDT",
    }  # fmt: skip
    assert capture.connections["spot"].symbols == {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"}


# -- the replay ----------------------------------------------------------------------------------


@dataclass
class Replay:
    conn: Connection
    proto: BybitProtocol
    subscribe: list[dict[str, Any]]
    per_frame: list[tuple[float, dict[str, Any], list[Action]]]


def replay(conn: Connection, strict: bool) -> Replay:
    topics = tuple(Topic(c, s) for s in conn.symbols for c in ("trades", "book", "bbo"))
    spec = ConnectionSpec(f"bybit-{conn.category}", topics, dict(conn.symbols))
    options = BybitOptions.model_validate(
        {"category": conn.category, "depth": 200, "strict_u_continuity": strict}
    )
    proto = BybitProtocol(spec, options)
    subscribe = [
        json.loads(a.data) for a in proto.on_open(us(conn.opened_at)) if isinstance(a, Send)
    ]
    per_frame = [(ts, msg, proto.on_frame(raw, us(ts))) for ts, raw, msg in conn.recv]
    return Replay(conn, proto, subscribe, per_frame)


@pytest.fixture(
    scope="module",
    params=[("spot", True), ("linear", True), ("spot", False), ("linear", False)],
    ids=["spot", "linear", "spot-relaxed", "linear-relaxed"],
)
def replayed(capture: Capture, request: pytest.FixtureRequest) -> Replay:
    category, strict = request.param
    return replay(capture.connections[category], strict)


def kind(msg: dict[str, Any]) -> str:
    return str(msg.get("topic", "")).split(".")[0] or f"op:{msg.get('op')}"


def test_we_subscribe_what_the_recording_subscribed_and_the_acks_count(replayed: Replay) -> None:
    ours = {a for frame in replayed.subscribe for a in frame["args"]}
    assert ours == {a for a in replayed.conn.sent_args if a.startswith(OURS)}
    assert all(len(frame["args"]) <= 10 for frame in replayed.subscribe)
    all_actions = [a for _, _, actions in replayed.per_frame for a in actions]
    assert all_actions.count(Subscribed()) == 1  # the captured acks carry no usable req_id


def test_trade_and_book_frames_parse_without_errors(replayed: Replay) -> None:
    counts: dict[str, int] = {}
    for _, msg, actions in replayed.per_frame:
        errors = [a for a in actions if isinstance(a, CountParseError)]
        counts[kind(msg)] = counts.get(kind(msg), 0) + 1
        if kind(msg) in OURS or kind(msg) == "op:subscribe":
            assert errors == [], (msg.get("topic"), errors)
        else:  # tickers and kline: not subscribed by us, counted as unexpected
            assert [type(a) for a in actions] == [CountParseError]
            assert "unexpected topic" in errors[0].detail
    expected = {"spot": {"orderbook": 550, "publicTrade": 18, "tickers": 81, "kline": 25,
                         "op:subscribe": 7},
                "linear": {"orderbook": 1598, "publicTrade": 102, "tickers": 758, "kline": 71,
                           "op:subscribe": 17}}  # fmt: skip
    assert counts == expected[replayed.conn.category]


def test_each_book_syncs_once_and_never_resets(replayed: Replay) -> None:
    all_actions = [a for _, _, actions in replayed.per_frame for a in actions]
    assert not [a for a in all_actions if isinstance(a, Resync)]
    statuses = [s.event for s in of_type(all_actions, Status)]
    assert StatusEvent.BOOK_RESET not in statuses
    assert statuses.count(StatusEvent.BOOK_SYNCED) == len(replayed.conn.symbols)
    snaps = of_type(all_actions, BookSnapshot)
    assert sorted(s.symbol for s in snaps) == sorted(replayed.conn.symbols)
    for venue_symbol in replayed.conn.symbols.values():
        sync = replayed.proto._books[venue_symbol].sync
        assert sync.state is SyncState.SYNCED
        assert len(sync.book.bids) == len(sync.book.asks) == 200


def test_every_delta_is_published_as_received(replayed: Replay) -> None:
    by_venue = {v: c for c, v in replayed.conn.symbols.items()}
    published = 0
    for ts, msg, actions in replayed.per_frame:
        if kind(msg) != "orderbook":
            continue
        data = msg["data"]
        if msg["type"] == "snapshot":
            (snap,) = of_type(actions, BookSnapshot)
            assert snap.ts == msg["cts"] * 1000 and snap.depth == 200
            assert snap.bids == tuple(tuple(level) for level in data["b"])
            continue
        assert of_type(actions, BookDelta) == [BookDelta(
            "bybit", by_venue[data["s"]], data["s"], msg["cts"] * 1000, us(ts),
            tuple((p, q) for p, q in data["b"]), tuple((p, q) for p, q in data["a"]),
        )]  # fmt: skip
        published += 1
    assert published == {"spot": 548, "linear": 1594}[replayed.conn.category]


def reference_book(conn: Connection, venue_symbol: str) -> tuple[tuple[Level, ...], ...]:
    """The book from the frames alone (§6.4: absolute sizes, "0" deletes; a snapshot replaces)."""
    sides: dict[str, dict[Decimal, Level]] = {"b": {}, "a": {}}
    for _, _, msg in conn.recv:
        if msg.get("topic") != f"orderbook.200.{venue_symbol}":
            continue
        if msg["type"] == "snapshot":
            sides = {"b": {}, "a": {}}
        for key in ("b", "a"):
            for price, size in msg["data"][key]:
                set_level(sides[key], price, size)
    return best_first(sides["b"], sides["a"])


def test_final_books_equal_the_reference_for_the_gateway_and_its_subscribers(
    replayed: Replay,
) -> None:
    followers: dict[str, dict[str, dict[Decimal, Level]]] = {}
    for _, _, actions in replayed.per_frame:
        for event in of_type(actions, BookSnapshot):
            followers[event.symbol] = {"b": {}, "a": {}}
        for event in [*of_type(actions, BookSnapshot), *of_type(actions, BookDelta)]:
            for key, levels in (("b", event.bids), ("a", event.asks)):
                for price, size in levels:
                    set_level(followers[event.symbol][key], price, size)
    for symbol, venue_symbol in replayed.conn.symbols.items():
        expected = reference_book(replayed.conn, venue_symbol)
        book = replayed.proto._books[venue_symbol].sync.book
        assert (book.bids.top(), book.asks.top()) == expected, venue_symbol
        rebuilt = best_first(followers[symbol]["b"], followers[symbol]["a"])
        assert rebuilt == expected, f"{symbol}: what subscribers rebuild"
        assert not book.is_crossed()
    last = max(ts for ts, _, _ in replayed.per_frame)
    checkpoints = of_type(replayed.proto.on_tick(us(last + 10)), BookSnapshot)
    assert {c.venue_symbol for c in checkpoints} == set(replayed.conn.symbols.values())
    assert all(c.checkpoint for c in checkpoints)


def test_trades_carry_the_captured_prices_sizes_ids_and_taker_sides(replayed: Replay) -> None:
    by_venue = {v: c for c, v in replayed.conn.symbols.items()}
    sides = {"Buy": Side.BUY, "Sell": Side.SELL}
    total = 0
    for ts, msg, actions in replayed.per_frame:
        if kind(msg) != "publicTrade":
            continue
        assert of_type(actions, Trade) == [
            Trade("bybit", by_venue[t["s"]], t["s"], t["T"] * 1000, us(ts), t["i"], t["p"], t["v"],
                  sides[t["S"]])
            for t in msg["data"]
        ]  # fmt: skip
        total += len(msg["data"])
    assert total == {"spot": 20, "linear": 327}[replayed.conn.category]
