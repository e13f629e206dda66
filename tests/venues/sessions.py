"""The sessions the fuzz tests (``test_fuzz.py``) start from: every venue of
``available_venues()`` and a few option variants, each against its own simulator in-process
(``loopback.py``), warmed up until subscribed with books synced, or just opened with its
subscriptions not answered yet; and the checks those tests share."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from feedgate.events import Announcement, Onchain, Trade
from feedgate.protocol.base import Action, CountParseError, Subscribed
from feedgate.venues import available_venues, get_venue
from tests.venues.actions import of_type
from tests.venues.loopback import SYMBOLS, Loopback, make_protocol, make_sim, true_levels
from tests.venues.mutation import is_object, leaves, paths
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
