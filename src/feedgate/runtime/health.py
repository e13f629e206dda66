"""The worker's HTTP endpoint: ``/metrics`` (Prometheus text) and ``/healthz`` (JSON).

``/healthz`` is 200 while Redis is connected and at least one connection is up (or none is
configured), else 503, with the per-connection states either way, for probes and humans.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from feedgate.metrics import WorkerStats


def health_report(stats: WorkerStats) -> tuple[bool, dict[str, object]]:
    connections = {c.connection: c.state for c in stats.connections}
    any_up = any(c.up for c in stats.connections) or not stats.connections
    healthy = stats.publisher.redis_up and any_up
    return healthy, {
        "healthy": healthy,
        "pid": os.getpid(),
        "worker": stats.worker,
        "redis_up": stats.publisher.redis_up,
        "connections": connections,
        "queue_depth": stats.publisher.queue_depth,
    }


Report = Callable[[], tuple[bool, dict[str, object]]]


class HealthServer:
    """``/metrics`` from ``registry``; ``/healthz`` from a worker's stats, or from ``report``
    (the supervisor's)."""

    def __init__(
        self,
        stats: WorkerStats | None,
        registry: CollectorRegistry,
        host: str,
        port: int,
        report: Report | None = None,
    ) -> None:
        if report is None:
            if stats is None:
                raise ValueError("a health server needs worker stats or a report")
            worker_stats = stats

            def report() -> tuple[bool, dict[str, object]]:
                return health_report(worker_stats)

        self._report = report
        self.stats = stats
        self.registry = registry
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            for address in self._runner.addresses:
                self.port = int(address[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, report = self._report()
        return web.json_response(report, status=200 if healthy else 503)
