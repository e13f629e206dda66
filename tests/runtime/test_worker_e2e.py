"""End to end: Binance simulator → worker → real Redis → subscriber.

The cases every venue shares (gap, silence, malformed frames, resubscribe) are in
``tests/venues/test_conformance.py``; these are Binance- and runtime-specific ones.
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
from prometheus_client import generate_latest

from feedgate.runtime.redis_server import EmbeddedRedis
from tests.conftest import wait_for
from tests.runtime.harness import Stack, books_settled, normalized, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]


def trades_of(stack: Stack, symbol: str) -> list[dict]:
    return stack.subscriber.messages[f"trades:binance:{symbol}"]


async def test_trades_books_and_bbo_flow_exactly(
    redis_server: EmbeddedRedis, redis_client: aioredis.Redis
) -> None:
    async with running_stack(redis_server.url, SYMBOLS) as stack:
        await wait_for(
            lambda: all(len(trades_of(stack, s)) >= 20 for s in SYMBOLS), 10, "20 trades per symbol"
        )
        await books_settled(stack, SYMBOLS)
        for symbol in SYMBOLS:
            trades = trades_of(stack, symbol)
            assert [m["seq"] for m in trades] == list(range(1, len(trades) + 1))
            ids = [int(m["id"]) for m in trades]
            assert ids == list(range(ids[0], ids[0] + len(ids))), "trade ids skip or repeat"
            assert all(m["side"] in ("buy", "sell") and m["ts"] <= m["recv_ts"] for m in trades)
            book = stack.subscriber.messages[f"book:binance:{symbol}"]
            assert book[0]["type"] == "book_snapshot" and book[0]["seq"] == 1
            assert all(m["type"] == "book_delta" for m in book[1:])
            bbo = stack.subscriber.messages[f"bbo:binance:{symbol}"][-1]
            _, bids, asks = stack.sim.true_book(symbol.replace("-", ""))
            assert (bbo["bid_price"], bbo["ask_price"]) == (bids[0][0], asks[0][0])

            # the late-joiner key catches up with the book within a checkpoint interval
            async def key_current(s: str = symbol) -> bool:
                raw = await redis_client.get(f"book:binance:{s}")
                if raw is None:
                    return False
                key = orjson.loads(raw)
                _, b, a = stack.sim.true_book(s.replace("-", ""))
                return normalized(key["bids"]) == normalized(b) and normalized(
                    key["asks"]
                ) == normalized(a)

            await wait_for(key_current, 5, f"{symbol} key equal to the true book")
        assert stack.subscriber.statuses("book_reset") == []
        assert [s["event"] for s in stack.subscriber.statuses()][:2] == ["connected", "subscribed"]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("close_4000", "venue_code_4000"),
        ("drop", "connection_lost"),
    ],
)
async def test_venue_disconnects_reconnect_and_resync(
    redis_server: EmbeddedRedis, fault: str, reason: str
) -> None:
    async with running_stack(redis_server.url, SYMBOLS) as stack:
        await books_settled(stack, SYMBOLS)
        stack.server.resume()
        if fault == "close_4000":
            stack.server.close_all(4000, "maintenance")
        else:
            stack.server.drop_connections()
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.reconnects[reason] >= 1, 10, f"reconnect for {reason}")
        resets = stack.subscriber.statuses("book_reset")
        assert {r["reason"] for r in resets} == {"reconnect"}
        assert len(resets) == len(SYMBOLS)
        await wait_for(lambda: stats.up, 10, "subscribed again")
        await books_settled(stack, SYMBOLS)


async def test_redis_restart_mid_stream_keeps_the_worker_publishing() -> None:
    server = EmbeddedRedis().start()
    try:
        async with running_stack(server.url, ["BTC-USDT"]) as stack:
            await wait_for(lambda: trades_of(stack, "BTC-USDT"), 5, "first trade")
            await stack.subscriber.stop()
            server.stop()
            publisher = stack.worker.stats.publisher
            await wait_for(lambda: not publisher.redis_up, 5, "publisher saw redis go")
            server = EmbeddedRedis(port=server.port).start()
            client = aioredis.Redis.from_url(server.url)
            pubsub = client.pubsub()
            await pubsub.subscribe("trades:binance:BTC-USDT")
            await wait_for(lambda: publisher.redis_up, 10, "publisher reconnected")
            got: list[dict] = []

            async def five_trades() -> bool:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if item is not None:
                    got.append(orjson.loads(item["data"]))
                return len(got) >= 5

            await wait_for(five_trades, 10, "trades after the redis restart")
            assert all(m["type"] == "trade" for m in got)
            assert all(t.done() is False for t in stack.worker._tasks)
            await pubsub.aclose()
            await client.aclose()
    finally:
        server.stop()


async def test_metrics_and_health_endpoints(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, SYMBOLS) as stack:
        await wait_for(lambda: stack.worker.stats.connections[0].up, 5, "subscribed")
        await wait_for(lambda: trades_of(stack, "BTC-USDT"), 5, "first trade")
        base = f"http://{stack.worker.health.host}:{stack.worker.health.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
                health = await response.json()
        assert health["healthy"] is True and health["connections"] == {"binance-00": "subscribed"}
        for name in (
            'feedgate_messages_total{channel="trades",exchange="binance"}',
            'feedgate_frames_total{exchange="binance"}',
            'feedgate_connection_up{connection="binance-00",exchange="binance"} 1.0',
            "feedgate_publish_latency_seconds_bucket",
            'feedgate_lag_seconds_bucket{channel="trades"',
            'feedgate_last_message_timestamp_seconds{connection="binance-00"',
        ):
            assert name in text, f"{name} missing from /metrics"


async def test_unknown_symbol_is_rejected_and_the_rest_flows(redis_server: EmbeddedRedis) -> None:
    async with running_stack(
        redis_server.url, ["BTC-USDT", "NOPE-USDT"], venue_lists=["BTC-USDT"]
    ) as stack:
        await wait_for(lambda: stack.subscriber.statuses("rejected"), 5, "a rejected status")
        await wait_for(lambda: trades_of(stack, "BTC-USDT"), 5, "BTC trades")
        rejected = stack.subscriber.statuses("rejected")
        assert [r["symbol"] for r in rejected] == ["NOPE-USDT"]
        text = generate_latest(stack.worker.registry).decode()
        assert 'feedgate_subscriptions_rejected_total{exchange="binance"} 1.0' in text
        assert "trades:binance:NOPE-USDT" not in stack.subscriber.messages


async def test_subscribe_messages_are_paced_under_the_venue_limit(
    redis_server: EmbeddedRedis,
) -> None:
    """Binance disconnects a client that sends more than 5 messages a second (§1.9); the
    simulator enforces that. 10 symbols in SUBSCRIBE batches of 2 streams make 10 messages."""
    symbols = [f"S{i:02d}-USDT" for i in range(10)]
    async with running_stack(redis_server.url, symbols, options={"subscribe_batch": 2}) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 10, "every SUBSCRIBE acknowledged")
        assert stack.server.stats.client_messages >= 10
        assert stack.server.stats.rate_limit_violations == 0
        assert sum(stats.reconnects.values()) == 0
