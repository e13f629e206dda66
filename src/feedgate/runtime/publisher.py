"""The Redis publisher: events in (synchronously, never blocking), pipelined RESP batches out.

``submit(event)`` runs on the read loop: it assigns the channel's ``seq``, encodes the message once
and appends it to the bounded queue of the link that carries the channel (``redis_link.py``); when
a queue is full its oldest message is dropped and counted (a subscriber sees the ``seq`` jump and
re-reads the key). Against one Redis there is one link and channels go out with ``PUBLISH``.
Against a Redis Cluster (design §2.1) channels go out with ``SPUBLISH`` on one link per master,
chosen by the channel's hash slot; the channel's last-value key has the same name, hence the same
slot and the same link. The slot map is read from the cluster at start and again whenever a node
answers ``MOVED``/``ASK`` or cannot be reached; queued messages then follow their channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

import hiredis

from feedgate.channels import ChannelKind, book_channel
from feedgate.events import Bbo, BookSnapshot, Event, Status, StatusEvent
from feedgate.histogram import FastHistogram
from feedgate.messages import ROUTED_BY_CONTENT, encode_body, header, route
from feedgate.metrics import PublisherStats
from feedgate.protocol.backoff import Backoff
from feedgate.runtime.cluster_map import SlotMap, key_slot, read_reply
from feedgate.runtime.redis_link import (
    DEL_KEY,
    PUBLISH,
    SET_KEY,
    Channel,
    Entry,
    RedisLink,
    open_redis,
    pack,
    publish_prefix,
)
from feedgate.runtime.redis_target import RedisTarget, parse_redis_url

__all__ = ["Publisher", "RedisTarget"]

log = logging.getLogger(__name__)

SLOT_MAP_REFRESH_MIN_S = 0.5  # a burst of MOVED replies re-reads the slot map once
Cached = tuple[Channel, bytes, int]
"""Per (event type, exchange, symbol, venue symbol): its channel, the message header, and what
its messages ask for (``PUBLISH``, ``SET_KEY``)."""


class Publisher:
    def __init__(
        self,
        redis_url: str,
        stats: PublisherStats,
        *,
        cluster: bool = False,
        max_queue: int = 200_000,
        max_batch: int = 10_000,
        max_in_flight: int = 50_000,
        ssl_context: ssl.SSLContext | None = None,
        stream_kinds: frozenset[ChannelKind] = frozenset(),
        stream_maxlen: int = 10_000,
        password: str | None = None,
    ) -> None:
        """``stream_kinds``: channels of these kinds are mirrored to capped Redis Streams.
        ``ssl_context``: for ``rediss://``, built once (CA, client certificate) and shared by
        every connection. ``password`` overrides the url's (``redis.password``)."""
        seeds, self.cluster = parse_redis_url(redis_url, cluster)
        self.seeds = [seed.with_password(password) for seed in seeds]
        self.target = self.seeds[0]
        self.stats = stats
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._full_at = min(max_batch, max_queue + 1)  # one test on the hot path for both
        self._ssl = ssl_context
        self.stream_kinds = stream_kinds
        self.stream_maxlen = stream_maxlen
        # (event type, exchange, symbol, venue symbol) → (channel, cached message header)
        self._channels: dict[tuple[type, str, str | None, str | None], Cached] = {}
        self._by_name: dict[bytes, Channel] = {}
        self._links: dict[tuple[str, int], RedisLink] = {}
        self._link_tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._slot_map: SlotMap | None = None
        self._connected = asyncio.Event()
        self._refresh = asyncio.Event()
        self._closing = False
        # standalone: the one link; cluster: holds what is submitted before the slot map is known
        self._default = self._new_link(self.target)

    def _new_link(self, target: RedisTarget) -> RedisLink:
        return RedisLink(
            target,
            self.stats,
            publish_command=b"SPUBLISH" if self.cluster else b"PUBLISH",
            max_queue=self.max_queue,
            max_batch=self.max_batch,
            max_in_flight=self.max_in_flight,
            ssl_context=self._ssl,
            on_redirect=self._refresh.set if self.cluster else None,
            on_state=self._state_changed,
            total_depth=(lambda: self.queue_depth) if self.cluster else None,
            stream_maxlen=self.stream_maxlen,
        )

    # -- hot path -------------------------------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Queue one event for publishing. Never blocks, never raises for a full queue."""
        etype = type(event)
        key: tuple[type, str, str | None, str | None]
        if etype in ROUTED_BY_CONTENT:
            key = (etype, route(event).channel, None, None)
        else:
            key = (etype, event.exchange, event.symbol, event.venue_symbol)
        cached = self._channels.get(key)
        if cached is None:
            cached = self._new_channel(event, key)
        channel, head, what = cached
        if etype is BookSnapshot and event.checkpoint:  # type: ignore[union-attr]
            what = SET_KEY  # the key only: it carries the seq of the last delta published
        elif what & PUBLISH:
            channel.seq += 1
            ts, lags = event.ts, channel.lags
            if ts is not None and lags is not None:
                lags.append(event.recv_ts - ts)  # counted per batch (FastHistogram.settle)
                if len(lags) >= FastHistogram.SETTLE_AT:
                    assert channel.lag is not None
                    channel.lag.settle()
        link = channel.link
        queue = link.queue
        queue.append((channel, head + encode_body(event, channel.seq), event.recv_ts, what))
        if etype is Status and event.event is StatusEvent.BOOK_RESET and event.symbol:  # type: ignore[union-attr]
            # the book is invalid: late joiners must not read its old image from the key
            book = self._named(book_channel(event.exchange, event.symbol), event.exchange)
            book.link.queue.append((book, b"", event.recv_ts, DEL_KEY))
            book.link.schedule()
        if len(queue) >= self._full_at:
            if len(queue) > self.max_queue:
                queue.popleft()
                self.stats.dropped["queue_full"] += 1
            if len(queue) >= self.max_batch:
                link.flush_inline()
        if link.flush is None:
            link.schedule()

    def _new_channel(self, event: Event, key: tuple[type, str, str | None, str | None]) -> Cached:
        r = route(event)
        # book snapshots and deltas share one channel (and one seq): alias both cache keys
        channel = self._named(r.channel, event.exchange, r.kind)
        # what every message of this key asks for (a book checkpoint, SET only, is told apart
        # per message): PUBLISH, plus SET for the channels whose key holds the latest message
        what = PUBLISH | SET_KEY if type(event) in (BookSnapshot, Bbo) else PUBLISH
        cached = (channel, header(event), what)
        self._channels[key] = cached
        return cached

    def _named(self, name: str, exchange: str, kind: ChannelKind = ChannelKind.BOOK) -> Channel:
        """The one state object of a channel name (its key has the same name, design §2.1)."""
        encoded = name.encode()
        channel = self._by_name.get(encoded)
        if channel is None:
            lag = None
            if kind is not ChannelKind.STATUS:
                lag = self.stats.lag_histogram(exchange, kind.value)
            key = encoded if kind in (ChannelKind.BOOK, ChannelKind.BBO) else None
            slot = key_slot(encoded) if self.cluster else 0
            counter_key = (exchange, kind.value)
            channel = Channel(encoded, key, 0, counter_key, lag, slot, self._link_for(slot))
            channel.lags = lag.pending if lag is not None else None
            channel.stream = kind in self.stream_kinds
            channel.prefix = publish_prefix(self._default.publish_command, encoded)
            self._by_name[encoded] = channel
        return channel

    def _link_for(self, slot: int) -> RedisLink:
        if self._slot_map is None:
            return self._default
        owner = self._slot_map.owner[slot]
        return self._links.get(owner, self._default) if owner else self._default

    @property
    def queue_depth(self) -> int:
        depth = len(self._default.queue)
        if self.cluster:
            depth += sum(len(link.queue) for link in self._links.values())
        return depth

    @property
    def in_flight(self) -> bool:
        return any(link.busy for link in self._all_links())

    def _all_links(self) -> list[RedisLink]:
        return [self._default, *self._links.values()]

    # -- I/O ------------------------------------------------------------------------------------

    def _state_changed(self) -> None:
        if self.cluster:
            up = bool(self._links) and all(link.up for link in self._links.values())
        else:
            up = self._default.up
        self.stats.redis_up = up
        if up:
            self._connected.set()
        else:
            self._connected.clear()

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def run(self) -> None:
        """Connect, publish, and reconnect forever (until cancelled or ``close()``)."""
        if not self.cluster:
            await self._default.run()
            return
        backoff = Backoff(base_s=0.2, cap_s=5.0, stable_after_s=10.0)
        loop = asyncio.get_running_loop()
        try:
            while not self._closing:
                delay = backoff.next_delay()
                if delay:
                    await asyncio.sleep(delay)
                slot_map = await self._read_slot_map()
                if slot_map is None:
                    backoff.disconnected(loop.time())
                    continue
                backoff.connected(loop.time())
                self._apply(slot_map)
                self._refresh.clear()
                await self._refresh.wait()
                await asyncio.sleep(SLOT_MAP_REFRESH_MIN_S)
        finally:
            await self._stop_links(list(self._links))

    async def _read_slot_map(self) -> SlotMap | None:
        """``CLUSTER SLOTS`` from the first node that answers (known masters, then the seeds)."""
        candidates = [self.target.at(*addr) for addr in self._links] + self.seeds
        for target in candidates:
            try:
                reader, writer = await open_redis(target, self._ssl, b"feedgate-slots")
            except (TimeoutError, OSError, ConnectionError) as exc:
                log.info("cluster node %s:%s did not answer: %s", target.host, target.port, exc)
                continue
            try:
                writer.write(pack((b"CLUSTER", b"SLOTS")))
                reply = await asyncio.wait_for(read_reply(reader, hiredis.Reader()), 5.0)
                if isinstance(reply, hiredis.ReplyError):
                    log.warning("CLUSTER SLOTS refused by %s:%s: %s", *target.address, reply)
                    continue
                slot_map = SlotMap.from_cluster_slots(reply, target.host)
            except (TimeoutError, OSError, ConnectionError, ValueError, IndexError) as exc:
                log.warning("CLUSTER SLOTS from %s:%s failed: %s", *target.address, exc)
                continue
            finally:
                writer.close()
            if not slot_map.complete:
                log.warning("the cluster does not serve every slot yet (seen from %s)", target.host)
            return slot_map
        self.stats.publish_errors += 1
        log.warning("no cluster node answered CLUSTER SLOTS")
        return None

    def _apply(self, slot_map: SlotMap) -> None:
        """Open links to new masters, point every channel at its slot's owner, move queued
        messages after their channels (order within a channel is kept), retire old masters."""
        for addr in slot_map.masters:
            if addr not in self._links:
                link = self._new_link(self.target.at(*addr))
                self._links[addr] = link
                self._link_tasks[addr] = asyncio.create_task(link.run(), name=f"redis-{addr}")
        gone = [addr for addr in self._links if addr not in slot_map.masters]
        self._slot_map = slot_map
        for channel in self._by_name.values():
            channel.link = self._link_for(channel.slot)
        for link in self._all_links():
            if any(entry[0].link is not link for entry in link.queue):
                self._reroute(link)
        if gone:
            asyncio.get_running_loop().create_task(self._stop_links(gone))
        self._state_changed()
        log.info("redis cluster: %d masters", len(slot_map.masters))

    @staticmethod
    def _reroute(link: RedisLink) -> None:
        kept: list[Entry] = []
        for entry in link.queue:
            target = entry[0].link
            if target is link:
                kept.append(entry)
            else:
                target.queue.append(entry)
                target.schedule()
        link.queue.clear()
        link.queue.extend(kept)

    async def _stop_links(self, addresses: list[tuple[str, int]]) -> None:
        tasks = []
        for addr in addresses:
            link = self._links.pop(addr)
            link.stop()
            tasks.append(self._link_tasks.pop(addr))
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._state_changed()

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Flush what is queued (bounded in time), then stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_timeout
        while self.in_flight and self.stats.redis_up:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.01)
        self._closing = True
        for link in self._all_links():
            link.stop()
        self._refresh.set()
