"""The connection runner: one venue connection slot (``binance-03``), carried out for its protocol.

It opens the socket (paced by the venue's connect limiter and a backoff) and runs a ``Session``
on it (``runtime/session.py``: frames in, actions carried out), and reconnects when the session
ends, until stopped or a fatal close. Sessions report back here: subscribed (the slot is up),
ending, and a venue's request to rotate, which the ``Rotator`` (``runtime/rotation.py``) turns
into a make-before-break replacement; a successful switch makes the replacement the slot's
active session without any reconnect, and this loop simply follows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from feedgate import redact
from feedgate.errors import FatalConnectionError
from feedgate.events import Status, StatusEvent
from feedgate.metrics import ConnectionStats, VenueMetrics
from feedgate.protocol.backoff import Backoff
from feedgate.protocol.base import VenueProtocol
from feedgate.protocol.heartbeat import HeartbeatPolicy
from feedgate.protocol.ratelimit import RateLimits, SlidingWindow
from feedgate.runtime.closing import judge_handshake
from feedgate.runtime.publisher import Publisher
from feedgate.runtime.rotation import RotationPolicy, Rotator
from feedgate.runtime.session import EndSession, Session, now_us
from feedgate.runtime.snapshots import SnapshotFetcher
from feedgate.runtime.transport import FAIRNESS_BURST, HandshakeRejected, Transport

__all__ = ["FAIRNESS_BURST", "ConnectionRunner", "Opener", "now_us"]

log = logging.getLogger(__name__)

Opener = Callable[[str, list[tuple[str, str]]], Awaitable[Transport]]
"""Open a WebSocket to a URL with extra upgrade headers."""


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
        make_protocol: Callable[[], VenueProtocol] | None = None,
        rotation: RotationPolicy | None = None,
    ) -> None:
        """``make_protocol`` builds a fresh protocol instance for the same topics: without it
        the slot cannot rotate (a venue's ``Rotate`` then reconnects). ``rotation``: when to
        replace the connection (default: only when the venue announces a shutdown)."""
        self.protocol = protocol
        """The protocol of the active session (a rotation replaces it)."""
        self.exchange = protocol.exchange
        self.connection_id = connection_id
        self._open = opener
        self.publisher = publisher
        self.snapshots = snapshots
        self.stats = stats
        self.connect_limiter = connect_limiter
        self.send_limiter_factory = send_limiter_factory
        self.heartbeat = heartbeat
        self.backoff = backoff or Backoff()
        self.channels = tuple(channels)
        self.venue_metrics = venue_metrics or VenueMetrics()
        self.make_protocol = make_protocol
        self.rotator = Rotator(self, rotation or RotationPolicy())
        self.active: Session | None = None
        self._stopping = False
        self.sessions = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, read, reconnect, until cancelled or a fatal close."""
        try:
            while not self._stopping:
                session = self.active  # set by a rotation's switch: follow it, no reconnect
                if session is None:
                    session = await self._connect()
                    if session is None:
                        continue
                end = await session.wait()
                if self.active is not session:
                    continue  # replaced by its make-before-break successor
                self.active = None
                self.backoff.disconnected(asyncio.get_running_loop().time())
                if end.fatal:
                    log.error("%s: stopping for good: %s", self.connection_id, end.reason)
                    self.stats.state = "fatal"
                    self.stats.fatal_reason = end.reason
                    raise FatalConnectionError(end.reason)
                self.stats.reconnects[end.reason] += 1
        finally:
            self.rotator.stop()
            if self.active is not None and self.active.task is not None:
                self.active.task.cancel()
            await self.rotator.drain()
            self.stats.up = False
            if self.stats.state != "fatal":
                self.stats.state = "stopped"

    def stop(self) -> None:
        self._stopping = True
        self.rotator.stop()
        if self.active is not None:
            self.active.finish(EndSession("shutdown"))

    async def _connect(self) -> Session | None:
        """One connect attempt after the backoff; the running session, or None to retry."""
        delay = self.backoff.next_delay()
        if delay:
            self.stats.state = "backoff"
            await asyncio.sleep(delay)
        url = self.protocol.connect_url()
        try:
            transport = await self.open_transport(self.protocol)
        except HandshakeRejected as exc:
            verdict = judge_handshake(self.exchange, exc.status)
            if verdict.fatal:
                log.error("%s: %s: stopping for good", self.connection_id, exc)
                self.stats.state = "fatal"
                self.stats.fatal_reason = verdict.reason
                self.publisher.submit(Status(
                    self.exchange, StatusEvent.DISCONNECTED, self.connection_id, verdict.reason,
                    now_us(),
                ))  # fmt: skip
                raise FatalConnectionError(verdict.reason) from None
            log.warning("%s: %s", self.connection_id, exc)
            self.stats.reconnects[verdict.reason] += 1
            return None
        except Exception as exc:  # any other failure to open is retried after backoff
            # host and port only: a node provider's url carries its API key, and so may the
            # error's text, which often quotes the url
            where = redact.endpoint(url)
            text = str(exc).replace(url, where)
            log.warning("%s: connect to %s failed: %s", self.connection_id, where, text)
            self.stats.reconnects["connect_failed"] += 1
            return None
        if self._stopping:
            await transport.close()
            return None
        session = Session(self, self.protocol, transport, primary=True, sink=self.publisher.submit)
        self.active = session
        self.sessions += 1
        self.backoff.connected(asyncio.get_running_loop().time())
        session.start()
        self.rotator.started(session)
        return session

    async def open_transport(self, protocol: VenueProtocol) -> Transport:
        """Open a socket for ``protocol``, gated by the venue's connect limiter: a rotation's
        replacement is a connect attempt like any other. Raises what the opener raises."""
        loop = asyncio.get_running_loop()
        # gate on actual attempt times, re-checked after every wake-up: a reservation made
        # earlier could fire late together with later ones when the loop stalls, and the venue
        # would count them in one window
        while (wait := self.connect_limiter.delay(loop.time())) > 0:
            if protocol is self.protocol and self.active is None:
                self.stats.state = "backoff"
            await asyncio.sleep(wait)
        self.connect_limiter.acquire(loop.time())
        if protocol is self.protocol and self.active is None:
            self.stats.state = "connecting"
        return await self._open(protocol.connect_url(), protocol.connect_headers(now_us()))

    # -- what sessions report --------------------------------------------------------------------

    def session_subscribed(self, session: Session) -> None:
        if session.primary:
            self.stats.up = True
            self.stats.state = "subscribed"
        else:
            self.rotator.changed()

    def session_rotate(self, session: Session, reason: str) -> None:
        """The venue announced it will close ``session``'s socket (``Rotate``)."""
        self.rotator.request(session, reason)

    def session_ending(self, session: Session, end: EndSession) -> None:
        """``session``'s read loop ended; called before its teardown publishes anything."""
        self.rotator.ending(session, end)

    def promote(self, session: Session) -> None:
        """A rotation switched to ``session``: it is the slot's connection from now on."""
        self.active = session
        self.protocol = session.protocol
        self.sessions += 1
        if session.subscribed:
            self.stats.up = True
            self.stats.state = "subscribed"
