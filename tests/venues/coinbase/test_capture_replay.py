"""Replay the recorded Coinbase session (captures/coinbase.jsonl.zst) through CoinbaseProtocol.

The capture (2026-08, see captures/README.md) holds one Advanced Trade connection with
market_trades, level2, ticker, candles and heartbeats for BTC-USD and ETH-USD, and the public
products list. We subscribe trades, books and bbo, feed every received frame with its receive
time, and check the result against books and trades computed here independently (Decimal, plain
dicts) from exchanges.md §2.4/§2.5.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from feedgate.events import Bbo, BookDelta, BookSnapshot, Level, Side, Status, StatusEvent, Trade
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
from feedgate.venues.coinbase.options import CoinbaseOptions
from feedgate.venues.coinbase.protocol import CoinbaseProtocol
from feedgate.venues.coinbase.wire import parse_products
from tests.venues.actions import of_type
from tests.venues.captures import capture_marker, read_capture, received, us
from tests.venues.refbook import best_first, set_level

CAPTURE = "coinbase.jsonl.zst"
pytestmark = capture_marker(CAPTURE)

PRODUCTS = ["BTC-USD", "ETH-USD"]
UNSUBSCRIBED = {"ticker", "candles"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_us(text: str) -> int:
    """Independent RFC 3339 reading: ``datetime`` after cutting the fraction to 6 digits."""
    head, _, fraction = text.rstrip("Z").partition(".")
    parsed = datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00")
    return (parsed - EPOCH) // timedelta(microseconds=1)


@dataclass
class Capture:
    header: dict[str, Any]
    records: list[dict[str, Any]]
    products: bytes

    def recv(self) -> list[tuple[float, dict[str, Any], str]]:
        return received(self.records)

    def of(self, channel: str) -> list[tuple[float, dict[str, Any], str]]:
        return [frame for frame in self.recv() if frame[1]["channel"] == channel]


@pytest.fixture(scope="module")
def capture() -> Capture:
    header, records = read_capture(CAPTURE)
    assert header["format"] == 2
    assert header["config"]["l2_book"] == PRODUCTS == header["config"]["trades"]
    (products,) = [r for r in records if r["t"] == "http"]
    assert products["url"].endswith("/api/v3/brokerage/market/products")
    return Capture(header, records, products["data"].encode())


@dataclass
class Replay:
    proto: CoinbaseProtocol
    opened: list[Action]
    per_frame: list[tuple[float, dict[str, Any], list[Action]]]

    def actions(self) -> list[Action]:
        return [a for _, _, actions in self.per_frame for a in actions]

    def published(self, kind: type) -> list[Any]:
        return of_type(self.actions(), kind)


def replay(capture: Capture) -> Replay:
    listed = parse_products(capture.products)
    spec = ConnectionSpec(
        "coinbase-00",
        tuple(Topic(c, p) for p in PRODUCTS for c in ("trades", "book", "bbo")),
        {p: listed[p] for p in PRODUCTS},
    )
    proto = CoinbaseProtocol(spec, CoinbaseOptions())
    (connect,) = [r for r in capture.records if r["t"] == "connect"]
    opened = proto.on_open(us(connect["ts"]))
    per_frame = [(ts, msg, proto.on_frame(raw, us(ts))) for ts, msg, raw in capture.recv()]
    return Replay(proto, opened, per_frame)


@pytest.fixture(scope="module")
def replayed(capture: Capture) -> Replay:
    return replay(capture)


# -- an independent reference book (Decimal, plain dicts, §2.5) ------------------------------------


def reference_books(capture: Capture) -> dict[str, tuple[tuple[Level, ...], tuple[Level, ...]]]:
    sides: dict[str, dict[str, dict[Decimal, Level]]] = {}
    for _, msg, _ in capture.of("l2_data"):
        for event in msg["events"]:
            if event["type"] == "snapshot":
                sides[event["product_id"]] = {"bid": {}, "offer": {}}
            book = sides[event["product_id"]]
            for u in event["updates"]:
                set_level(book[u["side"]], u["price_level"], u["new_quantity"])
    return {product: best_first(book["bid"], book["offer"]) for product, book in sides.items()}


# -- the tests ------------------------------------------------------------------------------------


def test_products_list_maps_symbols_and_usdc_aliases(capture: Capture) -> None:
    listed = parse_products(capture.products)
    assert {p: listed[p] for p in PRODUCTS} == {"BTC-USD": "BTC-USD", "ETH-USD": "ETH-USD"}
    assert listed["BTC-USDC"] == "BTC-USD" and listed["USDT-USDC"] == "USDT-USDC"
    assert "DAI-USD" not in listed and "DAI-USDC" not in listed  # delisted
    assert len(listed) == 912  # every online product of the 920 listed


def test_subscribe_messages_match_the_recording(capture: Capture, replayed: Replay) -> None:
    ours = [json.loads(a.data) for a in replayed.opened if isinstance(a, Send)]
    recorded = [json.loads(r["data"]) for r in capture.records if r["t"] == "send"]
    by_channel = {m["channel"]: m for m in recorded}
    assert [m["channel"] for m in ours] == ["heartbeats", "market_trades", "level2"]
    for message in ours[1:]:
        assert message == by_channel[message["channel"]]
    assert ours[0] == {"type": "subscribe", "channel": "heartbeats"}  # §2.2 shape, no products


def test_no_gap_no_reset_and_errors_only_for_unsubscribed_channels(replayed: Replay) -> None:
    actions = replayed.actions()
    assert [a for a in actions if isinstance(a, Resync)] == []
    assert not [s for s in replayed.published(Status) if s.event is StatusEvent.BOOK_RESET]
    unsubscribed = 0
    for _, msg, frame_actions in replayed.per_frame:
        errors = [a for a in frame_actions if isinstance(a, CountParseError)]
        if msg["channel"] in UNSUBSCRIBED:
            unsubscribed += 1
            assert frame_actions == errors and len(errors) == 1
        else:
            assert errors == [], f"{msg['channel']} {msg['sequence_num']}: {errors}"
    assert unsubscribed == 166  # 160 ticker + 6 candles frames
    # the first frame (a market_trades snapshot, before any acknowledgement) means subscribed
    assert replayed.per_frame[0][2][0] == Subscribed()
    assert actions.count(Subscribed()) == 1


def test_every_book_frame_is_published_as_received(capture: Capture, replayed: Replay) -> None:
    deltas = 0
    for ts, msg, actions in replayed.per_frame:
        if msg["channel"] != "l2_data":
            continue
        (event,) = msg["events"]
        bids = tuple((u["price_level"], u["new_quantity"]) for u in event["updates"]
                     if u["side"] == "bid")  # fmt: skip
        asks = tuple((u["price_level"], u["new_quantity"]) for u in event["updates"]
                     if u["side"] == "offer")  # fmt: skip
        event_us = time_us(event["updates"][0]["event_time"])
        if event["type"] == "snapshot":
            (snapshot,) = [
                a.event
                for a in actions
                if isinstance(a, Emit) and isinstance(a.event, BookSnapshot)
            ]
            assert (snapshot.ts, len(snapshot.bids), len(snapshot.asks)) == (
                event_us, len(bids), len(asks)
            )  # fmt: skip
            continue
        (delta,) = [
            a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, BookDelta)
        ]
        assert delta == BookDelta(
            "coinbase", event["product_id"], event["product_id"], event_us, us(ts), bids, asks
        )
        deltas += 1
    assert deltas == 773


def test_final_books_equal_the_reference(capture: Capture, replayed: Replay) -> None:
    reference = reference_books(capture)
    followed: dict[str, dict[str, dict[Decimal, Level]]] = defaultdict(dict)
    for action in replayed.actions():
        if not isinstance(action, Emit):
            continue
        event = action.event
        if isinstance(event, BookSnapshot):
            followed[event.symbol] = {"bids": {}, "asks": {}}
        if isinstance(event, (BookSnapshot, BookDelta)):
            for name, levels in (("bids", event.bids), ("asks", event.asks)):
                for price, size in levels:
                    set_level(followed[event.symbol][name], price, size)
    for product in PRODUCTS:
        book = replayed.proto._books[product].sync
        assert book.state is SyncState.SYNCED
        assert (book.book.bids.top(), book.book.asks.top()) == reference[product], product
        sides = followed[product]
        assert best_first(sides["bids"], sides["asks"]) == reference[product], (
            f"{product}: what subscribers rebuild"
        )
        assert len(reference[product][0]) > 1000  # full depth (§2.5)
        (last_bbo,) = [b for b in replayed.published(Bbo) if b.symbol == product][-1:]
        bids, asks = reference[product]
        assert (last_bbo.bid_price, last_bbo.bid_size, last_bbo.ask_price, last_bbo.ask_size) == (
            *bids[0], *asks[0]
        )  # fmt: skip


def test_trades_carry_the_recorded_ids_prices_sizes_and_taker_sides(
    capture: Capture, replayed: Replay
) -> None:
    taker = {"BUY": Side.SELL, "SELL": Side.BUY}  # side names the maker (see the next test)
    checked = 0
    for ts, msg, actions in replayed.per_frame:
        if msg["channel"] != "market_trades":
            continue
        published = [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, Trade)]
        (event,) = msg["events"]
        if event["type"] == "snapshot":
            assert published == [], "the first connection's snapshot is history"
            continue
        expected = [
            Trade("coinbase", t["product_id"], t["product_id"], time_us(t["time"]), us(ts),
                  t["trade_id"], t["price"], t["size"], taker[t["side"]])
            for t in reversed(event["trades"])
        ]  # fmt: skip
        assert published == expected
        checked += len(expected)
    assert checked == 79
    ids = [int(t.id) for t in replayed.published(Trade) if t.symbol == "BTC-USD"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_the_recorded_side_is_the_makers(capture: Capture) -> None:
    """§2.4 leaves taker vs maker UNCONFIRMED. In the recording, a trade of size S at price P is
    followed within milliseconds by a level2 update taking exactly S off P on one side: the side
    of the resting order that traded. ``SELL`` trades take offers and ``BUY`` trades take bids,
    so ``side`` is the maker's (as in the legacy feed) and the taker is the opposite."""
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {}
    decrements: dict[tuple[str, Decimal], list[tuple[int, str, Decimal]]] = defaultdict(list)
    for _, msg, _ in capture.of("l2_data"):
        for event in msg["events"]:
            product, update = event["product_id"], event["type"] == "update"
            if not update:
                books[product] = {"bid": {}, "offer": {}}
            for u in event["updates"]:
                side = books[product][u["side"]]
                price, size = Decimal(u["price_level"]), Decimal(u["new_quantity"])
                old = side.get(price, Decimal(0))
                if update and size < old:
                    decrements[(product, price)].append(
                        (time_us(u["event_time"]), u["side"], old - size)
                    )
                side[price] = size
    agree = disagree = 0
    for _, msg, _ in capture.of("market_trades"):
        for event in msg["events"]:
            if event["type"] != "update":
                continue
            for t in event["trades"]:
                when, size = time_us(t["time"]), Decimal(t["size"])
                taken_at = decrements[(t["product_id"], Decimal(t["price"]))]
                matches = [
                    side
                    for at, side, taken in taken_at
                    if taken == size and 0 <= at - when < 200_000
                ]
                if not matches:
                    continue
                maker = {"SELL": "offer", "BUY": "bid"}[t["side"]]
                agree += matches[0] == maker
                disagree += matches[0] != maker
    assert (agree, disagree) == (61, 0)  # 61 trades matched, all on the maker side


def test_checkpoint_after_the_replay_is_the_reference_book(capture: Capture) -> None:
    run = replay(capture)  # a fresh run: on_tick changes state
    last = max(ts for ts, _, _ in run.per_frame)
    checkpoints = {a.event.symbol: a.event for a in run.proto.on_tick(us(last + 10))
                   if isinstance(a, Emit) and isinstance(a.event, BookSnapshot)}  # fmt: skip
    reference = reference_books(capture)
    assert set(checkpoints) == set(PRODUCTS)
    for product, snapshot in checkpoints.items():
        assert snapshot.checkpoint and (snapshot.bids, snapshot.asks) == reference[product]
