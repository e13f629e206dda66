"""Shared fixtures: a real Redis server (embedded) per test session, and condition waits."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import settings as hypothesis_settings

from feedgate.runtime.redis_cluster import EmbeddedRedisCluster
from feedgate.runtime.redis_server import EmbeddedRedis

# CI explores the same examples every run (a landing must not hang on a newly drawn case);
# a developer's run draws new ones, which is how the fuzz tests find bugs
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CAPTURES = SHARED / "captures"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedRedisCluster]:
    """A real 3-master Redis Cluster on loopback (about 2 s to start)."""
    with EmbeddedRedisCluster(masters=3) as cluster:
        yield cluster


@pytest.fixture
async def redis_client(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


async def wait_for(
    condition: Callable[[], object | Awaitable[object]],
    timeout: float = 5.0,
    what: str = "condition",
) -> None:
    """Poll ``condition`` until truthy; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def free_port_block(count: int) -> int:
    """A base port such that base - 1 … base + count - 1 are all free on loopback (the
    supervisor serves on metrics.port - 1 and worker i on metrics.port + i)."""
    import random
    import socket

    for _ in range(200):
        base = random.randint(20_000, 60_000)
        sockets: list[socket.socket] = []
        try:
            for port in range(base - 1, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free block of loopback ports")
