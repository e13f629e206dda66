"""RedisLink's reply accounting: the batches in flight are counted off by the replies, however
a read cuts them, whether a read holds only integer replies (counted in bulk) or anything else
(parsed one by one); error replies are counted, MOVED ones start a slot-map refresh."""

from __future__ import annotations

import random

import pytest

from feedgate.metrics import PublisherStats
from feedgate.runtime.redis_link import PUBLISH, RedisLink
from feedgate.runtime.redis_target import RedisTarget


class _Channel:
    """What ``_pack_batch`` reads of a channel."""

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.prefix = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n" % (len(name), name)
        self.key = None
        self.stream = False
        self.counter_key = ("binance", "trades")


REDIRECTS: list[int] = []  # one entry per slot-map refresh a link asked for


def link_with_batches(sizes: list[int]) -> tuple[RedisLink, PublisherStats]:
    stats = PublisherStats()
    REDIRECTS.clear()
    link = RedisLink(
        RedisTarget.from_url("redis://127.0.0.1:1/0"), stats,
        on_redirect=lambda: REDIRECTS.append(1),
    )  # fmt: skip
    channel = _Channel(b"trades:binance:BTC-USDT")
    for size in sizes:
        link.max_batch = size
        for i in range(size):
            link.queue.append((channel, b'{"seq":%d}' % i, 1, PUBLISH))  # type: ignore[arg-type]
        link._pack_batch()
    return link, stats


def feed_in_pieces(link: RedisLink, stream: bytes, seed: int) -> None:
    rng = random.Random(seed)
    at = 0
    while at < len(stream):
        step = rng.choice([1, 2, 3, 5, 8, 40, 400])
        link.replies(stream[at : at + step])
        at += step


@pytest.mark.parametrize("seed", range(40))
def test_integer_replies_in_any_cut_count_off_every_batch(seed: int) -> None:
    sizes = [1, 7, 300, 2, 50]
    link, stats = link_with_batches(sizes)
    assert link._in_flight_count == sum(sizes)
    stream = b"".join(b":%d\r\n" % (i % 13) for i in range(sum(sizes)))
    feed_in_pieces(link, stream, seed)
    assert link._in_flight_count == 0 and not link._in_flight
    assert stats.latency.count == sum(sizes)  # every message's latency, once
    assert stats.publish_errors == 0


def test_whole_reads_are_counted_off_part_of_a_batch_at_a_time() -> None:
    link, stats = link_with_batches([10, 10])
    link.replies(b":1\r\n" * 4)
    assert link._in_flight_count == 16 and stats.latency.count == 0
    link.replies(b":0\r\n" * 7)  # the first batch done, one of the second
    assert link._in_flight_count == 9 and stats.latency.count == 10
    link.replies(b":2\r\n" * 9)
    assert link._in_flight_count == 0 and stats.latency.count == 20


@pytest.mark.parametrize("seed", range(40))
def test_errors_among_integers_are_seen_wherever_the_reads_cut(seed: int) -> None:
    link, stats = link_with_batches([6, 6])
    replies = [b":1\r\n"] * 12
    replies[3] = b"-ERR wrong number of arguments\r\n"
    replies[8] = b"-MOVED 3999 127.0.0.1:6381\r\n"  # one colon a line, as an integer has
    feed_in_pieces(link, b"".join(replies), seed)
    assert link._in_flight_count == 0 and stats.latency.count == 12
    assert stats.publish_errors == 1
    assert stats.dropped["cluster_moved"] == 1 and REDIRECTS == [1]


def test_other_replies_in_a_read_go_through_the_parser() -> None:
    link, stats = link_with_batches([4])
    link.replies(b":1\r\n+OK\r\n$15\r\n1700000000000-0\r\n:0\r\n")
    assert link._in_flight_count == 0 and stats.latency.count == 4 and stats.publish_errors == 0


@pytest.mark.parametrize("seed", range(40))
def test_every_kind_of_reply_in_any_cut(seed: int) -> None:
    """OK (SET), stream ids (XADD), errors and integers mixed, cut anywhere: the count and the
    errors come out the same as whole."""
    rng = random.Random(seed)
    kinds = [b":1\r\n", b"+OK\r\n", b"$15\r\n1700000000000-0\r\n", b"-ERR no\r\n", b":12\r\n"]
    replies = [rng.choice(kinds) for _ in range(200)]
    link, stats = link_with_batches([50, 100, 50])
    feed_in_pieces(link, b"".join(replies), seed)
    assert link._in_flight_count == 0 and stats.latency.count == 200
    assert stats.publish_errors == replies.count(b"-ERR no\r\n")
