"""The WebSocket transport behind a small interface, with two implementations.

``picows`` (``transport_picows.py``) parses frames in C and hands each one to the session in the
same callback that read it from the socket: no queue, no task switch per frame. ``websockets``
(``transport_websockets.py``) is the pure-Python reference and the fallback where picows cannot
be imported. ``TransportOptions.kind`` picks one (the ``transport`` setting; ``auto`` = picows
when importable). Both give the same behaviour, and the runtime tests run against both:

- text frames arrive as ``str``, binary frames as ``bytes``; fragmented messages whole;
- server pings are answered; a keepalive ping every ``ping_interval_s`` closes a connection
  whose pong does not come within ``ping_timeout_s`` (close code 1011);
- a message larger than ``max_size`` closes the connection with 1009, refused on the frame
  header (or the fragments' sum) before the payload is buffered;
- ``TransportClosed.code``/``reason`` are the close frame the venue sent, else None (the TCP
  connection just ended); ``sent_code``/``sent_reason`` are ours when we closed first because
  of an error we detected (1009 too big, 1011 no pong, 1002/1007 protocol errors);
- an HTTP error answer to the upgrade raises ``HandshakeRejected`` with its status;
- extra upgrade headers are sent as given; ``wss://`` uses TLS (the default context);
- receiving is bounded: frames are handed to ``on_frame`` as they are read (picows: in the read
  callback, so the socket is read no faster than frames are handled; websockets: at most
  ``max_queue`` frames buffered before reading pauses), never an unbounded backlog.
"""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

TransportKind = Literal["auto", "picows", "websockets"]
FrameHandler = Callable[[str | bytes], None]
"""Called once per received data message, in order; it must not block (it runs in the read
path). An exception it raises closes the connection and is re-raised by ``closed()``."""

FAIRNESS_BURST = 32
"""Frames the websockets transport hands over before it yields to the event loop."""


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
    def start(self, on_frame: FrameHandler) -> None:
        """Hand every received message to ``on_frame`` from now on (messages that arrived
        since the connection opened first, in order)."""

    async def closed(self) -> TransportClosed:
        """Wait until the connection is closed and say how (returned, not raised); re-raises
        an exception ``on_frame`` raised."""

    async def send(self, data: str) -> None:
        """Send a text frame; raises ``TransportClosed`` once the connection is closing."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close (idempotent): close frame, then the TCP connection, bounded in time."""


@dataclass(frozen=True, slots=True)
class TransportOptions:
    max_size: int = 4 * 1024 * 1024
    """The largest message accepted (``VenueSpec.max_frame_bytes``): a frame header announcing
    more, or fragments adding up to more, close the connection with 1009 before the payload is
    read, so no venue can make a connection buffer more than this."""
    open_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    ping_timeout_s: float | None = 20.0
    close_timeout_s: float = 2.0
    headers: tuple[tuple[str, str], ...] = ()
    max_queue: int = 4096
    """Frames buffered before the transport stops reading the socket: TCP flow control then
    slows the venue instead of memory growing without bound (a venue may then drop us, which
    is counted and reconnected, never an unbounded backlog)."""
    kind: TransportKind = "auto"
    recv_buffer_bytes: int | None = 256 * 1024
    """The socket's receive buffer (``SO_RCVBUF``) for picows, whose read buffer otherwise
    grows with what the kernel holds under a flood; None leaves the kernel's autotuning."""
    ssl_context: ssl.SSLContext | None = None
    """For ``wss://``: None is the default context (system CAs, hostname checked)."""


def picows_available() -> bool:
    return importlib.util.find_spec("picows") is not None


def resolve_kind(kind: TransportKind) -> Literal["picows", "websockets"]:
    """``auto`` → picows when it can be imported, else websockets."""
    if kind == "auto":
        return "picows" if picows_available() else "websockets"
    return kind


async def open_websocket(url: str, options: TransportOptions) -> Transport:
    """Open ``url`` with the transport ``options.kind`` names. Raises ``HandshakeRejected``
    for an HTTP error answer, anything else (OSError, TimeoutError, …) for other failures."""
    if resolve_kind(options.kind) == "picows":
        from feedgate.runtime.transport_picows import open_picows

        return await open_picows(url, options)
    from feedgate.runtime.transport_websockets import open_websockets

    return await open_websockets(url, options)
