"""The Subscriber against real Redis: typed deliveries, gaps, bad input, lost connections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from feedgate import events
from feedgate.client import Delivery, SchemaError, Subscriber, Trade
from feedgate.client import subscriber as subscriber_module
from feedgate.messages import encode
from feedgate.runtime.redis_cluster import EmbeddedRedisCluster, command
from feedgate.runtime.redis_server import EmbeddedRedis

T = 1_700_000_000_000_000


def trade(symbol: str, seq: int, trade_id: str = "") -> bytes:
    event = events.Trade(
        "binance", symbol, symbol, T, T + 1, trade_id or str(seq), "1.5", "2", events.Side.BUY
    )
    return encode(event, seq)


async def take(deliveries: AsyncIterator[Delivery], n: int, timeout: float = 5.0) -> list[Delivery]:
    out: list[Delivery] = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out.append(await anext(deliveries))
    return out


async def test_typed_deliveries_from_channels_and_patterns(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    async with Subscriber(
        redis_server.url, channels=["trades:binance:A-USDT"], patterns=["trades:binance:B*"]
    ) as sub:
        await redis_client.publish("trades:binance:A-USDT", trade("A-USDT", 1))
        await redis_client.publish("trades:binance:C-USDT", trade("C-USDT", 1))  # not followed
        await redis_client.publish("trades:binance:B-USDT", trade("B-USDT", 1))
        got = await take(sub.deliveries(), 2)
    assert [d.channel for d in got] == ["trades:binance:A-USDT", "trades:binance:B-USDT"]
    assert all(isinstance(d.message, Trade) and d.gap is None for d in got)


async def test_seq_jumps_and_restarts_reach_the_caller(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    channel = "trades:binance:G-USDT"
    async with Subscriber(redis_server.url, channels=[channel]) as sub:
        for seq in (1, 2, 6, 7, 1):
            await redis_client.publish(channel, trade("G-USDT", seq))
        got = await take(sub.deliveries(), 5)
    gaps = [d.gap for d in got]
    assert gaps[:2] == [None, None] and gaps[3] is None
    assert gaps[2] is not None and gaps[2].reason == "dropped" and gaps[2].missed == 3
    assert gaps[4] is not None and gaps[4].reason == "restart"


async def test_a_bad_message_is_skipped_counted_and_nothing_else_is_lost(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    channel = "trades:binance:E-USDT"
    async with Subscriber(redis_server.url, channels=[channel]) as sub:
        await redis_client.publish(channel, trade("E-USDT", 1))
        await redis_client.publish(channel, b'{"v":1,"type":"trade"}')
        await redis_client.publish(channel, trade("E-USDT", 2))
        got = await take(sub.deliveries(), 2)
        assert [d.message.seq for d in got] == [1, 2]
        assert sub.schema_errors == 1
    async with Subscriber(redis_server.url, channels=[channel], strict=True) as strict:
        await redis_client.publish(channel, b"garbage")
        with pytest.raises(SchemaError, match=channel):
            await take(strict.deliveries(), 1)


def test_patterns_are_refused_on_a_cluster_and_something_must_be_named() -> None:
    with pytest.raises(ValueError, match="no patterns"):
        Subscriber("redis+cluster://127.0.0.1:7000", patterns=["trades:*"])
    with pytest.raises(ValueError, match="nothing to subscribe"):
        Subscriber("redis://127.0.0.1:6379/0")


async def test_cut_by_the_output_buffer_limit_it_reconnects_and_reports_the_gap() -> None:
    channel = "trades:binance:S-USDT"
    with EmbeddedRedis() as server:
        command(server.host, server.port, "CONFIG", "SET", "client-output-buffer-limit",
                "pubsub 64kb 32kb 1")  # fmt: skip
        async with Subscriber(server.url, channels=[channel]) as sub:
            publisher = aioredis.Redis.from_url(server.url)
            deliveries = sub.deliveries()
            await publisher.publish(channel, trade("S-USDT", 1))
            assert (await take(deliveries, 1))[0].gap is None
            # a burst while this subscriber cannot read (the loop is blocked): Redis cuts it
            burst = b"".join(
                b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                % (len(channel), channel.encode(), len(m), m)
                for m in (trade("S-USDT", seq, "x" * 900) for seq in range(2, 6002))
            )
            with socket.create_connection((server.host, server.port)) as raw:
                raw.sendall(burst)
                raw.shutdown(socket.SHUT_WR)
                while raw.recv(1 << 16):
                    pass
            stats = command(server.host, server.port, "INFO", "stats")
            assert isinstance(stats, bytes)
            assert b"client_output_buffer_limit_disconnections:0" not in stats
            seq = 6002
            got: list[Delivery] = []

            async def publish_until_delivered() -> None:
                nonlocal seq
                while True:
                    await publisher.publish(channel, trade("S-USDT", seq))
                    seq += 1
                    await asyncio.sleep(0.05)

            pump = asyncio.create_task(publish_until_delivered())
            try:
                async with asyncio.timeout(10):
                    async for delivery in deliveries:
                        got.append(delivery)
                        if delivery.message.seq >= 6002:
                            break
            finally:
                pump.cancel()
                await publisher.aclose()
        assert sub.reconnects == 1
        gaps = [d.gap for d in got if d.gap is not None]
        assert gaps and gaps[-1].reason == "reconnected" and (gaps[-1].missed or 0) > 0


async def test_sharded_subscription_on_a_cluster(redis_cluster: EmbeddedRedisCluster) -> None:
    channels = [f"trades:binance:K{i}-USDT" for i in range(6)]
    node = redis_cluster.nodes[0]
    async with Subscriber(redis_cluster.url, channels=channels) as sub:
        for i, channel in enumerate(channels):
            # SPUBLISH straight to the owner, as the gateway does
            slot = int(str(command(node.host, node.port, "CLUSTER", "KEYSLOT", channel)))
            owner = next(
                n for n in redis_cluster.nodes
                if any(a <= slot <= b for a, b in _slots(n.host, n.port))
            )  # fmt: skip
            command(owner.host, owner.port, "SPUBLISH", channel, trade(f"K{i}-USDT", 1).decode())
        got = await take(sub.deliveries(), len(channels), timeout=10)
    assert sorted(d.channel for d in got) == sorted(channels)


def _slots(host: str, port: int) -> list[tuple[int, int]]:
    reply = command(host, port, "CLUSTER", "SLOTS")
    assert isinstance(reply, list)
    return [(int(e[0]), int(e[1])) for e in reply if int(e[2][1]) == port]


async def test_after_a_redis_restart_it_is_back_within_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pub/Sub keeps nothing for an absent subscriber, and the gateway flushes what it buffered
    the moment Redis is back: a subscriber that waits out a long backoff loses all of that."""
    monkeypatch.setattr(subscriber_module.random, "random", lambda: 0.5)  # no jitter: repeatable
    channel = "trades:binance:R-USDT"
    with EmbeddedRedis() as server:
        async with Subscriber(server.url, channels=[channel]) as sub:
            deliveries = sub.deliveries()
            first = asyncio.create_task(take(deliveries, 1, timeout=20))
            await asyncio.sleep(0.2)
            server.stop()
            await asyncio.sleep(3.5)  # an uncapped backoff would next try 6.3 s after the loss
            server.start()
            back = asyncio.get_running_loop().time()
            publisher = aioredis.Redis.from_url(server.url)
            try:
                seq = 1
                while not first.done():
                    await publisher.publish(channel, trade("R-USDT", seq))
                    seq += 1
                    await asyncio.sleep(0.02)
                waited = asyncio.get_running_loop().time() - back
            finally:
                await publisher.aclose()
            assert first.result()[0].message.symbol == "R-USDT"
        assert sub.reconnects == 1
        assert waited < 1.0, f"resubscribed {waited:.2f} s after Redis was back"
