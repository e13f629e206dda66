"""One pipelined connection to one Redis server: a bounded queue in, RESP batches out.

The publisher appends to ``queue`` on the read loop (it never blocks); a writer task packs
everything queued since the last loop tick into one pipelined write (``PUBLISH``/``SPUBLISH`` per
message, one ``SET`` per last-value key, deduplicated within the batch); a reader task parses the
replies with hiredis and records the publish latency. A slow or absent server costs drops, not
memory or stalls. On a broken connection the link reconnects with backoff; the commands that were
in flight are counted as dropped (they may or may not have been published). A standalone Redis
has one link; a cluster has one per master, each carrying the channels of its slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import hiredis

from feedgate.clock import now_us
from feedgate.metrics import FastHistogram, PublisherStats
from feedgate.protocol.backoff import Backoff
from feedgate.runtime.cluster_map import read_reply
from feedgate.runtime.redis_target import RedisTarget

log = logging.getLogger(__name__)

_SET = b"SET"
_DEL = b"DEL"
_XADD = b"XADD"
_MAXLEN = b"MAXLEN"
PUBLISH, SET_KEY, DEL_KEY = 1, 2, 4  # what a queued entry asks for
WRITE_BUFFER_LIMIT = 4 * 1024 * 1024  # bytes waiting in the socket buffer before we hold off


@dataclass(slots=True)
class Channel:
    """Per channel state, cached so the hot path does no string building per message."""

    name: bytes
    key: bytes | None
    seq: int
    counter_key: tuple[str, str]
    lag: FastHistogram | None
    slot: int
    link: RedisLink
    stream: bool = False  # also appended to the capped stream of the same name


Entry = tuple[Channel, bytes, int, int]  # (channel, payload, recv_ts, PUBLISH | SET_KEY | DEL_KEY)


class RedisReplyError(ConnectionError):
    """Redis refused a set-up command (AUTH, SELECT)."""


async def open_redis(
    target: RedisTarget, context: ssl.SSLContext | None, name: bytes = b"feedgate-publisher"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, authenticate, select the database and name the client."""
    if target.tls and context is None:
        context = ssl.create_default_context()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(target.host, target.port, ssl=context if target.tls else None), 5.0
    )
    hello: list[tuple[bytes, ...]] = []
    if target.password is not None:
        user = (target.username or "default").encode()
        hello.append((b"AUTH", user, target.password.encode()))
    if target.db:
        hello.append((b"SELECT", str(target.db).encode()))
    hello.append((b"CLIENT", b"SETNAME", name))
    writer.write(b"".join(pack(c) for c in hello))
    parser = hiredis.Reader()
    for _ in hello:
        reply = await asyncio.wait_for(read_reply(reader, parser), 5.0)
        if isinstance(reply, hiredis.ReplyError):
            writer.close()
            raise RedisReplyError(str(reply))
    return reader, writer


class RedisLink:
    def __init__(
        self,
        target: RedisTarget,
        stats: PublisherStats,
        *,
        publish_command: bytes = b"PUBLISH",
        max_queue: int = 200_000,
        max_batch: int = 10_000,
        max_in_flight: int = 50_000,
        ssl_context: ssl.SSLContext | None = None,
        on_redirect: Callable[[], None] | None = None,
        on_state: Callable[[], None] | None = None,
        total_depth: Callable[[], int] | None = None,
        stream_maxlen: int = 10_000,
    ) -> None:
        self.target = target
        self.stats = stats
        self.publish_command = publish_command
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._ssl = ssl_context
        self._on_redirect = on_redirect
        self._on_state = on_state
        self._total_depth = total_depth  # the queue depth gauge sums every link of a cluster
        self.queue: deque[Entry] = deque()
        self.stream_maxlen = str(stream_maxlen).encode()
        self.up = False
        self.writer: asyncio.StreamWriter | None = None
        self.wake = asyncio.Event()
        self._in_flight: deque[tuple[int, list[int]]] = deque()  # (replies expected, recv_ts)
        self._in_flight_count = 0
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self.backoff = Backoff(base_s=0.2, cap_s=5.0, stable_after_s=10.0)

    @property
    def busy(self) -> bool:
        return bool(self.queue or self._in_flight)

    def flush_inline(self) -> None:
        """A full batch is waiting: write it now. The socket write does not block, so producers
        never wait for the writer task (which may be starved under load); the in-flight bound
        and the transport's buffer still hold back a slow Redis, and then the queue drops."""
        writer = self.writer
        assert writer is not None
        if writer.transport.is_closing() or self._in_flight_count >= self.max_in_flight:
            return
        if writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            return
        writer.write(self._pack_batch())

    def stop(self) -> None:
        self._closing = True
        self.wake.set()
        self._room.set()

    async def run(self) -> None:
        """Connect, publish, and reconnect until ``stop()`` (or cancellation)."""
        while not self._closing:
            delay = self.backoff.next_delay()
            if delay:
                await asyncio.sleep(delay)
            try:
                reader, writer = await open_redis(self.target, self._ssl)
            except (TimeoutError, OSError, ConnectionError) as exc:
                t = self.target
                log.warning("redis connect to %s:%s failed: %s", t.host, t.port, exc)
                self.stats.publish_errors += 1
                if self._on_redirect is not None:
                    self._on_redirect()  # a cluster node that is gone: re-read the slot map
                continue
            t = self.target
            log.debug("redis %s:%s connected as %s", t.host, t.port, t.username or "default")
            loop = asyncio.get_running_loop()
            self.backoff.connected(loop.time())
            self._set_up(True)
            try:
                await self._pump(reader, writer)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                if not self._closing:
                    log.warning("redis connection lost: %s", exc)
                    self.stats.publish_errors += 1
            finally:
                self._set_up(False)
                self.backoff.disconnected(loop.time())
                self.drop_in_flight()
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    def _set_up(self, up: bool) -> None:
        self.up = up
        if self._on_state is not None:
            self._on_state()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        replies = asyncio.create_task(self._read_replies(reader))
        self.writer = writer
        try:
            while not self._closing:
                if replies.done():
                    replies.result()  # re-raise the reader's error
                    return
                if not self.queue:
                    self.wake.clear()
                    waiter = asyncio.create_task(self.wake.wait())
                    done, _ = await asyncio.wait(
                        {waiter, replies}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if waiter not in done:
                        waiter.cancel()
                    continue
                if self._in_flight_count >= self.max_in_flight:
                    self._room.clear()
                    await self._room.wait()
                    continue
                writer.write(self._pack_batch())
                if writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
                    await writer.drain()
                else:
                    await asyncio.sleep(0)  # let the loop gather the next batch
        finally:
            self.writer = None
            replies.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await replies

    def _pack_batch(self) -> bytes:
        queue = self.queue
        publish = self.publish_command
        n = min(len(queue), self.max_batch)
        parts: list[bytes] = []
        stamps: list[int] = []
        keys: dict[bytes, bytes] = {}
        deletes: set[bytes] = set()
        messages = self.stats.messages
        for _ in range(n):
            channel, payload, recv_ts, what = queue.popleft()
            if what & SET_KEY and channel.key is not None:
                keys[channel.key] = payload
                deletes.discard(channel.key)
            elif what & DEL_KEY and channel.key is not None:
                keys.pop(channel.key, None)
                deletes.add(channel.key)
            if not what & PUBLISH:
                continue
            parts.append(pack((publish, channel.name, payload)))
            if channel.stream:  # the mirror goes in the same pipeline, right behind
                parts.append(
                    pack(
                        (
                            _XADD,
                            channel.name,
                            _MAXLEN,
                            b"~",
                            self.stream_maxlen,
                            b"*",
                            b"m",
                            payload,
                        )
                    )
                )
            stamps.append(recv_ts)
            messages[channel.counter_key] += 1
        for key in deletes:
            parts.append(pack((_DEL, key)))
        for key, payload in keys.items():
            parts.append(pack((_SET, key, payload)))
        expected = len(parts)
        self._in_flight.append((expected, stamps))
        self._in_flight_count += expected
        self.stats.queue_depth = len(queue) if self._total_depth is None else self._total_depth()
        return b"".join(parts)

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader()
        in_flight = self._in_flight
        latency = self.stats.latency
        while True:
            data = await reader.read(1 << 16)
            if not data:
                raise ConnectionError("redis closed the connection")
            parser.feed(data)
            while True:
                reply = parser.gets()
                if reply is False:
                    break
                if isinstance(reply, hiredis.ReplyError):
                    self._error_reply(str(reply))
                expected, stamps = in_flight[0]
                expected -= 1
                self._in_flight_count -= 1
                if expected:
                    in_flight[0] = (expected, stamps)
                    continue
                in_flight.popleft()
                now = now_us()
                for stamp in stamps:
                    latency.observe((now - stamp) / 1e6)
                if not self._room.is_set():
                    self._room.set()

    def _error_reply(self, text: str) -> None:
        if text.startswith(("MOVED ", "ASK ")) and self._on_redirect is not None:
            # the slot moved to another master (resharding, failover): that command is lost,
            # later ones go where the refreshed slot map says
            self.stats.dropped["cluster_moved"] += 1
            self._on_redirect()
            return
        self.stats.publish_errors += 1
        log.warning("redis error reply: %s", text)

    def drop_in_flight(self) -> None:
        lost = sum(len(stamps) for _, stamps in self._in_flight)
        if lost:
            self.stats.dropped["redis_disconnected"] += lost
        self._in_flight.clear()
        self._in_flight_count = 0
        self._room.set()


def pack(command: tuple[bytes, ...]) -> bytes:
    """One RESP command (hiredis packs in C; its stub types the tuple too narrowly)."""
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]
    return packed
