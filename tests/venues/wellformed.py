"""What every emitted event must look like, whatever frame it came from: the message the
publisher would write (``messages.encode`` must not raise: it runs on the read loop), prices and
sizes as plain decimal strings (docs/schema.md), canonical symbols from the subscription,
times in range, and only the action types the contract knows."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import get_args

import orjson

from feedgate.channels import split_symbol
from feedgate.events import (
    Announcement,
    Bbo,
    BookDelta,
    BookSnapshot,
    Event,
    Level,
    Onchain,
    PrivateUpdate,
    Side,
    Status,
    StatusEvent,
    Trade,
)
from feedgate.messages import encode
from feedgate.protocol.base import (
    Action,
    CountParseError,
    Emit,
)

DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
"""Plain ASCII decimal text: what every venue writes, and what any consumer can parse."""
MAX_TS_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
INT64_MAX = 2**63 - 1
ACTIONS = get_args(Action)  # every action the contract names (none forgotten when one is added)


def check_level(level: Level, *, book: bool) -> None:
    price, size = level
    assert DECIMAL.fullmatch(price) and DECIMAL.fullmatch(size), level
    assert float(price) > 0, level
    assert book or float(size) > 0, f"a trade of size {size}"


def check_time(ts: int | None, recv_ts: int, now: int) -> None:
    assert ts is None or (type(ts) is int and 0 <= ts <= MAX_TS_US), ts
    assert recv_ts == now


def check_symbol(symbol: str | None, venue_symbol: str | None, symbols: Collection[str]) -> None:
    if symbol is None:
        return
    split_symbol(symbol)  # canonical BASE-QUOTE
    assert symbol in symbols, f"{symbol} was not subscribed"
    assert isinstance(venue_symbol, str) and venue_symbol, venue_symbol


def check_event(event: Event, symbols: Collection[str], now: int) -> None:
    message = orjson.loads(encode(event, 1))  # what the publisher writes
    assert message["exchange"] == event.exchange
    check_symbol(event.symbol, event.venue_symbol, symbols)
    check_time(event.ts, event.recv_ts, now)
    if isinstance(event, Trade):
        check_level((event.price, event.size), book=False)
        assert type(event.id) is str and event.id and event.side in tuple(Side)
    elif isinstance(event, BookDelta | BookSnapshot):
        for level in event.bids + event.asks:
            check_level(level, book=True)
    elif isinstance(event, Bbo):
        for price, size in ((event.bid_price, event.bid_size), (event.ask_price, event.ask_size)):
            assert (price is None) == (size is None)
            if price is not None and size is not None:
                check_level((price, size), book=True)
    elif isinstance(event, Status):
        assert event.event in tuple(StatusEvent) and isinstance(event.reason, str)
        assert len(event.reason) <= 1000, "a status reason echoes a whole frame"
    elif isinstance(event, Announcement):
        publisher = event.publisher
        assert publisher.isascii() and publisher.replace("_", "").isalnum(), publisher
        assert publisher == publisher.lower()
        assert all(type(t) is str and t for t in event.tickers)
        assert type(event.title) is str and type(event.listing_type) is str
    elif isinstance(event, Onchain):
        assert 0 <= event.block_number <= INT64_MAX
        assert event.log_index is None or 0 <= event.log_index <= INT64_MAX
        assert event.kind in ("heads", "logs") and type(event.payload) is dict
    else:
        assert isinstance(event, PrivateUpdate) and type(event.payload) is dict


def check_actions(actions: list[Action], symbols: Collection[str], now: int) -> None:
    assert type(actions) is list
    for action in actions:
        assert isinstance(action, ACTIONS), action
        if isinstance(action, Emit):
            check_event(action.event, symbols, now)
        elif isinstance(action, CountParseError):
            assert len(action.detail) <= 1000, "a parse error's detail echoes a whole frame"
