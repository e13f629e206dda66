"""The publisher against a real Redis: ordering, seq, keys, drops and reconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from feedgate.events import Bbo, BookDelta, BookSnapshot, Side, Status, StatusEvent, Trade
from feedgate.metrics import PublisherStats
from feedgate.runtime.publisher import Publisher, RedisTarget
from feedgate.runtime.redis_server import EmbeddedRedis
from tests.conftest import wait_for


def trade(n: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade(
        "binance",
        symbol,
        symbol.replace("-", ""),
        1_700_000_000_000_000 + n,
        1_700_000_000_000_500 + n,
        str(n),
        "100.5",
        "0.25",
        Side.BUY,
    )


def snapshot(checkpoint: bool = False, price: str = "100.0") -> BookSnapshot:
    return BookSnapshot(
        "binance", "BTC-USDT", "BTCUSDT", 5, 6, ((price, "1"),), (("101.0", "2"),), None, checkpoint
    )


@contextlib.asynccontextmanager
async def running(publisher: Publisher) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(publisher.run())
    try:
        yield task
    finally:
        await publisher.close(flush_timeout=1.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def collect(pubsub: aioredis.client.PubSub, n: int, timeout: float = 5.0) -> list[dict]:
    out: list[dict] = []

    async def read() -> None:
        while len(out) < n:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is not None:
                out.append({"channel": item["channel"].decode(), **orjson.loads(item["data"])})

    await asyncio.wait_for(read(), timeout)
    return out


def test_redis_url_parsing() -> None:
    t = RedisTarget.from_url("rediss://user:p%40ss@example:6380/3")
    assert (t.host, t.port, t.db, t.username, t.password, t.tls) == (
        "example",
        6380,
        3,
        "user",
        "p@ss",
        True,
    )
    with pytest.raises(ValueError, match="redis://"):
        RedisTarget.from_url("http://x")


async def test_messages_arrive_in_order_with_per_channel_seq(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.psubscribe("trades:*", "book:*", "bbo:*", "feedgate:status")
    stats = PublisherStats()
    publisher = Publisher(redis_server.url, stats)
    async with running(publisher):
        await publisher.wait_connected(5)
        for n in range(1, 1001):
            publisher.submit(trade(n))
        publisher.submit(trade(1, "ETH-USDT"))
        publisher.submit(snapshot())
        publisher.submit(BookDelta("binance", "BTC-USDT", "BTCUSDT", 7, 8, (("100.0", "0"),), ()))
        publisher.submit(Bbo("binance", "BTC-USDT", "BTCUSDT", 7, 8, None, None, "101.0", "2"))
        publisher.submit(Status("binance", StatusEvent.CONNECTED, "binance-00", "", 9))
        got = await collect(pubsub, 1005)
    btc = [m for m in got if m["channel"] == "trades:binance:BTC-USDT"]
    assert [m["seq"] for m in btc] == list(range(1, 1001))
    assert [m["id"] for m in btc] == [str(n) for n in range(1, 1001)]
    assert btc[0] == {
        "channel": "trades:binance:BTC-USDT",
        "v": 1,
        "type": "trade",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "venue_symbol": "BTCUSDT",
        "ts": 1_700_000_000_000_001,
        "recv_ts": 1_700_000_000_000_501,
        "seq": 1,
        "id": "1",
        "price": "100.5",
        "size": "0.25",
        "side": "buy",
    }
    eth = [m for m in got if m["channel"] == "trades:binance:ETH-USDT"]
    assert [m["seq"] for m in eth] == [1]
    book = [m for m in got if m["channel"] == "book:binance:BTC-USDT"]
    assert [(m["type"], m["seq"]) for m in book] == [("book_snapshot", 1), ("book_delta", 2)]
    assert await redis_client.get("book:binance:BTC-USDT") is not None
    bbo_key = orjson.loads(await redis_client.get("bbo:binance:BTC-USDT"))
    assert bbo_key["ask_price"] == "101.0" and bbo_key["bid_price"] is None
    assert stats.messages[("binance", "trades")] == 1001
    assert stats.latency.count == 1005 and stats.publish_errors == 0
    await pubsub.aclose()


async def test_checkpoint_refreshes_the_key_without_publishing(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe("book:binance:BTC-USDT")
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    publisher = Publisher(redis_server.url, PublisherStats())
    async with running(publisher):
        await publisher.wait_connected(5)
        publisher.submit(snapshot())
        publisher.submit(BookDelta("binance", "BTC-USDT", "BTCUSDT", 7, 8, (("99.0", "3"),), ()))
        publisher.submit(snapshot(checkpoint=True, price="99.0"))
        got = await collect(pubsub, 2)
        await wait_for(lambda: publisher.queue_depth == 0, what="queue drained")

        async def key_is_checkpoint() -> bool:
            raw = await redis_client.get("book:binance:BTC-USDT")
            return raw is not None and orjson.loads(raw)["bids"] == [["99.0", "1"]]

        await wait_for(key_is_checkpoint, what="checkpoint in the key")
    assert [m["type"] for m in got] == ["book_snapshot", "book_delta"]
    key = orjson.loads(await redis_client.get("book:binance:BTC-USDT"))
    assert key["seq"] == 2  # the seq of the last delta it includes
    assert await pubsub.get_message(timeout=0.2) is None  # the checkpoint was not published
    await pubsub.aclose()


async def test_drops_oldest_when_redis_is_down_and_recovers_after_restart() -> None:
    server = EmbeddedRedis().start()
    stats = PublisherStats()
    publisher = Publisher(server.url, stats, max_queue=1000)
    async with running(publisher):
        await publisher.wait_connected(5)
        server.stop()
        await wait_for(lambda: not stats.redis_up, what="publisher noticed redis is gone")
        for n in range(5000):
            publisher.submit(trade(n))
        assert publisher.queue_depth == 1000
        assert stats.dropped["queue_full"] == 4000
        restarted = EmbeddedRedis(port=server.port).start()
        try:
            client = aioredis.Redis.from_url(restarted.url)
            pubsub = client.pubsub()
            await pubsub.subscribe("trades:binance:BTC-USDT")
            await pubsub.get_message(timeout=1.0)
            await wait_for(lambda: stats.redis_up, timeout=10, what="publisher reconnected")
            await wait_for(lambda: publisher.queue_depth == 0, what="backlog flushed")
            publisher.submit(trade(99_999))
            got = await collect(pubsub, 1001)
            # the newest 1000 of the backlog, in order, then the live one; seq counts the dropped
            # ones, so a subscriber sees the jump from nothing to 4001 and knows to re-read
            assert [m["id"] for m in got] == [str(n) for n in range(4000, 5000)] + ["99999"]
            assert [m["seq"] for m in got] == list(range(4001, 5002))
            await pubsub.aclose()
            await client.aclose()
        finally:
            restarted.stop()
    assert stats.publish_errors >= 1


async def test_book_reset_deletes_the_book_key(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    publisher = Publisher(redis_server.url, PublisherStats())
    async with running(publisher):
        await publisher.wait_connected(5)
        publisher.submit(snapshot())
        await wait_for(lambda: redis_client.exists("book:binance:BTC-USDT"), what="key set")
        publisher.submit(
            Status("binance", StatusEvent.BOOK_RESET, "binance-00", "gap", 9, "BTC-USDT", "BTCUSDT")
        )

        async def gone() -> bool:
            return not await redis_client.exists("book:binance:BTC-USDT")

        await wait_for(gone, what="the reset book's key deleted")
        publisher.submit(snapshot(price="98.0"))  # the resync writes it again

        async def back() -> bool:
            raw = await redis_client.get("book:binance:BTC-USDT")
            return raw is not None and orjson.loads(raw)["bids"] == [["98.0", "1"]]

        await wait_for(back, what="the fresh snapshot in the key")
