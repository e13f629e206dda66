"""Replay: what a consumer missed while away, from the Redis Streams mirror, then live.

With ``streams.enabled`` the gateway appends every trade (and announcement) to a capped stream
whose key is the channel's name, in the same pipeline as the ``PUBLISH``. ``replay`` subscribes
to the channel first, then reads the stream from ``since`` to its end, then continues with the
live messages: the subscription is older than the end of the read, so nothing falls between,
and live messages the stream already gave are skipped, so nothing comes twice.

    async for delivery in replay(url, "trades:binance:BTC-USDT", since=last_seen_stream_id):
        ...

``since``: a stream id (``"1700000000000-0"``; ``"-"`` for everything kept), or a time
(``datetime``, or integer microseconds since the epoch like the messages' timestamps) which is
compared with the Redis server's clock at the time each entry was added.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import cast

from redis.asyncio.cluster import RedisCluster

from feedgate.client.subscriber import Delivery, Subscriber, redis_client
from feedgate.tls import TlsOptions

PAGE = 1000


def stream_id(since: str | int | datetime) -> str:
    if isinstance(since, str):
        return since
    if isinstance(since, datetime):
        return f"{int(since.timestamp() * 1000)}-0"
    return f"{since // 1000}-0"


async def replay(
    url: str,
    channel: str,
    since: str | int | datetime,
    *,
    strict: bool = False,
    tls: TlsOptions | None = None,
) -> AsyncIterator[Delivery]:
    subscriber = Subscriber(url, channels=[channel], strict=strict, tls=tls)
    await subscriber.connect()  # before reading the stream: nothing can fall in between
    client = redis_client(url, tls)
    if isinstance(client, RedisCluster):
        await client.initialize()
    last: tuple[int, int] | None = None  # (seq, recv_ts) of the last message given
    try:
        start = stream_id(since)
        while True:
            entries = cast(
                list[tuple[bytes, dict[bytes, bytes]]],
                await client.xrange(channel, min=start, max="+", count=PAGE),
            )
            for _, fields in entries:
                delivery = subscriber.interpret(channel, fields[b"m"])
                if delivery is not None:
                    last = (delivery.message.seq, delivery.message.recv_ts)
                    yield delivery
            if len(entries) < PAGE:
                break
            start = "(" + entries[-1][0].decode()  # exclusive: after the last one read
        await client.aclose()
        async for name, data in subscriber.raw_messages():
            message = subscriber.decode(name, data)
            if message is None:
                continue
            # within one gateway process seq grows; after a restart seq starts over but recv_ts
            # keeps growing: a message is a repeat only if neither is newer
            if last is not None and message.seq <= last[0] and message.recv_ts <= last[1]:
                continue
            last = None
            yield Delivery(name, message, subscriber.tracker.observe(name, message.seq))
    finally:
        await client.aclose()
        await subscriber.close()
