"""The ``websockets`` transport: the pure-Python reference and fallback (``transport.py``).

``websockets`` assembles messages and answers pings itself; its keepalive pings every
``ping_interval_s`` and fails the connection with 1011 when no pong comes back in time. A
reader task turns its pull API (``recv()``) into the push interface, yielding to the event loop
every ``FAIRNESS_BURST`` frames: ``recv()`` does not suspend while frames are queued, and other
connections, the publisher and the reply reader need their turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feedgate.runtime.transport import (
    FAIRNESS_BURST,
    FrameHandler,
    HandshakeRejected,
    TransportClosed,
    TransportOptions,
)

# websockets logs every upgrade header at DEBUG, API keys and JWTs included: its loggers are
# pinned at INFO so no log level setting can make a secret appear (design §2.4)
_WS_LOGGER = logging.getLogger("feedgate.transport.websockets")
_WS_LOGGER.setLevel(logging.INFO)


class WebsocketsTransport:
    __slots__ = ("_reader", "_ws")

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._reader: asyncio.Task[TransportClosed] | None = None

    def start(self, on_frame: FrameHandler) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._pump(on_frame))

    async def _pump(self, on_frame: FrameHandler) -> TransportClosed:
        recv = self._ws.recv
        burst = 0
        try:
            while True:
                burst += 1
                if burst >= FAIRNESS_BURST:
                    burst = 0
                    await asyncio.sleep(0)
                on_frame(await recv())
        except ConnectionClosed as exc:
            return closed_by(exc)
        except BaseException:
            # the handler failed: the connection cannot be trusted to be in step any more
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):  # not wait_for: it can lose a cancellation
                    await self._ws.close(1011, "internal error")
            raise

    async def closed(self) -> TransportClosed:
        assert self._reader is not None, "start() first"
        # shielded: a waiter that gives up (its session ends) does not stop the reader
        return await asyncio.shield(self._reader)

    async def send(self, data: str) -> None:
        try:
            await self._ws.send(data)
        except ConnectionClosed as exc:
            raise closed_by(exc) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)
        if self._reader is not None and not self._reader.done():
            # the closing handshake is over: the reader sees ConnectionClosed at once. wait()
            # neither raises what the reader raised nor swallows a cancellation of this task
            await asyncio.wait({self._reader}, timeout=1.0)


def closed_by(exc: ConnectionClosed) -> TransportClosed:
    """The venue's close frame (code None: none came), and ours when we closed first because of
    an error (1009 message too big, 1011 keepalive timeout, 1002/1007 protocol errors)."""
    got, sent = exc.rcvd, exc.sent
    ours = sent if got is None or exc.rcvd_then_sent is False else None  # we spoke first
    if ours is not None and ours.code == 1000:
        ours = None  # our own orderly close(): no error of the venue's
    return TransportClosed(
        got.code if got else None,
        got.reason if got else "",
        ours.code if ours else None,
        ours.reason if ours else "",
    )


async def open_websockets(url: str, options: TransportOptions) -> WebsocketsTransport:
    # websockets picks TLS for wss:// itself; an explicit ssl=None would turn it off
    tls: dict[str, Any] = {"ssl": options.ssl_context} if options.ssl_context is not None else {}
    try:
        ws = await connect(
            url,
            max_size=options.max_size,
            open_timeout=options.open_timeout_s,
            ping_interval=options.ping_interval_s,
            ping_timeout=options.ping_timeout_s,
            close_timeout=options.close_timeout_s,
            additional_headers=list(options.headers) or None,
            compression=None,
            max_queue=options.max_queue,
            logger=_WS_LOGGER,
            **tls,
        )
    except InvalidStatus as exc:
        raise HandshakeRejected(exc.response.status_code) from None
    return WebsocketsTransport(ws)
