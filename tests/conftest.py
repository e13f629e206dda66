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
from feedgate.runtime.redis_server import EmbeddedRedis, free_port_block

# CI explores the same examples every run (a landing must not hang on a newly drawn case);
# a developer's run draws new ones, which is how the fuzz tests find bugs
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

__all__ = ["free_port_block", "wait_for"]

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
