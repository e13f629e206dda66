"""A small blocking API, for scripts and threads that do not run an event loop.

    from feedgate.client.blocking import subscribe, latest

    for delivery in subscribe("redis://localhost:6379/0", patterns=["trades:binance:*"]):
        print(delivery.message.price, delivery.gap)

    book = latest("redis://localhost:6379/0", "book:binance:BTC-USDT")  # the key's snapshot

Same messages, gap detection and reconnects as ``Subscriber``; a ``redis+cluster://`` url uses
sharded Pub/Sub (channels named exactly).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from redis.cluster import RedisCluster

from feedgate import redact
from feedgate.client.messages import AnyMessage, SchemaError, decode
from feedgate.client.subscriber import (
    CONNECT_RETRY_CAP_S,
    DATA_TYPES,
    LOST,
    Delivery,
    Interpreter,
    check_subscription,
    client_for,
    tls_kwargs,
)
from feedgate.tls import TlsOptions

log = logging.getLogger(__name__)
FIRST_RETRY_S = 0.1  # the pause after a subscription that held is lost; it doubles to 5 s


def _client(url: str, tls: TlsOptions | None) -> redis.Redis | RedisCluster:
    client: redis.Redis | RedisCluster = client_for(url, tls, redis.Redis, RedisCluster)
    return client


def latest(url: str, key: str, *, tls: TlsOptions | None = None) -> AnyMessage | None:
    """The message a last-value key holds (``book:*``, ``bbo:*``), or None when absent."""
    client = _client(url, tls)
    try:
        raw = client.get(key)
    finally:
        client.close()
    if raw is None:
        return None
    try:
        return decode(raw)
    except SchemaError as exc:
        raise SchemaError(f"{key}: {exc}") from None


def subscribe(
    url: str,
    channels: Iterable[str] = (),
    patterns: Iterable[str] = (),
    *,
    strict: bool = False,
    idle_timeout: float | None = None,
    tls: TlsOptions | None = None,
) -> Iterator[Delivery]:
    """Deliveries until the caller stops iterating (or ``idle_timeout`` passes with none)."""
    channel_list, pattern_list = list(channels), list(patterns)
    sharded = check_subscription(url, channel_list, pattern_list)
    tls_kwargs(url, tls)  # refuse TLS options with a plain url before the first connect
    interpreter = Interpreter(strict)
    delay = FIRST_RETRY_S
    while True:
        client = _client(url, tls)
        pubsub: Any = client.pubsub()  # type: ignore[no-untyped-call]
        try:
            if sharded:
                pubsub.ssubscribe(*channel_list)
            else:
                if channel_list:
                    pubsub.subscribe(*channel_list)
                if pattern_list:
                    pubsub.psubscribe(*pattern_list)
            delay = FIRST_RETRY_S
            idle_since = time.monotonic()
            while True:
                if sharded:
                    item = pubsub.get_sharded_message(timeout=0.01)
                else:
                    item = pubsub.get_message(timeout=0.5)
                if item is None or item["type"] not in DATA_TYPES:
                    if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                        return
                    continue
                idle_since = time.monotonic()
                channel = item["channel"]
                name = channel.decode() if isinstance(channel, bytes) else channel
                delivery = interpreter.interpret(name, item["data"])
                if delivery is not None:
                    yield delivery
        except LOST as exc:
            where = redact.redis_url(url)
            if delay == FIRST_RETRY_S:  # the first failure since a subscription held
                log.warning("subscription to %s lost (%s): reconnecting", where, exc)
            else:
                log.info("reconnect to %s failed: %s", where, exc)
            interpreter.tracker.reconnected()
            # as Subscriber: a refused connect costs nothing, and what the gateway publishes
            # before we are back is lost to us, so the pause stays short
            time.sleep(min(delay, CONNECT_RETRY_CAP_S) * (0.5 + random.random()))
            delay = min(delay * 2, 5.0)
        finally:
            pubsub.close()
            client.close()
