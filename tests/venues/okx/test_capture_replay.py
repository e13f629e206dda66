"""Replay the recorded OKX session (captures/okx.jsonl.zst) through OkxProtocol.

The capture (2022-05, see captures/README.md) holds one ``/ws/v5/public`` connection with
``tickers``, ``trades`` and ``books`` for a future, a swap and BTC-USDT, and the REST instrument
lists. Its ``books`` frames predate ``seqId``/``prevSeqId`` and carry the legacy checksum
(§5.6), so the replay runs with ``legacy_checksum`` and ``legacy_unsequenced`` on: every
checksum must reproduce, and the books are checked against a reference built here independently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from feedgate.events import BookDelta, BookSnapshot, Level, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    CountParseError,
    Emit,
    Resync,
    Send,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.okx import wire
from feedgate.venues.okx.checksum import legacy_checksum
from feedgate.venues.okx.options import OkxOptions
from feedgate.venues.okx.protocol import OkxProtocol
from tests.venues.actions import of_type
from tests.venues.captures import capture_marker, read_capture, received, us
from tests.venues.refbook import best_first, set_level

CAPTURE = "okx.jsonl.zst"
pytestmark = capture_marker(CAPTURE)

# canonical → instId as a pinned mapping would give it (the derivatives are not spot symbols)
VENUE_SYMBOLS = {"BTC-USD": "BTC-USD-220527", "UNI-USD": "UNI-USD-SWAP", "BTC-USDT": "BTC-USDT"}
BY_INST = {v: k for k, v in VENUE_SYMBOLS.items()}


@dataclass
class Capture:
    records: list[dict[str, Any]]

    def recv(self) -> list[tuple[float, dict[str, Any], str]]:
        return received(self.records)

    def pushes(self, channel: str) -> list[tuple[float, dict[str, Any], str]]:
        return [
            (ts, msg, raw)
            for ts, msg, raw in self.recv()
            if "data" in msg and msg["arg"]["channel"] == channel
        ]


@pytest.fixture(scope="module")
def capture() -> Capture:
    header, records = read_capture(CAPTURE)
    assert header["exchange"] == "OKX"
    return Capture(records)


@dataclass
class Replay:
    proto: OkxProtocol
    opened: list[Action]
    per_frame: list[tuple[dict[str, Any], list[Action]]]

    def actions(self) -> list[Action]:
        return self.opened + [a for _, actions in self.per_frame for a in actions]

    def emitted(self, kind: type) -> list[Any]:
        return of_type(self.actions(), kind)


@pytest.fixture(scope="module")
def replayed(capture: Capture) -> Replay:
    topics = tuple(Topic(c, s) for s in VENUE_SYMBOLS for c in ("trades", "book"))
    spec = ConnectionSpec("okx-00", topics, dict(VENUE_SYMBOLS))
    proto = OkxProtocol(spec, OkxOptions(legacy_checksum=True, legacy_unsequenced=True))
    (connect,) = [r for r in capture.records if r["t"] == "connect"]
    assert connect["addr"].endswith(wire.PUBLIC_PATH)
    opened = proto.on_open(us(connect["ts"]))
    per_frame = [(msg, proto.on_frame(raw, us(ts))) for ts, msg, raw in capture.recv()]
    return Replay(proto, opened, per_frame)


def reference(capture: Capture) -> dict[str, tuple[tuple[Level, ...], tuple[Level, ...]]]:
    """Books from the captured frames with plain dicts and Decimal keys (§5.4); asserts every
    frame's checksum against the book it describes (§5.6)."""
    sides: dict[str, dict[str, dict[Decimal, Level]]] = {}
    checked = 0
    for _, msg, _ in capture.pushes("books"):
        inst, (data,) = msg["arg"]["instId"], msg["data"]
        if msg["action"] == "snapshot":
            sides[inst] = {"bids": {}, "asks": {}}
        for side in ("bids", "asks"):
            for px, sz, _, _ in data[side]:
                set_level(sides[inst][side], px, sz)
        bids, asks = best_first(sides[inst]["bids"], sides[inst]["asks"])
        assert legacy_checksum(bids, asks) == data["checksum"], "the recorded checksum"
        checked += 1
    assert checked == 290
    return {inst: best_first(s["bids"], s["asks"]) for inst, s in sides.items()}


def test_captured_instruments_map_to_canonical_symbols(capture: Capture) -> None:
    spot = [r for r in capture.records if r["t"] == "http" and r["url"].endswith("instType=SPOT")]
    mapping = wire.parse_instruments(spot[0]["data"].encode())
    assert mapping["BTC-USDT"] == "BTC-USDT" and mapping["ETH-USDT"] == "ETH-USDT"
    assert len(mapping) == 513  # every spot instrument was live
    assert all(k == v for k, v in mapping.items())  # §5.8: spot instIds are BASE-QUOTE


def test_subscribes_and_counts_only_the_unsubscribed_tickers(replayed: Replay) -> None:
    (frame,) = [a for a in replayed.opened if isinstance(a, Send)]
    args = json.loads(frame.data)["args"]
    assert {(a["channel"], a["instId"]) for a in args} == {
        (c, i) for i in VENUE_SYMBOLS.values() for c in ("trades", "books")
    }
    assert [a for a in replayed.actions() if isinstance(a, Subscribed)] == [Subscribed()]
    tickers = 0
    for msg, actions in replayed.per_frame:
        errors = [a for a in actions if isinstance(a, CountParseError)]
        if "data" in msg and msg["arg"]["channel"] == "tickers":
            tickers += 1
            assert actions == errors and len(errors) == 1
        else:
            assert errors == [], (msg, errors)
    assert tickers == 28


def test_every_checksum_reproduces_and_no_book_resets(capture: Capture, replayed: Replay) -> None:
    reference(capture)  # the recording agrees with §5.6
    assert not [a for a in replayed.actions() if isinstance(a, Resync)]
    statuses = replayed.emitted(Status)
    assert StatusEvent.BOOK_RESET not in {s.event for s in statuses}
    synced = [s.symbol for s in statuses if s.event is StatusEvent.BOOK_SYNCED]
    assert sorted(synced) == sorted(VENUE_SYMBOLS)
    for inst in VENUE_SYMBOLS.values():
        assert replayed.proto._books[inst].sync.state is SyncState.SYNCED


def test_every_update_is_published_as_received(capture: Capture, replayed: Replay) -> None:
    updates = 0
    for msg, actions in replayed.per_frame:
        if "data" not in msg or msg["arg"]["channel"] != "books" or msg["action"] != "update":
            continue
        inst, (data,) = msg["arg"]["instId"], msg["data"]
        deltas = [
            a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, BookDelta)
        ]
        assert [(d.symbol, d.bids, d.asks, d.ts) for d in deltas] == [
            (
                BY_INST[inst],
                tuple((p, s) for p, s, _, _ in data["bids"]),
                tuple((p, s) for p, s, _, _ in data["asks"]),
                int(data["ts"]) * 1000,
            )
        ]
        updates += 1
    assert updates == 287


def test_final_books_equal_the_reference(capture: Capture, replayed: Replay) -> None:
    expected = reference(capture)
    followed: dict[str, dict[str, dict[Decimal, Level]]] = {}
    for action in replayed.actions():  # what a subscriber rebuilds, in publication order
        event = action.event if isinstance(action, Emit) else None
        if isinstance(event, BookSnapshot):
            followed[event.venue_symbol] = {"bids": {}, "asks": {}}
        if isinstance(event, BookSnapshot | BookDelta):
            for side, levels in (("bids", event.bids), ("asks", event.asks)):
                for px, sz in levels:
                    set_level(followed[event.venue_symbol][side], px, sz)
    for inst, (bids, asks) in expected.items():
        book = replayed.proto._books[inst].sync.book
        assert (book.bids.top(), book.asks.top()) == (bids, asks), inst
        mine = followed[inst]
        assert best_first(mine["bids"], mine["asks"]) == (bids, asks)
    assert len(expected["BTC-USDT"][0]) == 400  # the books channel's depth (§5.4)


def test_captured_trades_normalize_exactly(capture: Capture, replayed: Replay) -> None:
    expected = [
        Trade(
            "okx",
            BY_INST[d["instId"]],
            d["instId"],
            int(d["ts"]) * 1000,
            us(ts),
            d["tradeId"],
            d["px"],
            d["sz"],
            Side(d["side"]),
        )
        for ts, msg, _ in capture.pushes("trades")
        for d in msg["data"]
    ]
    assert replayed.emitted(Trade) == expected
    assert len(expected) == 74
    assert {t.side for t in expected} == {Side.BUY, Side.SELL}
