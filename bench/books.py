"""Book path: diff-depth frames per second through book maintenance and publishing, per venue.

For each venue, its protocol is wired to its simulator in-process (subscribe frames go to the
simulator, its replies and REST bodies come straight back), books are synced, then a run of
pre-rendered depth frames is timed through ``on_frame`` → book sync → ``Publisher.submit`` →
pipelined PUBLISH/SET to a real Redis, until Redis acknowledged everything. No WebSocket here:
this isolates what the gateway does per book frame. Not a test: it prints numbers.

    .venv/bin/python bench/books.py [--frames 50000] [--symbols 10] [--venues binance okx]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from feedgate.events import BookDelta  # noqa: E402
from feedgate.metrics import PublisherStats  # noqa: E402
from feedgate.protocol.base import (  # noqa: E402
    Action,
    ConnectionSpec,
    Emit,
    FetchSnapshot,
    Resync,
    Send,
    Topic,
)
from feedgate.runtime.publisher import Publisher  # noqa: E402
from feedgate.runtime.redis_server import EmbeddedRedis  # noqa: E402
from feedgate.venues import available_venues, get_venue  # noqa: E402

T0 = 1_800_000_000_000_000


class Loopback:
    """A venue protocol talking to its simulator without sockets."""

    def __init__(
        self, venue: str, symbols: list[str], publisher: Publisher | None, levels: int | None = None
    ) -> None:
        spec = get_venue(venue)
        self.sim: Any = importlib.import_module(f"feedgate.venues.{venue}.sim").make_simulator(
            symbols, seed=1
        )
        if levels is not None:  # Binance's simulator: 1 to 2k random changes per update, some
            for market in getattr(self.sim, "markets", {}).values():  # landing on one level
                market.changes_per_update = round(levels * 1.2)
        options = spec.options_type.model_validate({"ws_url": "ws://sim", "rest_url": "http://sim"})
        conn = ConnectionSpec(
            f"{venue}-00",
            tuple(Topic("book", s) for s in symbols),
            {s: self.sim.venue_symbol(s) for s in symbols},
        )
        self.proto = spec.make_protocol(conn, options)
        url = urlsplit(self.proto.connect_url())
        self.session = self.sim.open_session(url.path + (f"?{url.query}" if url.query else ""))
        self.publisher = publisher
        self.deltas = 0
        self.levels = 0
        self.resyncs = 0
        self.carry_out(self.proto.on_open(T0), T0)

    def carry_out(self, actions: list[Action], now: int) -> None:
        for action in actions:
            if type(action) is Emit:
                event = action.event
                if type(event) is BookDelta:
                    self.deltas += 1
                    self.levels += len(event.bids) + len(event.asks)
                if self.publisher is not None:
                    self.publisher.submit(event)
            elif type(action) is Resync:
                self.resyncs += 1
            elif type(action) is Send:
                for reply in self.sim.on_client_text(self.session, action.data):
                    self.carry_out(self.proto.on_frame(reply, now), now)
            elif type(action) is FetchSnapshot:
                url = urlsplit(action.url)
                answer = self.sim.http_get(url.path + f"?{url.query}")
                if answer is not None and answer[0] == 200:
                    self.carry_out(self.proto.on_snapshot(action.key, answer[1], now), now)

    def frames(self, ticks: int, start: int) -> list[str | bytes]:
        """Rendered frames as a transport hands them over: a text frame as ``str``, a binary
        one (Upbit) as ``bytes``. Protocols may read the two differently (Binance decodes
        text typed), so bytes here would time another path than the worker's."""
        binary = getattr(self.sim, "binary_frames", False)
        out: list[str | bytes] = []
        for i in range(ticks):
            for event in self.sim.tick_events(start + i * 100_000):
                frame = self.sim.render(self.session, event)
                if frame is not None:
                    out.append(frame if binary else frame.decode())
        return out


async def run_venue(
    venue: str, symbols: int, frames: int, redis_url: str, levels: int | None = None
) -> dict[str, Any]:
    names = [f"S{i:02d}-USDT" for i in range(symbols)]
    stats = PublisherStats()
    publisher = Publisher(redis_url, stats)
    task = asyncio.create_task(publisher.run())
    await publisher.wait_connected(5)
    loop = Loopback(venue, names, publisher, levels)
    for frame in loop.frames(5, T0):  # sync every book (REST venues need a first delta)
        loop.carry_out(loop.proto.on_frame(frame, T0), T0)
    ticks = max(frames // symbols, 1)
    batch = loop.frames(ticks, T0 + 1_000_000)
    loop.deltas = loop.levels = loop.resyncs = 0
    published_before = sum(stats.messages.values())
    on_frame, carry_out = loop.proto.on_frame, loop.carry_out
    started = time.perf_counter()
    cpu_started = time.process_time()
    for i, frame in enumerate(batch):
        carry_out(on_frame(frame, T0 + 2_000_000), T0)
        if i % 256 == 255:
            await asyncio.sleep(0)  # let the publisher's reply reader run, as in the worker
    while publisher.in_flight:  # noqa: ASYNC110 - a bench poll
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    published = sum(stats.messages.values()) - published_before
    await publisher.close(1.0)
    task.cancel()
    return {
        "venue": venue, "frames": len(batch), "seconds": elapsed, "cpu": cpu,
        "frames_per_s": len(batch) / elapsed, "levels_per_frame": loop.levels / max(loop.deltas, 1),
        "published": published, "resyncs": loop.resyncs,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--symbols", type=int, default=10)
    book_venues = [v for v in available_venues() if "book" in get_venue(v).channels]
    parser.add_argument("--venues", nargs="*", default=book_venues)
    parser.add_argument(
        "--levels", type=int, default=20,
        help="Binance: about this many levels changed per depth frame (its own row)",
    )  # fmt: skip
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")),
                 "unknown cpu")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores, {model}, Python {platform.python_version()};"
          f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print("| venue | frames | levels/frame | frames/s | frames per CPU second | messages published"
          " | resyncs |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with EmbeddedRedis() as redis:
        runs = [(venue, None) for venue in args.venues]
        if "binance" in args.venues and args.levels:
            runs.append(("binance", args.levels))
        for venue, levels in runs:
            r = asyncio.run(run_venue(venue, args.symbols, args.frames, redis.url, levels))
            name = venue if levels is None else f"{venue} (~{levels} levels changed)"
            print(f"| {name} | {r['frames']} | {r['levels_per_frame']:.1f} |"
                  f" {r['frames_per_s']:,.0f} | {r['frames'] / r['cpu']:,.0f} | {r['published']}"
                  f" | {r['resyncs']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
