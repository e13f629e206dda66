"""One pipelined connection to one Redis server: a bounded queue in, RESP batches out.

The publisher appends to ``queue`` on the read loop (it never blocks) and ``schedule()``s a write:
at the end of the event loop iteration everything queued is packed into one pipelined write
(``PUBLISH``/``SPUBLISH`` per message, one ``SET`` per last-value key, deduplicated within the
batch). Once set up, the socket is driven by callbacks (``_LinkProtocol``): replies are parsed
with hiredis as they are read and record the publish latency; no task runs per batch. A slow
or absent server costs drops, not memory or stalls. On a broken connection the link reconnects
with backoff; the commands that were in flight are counted as dropped (they may or may not have
been published). A standalone Redis has one link; a cluster has one per master, each carrying
the channels of its slots.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

# _count_elements: what Counter.update runs once its checks are done (the stdlib defines it, in
# C on CPython); the checks, an isinstance against the Mapping ABC, cost 0.2 µs a call, most of
# what counting a one-message batch costs
from collections import _count_elements, deque  # type: ignore[attr-defined]
from collections.abc import Callable
from dataclasses import dataclass

import hiredis

from feedgate.clock import now_us
from feedgate.histogram import FastHistogram
from feedgate.metrics import PublisherStats
from feedgate.protocol.backoff import Backoff
from feedgate.runtime.cluster_map import read_reply
from feedgate.runtime.redis_target import RedisTarget

log = logging.getLogger(__name__)

_SET = b"SET"
_DEL = b"DEL"
_XADD = b"XADD"
_MAXLEN = b"MAXLEN"
PUBLISH, SET_KEY, DEL_KEY = 1, 2, 4  # what a queued entry asks for
_CRLF = b"\r\n"
_INTEGER_REPLY_BYTES = b":0123456789\r\n"  # all an integer reply (PUBLISH's) is made of
_JOIN = 1024  # parts joined into one write buffer (a message is four)
_BULK_LENGTHS = [b"$%d\r\n" % n for n in range(4096)]  # bulk-string length lines, by length
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
    lags: list[int] | None = None  # ``lag.pending``: lags (µs) waiting to be counted
    prefix: bytes = b""
    """``PUBLISH``/``SPUBLISH`` and the channel name in RESP, up to the payload's length line
    (``publish_prefix``)."""


def publish_prefix(command: bytes, name: bytes) -> bytes:
    """The RESP of ``command name <payload>`` up to the payload: what every message on the
    channel starts with (a three-element array; the payload follows as ``$<len>\\r\\n…\\r\\n``)."""
    packed = pack((command, name, b""))
    return packed[: -len(b"$0\r\n\r\n")]


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


class _LinkProtocol(asyncio.Protocol):
    """The link's socket once it is set up: replies are handled in the read callback itself
    (no task to wake per read), and the transport's buffer limit pauses writing."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.link.replies(data)

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.link.paused = True

    def resume_writing(self) -> None:
        self.link.paused = False
        self.link.schedule()


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
        self.paused = False  # the transport's write buffer is over its limit
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = (
            None  # asyncio.get_running_loop() costs a getpid()
        )
        self._parser = hiredis.Reader()
        self._mid_reply = False  # the parser was last fed a read that did not end a line
        self.flush: asyncio.Handle | None = None  # a write scheduled for the end of this turn
        self._in_flight: deque[tuple[int, list[int]]] = deque()  # (replies expected, recv_ts)
        self._in_flight_count = 0
        self._closing = False
        self.backoff = Backoff(base_s=0.2, cap_s=5.0, stable_after_s=10.0)

    @property
    def busy(self) -> bool:
        return bool(self.queue or self._in_flight)

    @property
    def connected(self) -> bool:
        return self._transport is not None

    # -- writing --------------------------------------------------------------------------------

    def schedule(self) -> None:
        """Something was queued: write it once the callbacks of this event loop iteration have
        run, so everything the read callbacks of one iteration submitted goes out in one write
        (and nothing waits for a task to be scheduled)."""
        if self.flush is None and self._loop is not None and self._transport is not None:
            self.flush = self._loop.call_soon(self._write_queued)

    def _write_queued(self) -> None:
        self.flush = None
        while self.queue and self._room():
            self._write_batch()

    def flush_inline(self) -> None:
        """A full batch is waiting: write it now, unless the server is behind (the in-flight
        bound and the transport's buffer hold back a slow Redis, and then the queue drops)."""
        if self._room():
            self._write_batch()

    def _room(self) -> bool:
        transport = self._transport
        return (
            transport is not None
            and not self.paused
            and self._in_flight_count < self.max_in_flight
            and not transport.is_closing()
        )

    def _write_batch(self) -> None:
        transport = self._transport
        assert transport is not None
        # write() per piece, not writelines(): uvloop's writelines queues the data for the next
        # poll (a watch on the socket, two epoll_ctl calls and a loop iteration later) where
        # write() sends at once
        for piece in self._pack_batch():
            transport.write(piece)

    def stop(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    # -- connection -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, publish, and reconnect until ``stop()`` (or cancellation)."""
        while not self._closing:
            delay = self.backoff.next_delay()
            if delay:
                await asyncio.sleep(delay)
            try:
                _, writer = await open_redis(self.target, self._ssl)
            except (TimeoutError, OSError, ConnectionError) as exc:
                t = self.target
                log.warning("redis connect to %s:%s failed: %s", t.host, t.port, exc)
                self.stats.publish_errors += 1
                if self._on_redirect is not None:
                    self._on_redirect()  # a cluster node that is gone: re-read the slot map
                continue
            t = self.target
            log.debug("redis %s:%s connected as %s", t.host, t.port, t.username or "default")
            loop = self._loop = asyncio.get_running_loop()
            self.backoff.connected(loop.time())
            # from here on the socket is driven by callbacks: the stream reader had nothing
            # left to read (every set-up command was answered, nothing else was sent)
            transport = writer.transport
            protocol = _LinkProtocol(self)
            transport.set_protocol(protocol)
            transport.set_write_buffer_limits(high=WRITE_BUFFER_LIMIT)
            self._parser = hiredis.Reader()
            self._mid_reply = False
            self.paused = False
            self._transport = transport  # type: ignore[assignment]
            self._set_up(True)
            self.schedule()
            try:
                error = await protocol.lost
                if error is not None and not self._closing:
                    log.warning("redis connection lost: %s", error)
                    self.stats.publish_errors += 1
                elif not self._closing:
                    log.warning("redis closed the connection")
                    self.stats.publish_errors += 1
            finally:
                self._transport = None
                if self.flush is not None:
                    self.flush.cancel()
                    self.flush = None
                self._set_up(False)
                self.backoff.disconnected(loop.time())
                self.drop_in_flight()
                transport.close()

    def _set_up(self, up: bool) -> None:
        self.up = up
        if self._on_state is not None:
            self._on_state()

    # -- batches and replies --------------------------------------------------------------------

    def _pack_batch(self) -> list[bytes]:
        """Up to ``max_batch`` queued entries as one pipelined write. A message's ``PUBLISH``
        is its channel's RESP prefix (command and channel name, packed once per channel) and
        the payload as a bulk string: four references into one join, about a tenth of
        ``hiredis.pack_command`` per message. Keys (``SET``/``DEL``, deduplicated within the
        batch) and stream mirrors are packed by hiredis. Returns the write buffers."""
        queue = self.queue
        popleft = queue.popleft
        parts: list[bytes] = []
        extend = parts.extend
        stamps: list[int] = []
        stamp = stamps.append
        tally: list[tuple[str, str]] = []
        count = tally.append
        keys: dict[bytes, bytes] = {}
        deletes: set[bytes] = set()
        mirrors = 0
        lengths, cached = _BULK_LENGTHS, len(_BULK_LENGTHS)
        for _ in range(min(len(queue), self.max_batch)):
            channel, payload, recv_ts, what = popleft()
            if what != PUBLISH:
                if what & SET_KEY and channel.key is not None:
                    keys[channel.key] = payload
                    deletes.discard(channel.key)
                elif what & DEL_KEY and channel.key is not None:
                    keys.pop(channel.key, None)
                    deletes.add(channel.key)
                if not what & PUBLISH:
                    continue
            size = len(payload)
            extend((channel.prefix, lengths[size] if size < cached else b"$%d\r\n" % size,
                    payload, _CRLF))  # fmt: skip
            if channel.stream:  # the mirror goes in the same pipeline, right behind
                parts.append(pack((_XADD, channel.name, _MAXLEN, b"~", self.stream_maxlen,
                                   b"*", b"m", payload)))  # fmt: skip
                mirrors += 1
            stamp(recv_ts)
            count(channel.counter_key)
        for key in deletes:
            parts.append(pack((_DEL, key)))
        for key, payload in keys.items():
            parts.append(pack((_SET, key, payload)))
        _count_elements(self.stats.messages, tally)
        expected = len(stamps) + mirrors + len(deletes) + len(keys)
        self._in_flight.append((expected, stamps))
        self._in_flight_count += expected
        self.stats.queue_depth = len(queue) if self._total_depth is None else self._total_depth()
        # joined in pieces of about 60 kB, written with one writelines: a join of the whole
        # batch (megabytes at saturation) is a fresh mmap per batch, and its page faults cost
        # more than the copy
        if len(parts) <= _JOIN:
            return [b"".join(parts)]
        return [b"".join(parts[i : i + _JOIN]) for i in range(0, len(parts), _JOIN)]

    def replies(self, data: bytes) -> None:
        """Replies read from the socket: count them off the batches in flight, and record each
        message's latency when its batch is acknowledged."""
        parser = self._parser
        was_full = self._in_flight_count >= self.max_in_flight
        ends_a_line = data[-1:] == b"\n"
        if (
            ends_a_line
            and not self._mid_reply
            and not parser.has_data()
            and not data.translate(None, _INTEGER_REPLY_BYTES)
        ):
            # whole integer replies only (PUBLISH's receiver counts, the common read): a reply
            # a line, counted in C instead of parsed one by one. Anything else (an error, OK,
            # a stream id, a reply cut by the read) goes through the parser.
            self._acknowledged(data.count(b"\n"))
            if was_full and self.queue:
                self.schedule()
            return
        # the parser may hold part of a reply unless this read ended a line: its has_data()
        # misses a reply cut right after its type byte, and a bulk reply waiting for its body
        # is all it counts as held then
        self._mid_reply = not ends_a_line
        parser.feed(data)
        in_flight = self._in_flight
        latency = self.stats.latency
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
            latency.observe_since(now_us(), stamps)
        if was_full and self.queue:
            self.schedule()

    def _acknowledged(self, count: int) -> None:
        """``count`` replies arrived, none an error: whole batches are done, the next one
        partly."""
        in_flight = self._in_flight
        latency = self.stats.latency
        self._in_flight_count -= count
        while count:
            expected, stamps = in_flight[0]
            if count < expected:
                in_flight[0] = (expected - count, stamps)
                return
            count -= expected
            in_flight.popleft()
            latency.observe_since(now_us(), stamps)

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


def pack(command: tuple[bytes, ...]) -> bytes:
    """One RESP command (hiredis packs in C; its stub types the tuple too narrowly)."""
    packed: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]
    return packed
