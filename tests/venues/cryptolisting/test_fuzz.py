"""Hypothesis: no frame, arbitrary or a mutated §7.1 frame, makes ``on_frame`` raise; a frame
counted as a parse error changes no state; whatever is emitted is well-formed."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from feedgate.events import Announcement
from feedgate.protocol.base import Action
from tests.venues.actions import of_type
from tests.venues.cryptolisting.frames import (
    ANNOUNCEMENT_NEW,
    ANNOUNCEMENT_OLD,
    WELCOME_NEW,
    WELCOME_OLD,
)
from tests.venues.cryptolisting.test_protocol import T0, welcomed
from tests.venues.mutation import (
    ARBITRARY_FRAMES,
    draw_mutated,
    fuzz_settings,
    json_values,
    on_frame_checked,
)

FRAMES = [WELCOME_OLD, WELCOME_NEW, ANNOUNCEMENT_OLD, ANNOUNCEMENT_NEW]
LEAVES = st.sampled_from(
    ["announcement", "test_announcement", "welcome", "error", "test_rate_limited", "*",
     "binance,upbit", "", "ABC,DEF", "spot_listing", 1710345000005000]
)  # fmt: skip


def state(proto: Any) -> object:
    return (len(proto.recent), proto.welcome, proto.smoke_deadline, proto.last_test)


def check(actions: list[Action]) -> None:
    for a in of_type(actions, Announcement):
        assert a.publisher and a.publisher == a.publisher.lower()
        assert all(isinstance(t, str) and t for t in a.tickers)
        assert isinstance(a.title, str) and isinstance(a.listing_type, str)
        assert a.ts is None or type(a.ts) is int


@fuzz_settings(300)
@given(ARBITRARY_FRAMES)
def test_arbitrary_frames_never_raise(frame: str | bytes) -> None:
    check(on_frame_checked(welcomed(), frame, T0, state))


@fuzz_settings(500)
@given(st.data(), st.sampled_from(FRAMES))
def test_mutated_frames_never_raise(data: st.DataObject, frame: bytes) -> None:
    proto = welcomed()
    mutated = draw_mutated(data, orjson.loads(frame), json_values(LEAVES))
    check(on_frame_checked(proto, orjson.dumps(mutated), T0, state))
    # still usable afterwards
    assert proto.on_tick(T0) is not None
    assert isinstance(proto.on_frame(ANNOUNCEMENT_NEW, T0), list)
