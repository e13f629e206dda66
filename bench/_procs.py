"""Processes the benchmark starts: the simulator and a counting subscriber.

``python bench/_procs.py sim --port P --symbols N --rate R`` serves the Binance simulator with
R trade frames/s per symbol (0 = saturation). ``python bench/_procs.py sub --port P --seconds S
[--latency]`` counts ``trades:*`` messages on Redis and prints one JSON line: messages/s and,
with ``--latency``, percentiles from each trade's ``ts`` (the simulator's send time, µs) to its
receipt here, and of the part of that before the gateway read the frame (``recv_ts - ts``).

Both are built so that they are not what the benchmark measures (checked by their CPU, which
``throughput.py`` prints): the saturating simulator writes one pre-framed block of trade frames
per connection over and over (no rendering per frame: the gateway does not care that trade ids
repeat), the paced one renders each frame right before it is written and stamps it with that
moment, and the counting subscriber counts pmessage headers in the raw bytes instead of parsing
every reply.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import random
import sys
import time
from typing import Any

import hiredis
import orjson

from feedgate.clock import now_us
from feedgate.runtime.simapi import frame_text_batch
from feedgate.runtime.simserver import SimServer
from feedgate.runtime.simtasks import _Client
from feedgate.venues.binance import wire
from feedgate.venues.binance.sim import BinanceSim
from feedgate.venues.binance.simsession import BinanceSession

BLOCK_FRAMES = 256
TICK_S = 0.001  # uvloop timers have 1 ms resolution: shorter sleeps spin
MARKER = b"$8\r\npmessage\r\n"  # starts every pattern message; cannot occur inside JSON


def symbols(n: int) -> list[str]:
    return [f"S{i:03d}-USDT" for i in range(n)]


class BenchSim(SimServer[BinanceSession, Any]):
    """The Binance simulator server with benchmark-grade trade loops (see the module doc)."""

    async def _saturate(self, client: _Client[BinanceSession]) -> None:
        conn = client.conn
        block = b""
        try:
            while not block:
                frames = self.sim.saturation_frames(client.session, now_us(), BLOCK_FRAMES)
                if frames:
                    block = frame_text_batch(frames)
                    break
                client.changed.clear()
                await client.changed.wait()
            transport = conn.transport
            while not transport.is_closing():
                transport.write(block)
                await conn.drain()
                await asyncio.sleep(0)
        except (ConnectionError, OSError):
            return

    async def _trade_loop(self) -> None:
        """Poisson arrivals per symbol at ``trade_rate`` frames/s; each connection's frames are
        rendered and stamped (``T``, ``E``) right before they are written. Wake-ups are at least
        ``TICK_S`` apart (the stamp is the write time, so this costs no measured latency)."""
        loop = asyncio.get_running_loop()
        rate, rng = self.trade_rate, random.Random(7)
        heap = [(loop.time() + rng.expovariate(rate), s) for s in self.sim.symbols]
        heapq.heapify(heap)
        next_id: dict[str, int] = dict.fromkeys(self.sim.symbols, 1)
        topics = {s: wire.stream_name(s, wire.TRADE) for s in self.sim.symbols}
        dumps, payload = orjson.dumps, wire.trade_payload
        routes: dict[str, list[_Client[BinanceSession]]] = {}
        seen = (-1, -1)
        while True:
            await asyncio.sleep(max(heap[0][0] - loop.time(), TICK_S))
            if seen != (self.stats.connections_accepted, self.stats.client_messages):
                seen = (self.stats.connections_accepted, self.stats.client_messages)
                routes = {}
                for client in self._clients.values():
                    for symbol in self.sim.trade_symbols(client.session):
                        routes.setdefault(symbol, []).append(client)
            now = loop.time()
            due: dict[_Client[BinanceSession], list[tuple[str, int]]] = {}
            while heap[0][0] <= now:
                t, symbol = heap[0]
                n = 0
                while t <= now:
                    n += 1
                    t += rng.expovariate(rate)
                heapq.heapreplace(heap, (max(t, now), symbol))
                for client in routes.get(symbol, ()):
                    due.setdefault(client, []).append((symbol, n))
            for client, work in due.items():
                transport = client.conn.transport
                if transport.is_closing():
                    continue
                frames = []
                stamp = now_us()
                for symbol, n in work:
                    topic = topics[symbol]
                    for _ in range(n):
                        trade_id = next_id[symbol]
                        next_id[symbol] = trade_id + 1
                        p = payload(
                            symbol, trade_id, "1.00000000", "0.50000000", stamp, True, stamp
                        )
                        frames.append(dumps({"stream": topic, "data": p}))
                transport.write(frame_text_batch(frames))


async def serve_sim(port: int, n: int, rate: float) -> None:
    server = BenchSim(
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


async def count(port: int, seconds: float, warmup: float, latency: bool) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(hiredis.pack_command((b"PSUBSCRIBE", b"trades:*")))
    parser = hiredis.Reader()
    print("ready", flush=True)
    samples: list[int] = []
    arrivals: list[int] = []  # simulator send to the gateway's read: the part before the gateway
    n = 0
    started = measuring_from = end = 0.0
    tail = b""
    edge = len(MARKER) - 1
    loads = orjson.loads
    while True:
        data = await reader.read(1 << 20)
        if not data:
            break
        received_us = time.time_ns() // 1000
        now = time.monotonic()
        if not started:
            started = now
            measuring_from, end = now + warmup, now + warmup + seconds
        if latency:  # paced runs: every message parsed, every latency kept
            parser.feed(data)
            while (reply := parser.gets()) is not False:
                if reply[0] == b"pmessage" and now >= measuring_from:
                    n += 1
                    message = loads(reply[3])
                    samples.append(received_us - message["ts"])
                    arrivals.append(message["recv_ts"] - message["ts"])
        elif now >= measuring_from:  # saturation: count message headers, parse nothing
            n += data.count(MARKER) + (tail + data[:edge]).count(MARKER)
        tail = data[-edge:]
        if now >= end:
            break
    samples.sort()
    arrivals.sort()

    def pct(values: list[int], q: float) -> float | None:
        if not values:
            return None
        return values[min(int(q * len(values)), len(values) - 1)] / 1000.0

    report = {
        "messages": n, "seconds": seconds, "rate": n / seconds,
        "p50_ms": pct(samples, 0.5), "p99_ms": pct(samples, 0.99),
        "p999_ms": pct(samples, 0.999),
        "arrival_p50_ms": pct(arrivals, 0.5), "arrival_p99_ms": pct(arrivals, 0.99),
    }  # fmt: skip
    print(orjson.dumps(report).decode(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    sim = sub.add_parser("sim")
    sim.add_argument("--port", type=int, required=True)
    sim.add_argument("--symbols", type=int, default=1)
    sim.add_argument("--rate", type=float, default=0.0, help="frames/s per symbol; 0 saturates")
    s = sub.add_parser("sub")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--seconds", type=float, default=5.0)
    s.add_argument("--warmup", type=float, default=1.0)
    s.add_argument("--latency", action="store_true", help="parse every message for its latency")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.cmd == "sim":
        asyncio.run(serve_sim(args.port, args.symbols, args.rate))
    else:
        asyncio.run(count(args.port, args.seconds, args.warmup, args.latency))


if __name__ == "__main__":
    sys.exit(main())
