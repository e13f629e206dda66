"""End to end for Bybit: simulator → worker → real Redis → subscriber (tests/runtime/harness).

The cases every venue shares are in tests/venues/test_conformance.py; these are Bybit's own:
the venue reset (§6.5), a rejected subscription among accepted ones (§6.2), the ping (§6.6),
linear at depth 200, and the instrument list over REST.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import SimServer, _response
from feedgate.runtime.worker import Worker
from feedgate.venues.bybit.sim import BybitSim, make_simulator
from tests.conftest import wait_for
from tests.runtime.harness import Stack, Subscriber, books_settled, gateway_settings, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
UNCHECKED = {"validate_symbols": False}
"""``running_stack``'s SimServer 404s Bybit's REST path (see RestServer below), and the worker
retries that for ~2.7 s before using the symbols unchecked; these tests need no list."""


def trades(stack: Stack, symbol: str) -> list[dict[str, Any]]:
    return stack.subscriber.messages[f"trades:bybit:{symbol}"]


@pytest.mark.parametrize("restart", [False, True], ids=["snapshot", "u-equals-1"])
async def test_venue_reset_mid_stream_is_book_reset_then_a_fresh_snapshot(
    redis_server: EmbeddedRedis, restart: bool
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue="bybit", **UNCHECKED) as stack:
        await books_settled(stack, SYMBOLS)
        stack.server.resume()
        other = "book:bybit:ETH-USDT"
        before = len(stack.subscriber.messages[other])
        stack.sim.venue_reset("BTCUSDT", restart=restart)
        await wait_for(lambda: stack.subscriber.statuses("book_reset"), 5, "a book_reset")
        await books_settled(stack, SYMBOLS)
        resets = stack.subscriber.statuses("book_reset")
        assert [(r["symbol"], r["reason"]) for r in resets] == [("BTC-USDT", "reset")]
        log = stack.subscriber.log
        at = next(i for i, (_, m) in enumerate(log) if m.get("event") == "book_reset")
        after = [m for ch, m in log[at:] if ch == "book:bybit:BTC-USDT"]
        assert after[0]["type"] == "book_snapshot", "a delta was published on a reset book"
        assert all(m["type"] == "book_delta" for m in after[1:])
        synced = [m for ch, m in log[at:] if m.get("event") == "book_synced"]
        assert [m["symbol"] for m in synced][:1] == ["BTC-USDT"]
        book = stack.subscriber.messages["book:bybit:BTC-USDT"]
        assert [m["seq"] for m in book] == list(range(1, len(book) + 1))
        assert all(m["type"] == "book_delta" for m in stack.subscriber.messages[other][before:])
        stats = stack.worker.stats.connections[0]
        assert dict(stats.resyncs) == {"reset": 1}
        assert sum(stats.reconnects.values()) == 0


async def test_a_rejected_symbol_does_not_stop_the_others(redis_server: EmbeddedRedis) -> None:
    wanted = [*SYMBOLS, "XRP-USDT"]  # the simulated venue lists no XRPUSDT
    async with running_stack(
        redis_server.url, wanted, venue="bybit", venue_lists=SYMBOLS,
        venue_symbols={"XRP-USDT": "XRPUSDT"}, **UNCHECKED,
    ) as stack:  # fmt: skip
        await wait_for(
            lambda: all(len(trades(stack, s)) >= 5 for s in SYMBOLS), 10, "trades of the others"
        )
        # the failed 6-arg request is retried one arg at a time; XRP's trades go last
        await wait_for(lambda: len(stack.subscriber.statuses("rejected")) == 2, 5, "2 rejections")
        await books_settled(stack, SYMBOLS)
        rejected = stack.subscriber.statuses("rejected")
        assert {r["symbol"] for r in rejected} == {"XRP-USDT"}
        assert sorted(r["reason"] for r in rejected) == [
            "Invalid topic: orderbook.50.XRPUSDT", "Invalid topic: publicTrade.XRPUSDT"
        ]  # fmt: skip
        assert len(stack.subscriber.statuses("subscribed")) == 1
        stats = stack.worker.stats.connections[0]
        assert stats.up and stats.rejected == 2 and sum(stats.reconnects.values()) == 0
        assert trades(stack, "XRP-USDT") == []


async def test_pings_are_sent_and_answered(redis_server: EmbeddedRedis) -> None:
    async with running_stack(
        redis_server.url, SYMBOLS, venue="bybit", options={"ping_interval_s": 1.0}, **UNCHECKED
    ) as stack:
        sim: BybitSim = stack.sim
        ops: list[str] = []
        answer = sim.on_client_text

        def recording(session: Any, text: str) -> list[bytes]:
            ops.append(orjson.loads(text)["op"])
            return answer(session, text)

        sim.on_client_text = recording  # type: ignore[method-assign]
        await wait_for(lambda: ops.count("ping") >= 2, 5, "two pings")
        stats = stack.worker.stats.connections[0]
        assert stats.parse_errors == 0 and stats.up  # the pongs were understood


async def test_linear_depth_200_books_and_trades(redis_server: EmbeddedRedis) -> None:
    options = {"category": "linear", "depth": 200}
    async with running_stack(
        redis_server.url, SYMBOLS, venue="bybit", options=options, **UNCHECKED
    ) as stack:
        stack.sim.depth = 200  # what true_book describes
        await wait_for(lambda: all(trades(stack, s) for s in SYMBOLS), 10, "trades")
        await books_settled(stack, SYMBOLS)
        (session,) = stack.server.sessions()
        assert session.category == "linear"
        assert sorted(session.topics) == [
            "orderbook.200.BTCUSDT", "orderbook.200.ETHUSDT",
            "publicTrade.BTCUSDT", "publicTrade.ETHUSDT",
        ]  # fmt: skip
        snapshot = stack.subscriber.messages["book:bybit:BTC-USDT"][0]
        assert snapshot["depth"] == 200 and len(snapshot["bids"]) == 200


# -- the instrument list over REST ---------------------------------------------------------------


class RestServer(SimServer[Any, Any]):
    """Serves ``/v5/market/…`` over HTTP. Workaround: ``SimServer`` sends only ``/api/…`` paths
    to ``http_get`` (see NOTES.md, needed shared change), so Bybit's REST path would 404."""

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/v5/market/"):
            self.stats.http_requests += 1
            result = self.sim.http_get(request.path)
            status, body = result if result is not None else (404, b'{"msg":"Not Found"}')
            return _response(status, body, "application/json")
        return super()._process_request(conn, request)


@contextlib.asynccontextmanager
async def rest_stack(redis_url: str, symbols: list[str], **feed: Any) -> AsyncIterator[Stack]:
    sim = make_simulator(SYMBOLS, seed=3)
    server = RestServer(sim, trade_rate=50.0, depth_interval_ms=50)
    await server.start()
    client = aioredis.Redis.from_url(redis_url)
    subscriber = Subscriber(client)
    await subscriber.start("trades:*", "book:*", "bbo:*", "feedgate:status")
    worker = Worker(gateway_settings(server, symbols, "bybit", **feed), redis_url=redis_url)
    try:
        await worker.start()
        yield Stack(sim, server, worker, subscriber)
    finally:
        await worker.stop()
        await subscriber.stop()
        await server.stop()
        await client.aclose()


@pytest.mark.parametrize("category", ["spot", "linear"])
async def test_symbols_come_from_the_instrument_list(
    redis_server: EmbeddedRedis, category: str
) -> None:
    wanted = [*SYMBOLS, "DOGE-USDT"]  # not listed by the simulated venue
    async with rest_stack(redis_server.url, wanted, options={"category": category}) as stack:
        await wait_for(lambda: all(trades(stack, s) for s in SYMBOLS), 10, "trades")
        assert stack.server.stats.http_requests == 1
        (rejected,) = stack.subscriber.statuses("rejected")
        assert (rejected["symbol"], rejected["reason"]) == (
            "DOGE-USDT", "not in the venue's instrument list"
        )  # fmt: skip
        (session,) = stack.server.sessions()
        assert session.category == category
        assert {t.split(".")[-1] for t in session.topics} == {"BTCUSDT", "ETHUSDT"}
