"""Loopback server for venue simulators: WebSocket streams and REST on one port.

The venue's pure simulator (``feedgate.venues.<venue>.sim``, a ``VenueSimulator``) decides what
URLs mean, what frames say and how control messages are answered; this module owns sockets,
time, pacing and faults, so it serves any venue. Built on ``websockets``' asyncio server:
``process_request`` answers REST requests before the upgrade, and market data frames are
pre-framed here (unmasked server text frames) and written straight to the transport in batches,
which is what lets one core push well over 150k small frames a second.

Venue rules it imitates (exchanges.md §1.8/§1.9, the strictest venue): a ping frame every
``ping_interval_s`` and a disconnect after ``pong_timeout_s`` without a pong; more than
``max_client_msgs_per_s`` client frames (text, ping or pong) in one second disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import random
import weakref
from http import HTTPStatus
from typing import Any, TypeVar, cast

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from feedgate.runtime.simapi import SimStats, VenueSimulator, frame_text_batch
from feedgate.runtime.simfaults import Lifetime, SimFaults
from feedgate.runtime.simframes import FrameFaults
from feedgate.runtime.simtasks import POLICY_VIOLATION, _Client

__all__ = [
    "Lifetime", "SimServer", "SimStats", "VenueSimulator", "run_simulator", "simulator_server",
]  # fmt: skip

S = TypeVar("S")
E = TypeVar("E")

_COUNTED = frozenset({Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG})


class SimServer(SimFaults[S, E], FrameFaults[S]):
    """Serve ``sim`` on ``host:port`` (0 = a free port). ``trade_rate`` is taker orders per second
    per symbol; None or 0 means saturation: every client gets trade frames as fast as it drains.
    Faults a test can inject are in ``simfaults.SimFaults`` and ``simframes.FrameFaults``.
    """

    def __init__(
        self,
        sim: VenueSimulator[S, E],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        trade_rate: float | None,
        depth_interval_ms: float = 100.0,
        seed: int = 0,
        ping_interval_s: float | None = None,
        pong_timeout_s: float = 60.0,
        max_client_msgs_per_s: int | None = None,
        batch_frames: int = 256,
        write_limit: int = 256 * 1024,
        max_write_buffer: int = 64 * 1024 * 1024,
        close_timeout_s: float = 2.0,
    ) -> None:
        self.sim = sim
        self.host, self._port = host, port
        self.trade_rate = trade_rate or 0.0
        self.depth_interval_s = depth_interval_ms / 1000.0
        # venue defaults from the simulator (simapi.OPTIONAL_FEATURES), else Binance's
        self.ping_interval_s: float | None = (
            ping_interval_s if ping_interval_s is not None
            else getattr(sim, "server_ping_interval_s", 20.0)
        )  # fmt: skip
        self.pong_timeout_s = pong_timeout_s
        self.max_client_msgs_per_s: int | None = (
            max_client_msgs_per_s if max_client_msgs_per_s is not None
            else getattr(sim, "client_msgs_per_s", 5)
        )  # fmt: skip
        self.periodic_interval_s: float | None = getattr(sim, "periodic_interval_s", None)
        self.binary_frames: bool = getattr(sim, "binary_frames", False)
        self._wants_headers: bool = getattr(sim, "wants_headers", False)
        self.subscribe_deadline_s: float | None = getattr(sim, "subscribe_deadline_s", None)
        self.batch_frames, self.write_limit = batch_frames, write_limit
        self.max_write_buffer, self.close_timeout_s = max_write_buffer, close_timeout_s
        self.stats = SimStats()
        self._rng = random.Random(seed)
        self._server: Server | None = None
        # session parsed in process_request, picked up by the handler (weak: a failed handshake
        # must not leak it)
        self._pending: weakref.WeakKeyDictionary[ServerConnection, S] = weakref.WeakKeyDictionary()
        self._clients: dict[ServerConnection, _Client[S]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._next_id = 0
        self._unsilenced = asyncio.Event()
        self._unsilenced.set()
        self._silence_handle: asyncio.TimerHandle | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def saturating(self) -> bool:
        return self.trade_rate <= 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self._port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    async def start(self) -> None:
        server_ref = self

        class _Connection(ServerConnection):
            def process_event(self, event: Any) -> None:
                super().process_event(event)
                if isinstance(event, Frame) and event.opcode in _COUNTED:
                    server_ref._on_client_frame(self)

        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            process_request=self._process_request,
            create_connection=_Connection,
            compression=None,
            ping_interval=None,
            ping_timeout=None,
            close_timeout=self.close_timeout_s,
            write_limit=self.write_limit,
            max_queue=64,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._depth_loop()))
        if not self.saturating:
            self._tasks.append(asyncio.create_task(self._trade_loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            try:
                async with asyncio.timeout(self.close_timeout_s + 1):
                    await self._server.wait_closed()
            except TimeoutError:
                self.drop_connections()
            self._server = None

    async def __aenter__(self) -> SimServer[S, E]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def sessions(self) -> list[S]:
        """Sessions of the open connections, oldest first."""
        return [c.session for c in self._clients.values()]

    # -- HTTP and connections -------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        # a plain HTTP request (no WebSocket upgrade) is REST, whatever its path: venues put
        # their REST APIs under different prefixes (/api/v3, /v5/market, /0/public, …)
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            self.stats.http_requests += 1
            if self.rest_status is not None:
                return _response(self.rest_status, b'{"msg":"unavailable"}', "application/json")
            result = self.sim.http_get(request.path)
            status, body = result if result is not None else (404, b'{"msg":"Not Found"}')
            return _response(status, body, "application/json")
        self.stats.connection_attempts += 1
        self.stats.attempt_times.append(asyncio.get_running_loop().time())
        if self.refuse_status is not None:
            self.stats.refused_connections += 1
            return _response(self.refuse_status, b"connections refused", "text/plain")
        try:
            if self._wants_headers:
                headers = {k.lower(): v for k, v in request.headers.raw_items()}
                session = self.sim.open_session(request.path, headers)  # type: ignore[call-arg]
            else:
                session = self.sim.open_session(request.path)
        except PermissionError as exc:
            status = 401 if "missing" in str(exc) else 403
            return _response(status, str(exc).encode(), "application/json")
        except ValueError as exc:
            return _response(400, str(exc).encode(), "text/plain; charset=utf-8")
        if session is None:
            return _response(404, b"Not Found", "text/plain; charset=utf-8")
        self._pending[conn] = session
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        session = self._pending.pop(conn)
        self._next_id += 1
        client = _Client(self._next_id, session, conn, asyncio.get_running_loop().time())
        self._clients[conn] = client
        stats = self.stats
        stats.connections_accepted += 1
        stats.open_connections += 1
        stats.subscriptions[client.id] = self.sim.subscriptions(session)
        tasks = []
        if self.ping_interval_s is not None:
            tasks.append(asyncio.create_task(self._keepalive(client)))
        if self.periodic_interval_s is not None:
            tasks.append(asyncio.create_task(self._periodic(client, self.periodic_interval_s)))
        if self.subscribe_deadline_s is not None:
            tasks.append(asyncio.create_task(self._deadline(client, self.subscribe_deadline_s)))
        if hasattr(self.sim, "should_close"):
            tasks.append(asyncio.create_task(self._close_watch(client)))
        if self.saturating:
            tasks.append(asyncio.create_task(self._saturate(client)))
        self._watch_lifetime(client)
        try:
            async for message in conn:
                text = message if isinstance(message, str) else message.decode(errors="replace")
                replies = self.sim.on_client_text(session, text)
                stats.subscriptions[client.id] = self.sim.subscriptions(session)
                client.changed.set()
                if replies:
                    await self._unsilenced.wait()
                    self._write(client, replies)
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            if client.lifetime is not None:
                client.lifetime.cancel()
            del self._clients[conn]
            stats.open_connections -= 1
            stats.subscriptions.pop(client.id, None)

    def _on_client_frame(self, conn: ServerConnection) -> None:
        """§1.9: count every client frame; more than the limit within one second disconnects."""
        self.stats.client_messages += 1
        client = self._clients.get(conn)
        limit = self.max_client_msgs_per_s
        if client is None or client.kicked or limit is None:
            return
        now = asyncio.get_running_loop().time()
        times = client.msg_times
        times.append(now)
        while times[0] <= now - 1.0:
            times.popleft()
        if len(times) > limit:
            self.stats.rate_limit_violations += 1
            self._close(client, POLICY_VIOLATION, "Too many requests", fail=True)

    def _close(self, client: _Client[S], code: int, reason: str, *, fail: bool) -> None:
        """Send a close frame now (``fail``: and stop reading), abort the TCP connection if the
        peer has not finished closing after ``close_timeout_s``."""
        conn = client.conn
        client.kicked = True
        if conn.protocol.state is State.OPEN:
            if fail:
                conn.protocol.fail(code, reason)
            else:
                conn.protocol.send_close(code, reason)
            with contextlib.suppress(Exception):
                conn.send_data()
        asyncio.get_running_loop().call_later(self.close_timeout_s, conn.transport.abort)

    def _write(self, client: _Client[S], frames: list[bytes]) -> None:
        conn = client.conn
        if not frames or conn.protocol.state is not State.OPEN:
            return
        transport = conn.transport
        if transport.get_write_buffer_size() > self.max_write_buffer:
            self.stats.slow_client_disconnects += 1
            transport.abort()
            return
        data = frame_text_batch(frames, self.binary_frames)
        transport.write(data)
        self.stats.frames_sent += len(frames)
        self.stats.bytes_sent += len(data)

    def _broadcast(self, events: list[E]) -> None:
        render = self.sim.render
        if self.trades_sent is not None:
            self._broadcast_recorded(events)
            return
        for client in list(self._clients.values()):
            session = client.session
            frames = [f for f in (render(session, e) for e in events) if f is not None]
            if frames:
                self._write(client, frames)

    def _broadcast_recorded(self, events: list[E]) -> None:
        """``_broadcast`` noting which events reached an open connection (``record_trades``)."""
        render, sent = self.sim.render, [False] * len(events)
        for client in list(self._clients.values()):
            frames = []
            open_ = client.conn.protocol.state is State.OPEN
            for i, event in enumerate(events):
                frame = render(client.session, event)
                if frame is not None:
                    frames.append(frame)
                    sent[i] = sent[i] or open_
            if frames:
                self._write(client, frames)
        self._record(events, sent)


def _response(status: int, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, body)


def simulator_server(
    venue: str,
    host: str,
    port: int,
    symbols: list[str],
    trade_rate: float | None,
    *,
    depth_interval_ms: float = 100.0,
    seed: int = 0,
    ping_interval_s: float = 20.0,
    pong_timeout_s: float = 60.0,
) -> SimServer[Any, Any]:
    """The server ``feedgate simulate`` runs (not started yet): ``venue``'s simulator over
    ``symbols`` (canonical, ``BTC-USDT``; ``feedgate.venues.<venue>.sim.make_simulator`` maps
    them to the venue's names)."""
    module = importlib.import_module(f"feedgate.venues.{venue}.sim")
    sim = cast("VenueSimulator[Any, Any]", module.make_simulator(symbols, seed=seed))
    return SimServer(
        sim,
        host=host,
        port=port,
        trade_rate=trade_rate,
        depth_interval_ms=depth_interval_ms,
        seed=seed,
        ping_interval_s=ping_interval_s,
        pong_timeout_s=pong_timeout_s,
    )


async def run_simulator(
    venue: str,
    host: str,
    port: int,
    symbols: list[str],
    trade_rate: float | None,
    **options: Any,
) -> None:
    """Serve ``simulator_server(...)`` until cancelled (the CLI's ``feedgate simulate``); prints
    the URLs once listening."""
    server = simulator_server(venue, host, port, symbols, trade_rate, **options)
    sim = server.sim
    await server.start()
    rate = "saturation" if server.saturating else f"{server.trade_rate:g}/s per symbol"
    print(
        f"{venue} simulator: ws={server.ws_url} rest={server.rest_url} "
        f"symbols={','.join(sim.symbols)} trades={rate}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
