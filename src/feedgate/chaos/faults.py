"""The faults the soak fires, each with the metric it must show up in and how long after it a
lost trade is legitimate (a trade in flight on a socket that was cut, or on its way through a
worker that was killed, or through a Redis that restarted)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feedgate.runtime.redis_cluster import command
from feedgate.venues import get_venue

if TYPE_CHECKING:
    from feedgate.chaos.soak import Soak

MARKETS = ["binance", "coinbase", "kraken", "okx", "bybit", "upbit"]
INCREMENTAL_BOOKS = ["binance", "coinbase", "kraken", "okx", "bybit"]  # deltas with ids
# OKX's book checksum is deprecated (always 0) and only checked with legacy_checksum = true
CHECKSUM_BOOKS = ["kraken"]


@dataclass(frozen=True)
class Fault:
    name: str
    fire: Callable[[Soak, random.Random], Awaitable[tuple[str, str | None]]]
    """Does it; returns (detail, label fragment that the expected metric's sample must carry,
    or None when the fault could not be applied and nothing is to be counted)."""
    metric: str | None  # the sample that must grow (None: nothing to count)
    loss_s: float  # trades sent from 1 s before to this long after may be lost


async def _venue_drop(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(MARKETS)
    n = soak.stack.servers[venue].drop_connections()
    return f"{venue}: {n} connections cut", f"exchange={venue}"


async def _venue_close(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(MARKETS)
    code = rng.choice([1001, 1011, 1012])
    n = soak.stack.servers[venue].close_all(code, "soak")
    return f"{venue}: {n} connections closed with {code}", f"exchange={venue}"


async def _stall(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(MARKETS)
    soak.stack.servers[venue].silence(soak.stall_s)
    await asyncio.sleep(soak.stall_s + 0.5)
    return f"{venue}: silent for {soak.stall_s:.0f} s", f"exchange={venue}"


async def _gap(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(INCREMENTAL_BOOKS)
    server = soak.stack.servers[venue]
    server.skip_update_ids(server.sim.venue_symbol(rng.choice(soak.symbols)), 3)
    return f"{venue}: book update ids jump", f"exchange={venue}"


async def _checksum(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(CHECKSUM_BOOKS)
    server = soak.stack.servers[venue]
    server.checksum_flip(server.sim.venue_symbol(rng.choice(soak.symbols)))
    return f"{venue}: a wrong checksum", f"exchange={venue}"


async def _malformed(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(MARKETS)
    soak.stack.servers[venue].send_malformed()
    return f"{venue}: malformed frames", f"exchange={venue}"


async def _oversized(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    venue = rng.choice(MARKETS)
    server = soak.stack.servers[venue]
    size = get_venue(venue).max_frame_bytes + 1
    server.send_oversized(size)
    return f"{venue}: a {size}-byte frame (one over the limit)", f"exchange={venue}"


async def _redis_restart(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    redis = soak.stack.redis
    redis.stop()
    await asyncio.sleep(rng.uniform(0.5, 2.0))
    redis.start()
    soak.stack.configure_redis()
    return "Redis restarted (empty)", ""


async def _redis_pause(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    ms = rng.randint(500, 2000)
    redis = soak.stack.redis
    command(redis.host, redis.port, "CLIENT", "PAUSE", ms, "ALL")
    await asyncio.sleep(ms / 1000 + 0.2)
    return f"Redis paused {ms} ms", ""


async def _slow_subscriber(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    """A subscriber to everything that never reads: Redis must cut it, nobody else suffers."""
    redis = soak.stack.redis
    before = _cuts(soak)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(s, (redis.host, redis.port))
        await asyncio.get_running_loop().sock_sendall(s, b"PSUBSCRIBE *\r\n")
        for _ in range(40):  # up to 10 s
            if _cuts(soak) != before:
                break
            await asyncio.sleep(0.25)
    finally:
        s.close()
    cut = _cuts(soak) > before
    return ("cut by Redis" if cut else "not cut within 10 s") + " (never read)", ""


def _cuts(soak: Soak) -> int:
    redis = soak.stack.redis
    try:
        info = command(redis.host, redis.port, "INFO", "stats")
    except Exception:
        return -1
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("client_output_buffer_limit_disconnections:"):
            return int(line.split(":")[1])
    return 0


async def _kill_worker(soak: Soak, rng: random.Random) -> tuple[str, str | None]:
    health = await soak.stack.health(soak.http)
    alive = [(i, h["pid"]) for i, h in enumerate(health) if h is not None]
    if not alive:
        return "no worker answered", "worker=none"
    index, pid = rng.choice(alive)
    os.kill(pid, signal.SIGKILL)
    soak.kills += 1
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = (await soak.stack.health(soak.http))[index]
        if now is not None and now["pid"] != pid:
            return f"worker {index} (pid {pid}) killed, back as {now['pid']}", f"worker={index}"
    return f"worker {index} (pid {pid}) killed, NOT back within 20 s", f"worker={index}"


FAULTS = [
    Fault("venue_drop", _venue_drop, "feedgate_reconnects_total", 1.0),
    Fault("venue_close", _venue_close, "feedgate_reconnects_total", 1.0),
    Fault("stall", _stall, "feedgate_reconnects_total", 1.0),
    Fault("gap", _gap, "feedgate_book_resyncs_total", 0.0),
    Fault("checksum", _checksum, "feedgate_book_resyncs_total", 0.0),
    Fault("malformed", _malformed, "feedgate_parse_errors_total", 0.0),
    Fault("oversized", _oversized, "feedgate_reconnects_total", 1.0),
    Fault("redis_restart", _redis_restart, "feedgate_publish_errors_total", 4.0),
    Fault("redis_pause", _redis_pause, None, 0.0),
    Fault("slow_subscriber", _slow_subscriber, None, 0.0),
    Fault("kill_worker", _kill_worker, "feedgate_worker_restarts_total", 2.0),
]
BY_NAME = {f.name: f for f in FAULTS}
