"""Run the gateway for a Settings: an embedded Redis when no URL is configured, then a worker."""

from __future__ import annotations

import contextlib
import gc
import logging

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.worker import Worker
from feedgate.settings import Settings

log = logging.getLogger(__name__)

GC_YOUNG_THRESHOLD = 20_000


async def run_gateway(
    settings: Settings,
    *,
    worker_index: int = 0,
    worker_count: int = 1,
    shard_index: int = 0,
    shard_count: int = 1,
) -> None:
    """Serve until cancelled; on cancellation drain and stop cleanly."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis.url
    if url is None:
        embedded = EmbeddedRedis().start()
        url = embedded.url
        log.warning("no redis.url configured: started a private Redis at %s", url)
    worker = Worker(
        settings, redis_url=url, worker_index=worker_index, worker_count=worker_count,
        shard_index=shard_index, shard_count=shard_count,
    )  # fmt: skip
    # The collector runs every 700 net allocations by default, and a saturated worker holds a
    # loop turn's messages (thousands of queue entries) until they are packed: they survive
    # young collections, get promoted and set off full ones that walk the whole heap (8% of the
    # worker in a profile). A larger young generation lets most die young, and the objects made
    # at start-up (settings, venue specs, plans, the registry) are frozen out of every walk:
    # 5.4-5.7 -> 5.2-5.3 µs per message at saturation (docs/performance.md).
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    try:
        await worker.start()
        gc.freeze()
        await worker.run()
    finally:
        with contextlib.suppress(Exception):
            await worker.stop()
        if embedded is not None:
            embedded.stop()
