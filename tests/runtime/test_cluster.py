"""Publishing to a real 3-master Redis Cluster on loopback, read back with ``SSUBSCRIBE``."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from feedgate.errors import ConfigError
from feedgate.events import Bbo, BookSnapshot, Side, Trade
from feedgate.metrics import PublisherStats
from feedgate.runtime.cluster_map import SlotMap, crc16, key_slot
from feedgate.runtime.publisher import Publisher
from feedgate.runtime.redis_cluster import EmbeddedRedisCluster, command
from feedgate.runtime.redis_target import RedisTarget, parse_redis_url
from feedgate.settings import build_settings
from feedgate.tail import check_channels, tail
from tests.conftest import wait_for
from tests.runtime.harness import books_settled, running_stack
from tests.runtime.test_publisher import running

SYMBOLS = [f"C{i}-USDT" for i in range(24)]


@pytest.fixture
def cluster(redis_cluster: EmbeddedRedisCluster) -> EmbeddedRedisCluster:
    return redis_cluster


def owner_port(cluster: EmbeddedRedisCluster, name: str) -> int:
    node = cluster.nodes[0]
    slot = command(node.host, node.port, "CLUSTER", "KEYSLOT", name)
    slot_map = SlotMap.from_cluster_slots(command(node.host, node.port, "CLUSTER", "SLOTS"), "")
    owner = slot_map.owner[int(slot)]  # type: ignore[call-overload]
    assert owner is not None
    return owner[1]


def test_crc16_is_the_cluster_spec_function() -> None:
    assert crc16(b"123456789") == 0x31C3  # the reference value in the cluster specification


def test_key_slot_agrees_with_the_server(cluster: EmbeddedRedisCluster) -> None:
    node = cluster.nodes[0]
    names = [f"{c}:binance:{s}" for s in SYMBOLS for c in ("trades", "book", "bbo")]
    names += ["feedgate:status", "a{tag}b", "{tag}", "x{}y", "{}", "p{q", "onchain:ethereum:logs"]
    for name in names:
        expected = command(node.host, node.port, "CLUSTER", "KEYSLOT", name)
        assert key_slot(name.encode()) == expected, name


def test_cluster_urls_name_seeds_and_credentials() -> None:
    seeds, is_cluster = parse_redis_url("rediss+cluster://u:p%40w@h1:7000,h2:7001/")
    assert is_cluster
    assert [s.address for s in seeds] == [("h1", 7000), ("h2", 7001)]
    assert all(s.tls and s.username == "u" and s.password == "p@w" for s in seeds)
    assert parse_redis_url("redis://h:1/0", cluster=True) == (
        [RedisTarget.from_url("redis://h:1/0")],
        True,
    )
    with pytest.raises(ValueError, match="only database 0"):
        parse_redis_url("redis+cluster://h1:7000/2")
    with pytest.raises(ValueError, match="only database 0"):
        parse_redis_url("redis://h:1/3", cluster=True)
    with pytest.raises(ValueError, match="no seed"):
        parse_redis_url("redis+cluster:///")


def test_settings_take_a_cluster_url_and_refuse_a_database() -> None:
    feeds = [{"exchange": "binance", "channels": ["trades"], "symbols": ["BTC-USDT"]}]
    settings = build_settings({"redis": {"url": "redis+cluster://h1:7000"}, "feeds": feeds})
    assert settings.redis.cluster
    with pytest.raises(ConfigError, match="redis"):
        build_settings({"redis": {"url": "redis://h:1/4", "cluster": True}, "feeds": feeds})


def trade(symbol: str, n: int) -> Trade:
    base = 1_700_000_000_000_000
    return Trade("binance", symbol, symbol, base + n, base + n + 500, str(n), "1.5", "2", Side.BUY)


async def test_spublish_spreads_channels_over_every_master(cluster: EmbeddedRedisCluster) -> None:
    channels = [f"trades:binance:{s}" for s in SYMBOLS]
    assert len({owner_port(cluster, c) for c in channels}) == 3, "the symbols must span 3 masters"
    client = await RedisCluster(cluster.host, cluster.nodes[0].port).initialize()
    pubsub = client.pubsub()
    await pubsub.ssubscribe(*channels)
    got: dict[str, list[dict[str, Any]]] = defaultdict(list)
    per_symbol = 50

    async def read() -> None:
        while sum(len(v) for v in got.values()) < per_symbol * len(SYMBOLS):
            # the client polls its node connections in turn, each for up to ``timeout``
            item = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.01)
            if item is not None:
                got[item["channel"].decode()].append(orjson.loads(item["data"]))

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.3)  # every node has the subscription
    publisher = Publisher(cluster.url, stats := PublisherStats())
    try:
        async with running(publisher):
            await publisher.wait_connected(10)
            for n in range(1, per_symbol + 1):
                for symbol in SYMBOLS:
                    publisher.submit(trade(symbol, n))
            snap = BookSnapshot(
                "binance", "C1-USDT", "C1USDT", 5, 6, (("9", "1"),), (("10", "2"),), None
            )
            publisher.submit(snap)
            publisher.submit(Bbo("binance", "C2-USDT", "C2USDT", 7, 8, "9", "1", "10", "2"))
            await asyncio.wait_for(reader, 10)
            await wait_for(lambda: publisher.queue_depth == 0 and not publisher.in_flight)
            book = await client.get("book:binance:C1-USDT")
            bbo = await client.get("bbo:binance:C2-USDT")
    finally:
        await pubsub.aclose()
        await client.aclose()
    for channel in channels:
        assert [m["seq"] for m in got[channel]] == list(range(1, per_symbol + 1)), channel
        assert [m["id"] for m in got[channel]] == [str(n) for n in range(1, per_symbol + 1)]
    assert orjson.loads(book)["bids"] == [["9", "1"]]
    assert orjson.loads(bbo)["ask_price"] == "10"
    assert stats.publish_errors == 0 and not stats.dropped
    # sharded messages do not reach classic subscribers: nothing was sent with plain PUBLISH
    node = cluster.nodes[0]
    assert command(node.host, node.port, "PUBSUB", "NUMSUB", channels[0]) == [
        channels[0].encode(),
        0,
    ]


async def test_follows_a_slot_that_moves_to_another_master(cluster: EmbeddedRedisCluster) -> None:
    channel = "trades:binance:MOVE-USDT"  # a trades channel has no key, so its slot moves empty
    node = cluster.nodes[0]
    slot = int(command(node.host, node.port, "CLUSTER", "KEYSLOT", channel))  # type: ignore[call-overload]
    source = next(n for n in cluster.nodes if n.port == owner_port(cluster, channel))
    target = next(n for n in cluster.nodes if n is not source)
    publisher = Publisher(cluster.url, stats := PublisherStats())
    listener = aioredis.Redis(host=target.host, port=target.port)
    pubsub = listener.pubsub()
    try:
        async with running(publisher):
            await publisher.wait_connected(10)
            publisher.submit(trade("MOVE-USDT", 1))
            await wait_for(lambda: not publisher.in_flight, what="first trade acknowledged")
            target_id = cluster.node_id(target)
            for n in [target, source, *[x for x in cluster.nodes if x not in (source, target)]]:
                command(n.host, n.port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
            await pubsub.ssubscribe(channel)  # straight to the new owner
            seen: list[int] = []
            for n in range(2, 200):
                publisher.submit(trade("MOVE-USDT", n))
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
                if item is not None:
                    seen.append(orjson.loads(item["data"])["seq"])
                    if len(seen) >= 3:
                        break
    finally:
        await pubsub.aclose()
        await listener.aclose()
    assert len(seen) >= 3, "the moved channel never reached its new master"
    assert seen == sorted(seen)
    assert stats.dropped["cluster_moved"] >= 1  # the redirect was seen and counted, not hidden
    assert stats.publish_errors == 0


async def test_the_gateway_publishes_a_venue_into_the_cluster(
    cluster: EmbeddedRedisCluster,
) -> None:
    symbols = ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "ADA-USDT", "DOGE-USDT"]
    async with running_stack(cluster.url, symbols, trade_rate=200.0) as stack:
        await wait_for(
            lambda: all(stack.subscriber.messages[f"trades:binance:{s}"] for s in symbols),
            10,
            "trades for every symbol",
        )
        await books_settled(stack, symbols)
        assert stack.worker.stats.publisher.redis_up
        # the publisher wrote the last-value keys to each slot's master
        client = await RedisCluster(cluster.host, cluster.nodes[0].port).initialize()
        try:
            for symbol in symbols:
                assert await client.exists(f"book:binance:{symbol}"), symbol
        finally:
            await client.aclose()


async def test_tail_follows_cluster_channels_by_name(
    cluster: EmbeddedRedisCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    channels = ["trades:binance:C3-USDT", "trades:binance:C5-USDT"]
    follower = asyncio.create_task(tail(cluster.url, channels, as_json=True, limit=4))
    publisher = Publisher(cluster.url, PublisherStats())
    async with running(publisher):
        await publisher.wait_connected(10)
        for n in range(1, 200):
            if follower.done():
                break
            publisher.submit(trade("C3-USDT", n))
            publisher.submit(trade("C5-USDT", n))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(follower, 5)
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4
    assert {m["symbol"] for m in lines} == {"C3-USDT", "C5-USDT"}


def test_tail_refuses_patterns_on_a_cluster() -> None:
    with pytest.raises(ConfigError, match="no patterns"):
        check_channels("redis+cluster://127.0.0.1:7000", ["trades:*"])
    check_channels("redis://127.0.0.1:6379/0", ["trades:*"])  # plain Pub/Sub has patterns
