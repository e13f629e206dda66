"""The blocking API against real Redis: a thread subscribes while the test publishes."""

from __future__ import annotations

import threading
import time

import redis

from feedgate import events
from feedgate.client import BookSnapshot, Delivery, Trade
from feedgate.client.blocking import latest, subscribe
from feedgate.messages import encode
from feedgate.runtime.redis_server import EmbeddedRedis

T = 1_700_000_000_000_000


def trade(seq: int) -> bytes:
    return encode(
        events.Trade("binance", "X-USDT", "XUSDT", T, T, str(seq), "1", "2", events.Side.BUY), seq
    )


def test_blocking_subscribe_yields_typed_messages_with_gaps(redis_server: EmbeddedRedis) -> None:
    got: list[Delivery] = []

    def consume() -> None:
        for delivery in subscribe(redis_server.url, patterns=["trades:binance:X*"], idle_timeout=5):
            got.append(delivery)
            if len(got) == 3:
                return

    thread = threading.Thread(target=consume)
    thread.start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        deadline = time.monotonic() + 5
        while not client.pubsub_numpat() and time.monotonic() < deadline:
            time.sleep(0.01)
        for seq in (1, 2, 9):
            client.publish("trades:binance:X-USDT", trade(seq))
        thread.join(10)
    finally:
        client.close()
    assert not thread.is_alive()
    assert [d.message.seq for d in got] == [1, 2, 9]
    assert all(isinstance(d.message, Trade) for d in got)
    assert got[2].gap is not None and got[2].gap.missed == 6


def test_latest_reads_a_key(redis_server: EmbeddedRedis) -> None:
    snapshot = events.BookSnapshot("binance", "Y-USDT", "YUSDT", None, T, (("1", "2"),), (), None)
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.set("book:binance:Y-USDT", encode(snapshot, 4))
    finally:
        client.close()
    book = latest(redis_server.url, "book:binance:Y-USDT")
    assert isinstance(book, BookSnapshot) and book.seq == 4 and book.asks == ()
    assert latest(redis_server.url, "book:binance:NOPE") is None
