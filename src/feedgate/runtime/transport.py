"""The WebSocket transport behind a small interface, so a faster client can replace it.

``websockets`` is the reference implementation. Its keepalive (a ping every ``ping_interval`` s,
close when no pong within ``ping_timeout`` s) detects dead TCP paths; venue pings are answered by
the library as they arrive. A later transport (e.g. picows) only has to provide this interface.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# websockets logs every upgrade header at DEBUG, API keys and JWTs included: its loggers are
# pinned at INFO so no log level setting can make a secret appear (design §2.4)
_WS_LOGGER = logging.getLogger("feedgate.transport.websockets")
_WS_LOGGER.setLevel(logging.INFO)


class TransportClosed(Exception):
    """The connection is gone; ``code``/``reason`` are the venue's close frame's, when one came.
    ``sent_code``/``sent_reason``: ours, when we closed first because of what the venue sent
    (1009: a frame or message larger than ``max_size``, refused before it was buffered)."""

    def __init__(
        self, code: int | None, reason: str, sent_code: int | None = None, sent_reason: str = ""
    ) -> None:
        super().__init__(f"closed (code={code}, reason={reason!r}, sent_code={sent_code})")
        self.code = code
        self.reason = reason
        self.sent_code = sent_code
        self.sent_reason = sent_reason


class HandshakeRejected(Exception):
    """The server answered the upgrade with an HTTP error (401/403 bad key, 429 too many)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake rejected with HTTP {status}")
        self.status = status


class Transport(Protocol):
    async def recv(self) -> str | bytes: ...

    async def send(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class TransportOptions:
    max_size: int = 4 * 1024 * 1024
    """The largest message accepted (``VenueSpec.max_frame_bytes``): a frame header announcing
    more, or fragments adding up to more, close the connection with 1009 before the payload is
    read, so no venue can make a connection buffer more than this."""
    open_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    headers: tuple[tuple[str, str], ...] = ()
    max_queue: int = 4096
    """Frames buffered before the transport stops reading the socket: TCP flow control then
    slows the venue instead of memory growing without bound (a venue may then drop us, which
    is counted and reconnected, never an unbounded backlog)."""


class WebsocketsTransport:
    __slots__ = ("_ws",)

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def recv(self) -> str | bytes:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def send(self, data: str) -> None:
        try:
            await self._ws.send(data)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)


def _closed(exc: ConnectionClosed) -> TransportClosed:
    got, sent = exc.rcvd, exc.sent
    ours = sent if got is None or exc.rcvd_then_sent is False else None  # we spoke first
    return TransportClosed(
        got.code if got else None,
        got.reason if got else "",
        ours.code if ours else None,
        ours.reason if ours else "",
    )


async def open_websocket(url: str, options: TransportOptions) -> Transport:
    try:
        ws = await _connect(url, options)
    except InvalidStatus as exc:
        raise HandshakeRejected(exc.response.status_code) from None
    return WebsocketsTransport(ws)


async def _connect(url: str, options: TransportOptions) -> ClientConnection:
    return await connect(
        url,
        max_size=options.max_size,
        open_timeout=options.open_timeout_s,
        ping_interval=options.ping_interval_s,
        ping_timeout=options.ping_timeout_s,
        additional_headers=list(options.headers) or None,
        compression=None,  # no permessage-deflate: nothing to inflate past max_size
        max_queue=options.max_queue,
        logger=_WS_LOGGER,
    )
