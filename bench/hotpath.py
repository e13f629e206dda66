"""The gateway's per-message CPU cost without sockets: a Binance trade (or depth) frame through
``Session._on_frame`` (protocol parse → events → ``Publisher.submit``: seq, encode, queue), then
the batch packing (``RedisLink._pack_batch``) and the reply handling (``RedisLink.replies``) as
if Redis had answered. Each stage is timed over ``--messages`` messages, ``--repeat`` times; the
best run is printed (the least disturbed by other work on the machine). Not a test: numbers.

    .venv/bin/python bench/hotpath.py [--messages 20000] [--repeat 7] [--kind trade|depth]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from feedgate.metrics import ConnectionStats, PublisherStats  # noqa: E402
from feedgate.protocol.base import ConnectionSpec, Topic  # noqa: E402
from feedgate.protocol.heartbeat import HeartbeatPolicy  # noqa: E402
from feedgate.protocol.ratelimit import SlidingWindow  # noqa: E402
from feedgate.runtime.connection import ConnectionRunner  # noqa: E402
from feedgate.runtime.publisher import Publisher  # noqa: E402
from feedgate.runtime.session import Session  # noqa: E402
from feedgate.venues import get_venue  # noqa: E402
from feedgate.venues.binance import wire  # noqa: E402

T0 = 1_800_000_000_000_000
SYMBOLS = [f"S{i:03d}-USDT" for i in range(100)]


def trade_frames(n: int) -> list[str]:
    out = []
    for i in range(n):
        venue = SYMBOLS[i % len(SYMBOLS)].replace("-", "")
        payload = wire.trade_payload(venue, i, "94250.01000000", "0.00120000", T0, i % 2 == 0, T0)
        out.append(orjson.dumps({"stream": f"{venue.lower()}@trade", "data": payload}).decode())
    return out


def depth_frames(n: int, levels: int) -> list[str]:
    """Diff-depth frames that change ``levels`` levels (half bids, half asks) in order."""
    out = []
    for i in range(n):
        venue = SYMBOLS[i % len(SYMBOLS)].replace("-", "")
        u = 1000 + i // len(SYMBOLS)
        bids = [[f"{100 - k * 0.01:.8f}", f"{(i + k) % 7}.00000000"] for k in range(levels // 2)]
        asks = [[f"{100.01 + k * 0.01:.8f}", f"{(i + k) % 5}.00000000"] for k in range(levels // 2)]
        payload = wire.depth_payload(venue, u, u, bids, asks, T0)
        stream = f"{venue.lower()}@depth@100ms"
        out.append(orjson.dumps({"stream": stream, "data": payload}).decode())
    return out


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


async def main(messages: int, repeat: int, kind: str, levels: int) -> None:
    spec = get_venue("binance")
    options = spec.options_type.model_validate(
        {"ws_url": "ws://sim", "rest_url": "http://sim", "time_unit": "us"}
    )
    channel = "trades" if kind == "trade" else "book"
    conn = ConnectionSpec(
        "binance-00",
        tuple(Topic(channel, s) for s in SYMBOLS),
        {s: s.replace("-", "") for s in SYMBOLS},
    )
    protocol = spec.make_protocol(conn, options)
    stats = PublisherStats()
    publisher = Publisher("redis://127.0.0.1:1/0", stats, max_queue=10**8, max_batch=10_000)
    runner = ConnectionRunner(
        protocol, connection_id="binance-00", opener=None,  # type: ignore[arg-type]
        publisher=publisher, snapshots=None,  # type: ignore[arg-type]
        stats=ConnectionStats("binance", "binance-00"), connect_limiter=SlidingWindow(1, 1.0),
        send_limiter_factory=lambda: SlidingWindow(1, 1.0),
        heartbeat=HeartbeatPolicy(60.0, {}, 3.0), channels=(channel,),
    )  # fmt: skip
    session = Session(runner, protocol, None, primary=True, sink=publisher.submit)  # type: ignore[arg-type]
    on_frame = session._on_frame
    link = publisher._default
    if kind == "trade":
        frames = trade_frames(messages)
    else:
        frames = depth_frames(messages, levels)
        sync_books(protocol, session)
    link.queue.clear()

    def frames_in() -> float:
        link.queue.clear()
        started = time.perf_counter()
        for frame in frames:
            on_frame(frame)
        return time.perf_counter() - started

    ingest = best(repeat, frames_in)
    queued = list(link.queue)
    per_frame = len(queued) / len(frames)

    def pack() -> float:
        link.queue.clear()
        link.queue.extend(queued)
        link._in_flight.clear()
        link._in_flight_count = 0
        started = time.perf_counter()
        while link.queue:
            link._pack_batch()
        return time.perf_counter() - started

    packing = best(repeat, pack)
    replies = b":1\r\n" * link._in_flight_count

    def acks() -> float:
        pack()
        started = time.perf_counter()
        for i in range(0, len(replies), 1 << 16):
            link.replies(replies[i : i + (1 << 16)])
        return time.perf_counter() - started

    acking = best(repeat, acks)
    n = len(queued)
    print(f"{kind}: {len(frames)} frames -> {n} messages ({per_frame:.2f} per frame)")
    print(f"  frame in (parse, events, submit): {ingest / len(frames) * 1e6:6.2f} µs/frame")
    print(f"  pack batch                      : {packing / n * 1e6:6.2f} µs/msg")
    print(f"  replies                         : {acking / n * 1e6:6.2f} µs/msg")
    total = (ingest + packing + acking) / len(frames) * 1e6
    print(f"  total                           : {total:6.2f} µs/frame")


def sync_books(protocol: Any, session: Session) -> None:
    """Load every book from a snapshot at update id 999, so frames from 1000 on apply."""
    for symbol in SYMBOLS:
        venue = symbol.replace("-", "")
        book = protocol._books.get(venue)
        session.carry_out(protocol.on_frame(depth_frames(1, 2)[0].replace("S000", venue[:4]), T0))
        body = wire.depth_snapshot_body(999, [["99.00000000", "1.00000000"]],
                                        [["101.00000000", "1.00000000"]])  # fmt: skip
        session.carry_out(protocol.on_snapshot(book.venue_symbol, body, T0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--kind", choices=["trade", "depth"], default="trade")
    parser.add_argument("--levels", type=int, default=20, help="levels changed per depth frame")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.repeat, args.kind, args.levels))
