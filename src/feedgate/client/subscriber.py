"""Subscribing to the gateway's channels: typed messages, ``seq`` gaps, reconnects.

    async with Subscriber(url, channels=["trades:binance:BTC-USDT"], patterns=["bbo:*"]) as sub:
        async for delivery in sub:
            if delivery.gap:
                ...  # messages were lost on delivery.channel: resync what depends on them
            print(delivery.message)

A plain ``redis://`` url uses Pub/Sub (``SUBSCRIBE``/``PSUBSCRIBE``); a ``redis+cluster://`` url
uses sharded Pub/Sub (``SSUBSCRIBE``), where channels are named exactly (no patterns). A lost
connection (Redis restarted, or it cut this client for falling behind its output buffer limit)
is re-established with backoff; the first message after it on each channel carries a ``Gap``
if anything went by meanwhile. A message that does not follow the schema is logged and counted
in ``schema_errors`` (or raised, with ``strict=True``); it never ends the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from feedgate import redact
from feedgate.client.gaps import Gap, SeqTracker
from feedgate.client.messages import AnyMessage, SchemaError, decode
from feedgate.runtime.redis_target import is_cluster_url, parse_redis_url
from feedgate.tls import TlsOptions

log = logging.getLogger(__name__)

DATA_TYPES = {"message", "pmessage", "smessage"}
LOST = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
# the pause between failed connects; one that connects and is dropped at once backs off to 5 s
CONNECT_RETRY_CAP_S = 0.5


@dataclass(frozen=True, slots=True)
class Delivery:
    channel: str
    message: AnyMessage
    gap: Gap | None  # set on the first message after a seq gap on this channel


def redis_client(url: str, tls: TlsOptions | None = None) -> aioredis.Redis | RedisCluster:
    """A redis-py client for a plain or cluster url (cluster: call ``initialize()``)."""
    client: aioredis.Redis | RedisCluster = client_for(url, tls, aioredis.Redis, RedisCluster)
    return client


def client_for(url: str, tls: TlsOptions | None, plain: Any, cluster: Any) -> Any:
    """``plain.from_url(url)``, or ``cluster(seed…)`` for a cluster url, with the TLS options:
    one construction for redis-py's asyncio classes (above) and its blocking ones."""
    kwargs = tls_kwargs(url, tls)
    if not is_cluster_url(url):
        return plain.from_url(url, **kwargs)
    seed = parse_redis_url(url)[0][0]
    return cluster(
        seed.host, seed.port, username=seed.username, password=seed.password, ssl=seed.tls,
        **kwargs,
    )  # fmt: skip


def tls_kwargs(url: str, tls: TlsOptions | None) -> dict[str, Any]:
    """redis-py's ``ssl_*`` arguments; refused for a plain url, where they would be ignored
    (cluster) or fail obscurely (a plain connection takes no ``ssl_*`` arguments)."""
    if tls is None:
        return {}
    if not url.startswith(("rediss://", "rediss+cluster://")):
        raise ValueError("TLS options need a rediss:// url")
    return tls.redis_py_kwargs()


class Interpreter:
    """Raw messages → Deliveries: decoding, schema errors (counted or raised), seq gaps."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.tracker = SeqTracker()
        self.schema_errors = 0

    def interpret(self, channel: str, data: bytes) -> Delivery | None:
        """One raw message → a Delivery with its gap (or None for a bad message, counted)."""
        message = self.decode(channel, data)
        if message is None:
            return None
        return Delivery(channel, message, self.tracker.observe(channel, message.seq))

    def decode(self, channel: str, data: bytes) -> AnyMessage | None:
        try:
            return decode(data)
        except SchemaError as exc:
            if self.strict:
                raise SchemaError(f"{channel}: {exc}") from None
            self.schema_errors += 1
            log.warning("skipped a message on %s that does not follow the schema: %s", channel, exc)
            return None


def check_subscription(url: str, channels: list[str], patterns: list[str]) -> bool:
    """Whether the url is a cluster's (sharded Pub/Sub); refuses what cannot be subscribed."""
    sharded = is_cluster_url(url)
    if sharded and patterns:
        raise ValueError("sharded Pub/Sub (a cluster url) has no patterns: name channels")
    if not channels and not patterns:
        raise ValueError("nothing to subscribe to")
    return sharded


class Subscriber(Interpreter):
    def __init__(
        self,
        url: str,
        channels: Iterable[str] = (),
        patterns: Iterable[str] = (),
        *,
        strict: bool = False,
        reconnect: bool = True,
        on_reconnect: Callable[[], None] | None = None,
        tls: TlsOptions | None = None,
    ) -> None:
        """``on_reconnect`` is called once the subscription is back after a lost connection
        (before any message from the new one): state built on the old one may be behind.
        ``tls``: CA and client certificate for a ``rediss://`` url."""
        super().__init__(strict)
        self.url = url
        self.channels = list(channels)
        self.patterns = list(patterns)
        self.sharded = check_subscription(url, self.channels, self.patterns)
        self.tls = tls
        tls_kwargs(url, tls)  # a plain url with TLS options is refused here, not on connect
        self.reconnect = reconnect
        self.on_reconnect = on_reconnect
        self._retry_delay = 0.0  # 0 while connected and delivering
        self.reconnects = 0
        self._client: aioredis.Redis | RedisCluster | None = None
        self._pubsub: Any = None

    async def __aenter__(self) -> Subscriber:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Subscribe and wait until Redis confirmed every subscription."""
        client = redis_client(self.url, self.tls)
        if isinstance(client, RedisCluster):
            await client.initialize()
        self._client = client
        pubsub = client.pubsub()
        self._pubsub = pubsub
        if self.sharded:
            await pubsub.ssubscribe(*self.channels)
        else:
            if self.channels:
                await pubsub.subscribe(*self.channels)
            if self.patterns:
                await pubsub.psubscribe(*self.patterns)
        expected = len(self.channels) + len(self.patterns)
        confirmed = 0
        async with asyncio.timeout(10):
            while confirmed < expected:
                item = await self._next_raw(0.1)
                if item is not None and item["type"] in ("subscribe", "psubscribe", "ssubscribe"):
                    confirmed += 1

    async def close(self) -> None:
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        with contextlib.suppress(Exception):
            if pubsub is not None:
                await pubsub.aclose()
        with contextlib.suppress(Exception):
            if client is not None:
                await client.aclose()

    async def _next_raw(self, timeout: float) -> dict[str, Any] | None:
        if self.sharded:
            # the client polls its node connections in turn, each for up to ``timeout``
            item: dict[str, Any] | None = await self._pubsub.get_sharded_message(timeout=0.01)
            if item is None:
                await asyncio.sleep(0)
            return item
        item = await self._pubsub.get_message(timeout=timeout)
        return item

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self.deliveries()

    async def deliveries(self) -> AsyncIterator[Delivery]:
        async for channel, data in self.raw_messages():
            delivery = self.interpret(channel, data)
            if delivery is not None:
                yield delivery

    async def raw_messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """(channel, payload) as Redis delivers them, across reconnects; not yet decoded."""
        while True:
            try:
                item = await self._next_raw(1.0)
            except LOST as exc:
                if not self.reconnect:
                    raise
                await self._reconnect(exc)
                continue
            if item is not None and item["type"] in DATA_TYPES:
                self._retry_delay = 0.0
                channel = item["channel"]
                yield channel.decode() if isinstance(channel, bytes) else channel, item["data"]

    async def _reconnect(self, cause: BaseException) -> None:
        # the delay grows across attempts until a message arrives again: a server that accepts
        # the subscription and then drops it at once must not make this a busy loop
        where = redact.redis_url(self.url)
        if self._retry_delay == 0.0:
            log.warning("subscription to %s lost (%s): reconnecting", where, cause)
        else:
            log.info("subscription to %s lost again (%s)", where, cause)
            await asyncio.sleep(self._retry_delay * (0.5 + random.random()))
        self._retry_delay = min(max(self._retry_delay * 2, 0.1), 5.0)
        await self.close()
        while True:
            try:
                await self.connect()
            except (*LOST, TimeoutError) as exc:
                log.info("reconnect failed: %s", exc)
                await self.close()
                # a refused connect costs nothing, and the gateway flushes what it buffered the
                # moment Redis is back: whatever arrives before we resubscribe is lost to us
                pause = min(self._retry_delay, CONNECT_RETRY_CAP_S)
                await asyncio.sleep(pause * (0.5 + random.random()))
                self._retry_delay = min(self._retry_delay * 2, 5.0)
                continue
            self.reconnects += 1
            self.tracker.reconnected()
            if self.on_reconnect is not None:
                self.on_reconnect()
            return
