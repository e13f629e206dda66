"""``feedgate demo``: embedded Redis + the Binance simulator + the gateway, with a live view.

Everything runs in this one process on loopback; nothing reaches the internet. Ctrl-C stops the
gateway (drained), the simulator and Redis, in that order.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

from feedgate.metrics import WorkerStats
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import SimServer
from feedgate.runtime.worker import Worker
from feedgate.settings import build_settings
from feedgate.venues.binance.sim import BinanceSim


def _banner(redis_url: str, port: int, metrics_url: str) -> str:
    return f"""
feedgate demo: simulated Binance → gateway → Redis at {redis_url}

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
        self._lag_counts: list[int] | None = None
        self._latency_counts: list[int] | None = None

    def line(self) -> str:
        now = time.monotonic()
        elapsed = max(now - self._last_t, 1e-6)
        totals: Counter[str] = Counter()
        for (_exchange, channel), n in self.stats.publisher.messages.items():
            totals[channel] += n
        rates = {c: (totals[c] - self._last[c]) / elapsed for c in totals}
        self._last, self._last_t = totals, now
        p = self.stats.publisher
        lag_histogram = p.lag_histogram("binance", "trades")
        lag = lag_histogram.quantile(0.99, self._lag_counts)
        latency = p.latency.quantile(0.99, self._latency_counts)
        self._lag_counts, self._latency_counts = list(lag_histogram.counts), list(p.latency.counts)
        up = sum(1 for c in self.stats.connections if c.up)
        reconnects = sum(sum(c.reconnects.values()) for c in self.stats.connections)
        resyncs = sum(sum(c.resyncs.values()) for c in self.stats.connections)
        rate_text = "  ".join(f"{c} {rates.get(c, 0.0):7.0f}/s" for c in sorted(rates)) or "-"
        return (
            f"{rate_text} | conns up {up}/{len(self.stats.connections)}"
            f" | lag p99 {_ms(lag)} | publish p99 {_ms(latency)}"
            f" | reconnects {reconnects} resyncs {resyncs} dropped {sum(p.dropped.values())}"
        )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"≤{seconds * 1000:.2g}ms"


async def run_demo(
    symbols: list[str], trade_rate: float = 20.0, duration: float | None = None
) -> None:
    redis = EmbeddedRedis().start()
    sim = SimServer(BinanceSim.from_canonical(symbols, seed=7), trade_rate=trade_rate)
    worker: Worker | None = None
    try:
        await sim.start()
        settings = build_settings(
            {
                "metrics": {"port": 0},
                "feeds": [
                    {
                        "exchange": "binance",
                        "channels": ["trades", "book", "bbo"],
                        "symbols": symbols,
                        "options": {"ws_url": sim.ws_url, "rest_url": sim.rest_url},
                    }
                ],
            }
        )
        worker = Worker(settings, redis_url=redis.url)
        await worker.start()
        metrics_url = f"http://{worker.health.host}:{worker.health.port}/metrics"
        print(_banner(redis.url, redis.port, metrics_url), flush=True)
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
        await sim.stop()
        redis.stop()
        print("stopped cleanly", flush=True)
