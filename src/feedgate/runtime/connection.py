"""The connection runner: one venue connection slot, carried out for its pure protocol.

It opens the socket (paced by the venue's connect limiter and a backoff), feeds every frame with
its receive time to the protocol, and carries out the actions: events go to the publisher
(synchronously, never awaiting Redis), sends go through a paced sender task, snapshot requests to
the REST fetcher, reconnects and fatal stops end the read loop. A tick task checks liveness
(transport idle vs data idle per channel, ``HeartbeatPolicy``) and gives the protocol its timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from feedgate.channels import ChannelKind
from feedgate.errors import FatalConnectionError
from feedgate.events import (
    Announcement,
    Bbo,
    BookDelta,
    BookSnapshot,
    Onchain,
    PrivateUpdate,
    Status,
    StatusEvent,
    Trade,
)
from feedgate.metrics import ConnectionStats, VenueMetrics
from feedgate.protocol.backoff import Backoff
from feedgate.protocol.base import (
    Action,
    Count,
    CountParseError,
    Emit,
    Fatal,
    FetchSnapshot,
    Observe,
    Reconnect,
    Resync,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.heartbeat import HeartbeatPolicy
from feedgate.protocol.ratelimit import RateLimits, SlidingWindow
from feedgate.runtime.closing import CloseVerdict, judge_close, judge_handshake
from feedgate.runtime.publisher import Publisher
from feedgate.runtime.snapshots import SnapshotFetcher
from feedgate.runtime.transport import HandshakeRejected, Transport, TransportClosed

log = logging.getLogger(__name__)

_DATA_KIND: dict[type, str] = {
    Trade: ChannelKind.TRADES.value,
    BookDelta: ChannelKind.BOOK.value,
    BookSnapshot: ChannelKind.BOOK.value,
    Bbo: ChannelKind.BBO.value,
    Announcement: ChannelKind.ANNOUNCEMENTS.value,
    Onchain: ChannelKind.ONCHAIN.value,
    PrivateUpdate: ChannelKind.PRIVATE.value,
}

Opener = Callable[[str, list[tuple[str, str]]], Awaitable[Transport]]
"""Open a WebSocket to a URL with extra upgrade headers."""
FAIRNESS_BURST = 32
"""Frames a read loop handles before it yields to the event loop."""


def now_us() -> int:
    return time.time_ns() // 1000


class _EndSession(Exception):
    """Leave the read loop: reconnect (``fatal`` False) or stop for good."""

    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


class ConnectionRunner:
    def __init__(
        self,
        protocol: VenueProtocol,
        *,
        connection_id: str,
        opener: Opener,
        publisher: Publisher,
        snapshots: SnapshotFetcher,
        stats: ConnectionStats,
        connect_limiter: SlidingWindow,
        send_limiter_factory: Callable[[], RateLimits | SlidingWindow],
        heartbeat: HeartbeatPolicy,
        backoff: Backoff | None = None,
        channels: Iterable[str] = (),
        venue_metrics: VenueMetrics | None = None,
    ) -> None:
        self.protocol = protocol
        self.exchange = protocol.exchange
        self.connection_id = connection_id
        self._open = opener
        self.publisher = publisher
        self.snapshots = snapshots
        self.stats = stats
        self.connect_limiter = connect_limiter
        self._send_limiter_factory = send_limiter_factory
        self.heartbeat = heartbeat
        self.backoff = backoff or Backoff()
        self.channels = tuple(channels)
        self.venue_metrics = venue_metrics or VenueMetrics()
        self._transport: Transport | None = None
        self._send_queue: asyncio.Queue[str] = asyncio.Queue()
        self._end: _EndSession | None = None
        self._last_frame_s = 0.0
        self._last_data_s: dict[str, float] = {}
        self._stale: set[str] = set()
        self._stopping = False
        self._closers: set[asyncio.Task[None]] = set()
        self.sessions = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, read, reconnect, until cancelled or a fatal close."""
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                delay = self.backoff.next_delay()
                if delay:
                    self.stats.state = "backoff"
                    await asyncio.sleep(delay)
                # gate on actual attempt times, re-checked after every wake-up: a reservation
                # made earlier could fire late together with later ones when the loop stalls,
                # and the venue would count them in one window
                while (wait := self.connect_limiter.delay(loop.time())) > 0:
                    self.stats.state = "backoff"
                    await asyncio.sleep(wait)
                self.connect_limiter.acquire(loop.time())
                self.stats.state = "connecting"
                url = self.protocol.connect_url()
                try:
                    headers = self.protocol.connect_headers(now_us())
                    transport = await self._open(url, headers)
                except HandshakeRejected as exc:
                    verdict = judge_handshake(self.exchange, exc.status)
                    if verdict.fatal:
                        log.error("%s: %s: stopping for good", self.connection_id, exc)
                        self.stats.state = "fatal"
                        self.stats.fatal_reason = verdict.reason
                        self._status(StatusEvent.DISCONNECTED, verdict.reason)
                        raise FatalConnectionError(verdict.reason) from None
                    log.warning("%s: %s", self.connection_id, exc)
                    self.stats.reconnects[verdict.reason] += 1
                    continue
                except Exception as exc:  # any other failure to open is retried after backoff
                    log.warning("%s: connect to %s failed: %s", self.connection_id, url, exc)
                    self.stats.reconnects["connect_failed"] += 1
                    continue
                reason = await self._session(transport)
                if reason.fatal:
                    log.error("%s: stopping for good: %s", self.connection_id, reason.reason)
                    self.stats.state = "fatal"
                    self.stats.fatal_reason = reason.reason
                    raise FatalConnectionError(reason.reason)
                self.stats.reconnects[reason.reason] += 1
        finally:
            self.stats.up = False
            if self.stats.state != "fatal":
                self.stats.state = "stopped"

    def stop(self) -> None:
        self._stopping = True
        self._finish(_EndSession("shutdown"))

    async def _session(self, transport: Transport) -> _EndSession:
        loop = asyncio.get_running_loop()
        self._transport = transport
        self._end = None
        self.sessions += 1
        self.backoff.connected(loop.time())
        self._last_frame_s = loop.time()
        self._last_data_s = dict.fromkeys(self.channels, loop.time())
        self._stale.clear()
        self._send_queue = asyncio.Queue()
        self.stats.state = "subscribing"
        self._status(StatusEvent.CONNECTED, "")
        sender = asyncio.create_task(self._sender(transport, self._send_limiter_factory()))
        ticker = asyncio.create_task(self._ticker())
        self._carry_out(self.protocol.on_open(now_us()))
        try:
            end = await self._read(transport)
        finally:
            sender.cancel()
            ticker.cancel()
            for task in (sender, ticker):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._transport = None
            self.stats.up = False
            self.backoff.disconnected(loop.time())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(transport.close(), 2.0)
            self._carry_out(self.protocol.on_close(now_us()))
        self._status(StatusEvent.DISCONNECTED, end.reason)
        return end

    async def _read(self, transport: Transport) -> _EndSession:
        protocol = self.protocol
        stats = self.stats
        clock = asyncio.get_running_loop().time
        burst = 0
        while True:
            if self._end is not None:
                return self._end
            burst += 1
            if burst >= FAIRNESS_BURST:
                # recv() does not suspend while frames are queued: yield now and then so other
                # connections, the publisher and the reply reader get their turn
                burst = 0
                await asyncio.sleep(0)
            try:
                frame = await transport.recv()
            except TransportClosed as exc:
                if self._end is not None:
                    return self._end
                verdict: CloseVerdict = judge_close(
                    self.exchange, exc.code, exc.reason, exc.sent_code
                )
                if exc.sent_reason:  # we closed: say why (a frame over max_size, no pong)
                    log.warning("%s: closed: %s", self.connection_id, exc.sent_reason)
                return _EndSession(verdict.reason, fatal=verdict.fatal)
            recv_ts = time.time_ns() // 1000
            stats.frames += 1
            self._last_frame_s = clock()
            try:
                self._carry_out(protocol.on_frame(frame, recv_ts))
            except Exception:
                # on_frame must not raise (its contract), nor may an event fail to encode: a
                # bug, then, that must cost this one session, not the connection for good (an
                # exception here would end the runner). The state may be half updated, so the
                # session starts over, as after any lost frame.
                stats.parse_errors += 1
                log.exception("%s: a frame broke the protocol; reconnecting", self.connection_id)
                return _EndSession("protocol_error")

    # -- actions --------------------------------------------------------------------------------

    def _carry_out(self, actions: list[Action]) -> None:
        submit = self.publisher.submit
        for action in actions:
            if type(action) is Emit:
                event = action.event
                submit(event)
                kind = _DATA_KIND.get(type(event))
                if kind is not None:
                    self._last_data_s[kind] = self._last_frame_s
                    self.stats.last_message_s = event.recv_ts / 1e6
                elif type(event) is Status and event.event is StatusEvent.REJECTED:
                    self.stats.rejected += 1
            elif type(action) is Send:
                self._send_queue.put_nowait(action.data)
            elif type(action) is FetchSnapshot:
                self._fetch(action)
            elif type(action) is CountParseError:
                self.stats.parse_errors += 1
                if self.stats.parse_errors <= 10 or self.stats.parse_errors % 1000 == 0:
                    log.warning(
                        "%s: parse error #%d: %s",
                        self.connection_id,
                        self.stats.parse_errors,
                        action.detail,
                    )
            elif type(action) is Resync:
                self.stats.resyncs[action.reason] += 1
            elif type(action) is Subscribed:
                self.stats.up = True
                self.stats.state = "subscribed"
            elif type(action) is Reconnect:
                self._finish(_EndSession(action.reason))
            elif type(action) is Fatal:
                self._finish(_EndSession(action.reason, fatal=True))
            elif type(action) is Observe:
                self.venue_metrics.observe(action.metric, action.labels, action.value)
            elif type(action) is Count:
                self.venue_metrics.count(action.metric, action.labels, time.time())

    def _finish(self, end: _EndSession) -> None:
        """End the session: the first reason wins; closing the socket wakes the read loop even
        when the venue sends nothing more."""
        if self._end is not None and not end.fatal:
            return
        first = self._end is None
        self._end = end
        if first and self._transport is not None:
            task = asyncio.get_running_loop().create_task(self._transport.close())
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)

    def _fetch(self, action: FetchSnapshot) -> None:
        session = self.sessions

        def deliver(body: bytes) -> None:
            if session == self.sessions and self._transport is not None:
                self._carry_out(self.protocol.on_snapshot(action.key, body, now_us()))

        def fail(reason: str) -> None:
            if session == self.sessions and self._transport is not None:
                self._carry_out(self.protocol.on_snapshot_failed(action.key, reason, now_us()))

        self.snapshots.request(action.url, action.weight, deliver, fail)

    def _status(self, event: StatusEvent, reason: str, channel: str | None = None) -> None:
        detail = f"{reason} ({channel})" if channel else reason
        self.publisher.submit(Status(self.exchange, event, self.connection_id, detail, now_us()))

    # -- tasks ----------------------------------------------------------------------------------

    async def _sender(self, transport: Transport, limiter: RateLimits | SlidingWindow) -> None:
        """Send queued frames, paced under the venue's per-connection message limit."""
        loop = asyncio.get_running_loop()
        while True:
            data = await self._send_queue.get()
            wait = limiter.acquire(loop.time())
            if wait:
                await asyncio.sleep(wait)
            try:
                await transport.send(data)
            except TransportClosed:
                return

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            report = self.heartbeat.check(
                loop.time(), self._last_frame_s, self._last_data_s, self._stale
            )
            for channel in report.stale:
                self._status(StatusEvent.STALE, "no data", channel)
            for channel in report.recovered:
                self._status(StatusEvent.RECOVERED, "data again", channel)
            self._carry_out(self.protocol.on_tick(now_us()))
            if report.reconnect is not None:
                self._finish(_EndSession(report.reconnect))
