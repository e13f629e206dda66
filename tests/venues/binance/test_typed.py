"""The typed decoding of Binance frames (``feedgate.venues.binance.typed``) is a shortcut, not a
second reading: for any frame, valid or not, a protocol that takes it must end with the same
actions and the same books as one that reads every frame the general way."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from feedgate.protocol.base import Action, Emit, Topic
from feedgate.venues.binance.protocol import BinanceProtocol
from tests.venues.binance.test_protocol import (
    BTC,
    T0,
    UPD_ASKS,
    UPD_BIDS,
    book_state,
    depth,
    make,
    opened,
    snapshot_body,
)

ODD_VALUES = st.sampled_from(
    [None, True, False, 0, -1, 1.5, 1e300, "BIG", "", "1", "94250.01", "1e5", "NaN", [], {}]
)
TRADE = {
    "e": "trade", "E": 1767225600123, "s": "BTCUSDT", "t": 5123456789, "p": "94250.01000000",
    "q": "0.00120000", "T": 1767225600122, "m": True, "M": True,
}  # fmt: skip
ODD_LEVELS = st.sampled_from([
    ["94250.5"], ["94250.5", "1.0", "2.0"], [94250.5, "1.0"], ["94250.5", 1], "94250.5", [],
    ["-1.0", "1.0"], ["1e5", "1.0"], ["0", "1.0"], ["0.00", "1.0"], ["94250.5", "0"],
    ["94250.5", "-1"], ["\u0661.\u0660", "1.0"], ["94250.5", "1" * 400], ["94250.5", " 1.0"],
    [None, "1.0"], [["94250.5", "1.0"]],
])  # fmt: skip
"""Levels a depth frame may carry instead of a [price, qty] pair of decimal texts."""
AGG_TRADE = {
    "e": "aggTrade", "E": 1767225600130, "s": "BTCUSDT", "a": 3412345678, "p": "94250.01",
    "q": "0.0052", "f": 5123456780, "l": 5123456789, "T": 1767225600122, "m": False, "M": True,
}  # fmt: skip


def synced(aggregate: bool = False) -> BinanceProtocol:
    topics = (Topic("trades", BTC), Topic("book", BTC), Topic("bbo", BTC))
    proto = opened(make(*topics, trade_stream="aggTrade" if aggregate else "trade"))
    proto.on_frame(depth("BTCUSDT", 101, 105, UPD_BIDS, UPD_ASKS).decode(), T0)
    proto.on_snapshot("BTCUSDT", snapshot_body(103), T0 + 1000)
    return proto


@st.composite
def frames(draw: st.DrawFn, aggregate: bool) -> str:
    """A trade, aggTrade or depth frame of a subscribed (or another) stream, a field or two
    changed, dropped or added."""
    kind = draw(st.sampled_from(["trade", "depth"]))
    if kind == "trade":
        data: dict[str, Any] = dict(AGG_TRADE if draw(st.booleans()) else TRADE)
        stream = "btcusdt@aggTrade" if aggregate else "btcusdt@trade"
    else:
        first = draw(st.integers(100, 110))
        data = orjson.loads(depth("BTCUSDT", first, first + draw(st.integers(0, 2)), UPD_BIDS,
                                  UPD_ASKS))["data"]  # fmt: skip
        stream = "btcusdt@depth@100ms"
        for side in draw(st.sets(st.sampled_from(["b", "a"]))):  # a level or two of junk
            levels = list(data[side])
            levels.insert(draw(st.integers(0, len(levels))), draw(ODD_LEVELS))
            data[side] = levels
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from([*sorted(data), "extra"]))
        change = draw(st.sampled_from(["value", "drop"]))
        if change == "drop":
            data.pop(key, None)
        else:
            data[key] = draw(ODD_VALUES)
    if draw(st.integers(0, 9)) == 0:
        stream = draw(st.sampled_from(["ethusdt@trade", "btcusdt@depth", "btcusdt@aggTrade"]))
    # orjson writes no integer past 64 bits: one is spliced in as text
    return orjson.dumps({"stream": stream, "data": data}).decode().replace('"BIG"', str(2**70))


def comparable(actions: list[Action]) -> list[Any]:
    return [a.event if type(a) is Emit else a for a in actions]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_typed_and_general_readings_agree(data: st.DataObject) -> None:
    aggregate = data.draw(st.booleans(), label="aggTrade stream")
    typed, general = synced(aggregate), synced(aggregate)
    for _ in range(data.draw(st.integers(1, 6), label="frames")):
        frame = data.draw(frames(aggregate), label="frame")
        assert comparable(typed.on_frame(frame, T0)) == comparable(
            general._on_untyped_frame(frame, T0)
        ), frame
        assert book_state(typed) == book_state(general)


def test_a_valid_trade_text_frame_takes_the_typed_path(monkeypatch: Any) -> None:
    """The shortcut is taken (the general reading is not called) and gives the trade."""
    proto = synced()
    monkeypatch.setattr(proto, "_on_untyped_frame", None)  # calling it would raise TypeError
    actions = proto.on_frame(orjson.dumps({"stream": "btcusdt@trade", "data": TRADE}).decode(), T0)
    assert [(a.event.id, a.event.price) for a in actions if type(a) is Emit] == [
        ("5123456789", "94250.01000000")
    ]
