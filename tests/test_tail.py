"""``feedgate tail`` against a real Redis: pretty lines, filters, gap lines and rate summaries."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis.asyncio as aioredis

from feedgate import events
from feedgate.messages import encode
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.tail import Filters, RateSummary, tail
from tests.conftest import wait_for

T = 1_700_000_000_000_000


def trade(exchange: str, symbol: str, seq: int) -> bytes:
    event = events.Trade(exchange, symbol, symbol, T, T, str(seq), "1.5", "2", events.Side.SELL)
    return encode(event, seq)


async def run_tail(
    server: EmbeddedRedis, publish: list[tuple[str, bytes]], **kwargs: object
) -> asyncio.Task[None]:
    task = asyncio.create_task(tail(server.url, ["trades:*"], **kwargs))  # type: ignore[arg-type]
    client = aioredis.Redis.from_url(server.url)
    try:
        await wait_for(client.pubsub_numpat, 5, "tail subscribed")
        for channel, data in publish:
            await client.publish(channel, data)
    finally:
        await client.aclose()
    return task


async def test_pretty_lines_gaps_and_filters(
    redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [
        ("trades:binance:A-USDT", trade("binance", "A-USDT", 1)),
        ("trades:okx:A-USDT", trade("okx", "A-USDT", 1)),  # filtered out by exchange
        ("trades:binance:A-USDT", trade("binance", "A-USDT", 2)),
        ("trades:binance:A-USDT", trade("binance", "A-USDT", 5)),
    ]
    task = await run_tail(redis_server, messages, limit=3, filters=Filters(exchanges={"binance"}))
    await asyncio.wait_for(task, 5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4, lines
    assert "sell 2 @ 1.5  id=1" in lines[0] and "seq=1" in lines[0]
    assert "gap: dropped, expected seq 3, got 5" in lines[2]
    assert all("okx" not in line for line in lines)


async def test_json_lines_are_the_messages_as_published(
    redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    data = trade("binance", "J-USDT", 1)
    task = await run_tail(redis_server, [("trades:binance:J-USDT", data)], as_json=True, limit=1)
    await asyncio.wait_for(task, 5)
    assert orjson.loads(capsys.readouterr().out) == orjson.loads(data)


async def test_rate_summary_lines_go_to_stderr(
    redis_server: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [("trades:binance:R-USDT", trade("binance", "R-USDT", n)) for n in range(1, 11)]
    task = await run_tail(redis_server, messages, summary_s=0.3)
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    err = capsys.readouterr().err
    assert "trades:binance:R-USDT" in err and "msgs/s" in err


def test_summary_counts_rates_and_gaps() -> None:
    summary = RateSummary(5.0, now=100.0)
    summary.counts.update({"a": 50, "b": 10})
    summary.gaps["a"] += 1
    line = summary.line(now=110.0)
    assert line == "-- 10s: 6.0 msgs/s, gaps 1: a 5.0/s, b 1.0/s"
    assert summary.line(now=115.0) == "-- 5s: 0.0 msgs/s: silence"


def test_an_unreachable_server_is_one_line_and_exit_1() -> None:
    import subprocess
    import sys

    from feedgate.runtime.redis_server import free_port

    url = f"redis://user:s3cret-pw@127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "feedgate.cli", "tail", "trades:*", "--url", url],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("feedgate tail: ") and "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stderr
