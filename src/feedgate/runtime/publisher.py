"""The Redis publisher: events in (synchronously, never blocking), pipelined RESP batches out.

``submit(event)`` runs on the read loop: it assigns the channel's ``seq``, encodes the message once
and appends it to a bounded queue; when the queue is full the oldest message is dropped and
counted (a subscriber sees the ``seq`` jump and re-reads the key). A writer task packs everything
queued since the last loop tick into one pipelined write (``PUBLISH`` per message, one ``SET`` per
last-value key, deduplicated within the batch); a reader task parses the replies with hiredis and
records the publish latency. Redis I/O never blocks the read loop, and a slow or absent Redis costs
drops, not memory or stalls. On a broken connection the publisher reconnects with backoff; the
commands that were in flight are counted as dropped (they may or may not have been published).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import hiredis

from feedgate.channels import ChannelKind, book_channel
from feedgate.clock import now_us
from feedgate.events import Bbo, BookSnapshot, Event, Status, StatusEvent
from feedgate.messages import ROUTED_BY_CONTENT, encode_body, header, route
from feedgate.metrics import FastHistogram, PublisherStats
from feedgate.protocol.backoff import Backoff

log = logging.getLogger(__name__)

_PUBLISH = b"PUBLISH"
_SET = b"SET"
_DEL = b"DEL"
PUBLISH, SET_KEY, DEL_KEY = 1, 2, 4  # what a queued entry asks for
WRITE_BUFFER_LIMIT = 4 * 1024 * 1024  # bytes waiting in the socket buffer before we hold off


@dataclass(slots=True)
class _Channel:
    """Per channel state, cached so the hot path does no string building per message."""

    name: bytes
    key: bytes | None
    seq: int
    counter_key: tuple[str, str]
    lag: FastHistogram | None


@dataclass(frozen=True, slots=True)
class RedisTarget:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        parts = urlparse(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"redis url must start with redis:// or rediss://, got {url!r}")
        db_text = parts.path.lstrip("/")
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or 6379,
            db=int(db_text) if db_text else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )


class Publisher:
    def __init__(
        self,
        redis_url: str,
        stats: PublisherStats,
        *,
        max_queue: int = 200_000,
        max_batch: int = 10_000,
        max_in_flight: int = 50_000,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = RedisTarget.from_url(redis_url)
        self.stats = stats
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._ssl = ssl_context
        # queue entries: (channel, payload, recv_ts, PUBLISH | SET_KEY)
        self._queue: deque[tuple[_Channel, bytes, int, int]] = deque()
        # (event type, exchange, symbol, venue symbol) → (channel, cached message header)
        self._channels: dict[tuple[type, str, str | None, str | None], tuple[_Channel, bytes]] = {}
        self._by_name: dict[bytes, _Channel] = {}
        self._wake = asyncio.Event()
        self._in_flight: deque[tuple[int, list[int]]] = deque()  # (replies expected, recv_ts)
        self._in_flight_count = 0
        self._room = asyncio.Event()
        self._room.set()
        self._closing = False
        self._connected = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self.backoff = Backoff(base_s=0.2, cap_s=5.0, stable_after_s=10.0)

    # -- hot path -------------------------------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Queue one event for publishing. Never blocks, never raises for a full queue."""
        key = (type(event), event.exchange, event.symbol, event.venue_symbol)
        if key[0] in ROUTED_BY_CONTENT:
            key = (key[0], route(event).channel, None, None)
        cached = self._channels.get(key)
        if cached is None:
            cached = self._new_channel(event, key)
        channel, head = cached
        if type(event) is BookSnapshot:
            what = SET_KEY if event.checkpoint else PUBLISH | SET_KEY
        else:
            what = PUBLISH | SET_KEY if type(event) is Bbo else PUBLISH
        if what & PUBLISH:
            channel.seq += 1
            ts = event.ts
            if ts is not None and channel.lag is not None:
                channel.lag.observe((event.recv_ts - ts) / 1e6)
        payload = head + encode_body(event, channel.seq)
        queue = self._queue
        queue.append((channel, payload, event.recv_ts, what))
        if type(event) is Status and event.event is StatusEvent.BOOK_RESET and event.symbol:
            # the book is invalid: late joiners must not read its old image from the key
            book = self._named(book_channel(event.exchange, event.symbol), event.exchange)
            queue.append((book, b"", event.recv_ts, DEL_KEY))
        if len(queue) > self.max_queue:
            queue.popleft()
            self.stats.dropped["queue_full"] += 1
        if len(queue) >= self.max_batch and self._writer is not None:
            self._flush_inline()
        elif not self._wake.is_set():
            self._wake.set()

    def _flush_inline(self) -> None:
        """A full batch is waiting: write it now. The socket write does not block, so producers
        never wait for the writer task (which may be starved under load); the in-flight bound
        and the transport's buffer still hold back a slow Redis, and then the queue drops."""
        writer = self._writer
        assert writer is not None
        if writer.transport.is_closing() or self._in_flight_count >= self.max_in_flight:
            return
        if writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            return
        writer.write(self._pack_batch())

    def _new_channel(
        self, event: Event, key: tuple[type, str, str | None, str | None]
    ) -> tuple[_Channel, bytes]:
        r = route(event)
        # book snapshots and deltas share one channel (and one seq): alias both cache keys
        channel = self._named(r.channel, event.exchange, r.kind)
        cached = (channel, header(event))
        self._channels[key] = cached
        return cached

    def _named(self, name: str, exchange: str, kind: ChannelKind = ChannelKind.BOOK) -> _Channel:
        """The one state object of a channel name (its key has the same name, design §2.1)."""
        encoded = name.encode()
        channel = self._by_name.get(encoded)
        if channel is None:
            lag = None
            if kind is not ChannelKind.STATUS:
                lag = self.stats.lag_histogram(exchange, kind.value)
            key = encoded if kind in (ChannelKind.BOOK, ChannelKind.BBO) else None
            channel = _Channel(encoded, key, 0, (exchange, kind.value), lag)
            self._by_name[encoded] = channel
        return channel

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    # -- I/O ------------------------------------------------------------------------------------

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def run(self) -> None:
        """Connect, publish, and reconnect forever (until cancelled or ``close()``)."""
        while not self._closing:
            delay = self.backoff.next_delay()
            if delay:
                await asyncio.sleep(delay)
            try:
                reader, writer = await self._connect()
            except (TimeoutError, OSError, ConnectionError, RedisReplyError) as exc:
                log.warning(
                    "redis connect to %s:%s failed: %s", self.target.host, self.target.port, exc
                )
                self.stats.publish_errors += 1
                continue
            loop = asyncio.get_running_loop()
            self.backoff.connected(loop.time())
            self.stats.redis_up = True
            self._connected.set()
            try:
                await self._pump(reader, writer)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                if not self._closing:
                    log.warning("redis connection lost: %s", exc)
                    self.stats.publish_errors += 1
            finally:
                self.stats.redis_up = False
                self._connected.clear()
                self.backoff.disconnected(loop.time())
                self._drop_in_flight()
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Flush what is queued (bounded in time), then stop."""
        deadline = asyncio.get_running_loop().time() + flush_timeout
        while (self._queue or self._in_flight) and self.stats.redis_up:
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.01)
        self._closing = True
        self._wake.set()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        t = self.target
        context = self._ssl
        if t.tls and context is None:
            context = ssl.create_default_context()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(t.host, t.port, ssl=context if t.tls else None), 5.0
        )
        hello: list[tuple[bytes, ...]] = []  # AUTH / SELECT / CLIENT SETNAME
        if t.password is not None:
            user = (t.username or "default").encode()
            hello.append((b"AUTH", user, t.password.encode()))
        if t.db:
            hello.append((b"SELECT", str(t.db).encode()))
        hello.append((b"CLIENT", b"SETNAME", b"feedgate-publisher"))
        writer.write(b"".join(_pack(c) for c in hello))
        parser = hiredis.Reader()
        for _ in hello:
            reply = await asyncio.wait_for(_read_reply(reader, parser), 5.0)
            if isinstance(reply, hiredis.ReplyError):
                writer.close()
                raise RedisReplyError(str(reply))
        return reader, writer

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        replies = asyncio.create_task(self._read_replies(reader))
        self._writer = writer
        try:
            while not self._closing:
                if replies.done():
                    replies.result()  # re-raise the reader's error
                    return
                if not self._queue:
                    self._wake.clear()
                    waiter = asyncio.create_task(self._wake.wait())
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
            self._writer = None
            replies.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await replies

    def _pack_batch(self) -> bytes:
        queue = self._queue
        pack = _pack
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
            parts.append(pack((_PUBLISH, channel.name, payload)))
            stamps.append(recv_ts)
            messages[channel.counter_key] += 1
        for key in deletes:
            parts.append(pack((_DEL, key)))
        for key, payload in keys.items():
            parts.append(pack((_SET, key, payload)))
        expected = len(parts)
        self._in_flight.append((expected, stamps))
        self._in_flight_count += expected
        self.stats.queue_depth = len(queue)
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
                    self.stats.publish_errors += 1
                    log.warning("redis error reply: %s", reply)
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

    def _drop_in_flight(self) -> None:
        lost = sum(len(stamps) for _, stamps in self._in_flight)
        if lost:
            self.stats.dropped["redis_disconnected"] += lost
        self._in_flight.clear()
        self._in_flight_count = 0
        self._room.set()


def _pack(command: tuple[bytes, ...]) -> bytes:
    """One RESP command (hiredis packs in C; its stub types the tuple too narrowly)."""
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]
    return packed


class RedisReplyError(ConnectionError):
    """Redis refused a set-up command (AUTH, SELECT)."""


async def _read_reply(reader: asyncio.StreamReader, parser: hiredis.Reader) -> object:
    while True:
        reply = parser.gets()
        if reply is not False:
            return reply
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError("redis closed the connection")
        parser.feed(data)
