"""Processes the benchmark starts: the simulator and a counting subscriber.

``python bench/_procs.py sim --port P --symbols N --rate R`` serves the Binance simulator
(R trades/s per symbol; 0 = saturation). ``python bench/_procs.py sub --port P --seconds S``
counts ``trades:*`` messages on Redis and prints one JSON line: messages/s and latency
percentiles from each trade's ``ts`` (the simulator's send time, µs) to its receipt here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import hiredis
import orjson


def symbols(n: int) -> list[str]:
    return [f"S{i:03d}-USDT" for i in range(n)]


async def serve_sim(port: int, n: int, rate: float) -> None:
    from feedgate.runtime.simserver import SimServer
    from feedgate.venues.binance.sim import BinanceSim

    server = SimServer(
        BinanceSim.from_canonical(symbols(n), seed=1),
        port=port,
        trade_rate=rate or None,
        depth_interval_ms=1e9,
    )
    await server.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


async def count(port: int, seconds: float, warmup: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(hiredis.pack_command((b"PSUBSCRIBE", b"trades:*")))
    parser = hiredis.Reader()
    print("ready", flush=True)
    latencies: list[int] = []
    n = 0
    started = measuring_from = end = 0.0
    sample = latencies.append
    loads = orjson.loads
    while True:
        data = await reader.read(1 << 20)
        if not data:
            break
        now_us = time.time_ns() // 1000
        now = time.monotonic()
        parser.feed(data)
        while (reply := parser.gets()) is not False:
            if reply[0] != b"pmessage":
                continue
            if not started:
                started = now
                measuring_from, end = now + warmup, now + warmup + seconds
            if now >= measuring_from:
                n += 1
                if n % 4 == 0:  # every 4th message: parsing all would make us the bottleneck
                    sample(now_us - loads(reply[3])["ts"])
        if started and now >= end:
            break
    latencies.sort()

    def pct(q: float) -> float | None:
        return (
            latencies[min(int(q * len(latencies)), len(latencies) - 1)] / 1000.0
            if latencies
            else None
        )

    print(
        orjson.dumps(
            {
                "messages": n,
                "seconds": seconds,
                "rate": n / seconds,
                "p50_ms": pct(0.5),
                "p99_ms": pct(0.99),
            }
        ).decode(),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim = sub.add_parser("sim")
    sim.add_argument("--port", type=int, required=True)
    sim.add_argument("--symbols", type=int, default=1)
    sim.add_argument("--rate", type=float, default=0.0)
    s = sub.add_parser("sub")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.cmd == "sim":
        asyncio.run(serve_sim(args.port, args.symbols, args.rate))
    else:
        asyncio.run(count(args.port, args.seconds, args.warmup))


if __name__ == "__main__":
    sys.exit(main())
