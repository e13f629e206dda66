"""``feedgate demo``: embedded Redis + every venue's simulator + the gateway, with a live view.

Everything runs in this one process on loopback; nothing reaches the internet. Ctrl-C stops the
gateway (drained), the simulator and Redis, in that order.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections import Counter
from typing import Any

from feedgate.metrics import WorkerStats
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import SimServer
from feedgate.runtime.worker import Worker
from feedgate.settings import build_settings
from feedgate.venues import available_venues, get_venue


def _banner(redis_url: str, port: int, metrics_url: str, venues: list[str]) -> str:
    return f"""
feedgate demo: simulated {", ".join(venues)} → gateway → Redis at {redis_url}

  watch the data (in another terminal):
    .venv/bin/feedgate tail 'trades:*' --url {redis_url}
    .venv/bin/feedgate tail 'book:*' 'bbo:*' 'feedgate:status' --url {redis_url}
    redis-cli -p {port} psubscribe 'trades:*'          # if you have redis-cli
    redis-cli -p {port} get book:binance:BTC-USDT      # latest whole book (late joiners)
  metrics: {metrics_url}     health: {metrics_url.replace("/metrics", "/healthz")}
  Ctrl-C stops everything.
"""


class LiveView:
    """Prints one status line a second: message rates per channel, lag, reconnects, drops."""

    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats
        self._last: Counter[str] = Counter()
        self._last_t = time.monotonic()
        self._lag_counts: dict[str, list[int]] = {}
        self._latency_counts: list[int] | None = None

    def line(self) -> str:
        now = time.monotonic()
        elapsed = max(now - self._last_t, 1e-6)
        totals: Counter[str] = Counter()
        for (exchange, channel), n in self.stats.publisher.messages.items():
            totals[channel] += n
            if channel != "status":
                totals["@" + exchange] += n
        rates = {k: (totals[k] - self._last[k]) / elapsed for k in totals}
        self._last, self._last_t = totals, now
        p = self.stats.publisher
        lags = []
        for (exchange, channel), histogram in p.lag.items():
            if channel == "trades":
                lags.append(histogram.quantile(0.99, self._lag_counts.get(exchange)))
                self._lag_counts[exchange] = list(histogram.counts)
        lag = max((x for x in lags if x is not None), default=None)
        latency = p.latency.quantile(0.99, self._latency_counts)
        self._latency_counts = list(p.latency.counts)
        up = sum(1 for c in self.stats.connections if c.up)
        reconnects = sum(sum(c.reconnects.values()) for c in self.stats.connections)
        resyncs = sum(sum(c.resyncs.values()) for c in self.stats.connections)
        channels = "  ".join(
            f"{k} {rates[k]:5.0f}/s" for k in sorted(rates) if not k.startswith("@")
        )
        venues = " ".join(f"{k[1:]} {rates[k]:.0f}" for k in sorted(rates) if k.startswith("@"))
        return (
            f"{channels or '-'} | msgs/s {venues or '-'} | conns up {up}/"
            f"{len(self.stats.connections)} | lag p99 {_ms(lag)} | publish p99 {_ms(latency)}"
            f" | reconnects {reconnects} resyncs {resyncs} dropped {sum(p.dropped.values())}"
        )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"≤{seconds * 1000:.2g}ms"


async def run_demo(
    symbols: list[str],
    trade_rate: float = 20.0,
    duration: float | None = None,
    venues: list[str] | None = None,
) -> None:
    chosen = venues or list(available_venues())
    redis = EmbeddedRedis().start()
    servers: list[SimServer[Any, Any]] = []
    worker: Worker | None = None
    try:
        feeds = []
        for seed, venue in enumerate(chosen):
            module = importlib.import_module(f"feedgate.venues.{venue}.sim")
            server: SimServer[Any, Any] = SimServer(
                module.make_simulator(symbols, seed=seed + 7), trade_rate=trade_rate
            )
            await server.start()
            servers.append(server)
            options = {"ws_url": server.ws_url, "rest_url": server.rest_url}
            options.update(getattr(server.sim, "gateway_options", {}))  # e.g. a demo API key
            feeds.append({
                "exchange": venue,
                "channels": sorted(get_venue(venue).channels),
                "symbols": [] if get_venue(venue).symbolless else symbols,
                "options": options,
            })  # fmt: skip
        # loopback only, like the simulators and Redis: a demo exposes nothing to the network
        settings = build_settings({"metrics": {"host": "127.0.0.1", "port": 0}, "feeds": feeds})
        worker = Worker(settings, redis_url=redis.url)
        await worker.start()
        metrics_url = f"http://{worker.health.host}:{worker.health.port}/metrics"
        print(_banner(redis.url, redis.port, metrics_url, chosen), flush=True)
        view = LiveView(worker.stats)
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            await asyncio.sleep(1.0)
            end = "\n" if not sys.stdout.isatty() else "\r"
            print(view.line(), end=end, flush=True)
    finally:
        print("\nstopping…", flush=True)
        if worker is not None:
            await worker.stop()
        for server in servers:
            await server.stop()
        redis.stop()
        print("stopped cleanly", flush=True)
