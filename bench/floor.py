"""The floor: the least one Python process can do to move Binance trade frames to Redis.

picows hands each frame over in its read callback; the fields a trade needs are decoded by
msgspec into a typed shape, a normalized trade (the schema's fields, a per-channel ``seq``) is
encoded with msgspec and appended as ``PUBLISH`` to one pipelined write per event loop
iteration (the channel's RESP prefix packed once, as feedgate does); replies (integers) are
counted, not parsed. No checks, no books, no metrics, no reconnects, no bounds: not a gateway,
but the least this work takes in Python, measured in the same stack so that feedgate can be
read as a share of it. It imports nothing from feedgate, on purpose (a change there must not
move the floor): its trade and message shapes repeat ``feedgate.venues.binance.typed`` and the
schema's field order in ``feedgate.messages``.

``python bench/floor.py --ws ws://127.0.0.1:P --redis-port R --symbols N``
"""

from __future__ import annotations

import argparse
import asyncio
import time

import hiredis
import msgspec
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class TradeData(msgspec.Struct, gc=False):
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class Frame(msgspec.Struct, gc=False):
    data: TradeData


class Message(msgspec.Struct, gc=False):
    v: int
    type: str
    exchange: str
    symbol: str
    venue_symbol: str
    ts: int
    recv_ts: int
    seq: int
    id: str
    price: str
    size: str
    side: str


decode = msgspec.json.Decoder(Frame).decode
encode = msgspec.json.Encoder().encode
WRITE_PARTS = 4096  # four parts a message: a joined write of about 60 kB


class Publisher(asyncio.Protocol):
    """One pipelined Redis connection: messages appended, written at the end of the turn."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.replies = 0
        self.loop = asyncio.get_running_loop()
        self.scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.replies += data.count(b"\n")

    def publish(self, prefix: bytes, message: bytes) -> None:
        parts = self.parts
        parts += (prefix, b"$%d\r\n" % len(message), message, b"\r\n")
        if len(parts) >= WRITE_PARTS:  # a flooded turn: write in ~60 kB pieces as it goes
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        assert self.transport is not None
        if self.parts:
            self.transport.write(b"".join(self.parts))
        self.parts.clear()


class Listener(WSListener):
    def __init__(self, publisher: Publisher) -> None:
        super().__init__()
        self.publisher = publisher
        self.channels: dict[str, tuple[bytes, str, list[int]]] = {}

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        recv_ts = time.time_ns() // 1000
        data = decode(frame.get_payload_as_memoryview()).data
        venue_symbol = data.s
        cached = self.channels.get(venue_symbol)
        if cached is None:
            symbol = venue_symbol[:-4] + "-USDT"
            name = f"trades:binance:{symbol}".encode()
            packed = hiredis.pack_command((b"PUBLISH", name, b""))  # type: ignore[arg-type]
            prefix = packed[: -len(b"$0\r\n\r\n")]
            cached = self.channels[venue_symbol] = (prefix, symbol, [0])
        prefix, symbol, seq = cached
        seq[0] += 1
        message = encode(Message(
            1, "trade", "binance", symbol, venue_symbol, data.T, recv_ts, seq[0], str(data.t),
            data.p, data.q, "sell" if data.m else "buy",
        ))  # fmt: skip
        self.publisher.publish(prefix, message)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws", required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--symbols", type=int, default=1)
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    _, publisher = await loop.create_connection(Publisher, "127.0.0.1", args.redis_port)
    closed = []
    for i in range(args.symbols):
        url = f"{args.ws}/stream?streams=s{i:03d}usdt@trade&timeUnit=MICROSECOND"
        transport, _ = await ws_connect(lambda: Listener(publisher), url)
        closed.append(transport.wait_disconnected())
    await asyncio.gather(*closed)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
