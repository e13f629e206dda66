"""Run the gateway for a Settings: an embedded Redis when no URL is configured, then a worker."""

from __future__ import annotations

import contextlib
import logging

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.worker import Worker
from feedgate.settings import Settings

log = logging.getLogger(__name__)


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
    try:
        await worker.run()
    finally:
        with contextlib.suppress(Exception):
            await worker.stop()
        if embedded is not None:
            embedded.stop()
