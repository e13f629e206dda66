"""Bad input, for every venue (design §3.2; the ``VenueProtocol.on_frame`` contract). Whatever
arrives, ``on_frame`` never raises; a frame it cannot use is counted as a parse error and
changes nothing; whatever it emits is well formed (``wellformed.py``); and the books stay equal
to the venue's. Each venue of ``available_venues()`` (and a few option variants) runs through
the same properties against its own simulator, in-process (``loopback.py``), in a session whose
books are synced or in one just opened, its subscriptions not answered yet:

- arbitrary input (bytes, text, JSON values) is one parse error and changes nothing;
- real frames (``realframes.py``) mutated where it hurts (``draw_structural``) never raise, and
  data keeps flowing afterwards;
- a price or size of the next real frame made invalid is refused, and the venue's own integrity
  rule (sequence numbers, checksum, next image) brings the book back to the venue's;
- unreadable frames between the valid ones are one parse error each, and nothing else differs
  from a twin session that never saw them: same actions, books equal to the venue's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.events import Announcement, Onchain, Status, StatusEvent, Trade
from feedgate.protocol.base import Action, CountParseError, Fatal, Reconnect, Subscribed
from feedgate.venues import available_venues, get_venue
from tests.venues.actions import of_type
from tests.venues.loopback import SYMBOLS, Loopback, make_protocol, make_sim, true_levels
from tests.venues.mutation import (
    ARBITRARY_FRAMES,
    DEEP,
    NASTY,
    draw_structural,
    encode,
    fuzz_settings,
    is_object,
    json_values,
    leaves,
    mutate,
    node,
    paths,
    unreadable,
)
from tests.venues.realframes import capture_frames, doc_frames
from tests.venues.wellformed import check_actions

VENUES = available_venues()
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {name: (name, {}) for name in VENUES}
# option variants whose frames take other paths: §1.4 aggTrade and µs times, §5.4 bbo-tbt, §4.2
# DEFAULT keys (where those venues are present)
VARIANTS = {
    "binance-aggTrade-us": ("binance", {"trade_stream": "aggTrade", "time_unit": "us"}),
    "okx-bbo-tbt": ("okx", {"bbo_source": "bbo-tbt"}),
    "upbit-DEFAULT": ("upbit", {"format": "DEFAULT"}),
}
CONFIGS |= {key: value for key, value in VARIANTS.items() if value[0] in VENUES}
BOOK_CONFIGS = [key for key, (name, _) in CONFIGS.items() if "book" in get_venue(name).channels]
STAGES = ("opened", "synced")
WARMUP_STEPS = 20
RECOVERY_STEPS = 10
# read now: importing a venue's test module inside a running @given would nest its @given
DOC_FRAMES = {name: doc_frames(name) for name in VENUES}


@dataclass(frozen=True)
class Venue:
    """One configuration of a venue, ready to fuzz; its sessions are copied for each example."""

    name: str
    synced: Loopback
    """A session after warming up: subscribed, books synced, trades flowing."""
    opened: Loopback
    """A session just opened: its subscriptions (``subscribe``) sent, none answered yet."""
    subscribe: list[Action]
    seeds: tuple[bytes, ...]
    pool: tuple[Any, ...]
    """Scalars of the simulator's frames: names, ids and enum values that lead deeper in."""
    keys: tuple[str, ...]
    """Every object key of the simulator's frames."""
    symbols: frozenset[str]
    trades: bool


@cache
def venue(config: str) -> Venue:
    name, options = CONFIGS[config]
    sim = make_sim(name)
    synced = Loopback(make_protocol(name, sim, **options), sim)
    synced.open()
    for _ in range(WARMUP_STEPS):
        synced.step()
    history = [f.encode() if isinstance(f, str) else f for f in synced.seen]
    synced.seen, synced.log = [], []
    fresh_sim = make_sim(name)
    opened = Loopback(make_protocol(name, fresh_sim, **options), fresh_sim)
    subscribe = opened.open(answer=False)
    seeds = [f for f in (*history, *capture_frames(name), *DOC_FRAMES[name]) if is_object(f)]
    decoded = [orjson.loads(f) for f in history]
    scalars = {repr(x): x for msg in decoded for x in leaves(msg)}
    pool = tuple(x for x in scalars.values() if not isinstance(x, str) or len(x) <= 40)
    keys = {path[-1] for msg in decoded for path in paths(msg) if path and type(path[-1]) is str}
    spec = get_venue(name)
    symbols = frozenset() if spec.symbolless else frozenset(SYMBOLS)
    return Venue(
        name, synced, opened, subscribe, tuple(dict.fromkeys(seeds)), pool, tuple(sorted(keys)),
        symbols, "trades" in spec.channels,
    )  # fmt: skip


def fresh(v: Venue, stage: str = "synced") -> Loopback:
    """A copy of the ``synced`` (or ``opened``) session whose every action list is checked
    (``wellformed``)."""
    lb = copy.deepcopy(v.synced if stage == "synced" else v.opened)
    lb.check = lambda actions: check_actions(actions, v.symbols, lb.now)
    return lb


def kinds(actions: list[Action]) -> list[type]:
    return [type(a) for a in actions]


def counted_only(actions: list[Action]) -> bool:
    return bool(actions) and all(isinstance(a, CountParseError) for a in actions)


def answered(lb: Loopback, v: Venue, stage: str) -> Loopback:
    """``lb`` after the venue answered its subscriptions (an ``opened`` session's)."""
    if stage == "opened":
        lb.carry_out(v.subscribe)
    return lb


def assert_unchanged(lb: Loopback, v: Venue, stage: str) -> None:
    """``lb``, a fresh ``stage`` session that has since been given a frame it counted as a parse
    error, behaves exactly like one that never saw that frame: once the venue answered the
    subscriptions, the next market step makes both do the same, and their books are the same."""
    twin = answered(fresh(v, stage), v, stage)
    answered(lb, v, stage)
    frames = lb.market_frames()
    assert twin.market_frames() == frames
    for frame in frames:
        assert lb.frame(frame) == twin.frame(frame)
    assert lb.follower.books == twin.follower.books


def books_match(lb: Loopback) -> bool:
    """Every book is published (synced) and equal to the simulator's true book."""
    return all(
        lb.follower.books.get(vs) is not None and lb.follower.levels(vs) == true_levels(lb.sim, vs)
        for vs in map(lb.sim.venue_symbol, SYMBOLS)
    )


def data_after(
    lb: Loopback, v: Venue, steps: int, rejected: set[str | None], *, new_session: bool
) -> None:
    """Data keeps coming: within ``steps`` market steps, a trade of every symbol still
    subscribed (sources without trades: announcements or chain events); and a ``new_session``
    (opened, or reconnected, since ``lb.log`` began) said it is up (``Subscribed``, which the
    runner's ``connection_up`` follows)."""
    traded: set[str] = set()
    flowing = 0
    for _ in range(steps):
        actions = lb.step()
        traded |= {t.symbol for t in of_type(actions, Trade)}
        flowing += len(of_type(actions, Announcement)) + len(of_type(actions, Onchain))
    if v.trades:
        assert traded >= v.symbols - rejected, f"no trades of {v.symbols - rejected - traded}"
    else:
        assert flowing > 0
    if new_session:
        assert Subscribed in kinds(lb.log), "data flows on a connection never reported up"


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
