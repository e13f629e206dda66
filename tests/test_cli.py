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


# Imported by every Python process started with this folder on PYTHONPATH: records what a
# process starts (bound sockets, child processes) through the interpreter's audit hooks.
WATCH = """
import os, sys
_STARTS = ("socket.bind", "socket.listen", "subprocess.Popen", "os.fork", "os.forkpty",
           "os.posix_spawn", "os.spawn", "os.exec", "os.system")
_LOG = os.environ["FEEDGATE_TEST_STARTS"]
def _record(event, args):
    if event in _STARTS:
        with open(_LOG, "a") as f:
            f.write(f"{event} {args!r:.200}\\n")
sys.addaudithook(_record)
"""


def run_watched(tmp_path: Path, argv: list[str], env: dict[str, str]) -> tuple[Any, str]:
    """Run ``argv`` with the audit hook in: the result and what the process started."""
    (tmp_path / "sitecustomize.py").write_text(WATCH)
    starts = tmp_path / "starts.log"
    starts.write_text("")
    environ = {**os.environ, **env, "FEEDGATE_TEST_STARTS": str(starts)}
    environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(tmp_path), environ.get("PYTHONPATH")])
    )
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=environ)
    return result, starts.read_text()


def test_a_config_with_many_problems_lists_them_all_exits_2_and_starts_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("""
log_level = "LOUD"
[redis]
max_queue = "lots"
[metrics]
port = 70000
[[feeds]]
exchange = "nosuchvenue"
channels = ["trades"]
symbols = ["BTC-USDT"]
[[feeds]]
exchange = "binance"
channels = ["trades", "candles"]
symbols = ["btc-usdt"]
[feeds.options]
snapshot_limit = "many"
[[feeds]]
exchange = "upbit"
channels = ["my_order"]
symbols = ["BTC-KRW"]
[[feeds]]
exchange = "kraken"
channels = "trades"
symbols = ["BTC-USD"]
""")
    env = {"FEEDGATE_REDIS__MAX_QUEUE": "abc", "FEEDGATE_WORKERS": "x", "FEEDGATE_SHARD_COUNT": "y"}
    result, starts = run_watched(tmp_path, [*FEEDGATE, "run", "--config", str(config)], env)
    assert result.returncode == 2, result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    expected = [
        "redis.max_queue: Input should be a valid integer",
        "(from FEEDGATE_REDIS__MAX_QUEUE)",
        "metrics.port: Input should be less than or equal to 65535",
        "feeds.0.exchange: Value error, unknown exchange 'nosuchvenue'",
        "feeds.1.channels: Value error, binance does not offer channels ['candles']",
        "feeds.1.symbols: Value error, symbol 'btc-usdt' is not canonical",
        "feeds.1.options: Value error, bad options: options.snapshot_limit",
        "feeds.2: Value error, upbit: private channels need access_key and secret_key",
        "feeds.3.channels: Input should be a valid list",
        "log_level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        "FEEDGATE_WORKERS: not an integer: 'x'",
        "FEEDGATE_SHARD_COUNT: not an integer: 'y'",
    ]
    for text in expected:
        assert any(text in line for line in problems), f"{text!r} not in {result.stderr}"
    assert len(problems) == 11 and "Traceback" not in result.stderr
    assert starts == "", f"started before giving up: {starts}"
    # the watch itself works: a process that binds a socket is seen doing it
    bind = "import socket; socket.socket().bind(('127.0.0.1', 0))"
    _, seen = run_watched(tmp_path, [sys.executable, "-c", bind], {})
    assert seen.startswith("socket.bind")


def test_a_variable_that_should_be_json_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(
        '[[feeds]]\nexchange = "binance"\nchannels = ["trades"]\nsymbols = ["BTC-USDT"]\n'
    )
    env = {"FEEDGATE_FEEDS": "[{not json", "FEEDGATE_REDIS": "nope"}
    result, starts = run_watched(tmp_path, [*FEEDGATE, "run", "--config", str(config)], env)
    assert starts == ""
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "feeds: Input should be a valid list (from FEEDGATE_FEEDS)" in result.stderr
    assert "redis: Input should be a valid dictionary" in result.stderr
    assert "(from FEEDGATE_REDIS)" in result.stderr
