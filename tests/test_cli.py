"""The command line as a user runs it: separate processes, real signals, exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from feedgate.runtime.redis_server import EmbeddedRedis, free_port
from feedgate.runtime.simserver import SimServer
from feedgate.venues import available_venues
from feedgate.venues.binance.sim import BinanceSim
from tests.conftest import free_port_block, wait_for

FEEDGATE = [sys.executable, "-m", "feedgate.cli"]


def test_bad_config_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[feeds]]\nexchange = "binance"\nchannels = ["trades"]\n'
        'symbols = ["btc-usdt"]\n[metrics]\nport = "x"\n'
    )
    result = subprocess.run(
        [*FEEDGATE, "run", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "feeds.0.symbols" in result.stderr and "btc-usdt" in result.stderr
    assert "metrics.port" in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*FEEDGATE, "run", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "does not exist" in result.stderr


async def test_run_serves_then_drains_on_sigterm(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    server: SimServer[Any, Any] = SimServer(BinanceSim.from_canonical(["BTC-USDT"]), trade_rate=20)
    await server.start()
    port = free_port_block(4)  # supervisor on port - 1, workers from port on
    config = tmp_path / "feeds.toml"
    config.write_text(f"""
[redis]
url = "{redis_server.url}"
[metrics]
port = {port}
[[feeds]]
exchange = "binance"
channels = ["trades", "book"]
symbols = ["BTC-USDT"]
[feeds.options]
ws_url = "{server.ws_url}"
rest_url = "{server.rest_url}"
""")
    proc = await asyncio.create_subprocess_exec(
        *FEEDGATE,
        "run",
        "--config",
        str(config),
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(healthy, 15, "the gateway to report healthy")
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.stop()


def test_demo_runs_and_stops_cleanly() -> None:
    result = subprocess.run(
        [*FEEDGATE, "demo", "--duration", "4"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "feedgate tail 'trades:*' --url redis://127.0.0.1:" in result.stdout
    assert "stopped cleanly" in result.stdout
    lines = [line for line in result.stdout.splitlines() if "conns up" in line]
    assert lines, result.stdout
    up = re.search(r"conns up (\d+)/(\d+)", lines[-1])
    assert up is not None and up[1] == up[2] and int(up[1]) >= len(available_venues())
    for venue in available_venues():  # every venue's simulator is flowing
        rate = re.search(rf"{venue} (\d+)", lines[-1])
        assert rate is not None and int(rate[1]) > 0, f"{venue} not flowing: {lines[-1]}"


async def test_simulate_serves_rest_and_websocket() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *FEEDGATE,
        "simulate",
        "--port",
        str(port),
        "--symbols",
        "BTC-USDT",
        "--rate",
        "50",
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert f"ws=ws://127.0.0.1:{port}" in line.decode()
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/v3/depth?symbol=BTCUSDT&limit=5"
            async with http.get(url) as response:
                body = await response.json()
            assert len(body["bids"]) == 5 and body["lastUpdateId"] > 0
            async with http.ws_connect(f"ws://127.0.0.1:{port}/ws/btcusdt@trade") as ws:
                message = await asyncio.wait_for(ws.receive_json(), 5)
            assert message["e"] == "trade" and message["s"] == "BTCUSDT"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
