"""Whatever arrives, ``on_frame`` never raises, and a frame it cannot use leaves the book alone
(design §1.3; VenueProtocol.on_frame contract). Valid frames are the §6 samples and the
capture's; hypothesis mutates them."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.events import BookDelta
from feedgate.protocol.base import CountParseError
from feedgate.protocol.booksync import SyncState
from tests.venues.actions import events
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
    snapshot,
    synced,
)
from tests.venues.mutation import (
    ARBITRARY_FRAMES,
    draw_mutated,
    fuzz_settings,
    json_values,
    on_frame_checked,
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


JSON_VALUES = json_values(
    st.sampled_from(["0", "nan", "-1", "1e3", "16493.50", "snapshot", "delta", "Buy",
                     "subscribe", "publicTrade.BTCUSDT", "orderbook.50.BTCUSDT"]),
    st.sampled_from([1, SNAP_U, SNAP_U + 1, SNAP_U + 2]),
)  # fmt: skip


@fuzz_settings(max_examples=150)
@given(ARBITRARY_FRAMES)
def test_arbitrary_input_never_raises(frame: str | bytes) -> None:
    on_frame_checked(synced(), frame, T0, book_state)


@fuzz_settings(max_examples=400)
@given(st.data())
def test_mutated_valid_frames_never_raise(data: st.DataObject) -> None:
    proto = synced()
    frame = draw_mutated(data, orjson.loads(data.draw(st.sampled_from(VALID_FRAMES))), JSON_VALUES)
    on_frame_checked(proto, orjson.dumps(frame), T0, book_state)
    # the book stays usable whatever came in
    sync = proto._books["BTCUSDT"].sync
    if sync.state is SyncState.SYNCED:
        follow = proto.on_frame(delta(sync.local_id + 1, [["1.00", "1"]]), T0)
        assert any(isinstance(e, BookDelta) for e in events(follow))
