"""plan_connections: deterministic split of topics over connections under a limit."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedgate.protocol.base import Topic
from feedgate.protocol.plan import plan_connections

CHANNELS = ("trades", "book", "bbo")


def topics_for(symbols: list[str], channels: tuple[str, ...] = ("trades", "book")) -> list[Topic]:
    return [Topic(c, s) for s in symbols for c in channels]


def test_ids_and_contents_are_stable() -> None:
    topics = topics_for([f"S{i:03d}-USDT" for i in range(25)])
    first = plan_connections("binance", topics, 10)
    shuffled = list(topics)
    random.Random(3).shuffle(shuffled)
    second = plan_connections("binance", shuffled + topics[:4], 10)  # duplicates are folded
    assert [c.connection_id for c in first] == [f"binance-{i:02d}" for i in range(len(first))]
    assert [(c.connection_id, c.topics) for c in first] == [
        (c.connection_id, c.topics) for c in second
    ]
    assert len(first) == 5  # 25 symbols x 2 topics, 5 symbols per connection of 10


def test_a_symbol_never_straddles_two_connections() -> None:
    topics = topics_for(["A-USDT", "B-USDT"], CHANNELS)  # 3 topics per symbol, 4 per connection
    plans = plan_connections("binance", topics, 4)
    assert [sorted({t.symbol for t in p.topics}) for p in plans] == [["A-USDT"], ["B-USDT"]]


def test_errors_and_empty() -> None:
    assert plan_connections("binance", [], 10) == []
    with pytest.raises(ValueError, match="at least 1"):
        plan_connections("binance", topics_for(["A-USDT"]), 0)
    with pytest.raises(ValueError, match="one symbol needs 3"):
        plan_connections("binance", topics_for(["A-USDT"], CHANNELS), 2)


@settings(max_examples=200, deadline=None)
@given(
    symbols=st.lists(
        st.from_regex(r"[A-Z]{1,4}-(USDT|BTC|EUR)", fullmatch=True), min_size=1, max_size=40
    ),
    per_connection=st.integers(3, 12),
    seed=st.integers(0, 1000),
)
def test_plan_properties(symbols: list[str], per_connection: int, seed: int) -> None:
    rng = random.Random(seed)
    topics = [Topic(c, s) for s in symbols for c in rng.sample(CHANNELS, rng.randint(1, 3))]
    plans = plan_connections("binance", topics, per_connection)
    assert [p.connection_id for p in plans] == [f"binance-{i:02d}" for i in range(len(plans))]
    placed = Counter(t for p in plans for t in p.topics)
    assert set(placed) == set(topics) and max(placed.values()) == 1
    assert all(0 < len(p.topics) <= per_connection for p in plans)
    home = {}
    for p in plans:
        for t in p.topics:
            assert home.setdefault(t.symbol, p.connection_id) == p.connection_id
    rng.shuffle(topics)
    again = plan_connections("binance", topics, per_connection)
    assert [(p.connection_id, p.topics) for p in again] == [
        (p.connection_id, p.topics) for p in plans
    ]


def test_owner_is_deterministic_and_balanced() -> None:
    from collections import Counter

    from feedgate.protocol.plan import owner

    for slots, shards, workers in ((200, 1, 2), (37, 3, 4), (5, 2, 4), (1000, 4, 8)):
        owners = [owner(slot, shards, workers) for slot in range(slots)]
        assert owners == [owner(slot, shards, workers) for slot in range(slots)]
        counts = Counter(owners)
        expected = {(s, w) for s in range(shards) for w in range(workers)}
        assert set(counts) <= expected
        if slots >= shards * workers:
            assert set(counts) == expected
        assert max(counts.values()) - min(counts.values()) <= 1, counts
    with pytest.raises(ValueError):
        owner(0, 0, 1)
