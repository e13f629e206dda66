"""``feedgate tail PATTERN…``: one line per message from channels matching the patterns.

Works against any Redis URL with plain Pub/Sub pattern subscriptions (``PSUBSCRIBE``). Against a
cluster (``redis+cluster://``) the gateway publishes sharded, and sharded Pub/Sub has no patterns:
there the arguments are exact channel names, followed with ``SSUBSCRIBE``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from feedgate.errors import ConfigError
from feedgate.runtime.redis_target import is_cluster_url, parse_redis_url

_COLORS = {
    "trade": "\033[36m",
    "book_snapshot": "\033[35m",
    "book_delta": "\033[34m",
    "bbo": "\033[33m",
    "status": "\033[31m",
}
_RESET = "\033[0m"


def format_message(channel: str, message: dict[str, Any], color: bool) -> str:
    kind = message.get("type", "?")
    if kind == "trade":
        body = f"{message['side']:>4} {message['size']} @ {message['price']}  id={message['id']}"
    elif kind == "bbo":
        body = (
            f"{message['bid_size']} @ {message['bid_price']}  |  "
            f"{message['ask_price']} x {message['ask_size']}"
        )
    elif kind in ("book_snapshot", "book_delta"):
        bids, asks = message.get("bids", []), message.get("asks", [])
        best = f" best {bids[0][0]} / {asks[0][0]}" if bids and asks else ""
        body = f"{len(bids)} bids, {len(asks)} asks{best}"
    elif kind == "status":
        body = f"{message['event']} {message['connection']} {message.get('reason') or ''}".strip()
    else:
        body = orjson.dumps(message).decode()
    line = f"{channel:<28} seq={message.get('seq', '?'):<7} {kind:<13} {body}"
    return f"{_COLORS.get(kind, '')}{line}{_RESET}" if color else line


async def tail(
    url: str, patterns: list[str], *, as_json: bool = False, limit: int | None = None
) -> None:
    check_channels(url, patterns)
    color = sys.stdout.isatty() and not as_json
    seen = 0
    async for channel, data in _messages(url, patterns):
        if as_json:
            print(data.decode(), flush=True)
        else:
            print(format_message(channel, orjson.loads(data), color), flush=True)
        seen += 1
        if limit is not None and seen >= limit:
            return


def check_channels(url: str, patterns: list[str]) -> None:
    if is_cluster_url(url) and any(c in name for name in patterns for c in "*?["):
        raise ConfigError(["tail: sharded Pub/Sub has no patterns: name the channels exactly"])


async def _messages(url: str, patterns: list[str]) -> AsyncIterator[tuple[str, bytes]]:
    if is_cluster_url(url):
        async for item in _sharded(url, patterns):
            yield item
        return
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.psubscribe(*patterns)
    try:
        async for item in pubsub.listen():
            if item["type"] == "pmessage":
                yield item["channel"].decode(), item["data"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def _sharded(url: str, channels: list[str]) -> AsyncIterator[tuple[str, bytes]]:
    seed = parse_redis_url(url)[0][0]
    client = await RedisCluster(
        seed.host, seed.port, username=seed.username, password=seed.password, ssl=seed.tls
    ).initialize()
    pubsub = client.pubsub()
    await pubsub.ssubscribe(*channels)
    try:
        while True:
            # the client polls its node connections in turn, each for up to ``timeout``
            item = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.01)
            if item is not None and item["type"] == "smessage":
                yield item["channel"].decode(), item["data"]
    finally:
        await pubsub.aclose()
        await client.aclose()
