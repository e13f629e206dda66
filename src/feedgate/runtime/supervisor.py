"""The supervisor: N worker processes on one host, each running its share of the plan.

``feedgate run --workers N`` starts N ``feedgate worker`` processes with the same config and
their index; each computes the same deterministic plan and runs only the connections
``plan.owner`` gives it (and its share of the venues' per-IP budgets). A worker that dies is
restarted with backoff and resumes exactly its share; the others keep running. SIGTERM drains:
every worker gets SIGTERM (they stop reading, flush the publisher, close connections), the
supervisor waits up to ``drain_timeout_s`` and kills what is left, then exits.

The supervisor serves its own ``/metrics`` (workers up, restarts) and ``/healthz`` (200 while
every worker runs) on ``metrics.port - 1``; worker i serves on ``metrics.port + i``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from feedgate.protocol.backoff import Backoff
from feedgate.runtime.health import HealthServer
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.5, cap_s=30.0))
    started_at: float = 0.0


class _SupervisorCollector(Collector):
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        s = self.supervisor
        up = GaugeMetricFamily("feedgate_workers_up", "Worker processes running")
        up.add_metric([], float(s.running()))
        yield up
        wanted = GaugeMetricFamily("feedgate_workers_wanted", "Worker processes configured")
        wanted.add_metric([], float(len(s.slots)))
        yield wanted
        restarts = CounterMetricFamily(
            "feedgate_worker_restarts", "Supervisor restarts of workers", labels=["worker"]
        )
        # every slot from 0 on: a series born at 1 would hide the first restart from increase()
        for slot in s.slots:
            restarts.add_metric([str(slot.index)], s.restarts[str(slot.index)])
        yield restarts


class Supervisor:
    def __init__(
        self,
        config: Path,
        settings: Settings,
        workers: int,
        *,
        shard_index: int = 0,
        shard_count: int = 1,
        drain_timeout_s: float = 10.0,
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker")
        self.config = config
        self.settings = settings
        self.shard_index, self.shard_count = shard_index, shard_count
        self.drain_timeout_s = drain_timeout_s
        self.slots = [_Slot(i) for i in range(workers)]
        self.restarts: Counter[str] = Counter()
        self._stopping = False
        self._redis_url = settings.redis.url
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_SupervisorCollector(self))
        port = settings.metrics.port
        self.health = HealthServer(
            None, registry, settings.metrics.host, port - 1 if port else 0, report=self._report
        )

    def running(self) -> int:
        return sum(1 for s in self.slots if s.process and s.process.returncode is None)

    def _report(self) -> tuple[bool, dict[str, object]]:
        alive = {str(s.index): bool(s.process and s.process.returncode is None) for s in self.slots}
        healthy = all(alive.values()) and not self._stopping
        return healthy, {"healthy": healthy, "workers": alive, "restarts": dict(self.restarts)}

    async def run(self) -> None:
        """Serve until cancelled (SIGTERM/SIGINT cancel it); then drain the workers."""
        embedded: EmbeddedRedis | None = None
        if self._redis_url is None:
            embedded = EmbeddedRedis().start()
            self._redis_url = embedded.url
            log.warning("no redis.url configured: started a private Redis at %s", embedded.url)
        await self.health.start()
        watchers = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        try:
            await asyncio.gather(*watchers)
        finally:
            self._stopping = True
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await self._drain()
            await self.health.stop()
            if embedded is not None:
                embedded.stop()

    async def _keep(self, slot: _Slot) -> None:
        """Run one worker slot forever: start, wait, restart with backoff when it dies."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            delay = slot.backoff.next_delay()
            if delay:
                await asyncio.sleep(delay)
            slot.process = await asyncio.create_subprocess_exec(*self._command(slot.index),
                                                                env=self._env())  # fmt: skip
            slot.backoff.connected(loop.time())
            code = await slot.process.wait()
            slot.backoff.disconnected(loop.time())
            if self._stopping:
                return
            self.restarts[str(slot.index)] += 1
            log.error("worker %d exited with %s; restarting", slot.index, code)

    def _command(self, index: int) -> list[str]:
        return [
            sys.executable, "-m", "feedgate.cli", "worker", "--config", str(self.config),
            "--worker-index", str(index), "--workers", str(len(self.slots)),
            "--shard-index", str(self.shard_index), "--shard-count", str(self.shard_count),
        ]  # fmt: skip

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self._redis_url is not None:
            env["FEEDGATE_REDIS__URL"] = self._redis_url
        return env

    async def _drain(self) -> None:
        processes = [s.process for s in self.slots if s.process and s.process.returncode is None]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if not processes:
            return
        _, late = await asyncio.wait(
            [asyncio.create_task(p.wait()) for p in processes], timeout=self.drain_timeout_s
        )
        for process in processes:
            if process.returncode is None:
                log.error("worker pid %d did not drain in time: killed", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        for task in late:
            with contextlib.suppress(Exception):
                await task
