"""What the soak runs: Redis, every venue's simulator, the gateway (``feedgate run``, a supervisor
with its workers, as operators run it), and a way to read the gateway's metrics."""

from __future__ import annotations

import asyncio
import importlib
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from feedgate.runtime.redis_cluster import command
from feedgate.runtime.redis_server import EmbeddedRedis, free_port_block
from feedgate.runtime.simserver import SimServer
from feedgate.venues import available_venues, get_venue

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
# a subscriber that falls this far behind is cut by Redis (the slow-subscriber fault)
OUTPUT_BUFFER_LIMIT = "pubsub 512kb 256kb 2"
# short thresholds, so a stall is noticed within the soak (market venues only: the others are
# quiet by nature)
STALENESS = {"transport_idle_s": 8.0, "book_idle_s": 8.0, "bbo_idle_s": 8.0}


def toml(value: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for a gateway config: scalars, lists of strings, tables and arrays of
    tables (the values come from this module, not from users)."""
    lines, tables = [], []
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(item, dict):
            tables.append(f"\n[{name}]\n" + toml(item, name))
        elif isinstance(item, list) and item and isinstance(item[0], dict):
            tables.extend(f"\n[[{name}]]\n" + toml(entry, name) for entry in item)
        else:
            lines.append(f"{key} = {_scalar(item)}")
    return "\n".join(lines) + "".join(tables) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


@dataclass
class SoakStack:
    workers: int = 2
    trade_rate: float = 20.0
    redis: EmbeddedRedis = field(default_factory=EmbeddedRedis)
    servers: dict[str, SimServer[Any, Any]] = field(default_factory=dict)
    gateway: asyncio.subprocess.Process | None = None
    metrics_port: int = 0
    _dir: tempfile.TemporaryDirectory[str] | None = None
    _config: Path = Path()

    async def start(self) -> None:
        """Redis and the simulators (recording every trade they send); the gateway's config."""
        self.redis.start()
        self.configure_redis()
        feeds = []
        for seed, venue in enumerate(available_venues()):
            module = importlib.import_module(f"feedgate.venues.{venue}.sim")
            server: SimServer[Any, Any] = SimServer(
                module.make_simulator(SYMBOLS, seed=seed + 11), trade_rate=self.trade_rate
            )
            await server.start()
            if hasattr(server.sim, "trade_ids"):
                server.record_trades()
            self.servers[venue] = server
            spec = get_venue(venue)
            options = {"ws_url": server.ws_url, "rest_url": server.rest_url}
            options.update(getattr(server.sim, "gateway_options", {}))
            feeds.append({
                "exchange": venue,
                "channels": sorted(spec.channels),
                "symbols": [] if spec.symbolless else SYMBOLS,
                "options": options,
                **({"staleness": STALENESS} if "book" in spec.channels else {}),
            })  # fmt: skip
        self.metrics_port = free_port_block(self.workers)
        config = {
            "log_level": "WARNING",
            "redis": {"url": self.redis.url},
            "metrics": {"host": "127.0.0.1", "port": self.metrics_port},
            "feeds": feeds,
        }
        self._dir = tempfile.TemporaryDirectory(prefix="feedgate-soak-")
        self._config = Path(self._dir.name) / "soak.toml"
        self._config.write_text(toml(config))

    async def start_gateway(self) -> None:
        """``feedgate run``: the supervisor and its workers, as operators run them."""
        path = self._config
        self.gateway = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedgate.cli", "run", "--config", str(path),
            "--workers", str(self.workers), stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    def configure_redis(self) -> None:
        command(self.redis.host, self.redis.port, "CONFIG", "SET",
                "client-output-buffer-limit", OUTPUT_BUFFER_LIMIT)  # fmt: skip

    async def stop(self) -> None:
        if self.gateway is not None and self.gateway.returncode is None:
            self.gateway.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.gateway.wait(), 20)
            except TimeoutError:
                self.gateway.kill()
                await self.gateway.wait()
        for server in self.servers.values():
            await server.stop()
        self.redis.stop()
        if self._dir is not None:
            self._dir.cleanup()

    # -- reading the gateway -----------------------------------------------------------------------

    def ports(self) -> list[int]:
        """The supervisor's port, then each worker's."""
        return [self.metrics_port - 1, *(self.metrics_port + i for i in range(self.workers))]

    async def health(self, http: aiohttp.ClientSession) -> list[dict[str, Any] | None]:
        """Each worker's /healthz (None while it is down)."""
        out: list[dict[str, Any] | None] = []
        for port in self.ports()[1:]:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    out.append(await response.json())
            except (aiohttp.ClientError, OSError, ValueError):
                out.append(None)
        return out

    async def metrics(self, http: aiohttp.ClientSession) -> dict[tuple[str, str], float]:
        """(sample name, sorted labels) → value, summed over the supervisor and the workers."""
        totals: dict[tuple[str, str], float] = {}
        for port in self.ports():
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    text = await response.text()
            except (aiohttp.ClientError, OSError):
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    key = (sample.name, labels)
                    totals[key] = totals.get(key, 0.0) + sample.value
        return totals
