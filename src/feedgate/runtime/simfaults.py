"""The simulator server's faults: what a test does to the gateway's connections (drops, silence,
closes, malformed frames, shutdown notices, gaps, checksum flips, forced lifetimes, refused
connects), plus the record of trade ids sent that lets a test prove no trade was lost or
published twice.

A mixin of ``SimServer`` (split out to keep each file to one job); it relies on the server's
attributes declared below.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from feedgate.clock import now_us
from feedgate.runtime.simtasks import SimTasks, _Client

S = TypeVar("S")
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class Lifetime:
    """Close every connection ``seconds`` after it opened, with ``code``/``reason``; with
    ``notice_s``, send the venue's shutdown notice that long before (Binance cuts connections
    at 24 h, §1.8; OKX gives notice 30 s before an upgrade disconnect, §5.2)."""

    seconds: float
    notice_s: float | None = None
    code: int = 1001
    reason: str = "connection lifetime reached"


class SimFaults(SimTasks[S, E]):
    _clients: dict[ServerConnection, _Client[S]]
    _silence_handle: asyncio.TimerHandle | None
    lifetime: Lifetime | None = None
    refuse_status: int | None = None
    """While set, WebSocket upgrades are answered with this HTTP status (REST still works)."""
    rest_status: int | None = None
    """While set, every REST request is answered with this HTTP status."""
    trades_sent: dict[str, list[str]] | None = None
    """Venue symbol → ids of the trades written to at least one open connection, in order,
    while recording (``record_trades``; the simulator's ``trade_ids`` hook names them)."""
    trades_sent_at: dict[str, list[float]] | None = None
    """The loop time each of those was written, in the same order."""

    def drop_connections(self) -> int:
        """Abrupt TCP close of every connection (no close frame). Returns how many."""
        clients = list(self._clients.values())
        for client in clients:
            client.conn.transport.abort()
        return len(clients)

    def silence(self, seconds: float | None) -> None:
        """Send nothing (data, replies, pings) for ``seconds`` (None: until ``resume()``);
        sockets stay open and the market does not move meanwhile."""
        if self._silence_handle is not None:
            self._silence_handle.cancel()
            self._silence_handle = None
        self._unsilenced.clear()
        if seconds is not None:
            self._silence_handle = asyncio.get_running_loop().call_later(seconds, self.resume)

    def resume(self) -> None:
        self._unsilenced.set()

    @property
    def silenced(self) -> bool:
        return not self._unsilenced.is_set()

    def close_one(self, index: int = 0, code: int = 1001, reason: str = "") -> None:
        """Start a closing handshake on one connection (``index`` in opening order)."""
        self._close(list(self._clients.values())[index], code, reason, fail=False)

    def close_all(self, code: int = 1000, reason: str = "") -> int:
        """Start a WebSocket closing handshake with ``code`` on every connection."""
        clients = [c for c in self._clients.values() if c.conn.protocol.state is State.OPEN]
        for client in clients:
            self._close(client, code, reason, fail=False)
        return len(clients)

    def send_malformed(self) -> None:
        """Send the venue's malformed frames (non-JSON, unknown shape) to every client."""
        frames = self.sim.malformed_frames()
        for client in list(self._clients.values()):
            self._write(client, frames)

    def server_shutdown(self) -> None:
        """Announce an imminent shutdown the venue's way (Binance: §1.8 ``serverShutdown``)."""
        now = now_us()
        for client in list(self._clients.values()):
            self._write(client, self.sim.shutdown_frames(client.session, now))

    def checksum_flip(self, symbol: str) -> None:
        """The next book update of ``symbol`` carries a wrong checksum (checksum venues)."""
        flip = getattr(self.sim, "checksum_flip", None)
        if flip is None:
            raise NotImplementedError(f"{self.sim.venue} has no book checksum")
        flip(symbol)

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """The next book update of ``symbol`` jumps ``n`` ids (a gap the gateway must catch)."""
        self.sim.skip_update_ids(symbol, n)

    def force_lifetime(self, lifetime: Lifetime | None) -> None:
        """Every connection, open or to come, ends ``lifetime.seconds`` after it opened (None:
        connections live on, as before; closes already under way still happen)."""
        self.lifetime = lifetime
        if lifetime is None:
            return
        for client in list(self._clients.values()):
            self._watch_lifetime(client)

    def refuse_connections(self, status: int | None) -> None:
        """Answer every WebSocket upgrade with HTTP ``status`` (503, 429…) until called with
        None: a venue that is up for the connections it has but takes no new ones."""
        self.refuse_status = status

    def fail_rest(self, status: int | None) -> None:
        """Answer every REST request (snapshots, instruments) with HTTP ``status`` until None."""
        self.rest_status = status

    def record_trades(self) -> None:
        """From now on, note every trade written to an open connection (``trades_sent``)."""
        if not hasattr(self.sim, "trade_ids"):
            raise NotImplementedError(f"{self.sim.venue}'s simulator does not name trade ids")
        self.trades_sent = defaultdict(list)
        self.trades_sent_at = defaultdict(list)  # loop time of each, in the same order

    # -- helpers of the server ------------------------------------------------------------------

    def _watch_lifetime(self, client: _Client[S]) -> None:
        if self.lifetime is not None and client.lifetime is None:
            client.lifetime = asyncio.create_task(self._lifetime(client, self.lifetime))

    async def _lifetime(self, client: _Client[S], lifetime: Lifetime) -> None:
        loop = asyncio.get_running_loop()
        end = client.opened_at + lifetime.seconds
        try:
            if lifetime.notice_s is not None:
                await asyncio.sleep(max(0.0, end - lifetime.notice_s - loop.time()))
                self._write(client, self.sim.shutdown_frames(client.session, now_us()))
            await asyncio.sleep(max(0.0, end - loop.time()))
            if client.conn.protocol.state is State.OPEN:
                self.stats.lifetime_closes += 1
                self._close(client, lifetime.code, lifetime.reason, fail=False)
        except (ConnectionClosed, OSError):
            return

    def _record(self, events: list[E], sent: list[bool]) -> None:
        trade_ids = self.sim.trade_ids  # type: ignore[attr-defined]
        log = self.trades_sent
        assert log is not None
        times = self.trades_sent_at
        assert times is not None
        now = asyncio.get_running_loop().time()
        for event, out in zip(events, sent, strict=True):
            if out:
                for symbol, trade_id in trade_ids(event):
                    log[symbol].append(trade_id)
                    times[symbol].append(now)
