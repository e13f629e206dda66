"""BookFollower against the gateway fed by the Binance simulator, through venue faults and a
subscriber cut by Redis for its output buffer: at every checkpoint the follower's book equals the
gateway's book, and the gateway's book equals the simulator's true book."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal
from typing import Any

from feedgate import events
from feedgate.client import BookFollower
from feedgate.messages import encode
from feedgate.runtime.redis_cluster import EmbeddedRedisCluster, command
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.worker import Worker
from tests.conftest import wait_for
from tests.runtime.harness import Stack, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
Levels = list[tuple[Decimal, Decimal]]


def exact(levels: Any) -> Levels:
    return [(Decimal(p), Decimal(s)) for p, s in levels]


def gateway_book(stack: Stack, symbol: str) -> tuple[Levels, Levels] | None:
    venue_symbol = stack.sim.venue_symbol(symbol)
    for runner in stack.worker.runners:
        tracked = runner.protocol._books.get(venue_symbol)  # the gateway's own L2 book
        if tracked is not None:
            book = tracked.sync.book
            return exact(book.bids.top()), exact(book.asks.top())
    return None


def simulator_book(stack: Stack, symbol: str) -> tuple[Levels, Levels]:
    _, bids, asks = stack.sim.true_book(stack.sim.venue_symbol(symbol))
    return exact(bids), exact(asks)


def follower_book(follower: BookFollower) -> tuple[Levels, Levels] | None:
    if not follower.valid:
        return None
    bids, asks = follower.levels()
    return list(bids), list(asks)


async def checkpoint(stack: Stack, followers: list[BookFollower]) -> None:
    """Once every follower is valid again, freeze the venue: then every book must agree three
    ways; then let the venue run again."""
    await wait_for(lambda: all(f.valid for f in followers), 10, "every follower valid")
    stack.server.silence(None)
    try:
        for follower in followers:
            symbol = follower.symbol
            await wait_for(
                lambda s=symbol: gateway_book(stack, s) == simulator_book(stack, s),
                10,
                f"gateway's {symbol} book equal to the simulator's",
            )
            await wait_for(
                lambda f=follower: follower_book(f) == gateway_book(stack, f.symbol),
                10,
                f"follower's {symbol} book equal to the gateway's",
            )
    finally:
        stack.server.resume()


def flood_status_channel(server: EmbeddedRedis, megabytes: float) -> None:
    """Publish a burst on ``feedgate:status`` from a blocking socket on the event loop's thread,
    so no subscriber in this process reads meanwhile: Redis cuts those whose output buffer
    passes its pubsub limit, as it does a slow consumer in production."""
    noise = events.Status("noise", events.StatusEvent.STALE, "n" * 900, "flood", 1)
    one = encode(noise, 1)
    count = int(megabytes * 2**20 / len(one))
    command_bytes = b"*3\r\n$7\r\nPUBLISH\r\n$15\r\nfeedgate:status\r\n$%d\r\n%s\r\n" % (
        len(one),
        one,
    )
    with socket.create_connection((server.host, server.port)) as raw:
        raw.sendall(command_bytes * count)
        raw.shutdown(socket.SHUT_WR)
        while raw.recv(1 << 16):
            pass


def buffer_limit_cuts(server: EmbeddedRedis) -> int:
    stats = command(server.host, server.port, "INFO", "stats")
    assert isinstance(stats, bytes)
    for line in stats.decode().splitlines():
        if line.startswith("client_output_buffer_limit_disconnections:"):
            return int(line.split(":")[1])
    raise AssertionError("INFO stats has no client_output_buffer_limit_disconnections")


async def test_the_follower_is_never_wrong_through_faults_and_redis_drops() -> None:
    with EmbeddedRedis() as server:
        command(server.host, server.port, "CONFIG", "SET", "client-output-buffer-limit",
                "pubsub 256kb 128kb 1")  # fmt: skip
        async with running_stack(server.url, SYMBOLS, trade_rate=50.0) as stack:
            followers = [BookFollower(server.url, "binance", s) for s in SYMBOLS[:2]]
            for follower in followers:
                await follower.start()
            try:
                await asyncio.gather(*(f.synced(10) for f in followers))
                await checkpoint(stack, followers)

                # a venue gap: the gateway resets the book and resyncs from REST
                stack.server.skip_update_ids(stack.sim.venue_symbol("BTC-USDT"), 3)
                await wait_for(lambda: followers[0].resyncs["book_reset"] >= 1, 10, "reset seen")
                await checkpoint(stack, followers)

                # a follower that joins late, mid-stream, reads the key and catches up
                late = BookFollower(server.url, "binance", "SOL-USDT")
                await late.start()
                followers.append(late)
                await checkpoint(stack, followers)

                # Redis cuts every follower for its output buffer: they reconnect and rebuild
                flood_status_channel(server, megabytes=8)
                assert buffer_limit_cuts(server) >= len(followers)
                await wait_for(
                    lambda: all(f._subscriber.reconnects >= 1 for f in followers), 10, "reconnects"
                )
                await checkpoint(stack, followers)

                # the venue drops every connection: the gateway reconnects and resyncs
                stack.server.drop_connections()
                await wait_for(
                    lambda: all(f.resyncs["book_reset"] >= 1 for f in followers[1:]),
                    10,
                    "resets after the venue dropped the connections",
                )
                await checkpoint(stack, followers)
            finally:
                for follower in followers:
                    await follower.stop()
        for follower in followers:
            assert follower.seq > 0


async def test_a_gateway_restart_is_seen_and_the_book_rebuilt(redis_server: EmbeddedRedis) -> None:
    symbols = ["BTC-USDT"]
    async with (
        running_stack(redis_server.url, symbols, trade_rate=50.0) as stack,
        BookFollower(redis_server.url, "binance", "BTC-USDT") as follower,
    ):
        await follower.synced(10)
        await wait_for(lambda: follower.seq > 20, 10, "some deltas applied")
        await stack.worker.stop()
        # a new gateway process: every channel's seq starts again at 1
        restarted = Worker(stack.worker.settings, redis_url=redis_server.url)
        await restarted.start()
        stack.worker = restarted  # the stack stops this one
        await wait_for(
            lambda: follower.resyncs["book_reset"] + follower.resyncs["restart"] >= 1,
            10,
            "the follower noticed",
        )
        await checkpoint(stack, [follower])


async def test_following_a_book_on_a_redis_cluster(redis_cluster: EmbeddedRedisCluster) -> None:
    symbols = ["BTC-USDT", "ETH-USDT"]
    async with running_stack(redis_cluster.url, symbols, trade_rate=50.0) as stack:
        followers = [BookFollower(redis_cluster.url, "binance", s) for s in symbols]
        for follower in followers:
            await follower.start()
        try:
            await checkpoint(stack, followers)
        finally:
            for follower in followers:
                await follower.stop()
