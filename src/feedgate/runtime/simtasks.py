"""The simulator server's timed tasks: venue keepalive, heartbeats, subscribe deadline, and the
market loops that generate trades and book updates (paced or at saturation).

A mixin of ``SimServer`` (split out to keep each file to one job); it relies on the server's
attributes declared below.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from feedgate.clock import now_us
from feedgate.runtime.simapi import SimStats, VenueSimulator

S = TypeVar("S")
E = TypeVar("E")

POLICY_VIOLATION = 1008  # close code for rate-limit and pong-timeout kicks (UNCONFIRMED for §1.9)


@dataclass(slots=True, eq=False)
class _Client(Generic[S]):
    id: int
    session: S
    conn: ServerConnection
    opened_at: float = 0.0  # loop time
    msg_times: deque[float] = field(default_factory=deque)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    kicked: bool = False
    lifetime: asyncio.Task[None] | None = None  # a forced lifetime's close (simfaults)


class SimTasks(Generic[S, E]):
    sim: VenueSimulator[S, E]
    stats: SimStats
    trade_rate: float
    depth_interval_s: float
    ping_interval_s: float | None
    pong_timeout_s: float
    batch_frames: int
    _rng: random.Random
    _unsilenced: asyncio.Event

    def _write(self, client: _Client[S], frames: list[bytes]) -> None:
        raise NotImplementedError

    def _broadcast(self, events: list[E]) -> None:
        raise NotImplementedError

    def _close(self, client: _Client[S], code: int, reason: str, *, fail: bool) -> None:
        raise NotImplementedError

    # -- per-connection and market tasks -------------------------------------------------------

    async def _periodic(self, client: _Client[S], interval: float) -> None:
        """Venue heartbeats on a timer (simapi.OPTIONAL_FEATURES); paused while silenced."""
        frames_for = self.sim.periodic_frames  # type: ignore[attr-defined]
        try:
            while client.conn.protocol.state is State.OPEN:
                await asyncio.sleep(interval)
                await self._unsilenced.wait()
                frames = frames_for(client.session, now_us())
                if frames:
                    self._write(client, frames)
        except (ConnectionClosed, OSError):
            return

    async def _close_watch(self, client: _Client[S]) -> None:
        """Venues that close sessions themselves (Upbit's idle close after 120 s of client
        silence, §4.5): asked once a second through the simulator's ``should_close``."""
        should_close = self.sim.should_close  # type: ignore[attr-defined]
        try:
            while client.conn.protocol.state is State.OPEN:
                await asyncio.sleep(1.0)
                reason = should_close(client.session, now_us())
                if reason:
                    self._close(client, 1000, str(reason), fail=True)
                    return
        except (ConnectionClosed, OSError):
            return

    async def _deadline(self, client: _Client[S], seconds: float) -> None:
        """Close a session that has not subscribed in time (Coinbase §2.2: 5 s)."""
        await asyncio.sleep(seconds)
        if not self.sim.subscriptions(client.session):
            self._close(client, POLICY_VIOLATION, "subscribe deadline", fail=True)

    async def _keepalive(self, client: _Client[S]) -> None:
        """§1.8: ping every ``ping_interval_s``; no pong within ``pong_timeout_s`` → disconnect."""
        conn, interval = client.conn, self.ping_interval_s
        assert interval is not None
        try:
            while True:
                await asyncio.sleep(interval)
                await self._unsilenced.wait()
                pong = await conn.ping()
                try:
                    async with asyncio.timeout(self.pong_timeout_s):
                        await pong
                except TimeoutError:
                    self.stats.pong_timeouts += 1
                    self._close(client, POLICY_VIOLATION, "Pong timeout", fail=True)
                    return
        except ConnectionClosed:
            return

    async def _saturate(self, client: _Client[S]) -> None:
        """Saturation mode: batches of trade frames whenever the client's transport drains."""
        conn, sim, batch = client.conn, self.sim, self.batch_frames
        try:
            while conn.protocol.state is State.OPEN:
                if not self._unsilenced.is_set():
                    await self._unsilenced.wait()
                    continue
                frames = sim.saturation_frames(client.session, now_us(), batch)
                if not frames:
                    client.changed.clear()
                    await client.changed.wait()
                    continue
                self._write(client, frames)
                await conn.drain()
                if not conn.paused:
                    await asyncio.sleep(0)
        except (ConnectionClosed, OSError):
            return

    async def _depth_loop(self) -> None:
        """Book updates on a fixed grid every ``depth_interval_s`` (missed slots are skipped)."""
        loop = asyncio.get_running_loop()
        interval = self.depth_interval_s
        next_at = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += interval
            if loop.time() > next_at:
                next_at = loop.time() + interval
            if self._unsilenced.is_set():
                # small chunks, each stamped when generated: event times stay within ~0.5 ms of
                # the write even with hundreds of books (latency benchmarks read E)
                symbols = self.sim.symbols
                for i in range(0, len(symbols), 16):
                    if not self._unsilenced.is_set():
                        break
                    self._broadcast(self.sim.tick_events(now_us(), symbols[i : i + 16]))
                    await asyncio.sleep(0)

    async def _trade_loop(self) -> None:
        """Poisson trade arrivals at ``trade_rate`` per symbol (a heap of next arrival times, so
        a wake-up costs only the symbols that are due); paused while silenced. Every frame is
        stamped with the time it is generated and written at once, for latency benchmarks."""
        loop = asyncio.get_running_loop()
        rate, rng, symbols = self.trade_rate, self._rng, self.sim.symbols

        def fresh() -> list[tuple[float, str]]:
            heap = [(loop.time() + rng.expovariate(rate), s) for s in symbols]
            heapq.heapify(heap)
            return heap

        heap = fresh()
        while heap:
            await asyncio.sleep(min(max(heap[0][0] - loop.time(), 0.0), 0.5))
            if not self._unsilenced.is_set():
                await self._unsilenced.wait()
                heap = fresh()
                continue
            now, stamp, events = loop.time(), now_us(), []
            while heap[0][0] <= now:
                t, symbol = heap[0]
                t, n = max(t, now - 1.0), 0  # never replay more than 1 s of arrivals
                while t <= now:
                    n += 1
                    t += rng.expovariate(rate)
                heapq.heapreplace(heap, (t, symbol))
                events.extend(self.sim.trade_events(symbol, stamp, n))
            if events:
                self._broadcast(events)
