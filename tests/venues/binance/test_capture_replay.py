"""Replay the recorded Binance session (captures/binance.jsonl.zst) through BinanceProtocol.

The capture (2021-10, see captures/README.md) holds one combined-stream connection with
depth@100ms, aggTrade, bookTicker and kline_1m for four symbols, the exchangeInfo body and one REST
depth snapshot per symbol. We subscribe books and aggTrades, answer each FetchSnapshot with the
captured body at the time it was taken, and check the result against a book computed here
independently from exchanges.md §1.7.
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
    Emit,
    FetchSnapshot,
    Resync,
    Send,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.binance import wire
from feedgate.venues.binance.options import BinanceOptions
from feedgate.venues.binance.protocol import BinanceProtocol
from tests.venues.captures import capture_marker, read_capture, received, us
from tests.venues.refbook import best_first, set_level

CAPTURE = "binance.jsonl.zst"
pytestmark = capture_marker(CAPTURE)

UNSUBSCRIBED_KINDS = {"bookTicker", "kline_1m"}


@dataclass
class Capture:
    header: dict[str, Any]
    records: list[dict[str, Any]]
    symbols: list[str] = field(default_factory=list)
    venue_symbols: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # ts, url, body

    def recv(self) -> list[tuple[float, dict[str, Any], str]]:
        return received(self.records)


@pytest.fixture(scope="module")
def capture() -> Capture:
    header, records = read_capture(CAPTURE)
    assert header["format"] == 2
    cap = Capture(header, records)
    cap.symbols = list(header["config"]["l2_book"])
    assert cap.symbols == ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"]
    for record in records:
        if record["t"] != "http":
            continue
        url = urlsplit(record["url"])
        if url.path == "/api/v3/exchangeInfo":
            instruments = wire.parse_exchange_info(record["data"].encode())
            cap.venue_symbols = {s: instruments[s] for s in cap.symbols}
        elif url.path == "/api/v3/depth":
            (symbol,) = parse_qs(url.query)["symbol"]
            cap.snapshots[symbol] = (record["ts"], record["url"], record["data"])
    assert cap.venue_symbols == {
        "NKN-USDT": "NKNUSDT", "BLZ-ETH": "BLZETH", "LRC-BTC": "LRCBTC", "RUNE-EUR": "RUNEEUR"
    }  # fmt: skip
    assert set(cap.snapshots) == set(cap.venue_symbols.values())
    return cap


# -- the independent reference (plain dicts, Decimal, exchanges.md §1.7) -------------------------


def reference_book(capture: Capture, venue_symbol: str) -> tuple[tuple[Level, ...], ...]:
    _, _, body = capture.snapshots[venue_symbol]
    snap = json.loads(body)
    last_id = snap["lastUpdateId"]
    sides: dict[str, dict[Decimal, Level]] = {
        "b": {Decimal(p): (p, q) for p, q in snap["bids"] if Decimal(q) != 0},
        "a": {Decimal(p): (p, q) for p, q in snap["asks"] if Decimal(q) != 0},
    }
    stream = f"{venue_symbol.lower()}@depth@100ms"
    events = [msg["data"] for _, msg, _ in capture.recv() if msg["stream"] == stream]
    assert last_id >= events[0]["U"], "§1.7 step 4: the captured snapshot is not too old"
    local, first = last_id, True
    for event in events:
        if event["u"] <= local:  # step 5 / stale
            continue
        assert event["U"] <= local + 1, "the capture is continuous"
        if first:
            assert event["U"] <= last_id + 1 <= event["u"]
            first = False
        for key in ("b", "a"):
            for price, qty in event[key]:
                set_level(sides[key], price, qty)
        local = event["u"]
    return best_first(sides["b"], sides["a"])


class Follower:
    """What a subscriber rebuilds from the published book_snapshot + book_delta messages."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[Decimal, Level]] = {"bids": {}, "asks": {}}

    def snapshot(self, event: BookSnapshot) -> None:
        self.sides = {"bids": {}, "asks": {}}
        self.delta(event.bids, event.asks)

    def delta(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        for name, levels in (("bids", bids), ("asks", asks)):
            for price, qty in levels:
                set_level(self.sides[name], price, qty)

    def book(self) -> tuple[tuple[Level, ...], ...]:
        return best_first(self.sides["bids"], self.sides["asks"])


# -- the replay ----------------------------------------------------------------------------------


@dataclass
class Replay:
    proto: BinanceProtocol
    per_frame: list[tuple[float, dict[str, Any], list[Action]]]
    fetches: list[FetchSnapshot]
    snapshot_actions: dict[str, list[Action]]
    all_actions: list[Action]
    synced_at: dict[str, int]  # venue symbol → number of frames fed before its snapshot answer


def replay(capture: Capture, late_by: int = 0) -> Replay:
    """Feed every ``recv`` frame in order; answer each FetchSnapshot with the captured body once
    the replay reaches the time it was taken and, with ``late_by``, only after that many more
    depth frames of the symbol (a slow REST answer: the buffered rest must then be applied)."""
    topics = tuple(Topic(c, s) for s in capture.symbols for c in ("book", "trades"))
    spec = ConnectionSpec("binance-00", topics, dict(capture.venue_symbols))
    proto = BinanceProtocol(spec, BinanceOptions(trade_stream="aggTrade"))
    (connect,) = [r for r in capture.records if r["t"] == "connect"]
    opened_at = us(connect["ts"])

    all_actions: list[Action] = []
    subscribe = proto.on_open(opened_at)
    params = [json.loads(a.data) for a in subscribe if isinstance(a, Send)]
    captured_streams = set(parse_qs(urlsplit(connect["addr"]).query)["streams"][0].split("/"))
    ours = {p for frame in params for p in frame["params"]}
    assert ours == {s for s in captured_streams if s.endswith(("@depth@100ms", "@aggTrade"))}
    for frame in params:  # the capture subscribed by URL: acknowledge as §1.2 does
        all_actions += proto.on_frame(json.dumps({"result": None, "id": frame["id"]}), opened_at)
    assert Subscribed() in all_actions

    fetches: list[FetchSnapshot] = []
    pending: list[FetchSnapshot] = []
    snapshot_actions: dict[str, list[Action]] = {}
    synced_at: dict[str, int] = {}
    since_request: dict[str, int] = {}
    per_frame: list[tuple[float, dict[str, Any], list[Action]]] = []

    def deliver(until: float | None) -> None:
        """Answer the requests whose captured snapshot was taken by ``until`` (None: all)."""
        for fetch in list(pending):
            symbol = parse_qs(urlsplit(fetch.url).query)["symbol"][0]
            taken, _, body = capture.snapshots[symbol]
            late_enough = since_request[symbol] >= late_by
            if until is None or (taken <= until and late_enough):
                pending.remove(fetch)
                synced_at[symbol] = len(per_frame)
                actions = proto.on_snapshot(fetch.key, body.encode(), us(taken))
                snapshot_actions[symbol] = actions
                all_actions.extend(actions)

    def collect(actions: list[Action]) -> None:
        new = [a for a in actions if isinstance(a, FetchSnapshot)]
        fetches.extend(new)
        pending.extend(new)
        for fetch in new:
            since_request[fetch.key] = 0

    for ts, msg, raw in capture.recv():
        deliver(ts)
        actions = proto.on_frame(raw, us(ts))
        if msg["stream"].endswith("@depth@100ms") and msg["data"]["s"] in since_request:
            since_request[msg["data"]["s"]] += 1
        per_frame.append((ts, msg, actions))
        all_actions.extend(actions)
        collect(actions)
    deliver(None)
    return Replay(proto, per_frame, fetches, snapshot_actions, all_actions, synced_at)


LATE_BY = 2  # answers each snapshot after 2 more depth frames: every book then syncs from a
# buffered remainder that starts exactly at U == lastUpdateId + 1 (the §1.7 boundary)


@pytest.fixture(scope="module", params=[0, LATE_BY], ids=["as-recorded", "snapshot-late"])
def replayed(capture: Capture, request: pytest.FixtureRequest) -> Replay:
    run = replay(capture, late_by=request.param)
    run_late = request.param > 0
    for venue_symbol, actions in run.snapshot_actions.items():
        (snap,) = [a.event for a in actions if isinstance(a, Emit)][:1]
        assert isinstance(snap, BookSnapshot)
        # ts is the last applied buffered update's; None when nothing buffered was newer
        assert (snap.ts is not None) == run_late, venue_symbol
    return run


def test_each_book_requests_one_snapshot_like_the_recording(
    capture: Capture, replayed: Replay
) -> None:
    urls = sorted(f.url for f in replayed.fetches)
    assert urls == sorted(url for _, url, _ in capture.snapshots.values())
    assert all(f.weight == 50 for f in replayed.fetches)  # limit=1000 (§1.6)


def test_every_book_reaches_synced_without_resets(capture: Capture, replayed: Replay) -> None:
    assert not [a for a in replayed.all_actions if isinstance(a, Resync)]
    statuses = [e.event for a in replayed.all_actions if isinstance(a, Emit)
                for e in [a.event] if isinstance(e, Status)]  # fmt: skip
    assert StatusEvent.BOOK_RESET not in statuses
    synced = [
        a.event.symbol for a in replayed.all_actions
        if isinstance(a, Emit) and isinstance(a.event, Status)
        and a.event.event is StatusEvent.BOOK_SYNCED
    ]  # fmt: skip
    assert sorted(synced) == sorted(capture.symbols)
    for venue_symbol in capture.venue_symbols.values():
        assert replayed.proto._books[venue_symbol].sync.state is SyncState.SYNCED
        actions = replayed.snapshot_actions[venue_symbol]
        snaps = [
            a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, BookSnapshot)
        ]
        assert len(snaps) == 1 and not snaps[0].checkpoint


def test_parse_errors_only_for_streams_we_did_not_subscribe(replayed: Replay) -> None:
    unsubscribed = 0
    for _, msg, actions in replayed.per_frame:
        kind = msg["stream"].split("@", 1)[1]
        errors = [a for a in actions if isinstance(a, CountParseError)]
        if kind in UNSUBSCRIBED_KINDS:
            unsubscribed += 1
            assert actions == errors and len(errors) == 1
            assert "unexpected stream" in errors[0].detail
        else:
            assert errors == [], f"{msg['stream']}: {errors}"
    assert unsubscribed == 86  # 84 bookTicker + 2 kline_1m frames in the capture


def test_every_update_after_sync_is_applied_in_order(capture: Capture, replayed: Replay) -> None:
    by_venue = {v: s for s, v in capture.venue_symbols.items()}
    local: dict[str, int] = {}
    seen_u: dict[str, int] = {}
    applied = 0
    for index, (ts, msg, actions) in enumerate(replayed.per_frame):
        if not msg["stream"].endswith("@depth@100ms"):
            continue
        data = msg["data"]
        venue_symbol = data["s"]
        deltas = [
            a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, BookDelta)
        ]
        if venue_symbol not in local and replayed.synced_at.get(venue_symbol, 1 << 30) <= index:
            # the snapshot was answered before this frame: the book is at max(L, buffered u)
            last_id = json.loads(capture.snapshots[venue_symbol][2])["lastUpdateId"]
            local[venue_symbol] = max(last_id, seen_u.get(venue_symbol, last_id))
        if venue_symbol not in local:
            assert deltas == [], "nothing is published before the snapshot"
            seen_u[venue_symbol] = data["u"]
            continue
        if data["u"] <= local[venue_symbol]:
            assert deltas == []
            continue
        assert data["U"] <= local[venue_symbol] + 1
        assert deltas == [BookDelta(
            "binance", by_venue[venue_symbol], venue_symbol, data["E"] * 1000, us(ts),
            tuple((p, q) for p, q in data["b"]), tuple((p, q) for p, q in data["a"]),
        )]  # fmt: skip
        local[venue_symbol] = data["u"]
        applied += 1
    assert applied > 100
    assert set(replayed.synced_at) == set(capture.venue_symbols.values())
    for venue_symbol in capture.venue_symbols.values():
        book_id = replayed.proto._books[venue_symbol].sync.local_id
        assert book_id == local.get(venue_symbol, seen_u.get(venue_symbol)), venue_symbol


def test_final_books_equal_the_reference(capture: Capture, replayed: Replay) -> None:
    followers = {symbol: Follower() for symbol in capture.symbols}
    for action in replayed.all_actions:
        if isinstance(action, Emit) and isinstance(action.event, BookSnapshot):
            followers[action.event.symbol].snapshot(action.event)
        elif isinstance(action, Emit) and isinstance(action.event, BookDelta):
            followers[action.event.symbol].delta(action.event.bids, action.event.asks)
    for symbol, venue_symbol in capture.venue_symbols.items():
        expected = reference_book(capture, venue_symbol)
        book = replayed.proto._books[venue_symbol].sync.book
        assert (book.bids.top(), book.asks.top()) == expected, venue_symbol
        assert followers[symbol].book() == expected, f"{symbol}: what subscribers rebuild"
        assert not book.is_crossed()


def test_checkpoint_after_the_replay_is_the_reference_book(capture: Capture) -> None:
    run = replay(capture)  # a fresh run: on_tick changes state
    last = max(ts for ts, _, _ in run.per_frame)
    actions = run.proto.on_tick(us(last + 10))
    checkpoints = {a.event.venue_symbol: a.event for a in actions
                   if isinstance(a, Emit) and isinstance(a.event, BookSnapshot)}  # fmt: skip
    assert set(checkpoints) == set(capture.venue_symbols.values())
    for venue_symbol, snap in checkpoints.items():
        assert snap.checkpoint
        assert (snap.bids, snap.asks) == reference_book(capture, venue_symbol)


def test_captured_agg_trades_normalize(capture: Capture, replayed: Replay) -> None:
    by_venue = {v: s for s, v in capture.venue_symbols.items()}
    checked = 0
    for ts, msg, actions in replayed.per_frame:
        if not msg["stream"].endswith("@aggTrade"):
            continue
        data = msg["data"]
        assert actions == [Emit(Trade(
            "binance", by_venue[data["s"]], data["s"], data["T"] * 1000, us(ts), str(data["a"]),
            data["p"], data["q"], Side.SELL if data["m"] else Side.BUY,
        ))]  # fmt: skip
        checked += 1
    assert checked == 2
    prices = [
        a.event.price for _, _, actions in replayed.per_frame for a in actions
        if isinstance(a, Emit) and isinstance(a.event, Trade)
    ]  # fmt: skip
    assert prices == ["0.35280000", "0.00000638"]  # as captured, text untouched
