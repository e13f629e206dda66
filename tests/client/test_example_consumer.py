"""examples/consumer.py runs against a live gateway and prints trades and a valid book."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from feedgate.runtime.redis_server import EmbeddedRedis
from tests.runtime.harness import running_stack

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer.py"


async def test_the_example_consumer_prints_trades_and_the_book(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, ["BTC-USDT"], trade_rate=50.0):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(EXAMPLE), "--url", redis_server.url, "--seconds", "4",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert any(line.startswith("trade ") for line in lines), lines
    assert any(re.match(r"book  bid [\d.]+ @ [\d.]+  ask [\d.]+ @ [\d.]+", ln) for ln in lines)
