"""Bad input, for every venue (design §3.2; the ``VenueProtocol.on_frame`` contract). Whatever
arrives, ``on_frame`` never raises; a frame it cannot use is counted as a parse error and
changes nothing; whatever it emits is well formed (``wellformed.py``); and the books stay equal
to the venue's. Each venue of ``available_venues()`` (and a few option variants) runs through
the same properties against its own simulator, in-process (``sessions.py``, ``loopback.py``), in
a session whose books are synced or in one just opened, its subscriptions not answered yet:

- arbitrary input (bytes, text, JSON values) is one parse error and changes nothing;
- objects of the venue's own keys holding nasty values never raise;
- real frames (``realframes.py``) mutated where it hurts (``draw_structural``) never raise, and
  data keeps flowing afterwards;
- a price or size of the next real frame made invalid is refused, and the venue's own integrity
  rule (sequence numbers, checksum, next image) brings the book back to the venue's;
- unreadable frames between the valid ones are one parse error each, and nothing else differs
  from a twin session that never saw them: same actions, books equal to the venue's;
- REST answers (depth images, instrument lists), mutated or unreadable, never raise either.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.events import Status, StatusEvent
from feedgate.protocol.base import CountParseError, Fatal, Reconnect
from tests.venues.actions import of_type
from tests.venues.loopback import Loopback, url_path
from tests.venues.mutation import (
    ARBITRARY_FRAMES,
    DEEP,
    NASTY,
    draw_structural,
    encode,
    fuzz_settings,
    is_object,
    json_values,
    mutate,
    node,
    paths,
    unreadable,
)
from tests.venues.sessions import (
    BOOK_CONFIGS,
    CONFIGS,
    RECOVERY_STEPS,
    STAGES,
    answered,
    assert_unchanged,
    books_match,
    counted_only,
    data_after,
    fresh,
    kinds,
    venue,
)

# -- arbitrary input ------------------------------------------------------------------------------

ARBITRARY = st.one_of(
    ARBITRARY_FRAMES,
    json_values(integers=st.integers(-(2**70), 2**70)).map(encode),
    st.sampled_from(NASTY).map(encode),
)


@pytest.mark.parametrize("config", CONFIGS)
@fuzz_settings(max_examples=40)
@given(frame=ARBITRARY)
def test_arbitrary_input_is_one_parse_error_and_changes_nothing(
    config: str, frame: str | bytes
) -> None:
    v = venue(config)
    lb = fresh(v)
    actions = lb.frame(frame)
    if not is_object(frame) and frame not in ("pong", b"pong"):  # OKX §5.7: text pong
        assert kinds(actions) == [CountParseError]
    if counted_only(actions):
        assert_unchanged(lb, v, "synced")


@pytest.mark.parametrize("config", CONFIGS)
@fuzz_settings(max_examples=40)
@given(data=st.data())
def test_objects_of_the_venues_keys_with_nasty_values_never_raise(
    config: str, data: st.DataObject
) -> None:
    """Objects keyed like the venue's frames reach the code that routes a frame by its
    ``stream``/``topic``/``channel``/``op``/``error`` and reports what it could not route."""
    v = venue(config)
    stage = data.draw(st.sampled_from(STAGES), label="stage")
    values = st.just(DEEP) | st.sampled_from(NASTY) | st.sampled_from(v.pool)
    msg = data.draw(st.dictionaries(st.sampled_from(v.keys), values, min_size=1, max_size=4))
    lb = fresh(v, stage)
    frame = encode(msg)
    if counted_only(lb.frame(frame)) and not uses_up_a_number(v.name, frame):
        assert_unchanged(lb, v, stage)


# -- real frames, mutated -------------------------------------------------------------------------


def uses_up_a_number(name: str, frame: str | bytes) -> bool:
    """Coinbase §2.7: ``sequence_num`` numbers every message of the connection, so one that
    cannot be read still uses its number (else the next would show no loss): not a no-op."""
    msg = orjson.loads(frame) if is_object(frame) else None
    return name == "coinbase" and type(msg) is dict and type(msg.get("sequence_num")) is int


@pytest.mark.parametrize("config", CONFIGS)
@fuzz_settings(max_examples=80)
@given(data=st.data())
def test_mutated_real_frames_never_raise_and_data_keeps_flowing(
    config: str, data: st.DataObject
) -> None:
    v = venue(config)
    stage = data.draw(st.sampled_from(STAGES), label="stage")
    seed = data.draw(st.sampled_from(v.seeds), label="seed")
    frame: str | bytes = encode(draw_structural(data, orjson.loads(seed), list(v.pool)))
    if data.draw(st.booleans(), label="binary frame"):
        frame = frame.encode()
    lb = fresh(v, stage)
    actions = lb.frame(frame)
    if counted_only(actions) and not uses_up_a_number(v.name, frame):
        assert_unchanged(lb, v, stage)
        return
    if any(isinstance(a, Fatal) for a in actions):
        assert v.name == "upbit", "only Upbit's INVALID_AUTH error stops a public feed (§4.6)"
        return
    reconnect = any(isinstance(a, Reconnect) for a in actions)
    if reconnect:
        lb.close()
        lb.open()
    else:
        answered(lb, v, stage)
    rejected = {
        s.symbol for s in of_type(lb.log, Status) if s.event is StatusEvent.REJECTED
    }  # fmt: skip
    data_after(lb, v, 3, rejected, new_session=reconnect or stage == "opened")


# -- a price or size made invalid -----------------------------------------------------------------

LEVEL_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # (keys holding a price or size, keys holding [price, size, …] level lists)
    "binance": ({"p", "q"}, {"b", "a"}),  # §1.3 trade, §1.5 depth
    "bybit": ({"p", "v"}, {"b", "a"}),  # §6.3, §6.4
    "coinbase": ({"price", "size", "price_level", "new_quantity"}, set()),  # §2.4, §2.5
    "kraken": ({"price", "qty"}, set()),  # §3.3, §3.4 (JSON numbers)
    "okx": ({"px", "sz"}, {"bids", "asks"}),  # §5.3, §5.4
    # §4.3, §4.4 in SIMPLE and DEFAULT keys (JSON numbers)
    "upbit": ({"tp", "tv", "ap", "bp", "as", "bs", "trade_price", "trade_volume", "ask_price",
               "bid_price", "ask_size", "bid_size"}, set()),
}  # fmt: skip
BAD_TEXT = ("nan", "NaN", "inf", "-1", "-0", "1e400", "1e3", "abc", "", " 1", "1_000", "+1",
            "١٢٣", None, 1.5, [], {}, True)  # fmt: skip
BAD_NUMBERS = (-1, -0.5, "1", "abc", None, [], {}, True, float("nan"), float("inf"))


def level_paths(name: str, msg: Any) -> list[tuple[Any, ...]]:
    assert name in LEVEL_FIELDS, f"add where {name}'s frames hold prices and sizes"
    keys, lists = LEVEL_FIELDS[name]

    def level(path: tuple[Any, ...]) -> bool:
        return len(path) >= 3 and path[-3] in lists and path[-1] in (0, 1)

    return [path for path in paths(msg) if (path and path[-1] in keys) or level(path)]


@pytest.mark.parametrize("config", BOOK_CONFIGS)
@fuzz_settings(max_examples=25)
@given(data=st.data())
def test_an_invalid_price_or_size_is_refused_and_the_book_recovers(
    config: str, data: st.DataObject
) -> None:
    """In a synced session, or in the very first data of a new one (which is also what says,
    on some venues, that the subscription took)."""
    v = venue(config)
    stage = data.draw(st.sampled_from(STAGES), label="stage")
    lb = answered(fresh(v, stage), v, stage)
    frames = lb.market_frames()
    targets = [(i, p) for i, f in enumerate(frames) for p in level_paths(v.name, orjson.loads(f))]
    assert targets, f"no prices or sizes in {frames}"
    at, path = data.draw(st.sampled_from(targets), label="where")
    msg = orjson.loads(frames[at])
    text = type(node(msg, path)) is str  # else JSON numbers (Kraken §3.4, Upbit §4.4)
    bad = data.draw(st.sampled_from(BAD_TEXT if text else BAD_NUMBERS), label="value")
    for frame in frames[:at]:
        lb.frame(frame)
    actions = lb.frame(encode(mutate(msg, path, bad, False)))
    assert CountParseError in kinds(actions), actions
    for frame in frames[at + 1 :]:
        lb.frame(frame)
    for _ in range(RECOVERY_STEPS):  # the refused frame was a lost one: the venue's rule sees it
        if books_match(lb):
            break
        lb.step()
    assert books_match(lb), "the book did not come back to the venue's"
    data_after(lb, v, 2, set(), new_session=stage == "opened")
    assert books_match(lb), "the book stopped following the venue's"


# -- unreadable frames between valid ones ----------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS)
@fuzz_settings(max_examples=15)
@given(data=st.data())
def test_unreadable_frames_between_valid_ones_change_nothing(
    config: str, data: st.DataObject
) -> None:
    v = venue(config)
    dirty, clean = fresh(v), fresh(v)
    for _ in range(4):
        frames = dirty.market_frames()
        assert clean.market_frames() == frames
        for frame in frames:
            for _ in range(data.draw(st.integers(0, 2), label="garbage frames")):
                junk = data.draw(unreadable(frames or list(v.seeds)), label="garbage")
                assert kinds(dirty.frame(junk)) == [CountParseError], junk
            assert dirty.frame(frame) == clean.frame(frame)
    assert dirty.follower.books == clean.follower.books
    if config in BOOK_CONFIGS:
        assert books_match(dirty)


# -- REST bodies ----------------------------------------------------------------------------------


def asking_for_snapshots(config: str) -> Loopback | None:
    """A new session of ``config`` after its first market step, with the REST requests it made
    (depth images, the instrument list) waiting in ``snapshots``; None when it made none."""
    v = venue(config)
    lb = answered(fresh(v, "opened"), v, "opened")
    if not lb.snapshots:  # asked for on opening (Kraken's instruments), else on the first data
        for frame in lb.market_frames():
            lb.frame(frame)
    return lb if lb.snapshots else None


REST_CONFIGS = [config for config in CONFIGS if asking_for_snapshots(config) is not None]


@pytest.mark.parametrize("config", REST_CONFIGS)
@fuzz_settings(max_examples=25)
@given(data=st.data())
def test_rest_bodies_never_raise_and_an_unreadable_one_is_asked_for_again(
    config: str, data: st.DataObject
) -> None:
    """REST answers are venue input too (``on_snapshot``): a mutated one never raises; one that
    cannot be read does no lasting harm (a depth image is asked for again; Kraken infers the
    precisions from the checksums), and the books come to equal the venue's."""
    v = venue(config)
    lb = asking_for_snapshots(config)
    assert lb is not None
    asked, lb.snapshots = lb.snapshots, []
    unreadable_only = True
    for action in asked:
        answer = lb.sim.http_get(url_path(action.url))
        assert answer is not None
        body: str | bytes = data.draw(
            st.one_of(unreadable([answer[1]]), st.just(answer[1]).map(orjson.loads).map(
                lambda msg: encode(draw_structural(data, msg, list(v.pool)))
            )), label="body",
        )  # fmt: skip
        body = body.encode() if isinstance(body, str) else body
        unreadable_only &= not is_object(body)
        lb.carry_out(lb.proto.on_snapshot(action.key, body, lb.now))
    if not unreadable_only:
        return  # a readable but wrong image can only be believed (no checksum on a REST image)
    for _ in range(RECOVERY_STEPS):
        if config not in BOOK_CONFIGS or books_match(lb):
            break
        lb.step()
    if config in BOOK_CONFIGS:
        assert books_match(lb), "the book did not come back to the venue's"
    data_after(lb, v, 2, set(), new_session=True)
