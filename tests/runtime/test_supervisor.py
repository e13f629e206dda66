"""The supervisor as operators run it: real worker processes, kill -9, SIGTERM, budgets."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import SimServer
from feedgate.venues.binance.sim import BinanceSim
from feedgate.venues.upbit.sim import make_simulator as upbit_simulator
from tests.conftest import free_port_block, wait_for

FEEDGATE = [sys.executable, "-m", "feedgate.cli"]


async def get_json(http: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with http.get(url) as response:
            body: dict[str, Any] = await response.json()
            return body
    except (aiohttp.ClientError, OSError):
        return None


@asynccontextmanager
async def supervisor(config: Path, workers: int) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *FEEDGATE, "run", "--config", str(config), "--workers", str(workers),
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:  # drain properly, so no worker outlives the test
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def sim_config(
    tmp_path: Path,
    server: SimServer[Any, Any],
    redis_url: str,
    port: int,
    exchange: str,
    symbols: list[str],
    per_connection: str,
) -> Path:
    """A config with one feed of ``exchange`` against ``server``, one symbol per connection
    (``per_connection`` is the venue's option name for that)."""
    listed = ", ".join(f'"{s}"' for s in symbols)
    config = tmp_path / "feeds.toml"
    config.write_text(f"""
[redis]
url = "{redis_url}"
[metrics]
port = {port}
[[feeds]]
exchange = "{exchange}"
channels = ["trades"]
symbols = [{listed}]
[feeds.options]
ws_url = "{server.ws_url}"
rest_url = "{server.rest_url}"
{per_connection} = 1
""")
    return config


def binance_config(tmp_path: Path, server: SimServer[Any, Any], redis_url: str, port: int) -> Path:
    symbols = [f"S{i}-USDT" for i in range(4)]
    return sim_config(
        tmp_path, server, redis_url, port, "binance", symbols, "streams_per_connection"
    )


async def test_workers_split_the_plan_restart_alone_and_drain(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    sim = BinanceSim.from_canonical([f"S{i}-USDT" for i in range(4)])
    server: SimServer[Any, Any] = SimServer(sim, trade_rate=20)
    await server.start()
    port = free_port_block(2)  # the supervisor uses port - 1, workers port and port + 1
    config = binance_config(tmp_path, server, redis_server.url, port)
    try:
        async with supervisor(config, 2) as proc, aiohttp.ClientSession() as http:
            health: dict[int, dict[str, Any]] = {}

            async def both_up() -> bool:
                for i in (0, 1):
                    report = await get_json(http, f"http://127.0.0.1:{port + i}/healthz")
                    if report is None or not report["healthy"]:
                        return False
                    health[i] = report
                return all(
                    set(r["connections"].values()) == {"subscribed"} for r in health.values()
                )

            await wait_for(both_up, 20, "two healthy workers")
            # the deterministic plan, split round-robin: 4 connections, 2 each
            assert sorted(health[0]["connections"]) == ["binance-00", "binance-02"]
            assert sorted(health[1]["connections"]) == ["binance-01", "binance-03"]
            pids = {i: health[i]["pid"] for i in (0, 1)}
            os.kill(pids[1], signal.SIGKILL)

            async def restarted() -> bool:
                return await both_up() and health[1]["pid"] != pids[1]

            await wait_for(restarted, 20, "worker 1 restarted")
            assert health[0]["pid"] == pids[0], "the other worker was disturbed"
            assert sorted(health[1]["connections"]) == ["binance-01", "binance-03"]
            async with http.get(f"http://127.0.0.1:{port - 1}/metrics") as response:
                text = await response.text()
            assert 'feedgate_worker_restarts_total{worker="1"} 1.0' in text
            assert "feedgate_workers_up 2.0" in text
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 15) == 0
            for pid in (pids[0], health[1]["pid"]):
                await wait_for(lambda p=pid: not _alive(p), 5, f"worker {pid} gone")
    finally:
        await server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours still answers kill(0); its /proc state says Z
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def test_workers_share_the_host_connect_budget(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    """Upbit allows 5 connection attempts a second per IP (§4.7); two workers each take 2."""
    symbols = [f"C{i}-KRW" for i in range(12)]
    server: SimServer[Any, Any] = SimServer(upbit_simulator(symbols), trade_rate=5)
    await server.start()
    port = free_port_block(2)
    config = sim_config(
        tmp_path, server, redis_server.url, port, "upbit", symbols, "topics_per_connection"
    )
    try:
        async with supervisor(config, 2):
            await wait_for(lambda: server.stats.connections_accepted >= 12, 20, "12 connections")
            server.drop_connections()
            await wait_for(lambda: server.stats.connections_accepted >= 24, 20, "12 reconnects")
            times = sorted(server.stats.attempt_times)
            busiest = max(sum(1 for u in times if t <= u < t + 0.95) for t in times)
            assert busiest <= 5, f"{busiest} connection attempts within a second"
    finally:
        await server.stop()


async def test_workers_exit_when_the_supervisor_is_killed(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    """kill -9 of the supervisor leaves no orphan workers running their share unsupervised."""
    sim = BinanceSim.from_canonical([f"S{i}-USDT" for i in range(4)])
    server: SimServer[Any, Any] = SimServer(sim, trade_rate=20)
    await server.start()
    port = free_port_block(2)
    config = binance_config(tmp_path, server, redis_server.url, port)
    try:
        async with supervisor(config, 2) as proc, aiohttp.ClientSession() as http:
            pids: list[int] = []

            async def workers_up() -> bool:
                pids.clear()
                for i in (0, 1):
                    report = await get_json(http, f"http://127.0.0.1:{port + i}/healthz")
                    if report is None:
                        return False
                    pids.append(report["pid"])
                return True

            await wait_for(workers_up, 20, "two workers")
            proc.kill()
            await proc.wait()
            for pid in pids:
                await wait_for(lambda p=pid: not _alive(p), 10, f"orphan worker {pid} gone")
    finally:
        await server.stop()
