"""The gateway's per-message CPU cost without sockets: a Binance trade (or depth) frame through
``Session.frame_handler()`` (protocol parse, events, ``Publisher.submit``: seq, encode, queue), then
the batch packing (``RedisLink._pack_batch``) and the reply handling (``RedisLink.replies``) as
if Redis had answered. Each stage is timed over ``--messages`` messages, ``--repeat`` times, in
process CPU time (other work on the machine disturbs it less than wall time), and the best run
is printed. Not a test: numbers.

    .venv/bin/python bench/hotpath.py [--messages 20000] [--repeat 7] [--kind trade|depth]
        [--batch 4096]

``--batch`` is the messages per batch and per reply read: thousands at saturation, a few in a
paced worker (20,000 msgs/s over 100 connections arrive a handful per event loop iteration),
where what a batch costs regardless of its size shows.
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
from feedgate.protocol.base import ConnectionSpec, Emit, Topic  # noqa: E402
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


def depth_frames(n: int, levels: int, first_id: int = 1000) -> list[str]:
    """Diff-depth frames that change ``levels`` levels (half bids, half asks) in order; sizes
    cycle through zero, so levels are deleted and inserted as well as changed."""
    out = []
    for i in range(n):
        venue = SYMBOLS[i % len(SYMBOLS)].replace("-", "")
        u = first_id + i // len(SYMBOLS)
        bids = [[f"{100 - k * 0.01:.8f}", f"{(i + k) % 7}.00000000"] for k in range(levels // 2)]
        asks = [[f"{100.01 + k * 0.01:.8f}", f"{(i + k) % 5}.00000000"] for k in range(levels // 2)]
        payload = wire.depth_payload(venue, u, u, bids, asks, T0)
        stream = f"{venue.lower()}@depth@100ms"
        out.append(orjson.dumps({"stream": stream, "data": payload}).decode())
    return out


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


async def main(messages: int, repeat: int, kind: str, levels: int, batch: int) -> None:
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
    # nothing is written during the frame stage (as within one event loop turn); the packing
    # stage takes batches of a saturated turn's size
    publisher = Publisher("redis://127.0.0.1:1/0", stats, max_queue=10**8, max_batch=10**8)
    runner = ConnectionRunner(
        protocol, connection_id="binance-00", opener=None,  # type: ignore[arg-type]
        publisher=publisher, snapshots=None,  # type: ignore[arg-type]
        stats=ConnectionStats("binance", "binance-00"), connect_limiter=SlidingWindow(1, 1.0),
        send_limiter_factory=lambda: SlidingWindow(1, 1.0),
        heartbeat=HeartbeatPolicy(60.0, {}, 3.0), channels=(channel,),
    )  # fmt: skip
    session = Session(runner, protocol, None, primary=True, sink=publisher.submit)  # type: ignore[arg-type]
    session.last_data_s = {channel: 0.0}
    on_frame = session.frame_handler()
    link = publisher._default
    link.max_batch = batch
    runs: list[list[str]] = []
    if kind == "trade":
        runs = [trade_frames(messages)] * repeat
    else:  # every run continues the books' update ids
        per_run = messages // len(SYMBOLS)
        runs = [depth_frames(messages, levels, 1000 + r * per_run) for r in range(repeat)]
        sync_books(protocol, session)
    frames = runs[0]
    link.queue.clear()

    def frames_in() -> float:
        link.queue.clear()
        batch = runs.pop(0)
        started = time.process_time()
        for frame in batch:
            on_frame(frame)
        return time.process_time() - started

    ingest = best(repeat, frames_in)
    queued = list(link.queue)
    per_frame = len(queued) / len(frames)

    def pack() -> float:
        link.queue.clear()
        link.queue.extend(queued)
        link._in_flight.clear()
        link._in_flight_count = 0
        started = time.process_time()
        while link.queue:
            link._pack_batch()
        return time.process_time() - started

    packing = best(repeat, pack)
    replies = b":1\r\n" * link._in_flight_count
    read = len(b":1\r\n") * batch

    def acks() -> float:
        pack()
        started = time.process_time()
        for i in range(0, len(replies), read):
            link.replies(replies[i : i + read])
        return time.process_time() - started

    acking = best(repeat, acks)
    n = len(queued)
    print(
        f"{kind}: {len(frames)} frames -> {n} messages ({per_frame:.2f} per frame), {batch} a batch"
    )
    print(f"  frame in (parse, events, submit): {ingest / len(frames) * 1e6:6.2f} µs/frame")
    print(f"  pack batch                      : {packing / n * 1e6:6.2f} µs/msg")
    print(f"  replies                         : {acking / n * 1e6:6.2f} µs/msg")
    total = (ingest + packing + acking) / len(frames) * 1e6
    print(f"  total                           : {total:6.2f} µs/frame")


def sync_books(protocol: Any, session: Session) -> None:
    """Sync every book (§1.7): an update 999 is buffered, a snapshot at 998 fits it, and the
    measured frames (1000 on) apply in order."""
    protocol.on_open(T0)
    for symbol in SYMBOLS:
        venue = symbol.replace("-", "")
        payload = wire.depth_payload(venue, 999, 999, [["99.00000000", "2.00000000"]], [], T0)
        frame = orjson.dumps({"stream": f"{venue.lower()}@depth@100ms", "data": payload})
        protocol.on_frame(frame, T0)  # buffered; asks for the REST snapshot
        body = wire.depth_snapshot_body(998, [["99.00000000", "1.00000000"]],
                                        [["101.00000000", "1.00000000"]])  # fmt: skip
        session.carry_out([a for a in protocol.on_snapshot(venue, body, T0) if type(a) is Emit])
    assert protocol.unsynced_books() == 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--kind", choices=["trade", "depth"], default="trade")
    parser.add_argument("--levels", type=int, default=20, help="levels changed per depth frame")
    parser.add_argument("--batch", type=int, default=4096, help="messages per batch and read")
    args = parser.parse_args()
    run = main(args.messages, args.repeat, args.kind, args.levels, args.batch)
    try:
        import uvloop  # the worker's loop (its time() is what the session reads per frame)

        uvloop.run(run)
    except ImportError:
        asyncio.run(run)
