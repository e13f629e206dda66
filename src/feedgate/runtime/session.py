"""One socket of a connection slot, carried out for its protocol instance.

It feeds every frame with its receive time to the protocol and carries out the actions: events
go to the session's ``sink`` (synchronously, never awaiting Redis), sends through a paced sender
task, snapshot requests to the REST fetcher; reconnects, rotations and fatal stops are handed to
the slot (``ConnectionRunner``). A tick task checks liveness (transport idle vs data idle per
channel, ``HeartbeatPolicy``) and gives the protocol its timers.

A slot usually has one session. During a make-before-break rotation it has two: the old one,
still ``primary`` (it owns the slot's state in the stats and publishes), and its replacement,
whose sink the rotation filters until it switches the roles (``runtime/rotation.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from feedgate.channels import ChannelKind
from feedgate.events import (
    Announcement,
    Bbo,
    BookDelta,
    BookSnapshot,
    Event,
    Onchain,
    PrivateUpdate,
    Status,
    StatusEvent,
    Trade,
)
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
    Rotate,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.ratelimit import RateLimits, SlidingWindow
from feedgate.runtime.closing import CloseVerdict, judge_close
from feedgate.runtime.transport import FrameHandler, Transport, TransportClosed

if TYPE_CHECKING:
    from feedgate.runtime.connection import ConnectionRunner

log = logging.getLogger(__name__)

DATA_KIND: dict[type, str] = {
    Trade: ChannelKind.TRADES.value,
    BookDelta: ChannelKind.BOOK.value,
    BookSnapshot: ChannelKind.BOOK.value,
    Bbo: ChannelKind.BBO.value,
    Announcement: ChannelKind.ANNOUNCEMENTS.value,
    Onchain: ChannelKind.ONCHAIN.value,
    PrivateUpdate: ChannelKind.PRIVATE.value,
}
Sink = Callable[[Event], None]


def now_us() -> int:
    return time.time_ns() // 1000


def drop(event: Event) -> None:
    """The sink of a session whose output is no longer published (replaced by a rotation)."""


class EndSession(Exception):
    """Leave the read loop: reconnect (``fatal`` False) or stop for good."""

    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


class Session:
    def __init__(
        self,
        runner: ConnectionRunner,
        protocol: VenueProtocol,
        transport: Transport,
        *,
        primary: bool,
        sink: Sink,
    ) -> None:
        self.runner = runner
        self.protocol = protocol
        self.transport = transport
        self.primary = primary
        self.sink = sink
        self.stats = runner.stats
        self.end: EndSession | None = None
        self.open = False  # between on_open and teardown: REST bodies are still wanted
        self.subscribed = False
        self.subscribed_at = 0.0
        self.opened_at = 0.0
        self.last_frame_s = 0.0
        self.last_data_s: dict[str, float] = {}
        self.stale: set[str] = set()
        self.task: asyncio.Task[EndSession] | None = None
        self._send_queue: asyncio.Queue[str] = asyncio.Queue()
        self._closers: set[asyncio.Task[None]] = set()
        self._ended = asyncio.Event()
        self._reading = True

    def start(self) -> asyncio.Task[EndSession]:
        # stamped here, not when the task first runs: the lifetime timer is set from it now
        self.opened_at = self.last_frame_s = asyncio.get_running_loop().time()
        self.task = asyncio.create_task(self._run(), name=self.runner.connection_id)
        return self.task

    async def wait(self) -> EndSession:
        assert self.task is not None
        return await self.task

    # -- lifecycle ------------------------------------------------------------------------------

    async def _run(self) -> EndSession:
        self.last_data_s = dict.fromkeys(self.runner.channels, self.opened_at)
        self.open = True
        if self.primary:
            self.stats.state = "subscribing"
        self.status(StatusEvent.CONNECTED, "")
        sender = asyncio.create_task(self._sender(self.runner.send_limiter_factory()))
        ticker = asyncio.create_task(self._ticker())
        transport = self.transport
        self.carry_out(self.protocol.on_open(now_us()))
        try:
            end = await self._read(transport)
            # before the teardown: a rotation may switch to the replacement now, and then
            # this socket's close-time output (book resets, disconnected) must not go out
            self.runner.session_ending(self, end)
        finally:
            self.open = False
            sender.cancel()
            ticker.cancel()
            for task in (sender, ticker):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.primary:
                self.stats.up = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(transport.close(), 2.0)
            self.carry_out(self.protocol.on_close(now_us()))
        self.status(StatusEvent.DISCONNECTED, end.reason)
        return end

    async def _read(self, transport: Transport) -> EndSession:
        """Frames are pushed to ``frame_handler()`` by the transport; this waits for the end: the
        connection closed, or ``finish()`` (which also closes it, but need not wait for that)."""
        ended = asyncio.ensure_future(self._ended.wait())
        transport.start(self.frame_handler())
        closed = asyncio.ensure_future(transport.closed())
        try:
            await asyncio.wait((ended, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._reading = False
            ended.cancel()
            if not closed.done():
                closed.cancel()
        if self.end is not None:
            return self.end
        how = closed.result()  # re-raises what the frame handler raised
        if how.sent_reason:  # we closed: say why (a frame over max_size, no pong)
            log.warning("%s: closed: %s", self.runner.connection_id, how.sent_reason)
        verdict: CloseVerdict = judge_close(
            self.runner.exchange, how.code, how.reason, how.sent_code
        )
        return EndSession(verdict.reason, fatal=verdict.fatal)

    def frame_handler(self) -> FrameHandler:
        """The function the transport calls per received message, as it is read (it never
        awaits). A closure: what it needs per frame sits in local cells instead of being looked
        up on ``self`` each time (the sink is looked up: a rotation swaps it)."""
        on_frame = self.protocol.on_frame
        stats = self.stats
        last_data = self.last_data_s
        data_kind = DATA_KIND.get
        clock = asyncio.get_running_loop().time
        time_ns = time.time_ns

        def on_message(frame: str | bytes) -> None:
            if not self._reading:
                return  # ended: what still arrives is not wanted
            recv_ts = time_ns() // 1000
            stats.frames += 1
            now = self.last_frame_s = clock()
            try:
                actions = on_frame(frame, recv_ts)
                if len(actions) == 1 and type(action := actions[0]) is Emit:
                    # most frames are one data event: carry_out's first case, without the loop
                    event = action.event
                    kind = data_kind(type(event))
                    if kind is not None:
                        self.sink(event)
                        last_data[kind] = now
                        stats.last_message_us = event.recv_ts
                        return
                self.carry_out(actions)
            except Exception:
                # on_frame must not raise (its contract), nor may an event fail to encode: a
                # bug, then, that must cost this one session, not the connection for good. The
                # state may be half updated, so the session starts over, as after a lost frame.
                stats.parse_errors += 1
                log.exception(
                    "%s: a frame broke the protocol; reconnecting", self.runner.connection_id
                )
                self.finish(EndSession("protocol_error"))

        return on_message

    def finish(self, end: EndSession) -> None:
        """End the session: the first reason wins; closing the socket wakes the read loop even
        when the venue sends nothing more."""
        if self.end is not None and not end.fatal:
            return
        first = self.end is None
        self.end = end
        self._reading = False  # what still arrives is not handed to the protocol
        self._ended.set()
        if first and self.open:
            task = asyncio.get_running_loop().create_task(self.transport.close())
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)

    # -- actions --------------------------------------------------------------------------------

    def carry_out(self, actions: list[Action]) -> None:
        sink = self.sink
        for action in actions:
            if type(action) is Emit:
                event = action.event
                sink(event)
                kind = DATA_KIND.get(type(event))
                if kind is not None:
                    self.last_data_s[kind] = self.last_frame_s
                    self.stats.last_message_us = event.recv_ts
                elif type(event) is Status and event.event is StatusEvent.REJECTED and self.primary:
                    self.stats.rejected += 1
            elif type(action) is Send:
                self._send_queue.put_nowait(action.data)
            elif type(action) is FetchSnapshot:
                self._fetch(action)
            elif type(action) is CountParseError:
                self._parse_error(action.detail)
            elif type(action) is Resync:
                if self.primary:  # a replacement's books are not the published ones yet
                    self.stats.resyncs[action.reason] += 1
            elif type(action) is Subscribed:
                self.subscribed = True
                self.subscribed_at = asyncio.get_running_loop().time()
                self.runner.session_subscribed(self)
            elif type(action) is Reconnect:
                self.finish(EndSession(action.reason))
            elif type(action) is Rotate:
                self.runner.session_rotate(self, action.reason)
            elif type(action) is Fatal:
                self.finish(EndSession(action.reason, fatal=True))
            elif type(action) is Observe:
                self.runner.venue_metrics.observe(action.metric, action.labels, action.value)
            elif type(action) is Count:
                self.runner.venue_metrics.count(action.metric, action.labels, at=time.time())

    def _parse_error(self, detail: str) -> None:
        stats = self.stats
        stats.parse_errors += 1
        if stats.parse_errors <= 10 or stats.parse_errors % 1000 == 0:
            log.warning(
                "%s: parse error #%d: %s", self.runner.connection_id, stats.parse_errors, detail
            )

    def _fetch(self, action: FetchSnapshot) -> None:
        def deliver(body: bytes) -> None:
            if self.open:  # a late body for a closed socket is of no use
                self.carry_out(self.protocol.on_snapshot(action.key, body, now_us()))

        def fail(reason: str) -> None:
            if self.open:
                self.carry_out(self.protocol.on_snapshot_failed(action.key, reason, now_us()))

        self.runner.snapshots.request(action.url, action.weight, deliver, fail)

    def status(self, event: StatusEvent, reason: str, channel: str | None = None) -> None:
        detail = f"{reason} ({channel})" if channel else reason
        self.sink(Status(self.runner.exchange, event, self.runner.connection_id, detail, now_us()))

    # -- tasks ----------------------------------------------------------------------------------

    async def _sender(self, limiter: RateLimits | SlidingWindow) -> None:
        """Send queued frames, paced under the venue's per-connection message limit."""
        loop = asyncio.get_running_loop()
        transport = self.transport
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
        heartbeat = self.runner.heartbeat
        while True:
            await asyncio.sleep(1.0)
            report = heartbeat.check(loop.time(), self.last_frame_s, self.last_data_s, self.stale)
            for channel in report.stale:
                self.status(StatusEvent.STALE, "no data", channel)
            for channel in report.recovered:
                self.status(StatusEvent.RECOVERED, "data again", channel)
            self.carry_out(self.protocol.on_tick(now_us()))
            if report.reconnect is not None:
                self.finish(EndSession(report.reconnect))
