"""A WebSocket server on a raw socket, for what no library server sends: it completes the upgrade
(RFC 6455 §4.2.2), writes the given bytes, and then reads and discards until the client's close
frame, when it hangs up (or, with ``read=False``, goes silent: no pong, no close answer)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented server text frame (payload under 126 bytes)."""
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload


@asynccontextmanager
async def raw_server(after_upgrade: bytes, read: bool = True) -> AsyncIterator[str]:
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + after_upgrade
        )
        if not read:
            await asyncio.Event().wait()
        while data := await reader.read(1 << 16):
            if data[0] == 0x88:  # the client's close frame (it arrives on its own): hang up
                writer.close()
                return

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/raw"
    finally:
        for writer in writers:
            writer.transport.abort()
        srv.close()
