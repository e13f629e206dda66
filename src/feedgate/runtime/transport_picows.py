"""The ``picows`` transport: frames parsed in C, handed over in the socket's read callback.

picows calls ``on_ws_frame`` for every frame of a read, while the bytes are still in its buffer;
the listener takes the payload and calls the session's handler right there, so a frame costs no
queue, no future and no task switch (websockets needs all three). That is also the receive
bound: the socket is not read again until the frames of this read are handled.

picows is deliberately low-level, so the listener adds what ``websockets`` does for us and the
transport contract (``transport.py``) promises: fragmented messages are joined (and bounded by
``max_size``), a close frame is answered and its code kept, the keepalive ping closes with 1011
when no pong comes back, frames that arrive before ``start()`` are held (pausing the socket
after ``max_queue`` of them). Pings from the venue are answered by picows itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSHandshakeError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from feedgate.runtime.transport import (
    FrameHandler,
    HandshakeRejected,
    TransportClosed,
    TransportOptions,
)

# picows logs every connect and disconnect at INFO and frames at its own debug level: pinned
# at WARNING, so neither log noise nor (at any level) upgrade headers with secrets get out
_LOGGER = logging.getLogger("feedgate.transport.picows")
_LOGGER.setLevel(logging.WARNING)

TEXT, BINARY, CONTINUATION = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
CLOSE, PONG = WSMsgType.CLOSE, WSMsgType.PONG
FRAMES_PER_TURN = 128
"""Messages one socket hands over per event loop iteration. Fewer turns cost less (each is a
pause and a resume of reading), more delay the Redis replies and the other sockets: 100
flooded sockets make a turn of about 13,000 messages, well under the publisher's in-flight
bound (a saturated publisher must get its replies within the turn that filled it)."""


class _Listener(WSListener):
    """One connection's frames; the transport below is its public face."""

    def __init__(self, options: TransportOptions) -> None:
        super().__init__()
        self.max_size = options.max_size
        self.max_queue = options.max_queue
        self.handler: FrameHandler | None = None
        self.held: deque[str | bytes] = deque()  # before start(), and past a turn's budget
        self.budget = FRAMES_PER_TURN  # messages this socket may still hand over this turn
        self.paused = False
        self.loop = asyncio.get_running_loop()  # asyncio.get_running_loop() costs a getpid()
        self.fragments: list[bytes] = []
        self.fragments_size = 0
        self.fragmented_type: WSMsgType | None = None
        self.pong_seen = False
        self.ws: WSTransport | None = None
        self.error: BaseException | None = None
        self.close_code: int | None = None  # the venue's close frame
        self.close_reason = ""
        self.disconnected: asyncio.Future[None] = self.loop.create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.ws = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is CLOSE:
            self.on_close(transport, frame)
            return
        if transport.is_close_frame_sent:
            return  # closing (we asked, or picows or we found the peer at fault): no more data
        unfragmented = frame.fin and self.fragmented_type is None
        if kind is TEXT and unfragmented:  # the common case first: one text frame
            try:
                message: str | bytes = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self.fail(transport, 1007, "invalid UTF-8 in a text frame")
                return
        elif kind is BINARY and unfragmented:
            message = frame.get_payload_as_bytes()
        elif kind is PONG:
            self.pong_seen = True
            return
        else:
            joined = self.join(transport, frame, kind)
            if joined is None:
                return
            message = joined
        if self.budget <= 0 or self.handler is None:
            if self.paused:  # the rest of a read past the budget: its turn is scheduled
                self.held.append(message)
            else:
                self.hold(transport, message)
            return
        self.budget -= 1
        try:
            self.handler(message)
        except Exception as exc:  # the session's bug: close, and closed() re-raises it
            self.error = exc
            self.fail(transport, 1011, "internal error")
            return
        if self.budget <= 0:
            self.pause(transport)

    def join(self, transport: WSTransport, frame: WSFrame, kind: WSMsgType) -> str | bytes | None:
        """Fragments of one message (RFC 6455 §5.4): the whole message once ``fin``."""
        if kind is CONTINUATION:
            if self.fragmented_type is None:
                self.fail(transport, 1002, "continuation frame without a message")
                return None
        elif self.fragmented_type is not None:
            self.fail(transport, 1002, "new message inside a fragmented one")
            return None
        else:
            self.fragmented_type = kind
        payload = frame.get_payload_as_bytes()
        self.fragments_size += len(payload)
        if self.fragments_size > self.max_size:
            self.fail(transport, 1009, f"message over {self.max_size} bytes")
            return None
        self.fragments.append(payload)
        if not frame.fin:
            return None
        data = b"".join(self.fragments)
        text = self.fragmented_type is TEXT
        self.fragments.clear()
        self.fragments_size = 0
        self.fragmented_type = None
        if not text:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            self.fail(transport, 1007, "invalid UTF-8 in a text message")
            return None

    def hold(self, transport: WSTransport, message: str | bytes) -> None:
        """Keep a message for a later turn: past this turn's budget (at most the rest of one
        read), or before ``start()`` (then reading pauses at ``max_queue`` of them)."""
        self.held.append(message)
        if self.handler is not None or len(self.held) >= self.max_queue:
            self.pause(transport)

    def pause(self, transport: WSTransport) -> None:
        """This socket had its turn: read no more until the next event loop iteration, when
        ``turn`` hands over what is held (a budget's worth a turn) and then resumes reading.
        Without this a flooded socket is read again and again in one callback (libuv reads a
        ready socket up to 32 times), while the Redis replies, the other sockets and the
        publisher wait; and the rest of a big read waits its turn like a new read."""
        if self.paused:
            return
        self.paused = True
        with contextlib.suppress(RuntimeError):  # already closing
            transport.underlying_transport.pause_reading()
        if self.handler is not None:
            self.loop.call_soon(self.turn)

    def turn(self) -> None:
        held, handler = self.held, self.handler
        assert handler is not None
        n = min(len(held), FRAMES_PER_TURN)
        self.budget = FRAMES_PER_TURN - n
        popleft = held.popleft
        try:
            for _ in range(n):
                handler(popleft())
        except Exception as exc:
            self.error = exc
            if self.ws is not None:
                self.fail(self.ws, 1011, "internal error")
            return
        if held or self.budget <= 0:
            self.loop.call_soon(self.turn)  # still paused: another turn next time round
            return
        self.paused = False
        ws = self.ws
        if ws is not None and not ws.is_disconnected:
            with contextlib.suppress(RuntimeError):
                ws.underlying_transport.resume_reading()

    def start(self, handler: FrameHandler) -> None:
        self.handler = handler
        if self.held and self.ws is not None:
            if self.paused:  # paused at max_queue before anyone listened
                self.loop.call_soon(self.turn)
            else:
                self.pause(self.ws)

    def deliver_held(self) -> None:
        """The connection is gone: hand over what arrived before its end, all at once (the
        session hears of the close after the last message, as with websockets)."""
        handler, held = self.handler, self.held
        while held and handler is not None and self.error is None:
            try:
                handler(held.popleft())
            except Exception as exc:
                self.error = exc
        held.clear()

    def on_close(self, transport: WSTransport, frame: WSFrame) -> None:
        """The venue closes: keep its code and reason, answer, and end the TCP connection."""
        code = frame.get_close_code()
        self.close_code = code.value or 1005  # no status code in the frame: 1005, as websockets
        with contextlib.suppress(UnicodeDecodeError):
            self.close_reason = frame.get_close_reason() or ""
        if not transport.is_close_frame_sent:
            transport.send_close(code)
        transport.disconnect()

    def fail(self, transport: WSTransport, code: int, reason: str) -> None:
        """We end the connection because of an error we detected: close frame, then abort."""
        if not transport.is_close_frame_sent:
            transport.send_close(WSCloseCode(code), reason.encode())
        self.loop.call_later(0.01, transport.disconnect, False)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.disconnected.done():
            self.disconnected.set_result(None)


class PicowsTransport:
    __slots__ = ("_keepalive", "_listener", "_options", "_ws")

    def __init__(self, ws: WSTransport, listener: _Listener, options: TransportOptions) -> None:
        self._ws = ws
        self._listener = listener
        self._options = options
        self._keepalive: asyncio.Task[None] | None = None
        if options.ping_interval_s is not None:
            self._keepalive = asyncio.get_running_loop().create_task(self._ping())

    def start(self, on_frame: FrameHandler) -> None:
        self._listener.start(on_frame)

    async def closed(self) -> TransportClosed:
        listener = self._listener
        await asyncio.shield(listener.disconnected)
        self._stop_keepalive()
        # picows keeps the parser error it closed for (a frame over max_size) in a future of
        # its own; read it here, or asyncio logs "exception was never retrieved" (the close
        # frame it sent says the same, below)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self._ws.wait_disconnected()
        listener.deliver_held()
        if listener.error is not None:
            raise listener.error
        return self._how_closed()

    def _how_closed(self) -> TransportClosed:
        """The venue's close frame as the listener kept it; ours from picows' close handshake
        when we spoke first with an error code: the listener's ``fail`` (1002, 1007, 1011) or
        picows' own parser (a frame header over max_size: 1009)."""
        listener, handshake = self._listener, self._ws.close_handshake
        sent = handshake.sent if handshake is not None else None
        ours = (
            sent is not None
            and (handshake.recv is None or not handshake.recv_then_sent)
            and sent.code.value != 1000  # our orderly close() is no error of the venue's
        )
        return TransportClosed(
            listener.close_code,
            listener.close_reason,
            sent.code.value if ours and sent is not None else None,
            sent.reason if ours and sent is not None else "",
        )

    async def send(self, data: str) -> None:
        ws = self._ws
        if ws.is_close_frame_sent or ws.is_disconnected:
            raise self._how_closed()
        ws.send(TEXT, data.encode())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        ws, listener = self._ws, self._listener
        self._stop_keepalive()
        if not ws.is_disconnected:
            if not ws.is_close_frame_sent:
                ws.send_close(WSCloseCode(code), reason.encode())
            # the venue answers with its close frame (on_close disconnects); if it does not,
            # the TCP connection is cut after the timeout
            try:
                async with asyncio.timeout(self._options.close_timeout_s):
                    await asyncio.shield(listener.disconnected)
            except TimeoutError:
                ws.disconnect(False)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(listener.disconnected)

    def _stop_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    async def _ping(self) -> None:
        """A ping every interval; no pong within the timeout fails the connection (1011), as
        websockets' keepalive does."""
        interval, timeout = self._options.ping_interval_s, self._options.ping_timeout_s
        assert interval is not None
        listener, ws = self._listener, self._ws
        while not ws.is_disconnected:
            await asyncio.sleep(interval)
            if ws.is_disconnected or ws.is_close_frame_sent:
                return
            listener.pong_seen = False
            ws.send_ping(b"feedgate")
            if timeout is None:
                continue
            await asyncio.sleep(timeout)
            if not listener.pong_seen and not ws.is_disconnected:
                listener.fail(ws, 1011, "keepalive ping timeout")
                return


async def open_picows(url: str, options: TransportOptions) -> PicowsTransport:
    def listener_factory() -> _Listener:
        return _Listener(options)

    try:
        # asyncio.timeout, not wait_for (here and above): Python 3.11's wait_for loses a
        # cancellation that comes as the connect fails (a refused port): the runner never stopped
        async with asyncio.timeout(options.open_timeout_s):
            ws, listener = await ws_connect(
                listener_factory,
                url,
                ssl_context=options.ssl_context,
                websocket_handshake_timeout=options.open_timeout_s,
                logger_name=_LOGGER,
                enable_auto_ping=False,  # our own keepalive: 1011 on a timeout, as websockets
                enable_auto_pong=True,
                max_frame_size=options.max_size,
                extra_headers=list(options.headers) or None,
                read_buffer_init_size=64 * 1024,
            )
    except WSHandshakeError as exc:
        status = exc.response.status if exc.response is not None else None
        if status is not None and int(status) >= 300:
            raise HandshakeRejected(int(status)) from None
        raise ConnectionError(f"websocket handshake failed: {exc}") from None
    except WSError as exc:
        raise ConnectionError(f"websocket connect failed: {exc}") from None
    assert isinstance(listener, _Listener)
    if options.recv_buffer_bytes is not None:
        # picows doubles its read buffer whenever a read fills it, so under a flood it grows
        # to whatever the kernel holds (megabytes per socket); a bounded receive buffer bounds
        # both (and TCP flow control slows the sender instead)
        sock = ws.underlying_transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, options.recv_buffer_bytes)
    return PicowsTransport(ws, listener, options)
