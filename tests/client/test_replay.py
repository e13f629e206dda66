"""The Redis Streams mirror and ``replay``: a consumer that was away catches up, then goes live,
without a gap or a duplicate."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from feedgate.client import Delivery, Trade, replay
from feedgate.client.replay import stream_id
from feedgate.runtime.redis_server import EmbeddedRedis
from tests.conftest import wait_for
from tests.runtime.harness import running_stack

CHANNEL = "trades:binance:BTC-USDT"


def test_since_takes_stream_ids_and_times() -> None:
    from datetime import UTC, datetime

    assert stream_id("1700000000000-3") == "1700000000000-3"
    assert stream_id(1_700_000_000_123_456) == "1700000000123-0"
    assert stream_id(datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)) == "1700000000000-0"


async def test_replay_then_live_without_gap_or_duplicate(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    streams = {"enabled": True, "maxlen": 100_000}
    async with running_stack(
        redis_server.url, ["BTC-USDT", "ETH-USDT"], trade_rate=300.0, streams=streams
    ) as stack:
        # the consumer is away while trades are published and mirrored
        await wait_for(lambda: len(stack.subscriber.messages[CHANNEL]) >= 300, 10, "300 trades")
        assert await redis_client.type(CHANNEL) == b"stream"
        assert not await redis_client.exists("book:binance:BTC-USDT:stream")  # books: no stream
        got: list[Delivery] = []
        away = len(stack.subscriber.messages[CHANNEL])
        async with asyncio.timeout(15):
            async for delivery in replay(redis_server.url, CHANNEL, since="-"):
                got.append(delivery)
                if len(got) >= away + 300:
                    break  # well past the stream's end as it was read: live for a while
        await wait_for(
            lambda: len(stack.subscriber.messages[CHANNEL]) >= len(got), 5, "live subscriber"
        )
        published = [m["seq"] for m in stack.subscriber.messages[CHANNEL]]
    seqs = [d.message.seq for d in got]
    assert seqs == list(range(1, len(seqs) + 1)), "a gap or a duplicate between replay and live"
    assert all(isinstance(d.message, Trade) and d.gap is None for d in got)
    assert seqs == published[: len(seqs)]  # the same messages the live subscriber saw


async def test_streams_are_capped_and_only_for_configured_channels(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    streams = {"enabled": True, "maxlen": 100, "channels": ["trades"]}
    async with running_stack(
        redis_server.url, ["BTC-USDT"], trade_rate=500.0, streams=streams
    ) as stack:
        await wait_for(lambda: len(stack.subscriber.messages[CHANNEL]) >= 600, 10, "600 trades")
        length = await redis_client.xlen(CHANNEL)
        assert await redis_client.type("book:binance:BTC-USDT") == b"string"  # a plain key
    # MAXLEN ~ trims whole macro nodes (100 entries each by default): approximately the cap
    assert 100 <= length <= 300, length
