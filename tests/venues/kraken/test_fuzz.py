"""Hypothesis: no frame, arbitrary or a mutated valid one, makes ``on_frame`` raise; a frame that
is counted as a parse error leaves the books as they were; the book stays usable afterwards."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
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
    of_type,
    opened,
)

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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_input_never_raises(frame: str | bytes) -> None:
    proto = proto_synced()
    before = state(proto)
    check(proto, proto.on_frame(frame, T0), before)


def _json_values() -> st.SearchStrategy[Any]:
    leaves = (
        st.none() | st.booleans() | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
        | st.sampled_from(["BTC/USD", "ETH/USD", "book", "trade", "snapshot", "update", 0.0,
                           2**32, "2023-07-30T15:29:58.343415Z", "2023-07-30T15:29:58Z"])
    )  # fmt: skip
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
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
    elif delete and isinstance(parent, list):
        parent.pop(path[-1])
    else:
        parent[path[-1]] = replacement
    return root


def valid_frames() -> list[bytes]:
    data = capture()
    return [
        DOC_UPDATE.encode(), DOC_TRADES.encode(), DOC_ACK.encode(), DOC_ERROR.encode(),
        DOC_STATUS.encode(), DOC_HEARTBEAT.encode(), DOC_PONG.encode(),
        orjson.dumps(data["init"]), orjson.dumps(data["updates"][1]), *example_frames("ETH/USD"),
    ]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_frames_never_raise(data: st.DataObject) -> None:
    proto = proto_synced()
    frame = orjson.loads(data.draw(st.sampled_from(valid_frames())))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(frame)))
        frame = _mutate(frame, path, data.draw(_json_values()), data.draw(st.booleans()))
    before = state(proto)
    # stdlib json: orjson cannot write integers beyond 64 bits, which the venue could send
    check(proto, proto.on_frame(json.dumps(frame), T0), before)
    # the ETH book stays usable whatever came in: its §3.5 update still applies and verifies
    eth = proto._book_routes.get("ETH/USD")
    if eth is not None and eth.tracked.sync.state is SyncState.SYNCED:
        follow = proto.on_frame(example_frames("ETH/USD")[1], T0)
        assert len(of_type(follow, BookDelta)) == 1
