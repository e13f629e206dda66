"""Whatever arrives, ``on_frame`` never raises, and a frame it cannot use leaves the book alone
(design §1.3; VenueProtocol.on_frame contract). Valid frames are the §6 samples and the
capture's; hypothesis mutates them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedgate.events import BookDelta
from feedgate.protocol.base import CountParseError
from feedgate.protocol.booksync import SyncState
from tests.venues.bybit.frames import (
    CAPTURED_LINEAR_ACK,
    CAPTURED_LINEAR_TRADE,
    CAPTURED_SPOT_ACK,
    DOC_FAILURE,
    DOC_OPTION_PONG,
    DOC_SNAPSHOT,
    DOC_SPOT_ACK,
    DOC_SPOT_PONG,
    DOC_TRADE,
    SNAP_U,
    T0,
    book_state,
    delta,
    events,
    snapshot,
    synced,
)

VALID_FRAMES: list[bytes] = [
    delta(SNAP_U + 1, [["16493.50", "0.5"], ["16493.00", "0"]], [["16611.00", "0"]]),
    delta(SNAP_U + 1, [], [["16612.50", "1.000"]]),
    snapshot(SNAP_U + 9, [["16490.00", "1"]], [["16491.00", "1"]]),
    delta(3, [["3000.00", "1"]], venue_symbol="ETHUSDT"),
    DOC_SNAPSHOT.encode(), DOC_TRADE.encode(), CAPTURED_LINEAR_TRADE.encode(),
    DOC_SPOT_ACK.encode(), DOC_FAILURE.encode(), DOC_SPOT_PONG.encode(), DOC_OPTION_PONG.encode(),
    CAPTURED_LINEAR_ACK.encode(), CAPTURED_SPOT_ACK.encode(),
]  # fmt: skip

JUNK = [
    b"not json", b"", b"\xff\xfe\x00", "[1, 2]", "null", '"text"', "42", "{}",
    '{"topic": "orderbook.50.BTCUSDT"}',
    '{"topic": ["publicTrade.BTCUSDT"], "data": []}',
    '{"topic": "publicTrade.XRPUSDT", "data": []}',
    '{"topic": "tickers.BTCUSDT", "type": "snapshot", "data": {}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "partial", "ts": 1, "data":'
    ' {"s": "BTCUSDT", "b": [], "a": [], "u": 18521289, "seq": 1}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data":'
    ' {"s": "BTCUSDT", "b": [["16493.50", "1"]], "a": [["x", "1"]], "u": 18521289, "seq": 1}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data":'
    ' {"s": "BTCUSDT", "b": [], "a": [], "u": "18521289", "seq": 1}}',
    '{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": [1], "data":'
    ' {"s": "BTCUSDT", "b": [], "a": [], "u": 18521289, "seq": 1}}',
    '{"op": "subscribe", "success": false, "req_id": ["x"]}',
    '{"op": ["subscribe"]}',
]  # fmt: skip


@pytest.mark.parametrize("frame", JUNK, ids=[str(i) for i in range(len(JUNK))])
def test_junk_is_counted_and_the_book_is_untouched(frame: str | bytes) -> None:
    proto = synced()
    before = book_state(proto)
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]
    assert book_state(proto) == before


def _json_values() -> st.SearchStrategy[Any]:
    leaves = (
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
        | st.sampled_from(["0", "nan", "-1", "1e3", "16493.50", "snapshot", "delta", "Buy",
                           "subscribe", "publicTrade.BTCUSDT", "orderbook.50.BTCUSDT"])
        | st.sampled_from([1, SNAP_U, SNAP_U + 1, SNAP_U + 2])
    )  # fmt: skip
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += _paths(child, (*prefix, index))
    return paths


def _mutate(root: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    if not path:
        return replacement
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return root


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_input_never_raises(frame: str | bytes) -> None:
    proto = synced()
    before = book_state(proto)
    actions = proto.on_frame(frame, T0)
    assert isinstance(actions, list)
    if any(isinstance(a, CountParseError) for a in actions):
        assert book_state(proto) == before


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_frames_never_raise(data: st.DataObject) -> None:
    proto = synced()
    frame = orjson.loads(data.draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(frame)))
        frame = _mutate(frame, path, data.draw(_json_values()), data.draw(st.booleans()))
    before = book_state(proto)
    actions = proto.on_frame(orjson.dumps(frame), T0)
    assert isinstance(actions, list)
    if any(isinstance(a, CountParseError) for a in actions):
        assert book_state(proto) == before
    # the book stays usable whatever came in
    sync = proto._books["BTCUSDT"].sync
    if sync.state is SyncState.SYNCED:
        follow = proto.on_frame(delta(sync.local_id + 1, [["1.00", "1"]]), T0)
        assert any(isinstance(e, BookDelta) for e in events(follow))
