"""Fuzzing the Upbit protocol: arbitrary bytes, and the §4.3/§4.4 sample frames mutated at
random places (tests/venues/mutation.py). It must never raise, and a frame it counts as a
parse error must leave its state (books, bbo, seen trades) as it was."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from feedgate.protocol.base import ConnectionSpec, Topic
from feedgate.venues.upbit.options import UpbitOptions
from feedgate.venues.upbit.protocol import UpbitProtocol
from tests.venues.mutation import (
    ARBITRARY_FRAMES,
    draw_mutated,
    fuzz_settings,
    json_values,
    on_frame_checked,
)
from tests.venues.upbit import frames

SAMPLES = [frames.TRADE_DEFAULT, frames.TRADE_SIMPLE, frames.BOOK_DEFAULT, frames.BOOK_SIMPLE,
           frames.ERROR, b'{"status":"UP"}']  # fmt: skip
LEAVES = (
    st.sampled_from(["trade", "orderbook", "BID", "ASK", "KRW-BTC", "SGD-BTC", "UP", "ty", "tp"]),
)


def fresh() -> UpbitProtocol:
    topics = tuple(Topic(c, s) for s in ("BTC-KRW", "BTC-SGD") for c in ("trades", "book", "bbo"))
    return UpbitProtocol(ConnectionSpec("upbit-00", topics), UpbitOptions())


def state(p: UpbitProtocol) -> Any:
    books = {c: (b.synced, b.bbo) for c, b in p._books.items()}
    return books, {c: sorted(t.seen) for c, t in p._tapes.items()}


@fuzz_settings(300)
@given(ARBITRARY_FRAMES)
def test_arbitrary_input_never_raises(frame: str | bytes) -> None:
    on_frame_checked(fresh(), frame, 1, state)


@fuzz_settings(400)
@given(st.data(), st.sampled_from(SAMPLES))
def test_mutated_frames(data: st.DataObject, sample: bytes) -> None:
    p = fresh()
    p.on_frame(frames.BOOK_SIMPLE, 1)  # a synced book that a bad frame must not touch
    frame = draw_mutated(data, orjson.loads(sample), json_values(*LEAVES), pop_from_lists=True)
    on_frame_checked(p, orjson.dumps(frame), 2, state)
