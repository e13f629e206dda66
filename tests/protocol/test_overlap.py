"""OverlapMerge, pure: two connections deliver the same streams; each message is published once,
in the venue's order, with bounded memory."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.events import Announcement, Bbo, Onchain, PrivateUpdate, Side, Trade
from feedgate.protocol.overlap import OverlapMerge, overlap_key


def run_overlap(
    old: list[int], new: list[int], arrivals: list[str], switch_at: int
) -> tuple[list[int], int]:
    """Feed ``old`` and ``new`` (ids of one stream) interleaved as ``arrivals`` says ("o"/"n";
    the old connection is read only until the switch, after ``switch_at`` arrivals); returns
    what was published in order, and the duplicates counted."""
    merge: OverlapMerge[int] = OverlapMerge(window=1000, hold=1000)
    published: list[int] = []
    old_it, new_it = iter(old), iter(new)
    for n, source in enumerate(arrivals):
        if n == switch_at:
            published += merge.switch()
        if source == "o":
            if merge.switched:
                continue  # the old socket is closed at the switch: its frames are never read
            msg = next(old_it, None)
            if msg is not None:
                merge.old("BTC", msg)
                published.append(msg)
        else:
            msg = next(new_it, None)
            if msg is not None and merge.new("BTC", msg, msg):
                published.append(msg)
    if not merge.switched:
        published += merge.switch()
    for msg in new_it:  # the replacement goes on alone
        if merge.new("BTC", msg, msg):
            published.append(msg)
    return published, merge.duplicates


def test_old_publishes_until_the_switch_and_the_hold_releases_what_it_missed() -> None:
    merge: OverlapMerge[str] = OverlapMerge()
    for msg in ("1", "2", "3"):
        merge.old("BTC", msg)  # published by the caller
    assert merge.new("BTC", "2", "t2") is False  # the old one published it: a duplicate
    assert merge.new("BTC", "3", "t3") is False
    assert merge.new("BTC", "4", "t4") is False  # ahead of the old one: held
    assert merge.new("BTC", "5", "t5") is False
    merge.old("BTC", "4")  # the old one catches up: its copy is published, the held one dropped
    assert merge.held() == 1
    assert merge.switch() == ["t5"]
    assert merge.duplicates == 3
    assert merge.new("BTC", "6", "t6") is True  # after the switch: published at once


def test_after_the_switch_a_lagging_replacement_is_deduplicated() -> None:
    merge: OverlapMerge[str] = OverlapMerge()
    for msg in ("7", "8", "9"):
        merge.old("ETH", msg)
    assert merge.switch() == []
    assert [merge.new("ETH", m, m) for m in ("8", "9", "10")] == [False, False, True]
    merge.old("ETH", "11")  # the old socket is closed: nothing it says counts any more
    assert merge.new("ETH", "11", "11") is True


def test_streams_are_separate() -> None:
    merge: OverlapMerge[str] = OverlapMerge()
    merge.old("BTC", "1")
    assert merge.new("ETH", "1", "eth-1") is False  # held: ETH's 1 is not BTC's 1
    assert merge.switch() == ["eth-1"]


def test_memory_is_bounded_and_a_full_hold_asks_for_the_switch() -> None:
    merge: OverlapMerge[int] = OverlapMerge(window=4, hold=4)
    for msg in range(10):
        merge.old("BTC", msg)
    assert merge.new("BTC", 6, 6) is False and merge.duplicates == 1  # still remembered
    assert merge.new("BTC", 2, 2) is False and merge.duplicates == 1  # forgotten: held
    assert not merge.overflow
    for msg in (10, 11, 12):
        merge.new("BTC", msg, msg)
    assert merge.overflow and merge.held() == 4
    with pytest.raises(ValueError):
        OverlapMerge(window=0)


@given(
    start=st.integers(0, 30),
    length=st.integers(0, 60),
    seed=st.integers(0, 2**32 - 1),
    switch=st.floats(0.0, 1.0),
)
def test_every_message_once_and_in_order_whatever_the_interleaving(
    start: int, length: int, seed: int, switch: float
) -> None:
    """The old connection delivers 0…N, the replacement start…N (it subscribed later); frames
    of the two interleave arbitrarily and the switch comes anywhere after the old connection
    delivered what came before the replacement's first: every id is published exactly once,
    in order, and every copy not published is counted as a duplicate."""
    total = start + length
    old, new = list(range(total)), list(range(start, total))
    arrivals = ["o"] * len(old) + ["n"] * len(new)
    random.Random(seed).shuffle(arrivals)
    reached = 0  # arrivals until the old connection delivered ids 0 … start-1
    while arrivals[:reached].count("o") < start:
        reached += 1
    switch_at = reached + int(switch * (len(arrivals) - reached))
    published, duplicates = run_overlap(old, new, arrivals, switch_at)
    assert published == list(range(total))
    assert duplicates == arrivals[:switch_at].count("o") + len(new) - total


def test_overlap_keys_name_the_stream_and_the_id() -> None:
    trade = Trade("binance", "BTC-USDT", "BTCUSDT", 1, 2, "5123456789", "1", "1", Side.BUY)
    assert overlap_key(trade) == ("BTC-USDT", "5123456789")
    announcement = Announcement(
        "cryptolisting", 1, 2, "binance", "spot_listing", ("ABC",), "t", None, False,
        None, None, None, "key-1",
    )  # fmt: skip
    assert overlap_key(announcement) == ("announcements", "key-1")
    log = Onchain("ethereum", None, 2, "ethereum", "logs", 7, "0xb", "0xt", 3, False, {})
    removed = Onchain("ethereum", None, 2, "ethereum", "logs", 7, "0xb", "0xt", 3, True, {})
    assert overlap_key(log) != overlap_key(removed)
    private = PrivateUpdate("upbit", 5, 6, "main", "my_asset", {"b": 1, "a": [2]})
    same = PrivateUpdate("upbit", 5, 9, "main", "my_asset", {"a": [2], "b": 1})
    assert overlap_key(private) == overlap_key(same)  # received at another time, same update
    assert overlap_key(Bbo("binance", "BTC-USDT", "BTCUSDT", 1, 2, None, None, None, None)) is None
