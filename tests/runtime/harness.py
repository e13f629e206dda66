"""A running stack for end-to-end tests: a venue simulator → worker → real Redis → subscriber.

The subscriber records every message per channel and rebuilds each book from the published
snapshot and deltas the way a downstream service would (design §2.2), so tests can compare it
with the simulator's true book.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPubSub, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from feedgate.runtime.redis_target import is_cluster_url, parse_redis_url
from feedgate.runtime.simapi import VenueSimulator
from feedgate.runtime.simserver import SimServer
from feedgate.runtime.worker import Worker
from feedgate.settings import build_settings
from feedgate.venues import get_venue
from tests.conftest import wait_for


@dataclass
class FollowedBook:
    bids: dict[Decimal, str] = field(default_factory=dict)
    asks: dict[Decimal, str] = field(default_factory=dict)
    seq: int = 0
    valid: bool = False

    def load(self, message: dict[str, Any]) -> None:
        self.bids = {Decimal(p): s for p, s in message["bids"]}
        self.asks = {Decimal(p): s for p, s in message["asks"]}
        self.seq = message["seq"]
        self.valid = True

    def apply(self, message: dict[str, Any]) -> None:
        assert self.valid, "a delta arrived for a book that is not valid"
        assert message["seq"] == self.seq + 1, f"seq jump {self.seq} -> {message['seq']}"
        for side, levels in ((self.bids, message["bids"]), (self.asks, message["asks"])):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = size
        self.seq = message["seq"]

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        bids = [[str(p), self.bids[p]] for p in sorted(self.bids, reverse=True)]
        asks = [[str(p), self.asks[p]] for p in sorted(self.asks)]
        return bids, asks


def normalized(levels: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(s)) for p, s in levels]


@dataclass
class Subscriber:
    client: aioredis.Redis | RedisCluster
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    books: dict[str, FollowedBook] = field(default_factory=lambda: defaultdict(FollowedBook))
    log: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # arrival order
    _task: asyncio.Task[None] | None = None

    async def start(self, *patterns: str) -> None:
        pubsub = self.client.pubsub()
        await pubsub.psubscribe(*patterns)
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._read(pubsub, ready))
        await asyncio.wait_for(ready.wait(), 5)

    async def start_sharded(self, client: RedisCluster, *channels: str) -> None:
        """Follow named channels of a Redis Cluster with ``SSUBSCRIBE`` (no patterns there)."""
        pubsub = client.pubsub()
        await pubsub.ssubscribe(*channels)
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._read_sharded(pubsub, ready, len(channels)))
        await asyncio.wait_for(ready.wait(), 10)

    async def _read(self, pubsub: aioredis.client.PubSub, ready: asyncio.Event) -> None:
        try:
            while True:
                item = await pubsub.get_message(timeout=0.2)
                if item is None:
                    continue
                if item["type"] == "psubscribe":
                    ready.set()
                    continue
                self.record(item["channel"].decode(), orjson.loads(item["data"]))
        finally:
            await pubsub.aclose()

    async def _read_sharded(self, pubsub: ClusterPubSub, ready: asyncio.Event, n: int) -> None:
        confirmed = 0
        try:
            while True:
                # the client polls its node connections in turn, each for up to ``timeout``
                item = await pubsub.get_sharded_message(timeout=0.01)
                if item is None:
                    continue
                if item["type"] == "ssubscribe":
                    confirmed += 1
                    if confirmed == n:
                        ready.set()
                    continue
                self.record(item["channel"].decode(), orjson.loads(item["data"]))
        finally:
            await pubsub.aclose()

    def record(self, channel: str, message: dict[str, Any]) -> None:
        self.messages[channel].append(message)
        self.log.append((channel, message))
        if message["type"] == "book_snapshot":
            self.books[message["symbol"]].load(message)
        elif message["type"] == "book_delta":
            self.books[message["symbol"]].apply(message)
        elif message["type"] == "status" and message["event"] == "book_reset":
            self.books[message["symbol"]].valid = False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # a test may have had Redis cut this subscriber on purpose (output buffer limit)
            with contextlib.suppress(asyncio.CancelledError, RedisConnectionError):
                await self._task

    def check(self) -> None:
        """Re-raise an assertion the reader hit (a wrong delta sequence)."""
        if self._task is not None and self._task.done():
            self._task.result()

    def statuses(self, event: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages["feedgate:status"] if event is None or m["event"] == event]


def book_matches(subscriber: Subscriber, sim: VenueSimulator[Any, Any], symbol: str) -> bool:
    book = subscriber.books.get(symbol)
    if book is None or not book.valid:
        return False
    _, true_bids, true_asks = sim.true_book(sim.venue_symbol(symbol))
    bids, asks = book.levels()
    return normalized(bids) == normalized(true_bids) and normalized(asks) == normalized(true_asks)


SUBSCRIBED_PATTERNS = (
    "trades:*", "book:*", "bbo:*", "announcements:*", "onchain:*", "feedgate:status",
)  # fmt: skip


def data_messages(subscriber: Subscriber) -> int:
    """Every message on a data channel (anything but ``feedgate:status``)."""
    return sum(len(m) for ch, m in subscriber.messages.items() if ch != "feedgate:status")


@dataclass
class Stack:
    sim: Any  # the venue's simulator (a VenueSimulator)
    server: SimServer[Any, Any]
    worker: Worker
    subscriber: Subscriber


def gateway_settings(
    server: SimServer[Any, Any], symbols: list[str], venue: str = "binance", **feed: Any
) -> Any:
    options = {
        "ws_url": server.ws_url,
        "rest_url": server.rest_url,
        **getattr(server.sim, "gateway_options", {}),  # e.g. a demo API key (simapi)
        **feed.pop("options", {}),
    }
    top = {"streams": feed.pop("streams")} if "streams" in feed else {}  # not a feed setting
    return build_settings(
        {
            **top,
            "metrics": {"port": 0},
            "feeds": [
                {
                    "exchange": venue,
                    "channels": feed.pop("channels", sorted(get_venue(venue).channels)),
                    "symbols": [] if get_venue(venue).symbolless else symbols,
                    "options": options,
                    **feed,
                }
            ],
        }
    )


@contextlib.asynccontextmanager
async def running_stack(
    redis_url: str,
    symbols: list[str],
    *,
    venue: str = "binance",
    trade_rate: float = 50.0,
    sim_options: dict[str, Any] | None = None,
    venue_lists: list[str] | None = None,
    record_trades: bool = False,
    **feed: Any,
) -> AsyncIterator[Stack]:
    """``venue_lists``: the symbols the simulated venue has (default: the ones asked for);
    ``record_trades``: the server notes every trade id it sends from the start."""
    module = importlib.import_module(f"feedgate.venues.{venue}.sim")
    sim = module.make_simulator(venue_lists or symbols, seed=3)
    server: SimServer[Any, Any] = SimServer(
        sim, trade_rate=trade_rate, depth_interval_ms=50, **(sim_options or {})
    )
    await server.start()
    if record_trades:
        server.record_trades()
    client: aioredis.Redis | RedisCluster
    if is_cluster_url(redis_url):
        seed = parse_redis_url(redis_url)[0][0]
        client = await RedisCluster(seed.host, seed.port).initialize()
        subscriber = Subscriber(client)
        channels = [f"{c}:{venue}:{s}" for s in symbols for c in ("trades", "book", "bbo")]
        await subscriber.start_sharded(client, "feedgate:status", *channels)
    else:
        client = aioredis.Redis.from_url(redis_url)
        subscriber = Subscriber(client)
        await subscriber.start(*SUBSCRIBED_PATTERNS)
    worker = Worker(gateway_settings(server, symbols, venue, **feed), redis_url=redis_url)
    stack: Stack | None = None
    try:
        await worker.start()
        stack = Stack(sim, server, worker, subscriber)
        yield stack
    finally:
        await (stack.worker if stack is not None else worker).stop()  # a test may replace it
        await subscriber.stop()
        await server.stop()
        await client.aclose()


async def books_settled(stack: Stack, symbols: list[str], timeout: float = 10.0) -> None:
    """Wait until every book is synced, freeze the venue, and wait until every followed book
    equals the simulator's true book (then re-raise anything the subscriber tripped over)."""
    await wait_for(
        lambda: all(stack.subscriber.books[s].valid for s in symbols), timeout, "every book synced"
    )
    stack.server.silence(None)
    for symbol in symbols:
        await wait_for(
            lambda s=symbol: book_matches(stack.subscriber, stack.sim, s),
            timeout,
            f"{symbol} book equal to the simulator's",
        )
    stack.subscriber.check()
