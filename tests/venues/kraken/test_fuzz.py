"""Hypothesis: no frame, arbitrary or a mutated valid one, makes ``on_frame`` raise; a frame that
is counted as a parse error leaves the books as they were; the book stays usable afterwards."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from feedgate.events import BookDelta
from feedgate.protocol.base import (
    Action,
    CountParseError,
    Emit,
    Reconnect,
    Resync,
    Send,
    Subscribed,
    Topic,
)
from feedgate.protocol.booksync import SyncState
from feedgate.venues.kraken.protocol import KrakenProtocol
from tests.venues.actions import of_type
from tests.venues.kraken.docframes import (
    BTC,
    DOC_ACK,
    DOC_ERROR,
    DOC_HEARTBEAT,
    DOC_PONG,
    DOC_STATUS,
    DOC_TRADES,
    DOC_UPDATE,
    ETH,
    T0,
    capture,
    example_frames,
    make,
    opened,
)
from tests.venues.mutation import ARBITRARY_FRAMES, draw_mutated, fuzz_settings, json_values

KNOWN = (Send, Emit, Reconnect, CountParseError, Resync, Subscribed)


def proto_synced() -> KrakenProtocol:
    proto = opened(
        make(Topic("trades", BTC), Topic("book", BTC), Topic("book", ETH), Topic("bbo", ETH))
    )
    proto.on_frame(orjson.dumps(capture()["init"]), T0)
    proto.on_frame(example_frames("ETH/USD")[0], T0)
    return proto


def state(proto: KrakenProtocol) -> list[Any]:
    out: list[Any] = []
    for book in proto._book_routes.values():
        sync = book.tracked.sync
        out.append((sync.state, sync.book.bids.top(), sync.book.asks.top(), dict(book.asks),
                    dict(book.bids)))  # fmt: skip
    return out


def check(proto: KrakenProtocol, actions: list[Action], before: list[Any]) -> None:
    assert isinstance(actions, list) and all(isinstance(a, KNOWN) for a in actions)
    if any(isinstance(a, CountParseError) for a in actions) and len(actions) == 1:
        assert state(proto) == before


@fuzz_settings(max_examples=200)
@given(ARBITRARY_FRAMES)
def test_arbitrary_input_never_raises(frame: str | bytes) -> None:
    proto = proto_synced()
    before = state(proto)
    check(proto, proto.on_frame(frame, T0), before)


# integers beyond 64 bits too (the frames are written with stdlib json); deletions pop list items
JSON_VALUES = json_values(
    st.sampled_from(["BTC/USD", "ETH/USD", "book", "trade", "snapshot", "update", 0.0,
                     2**32, "2023-07-30T15:29:58.343415Z", "2023-07-30T15:29:58Z"]),
    integers=st.integers(-(2**70), 2**70),
    key_size=5,
)  # fmt: skip


def valid_frames() -> list[bytes]:
    data = capture()
    return [
        DOC_UPDATE.encode(), DOC_TRADES.encode(), DOC_ACK.encode(), DOC_ERROR.encode(),
        DOC_STATUS.encode(), DOC_HEARTBEAT.encode(), DOC_PONG.encode(),
        orjson.dumps(data["init"]), orjson.dumps(data["updates"][1]), *example_frames("ETH/USD"),
    ]  # fmt: skip


@fuzz_settings(max_examples=400)
@given(st.data())
def test_mutated_valid_frames_never_raise(data: st.DataObject) -> None:
    proto = proto_synced()
    frame = orjson.loads(data.draw(st.sampled_from(valid_frames())))
    frame = draw_mutated(data, frame, JSON_VALUES, pop_from_lists=True)
    before = state(proto)
    # stdlib json: orjson cannot write integers beyond 64 bits, which the venue could send
    check(proto, proto.on_frame(json.dumps(frame), T0), before)
    # the ETH book stays usable whatever came in: its §3.5 update still applies and verifies
    eth = proto._book_routes.get("ETH/USD")
    if eth is not None and eth.tracked.sync.state is SyncState.SYNCED:
        follow = proto.on_frame(example_frames("ETH/USD")[1], T0)
        assert len(of_type(follow, BookDelta)) == 1
