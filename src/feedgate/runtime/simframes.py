"""Simulator faults at the WebSocket framing layer: frames and messages larger than any venue
sends, to prove a gateway connection refuses them before buffering them (``max_size``, the
venue's ``VenueSpec.max_frame_bytes``), counts them and reconnects.

A mixin of ``SimServer`` beside ``simfaults.SimFaults`` (one file, one job). Like the market
data, these frames are written pre-framed, straight to each client's transport (RFC 6455 §5.2:
unmasked server frames, 7/16/64-bit lengths).
"""

from __future__ import annotations

import struct
from typing import Generic, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from feedgate.runtime.simtasks import _Client

S = TypeVar("S")

TEXT, CONTINUATION = 0x1, 0x0


def frame_header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """The header of an unmasked server frame carrying ``length`` payload bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def padded_object(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (at least 10): what a venue's protocol could
    parse, were it allowed in, so only the size is wrong."""
    return b'{"pad":"' + b"x" * (size - 10) + b'"}'


class FrameFaults(Generic[S]):
    _clients: dict[ServerConnection, _Client[S]]

    def _write_raw(self, data: bytes) -> int:
        clients = [c for c in self._clients.values() if c.conn.protocol.state is State.OPEN]
        for client in clients:
            client.conn.transport.write(data)
        return len(clients)

    def send_oversized(self, size: int, *, fragments: int = 1) -> int:
        """Send every client one text message of ``size`` bytes, as one frame or as
        ``fragments`` frames (a first frame, then continuations) each well under ``size``.
        Returns how many clients got it."""
        payload = padded_object(size)
        step = -(-size // fragments)
        chunks = [payload[i : i + step] for i in range(0, size, step)]
        parts = []
        for index, chunk in enumerate(chunks):
            opcode = TEXT if index == 0 else CONTINUATION
            parts += [frame_header(opcode, len(chunk), fin=index == len(chunks) - 1), chunk]
        return self._write_raw(b"".join(parts))

    def announce_frame(self, length: int, sent: int = 1024) -> int:
        """Send every client the header of a text frame of ``length`` bytes and only ``sent``
        bytes of it: a client that read a frame whole before judging its size would wait for
        the rest, holding what came (a venue's bug or a hostile peer: 2**40 is a terabyte)."""
        return self._write_raw(frame_header(TEXT, length) + padded_object(sent))
