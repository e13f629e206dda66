"""Upbit end to end over its simulator: the §4.7 limits under a restart of ~30 connections, and
the private streams with a known secret that must never show up in logs, Redis or /metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.venues.upbit import sim as upbit_sim
from feedgate.venues.upbit.sim import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from tests.conftest import wait_for
from tests.runtime.harness import Subscriber, running_stack

SYMBOLS = [f"T{i:02d}-KRW" for i in range(30)]


async def test_restart_of_30_connections_stays_under_the_limits(
    redis_server: EmbeddedRedis,
) -> None:
    """§4.7: at most 5 connection requests a second, 5 messages a second and 100 a minute per
    connection. Arrival times at the simulator carry loopback jitter, so a window is judged as
    0.95 s (the gateway's limiter spaces the 6th attempt a full 1.0 s after the 1st)."""
    async with running_stack(
        redis_server.url, SYMBOLS, venue="upbit", trade_rate=2.0, channels=["trades"],
        options={"topics_per_connection": 1, "ping_interval_s": 1.0},
    ) as stack:  # fmt: skip
        stats = stack.worker.stats.connections
        assert len(stats) == 30
        await wait_for(lambda: all(s.up for s in stats), 20, "30 connections subscribed")
        assert stack.server.drop_connections() == 30
        await wait_for(lambda: all(sum(s.reconnects.values()) for s in stats), 10, "drops seen")
        await wait_for(lambda: all(s.up for s in stats), 20, "30 connections subscribed again")
        await wait_for(lambda: all(s.messages >= 3 for s in stack.server.sessions()), 10, "pings")
        times = sorted(stack.server.stats.attempt_times)
        assert len(times) >= 60
        busiest = max(sum(1 for u in times if t <= u < t + 0.95) for t in times)
        assert stack.server.stats.rate_limit_violations == 0
        assert all(s.messages <= 100 for s in stack.server.sessions())
    assert busiest <= 5, f"{busiest} connection attempts within one second (limit 5, §4.7)"


async def test_private_streams_never_leak_the_secret(
    redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("UPBIT_TEST_SECRET", DEMO_SECRET_KEY)
    tokens: list[str] = []
    original = upbit_sim.UpbitSim.open_session

    def recording(self: Any, path: str, headers: dict[str, str] | None = None) -> Any:
        if headers and "authorization" in headers:
            tokens.append(headers["authorization"].removeprefix("Bearer "))
        return original(self, path, headers)

    monkeypatch.setattr(upbit_sim.UpbitSim, "open_session", recording)
    client = aioredis.Redis.from_url(redis_server.url)
    everything = Subscriber(client)
    await everything.start("*")
    try:
        async with running_stack(
            redis_server.url, ["BTC-KRW"], venue="upbit", channels=["my_order", "my_asset"],
            options={
                "access_key": DEMO_ACCESS_KEY, "secret_key": {"env": "UPBIT_TEST_SECRET"},
                "account": "desk1",
            },
        ) as stack:  # fmt: skip
            orders = "private:upbit:desk1:my_order"
            assets = "private:upbit:desk1:my_asset"
            await wait_for(
                lambda: len(everything.messages[orders]) >= 2 and everything.messages[assets],
                10, "private updates",
            )  # fmt: skip
            stack.server.drop_connections()
            stats = stack.worker.stats.connections[0]
            await wait_for(lambda: stats.up and sum(stats.reconnects.values()), 10, "reconnect")
            seen = len(everything.messages[orders])
            await wait_for(lambda: len(everything.messages[orders]) > seen, 10, "more updates")
            order = everything.messages[orders][-1]
            assert (order["type"], order["symbol"], order["venue_symbol"]) == (
                "private", "BTC-KRW", "KRW-BTC",
            )  # fmt: skip
            assert order["payload"]["ty"] == "myOrder" and order["payload"]["cd"] == "KRW-BTC"
            assert stack.sim.auth_failures == 0
            port = stack.worker.health.port
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                metrics = await response.text()
    finally:
        await everything.stop()
        await client.aclose()
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)  # a fresh JWT per connect
    published = "\n".join(f"{ch} {m}" for ch, m in everything.log)
    gateway = [r for r in caplog.records if not r.name.startswith("websockets.server")]  # not sim
    logs = "\n".join(f"{r.getMessage()} {r.args!r}" for r in gateway if r.levelno >= logging.INFO)
    assert "feedgate_frames_total" in metrics
    for secret in (DEMO_SECRET_KEY, *tokens):
        for where, text in (("logs", logs), ("Redis", published), ("/metrics", metrics)):
            assert secret not in text, f"a secret reached the {where}"
    # DEBUG too: the websockets client would log every upgrade header, the JWT included, but
    # the transport pins its logger at INFO (runtime/transport.py)
    debug = [r for r in gateway if r.levelno < logging.INFO]
    secrets = (DEMO_SECRET_KEY, *tokens)
    assert not [r for r in debug if any(t in r.getMessage() + repr(r.args) for t in secrets)]


async def test_a_silent_client_is_closed_and_pings_prevent_it(redis_server: EmbeddedRedis) -> None:
    """§4.5: the server closes a client that sent nothing for 120 s (3 s here); the gateway's
    PING keeps a connection open, and a connection that was closed anyway reconnects."""
    quiet = {"ping_interval_s": 60.0}
    async with running_stack(redis_server.url, ["BTC-KRW"], venue="upbit", options=quiet) as stack:
        stack.sim.idle_timeout_us = 3_000_000
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.reconnects["closed_by_venue"] >= 1, 10, "the idle close")
        await wait_for(lambda: stats.up, 5, "subscribed again")
    chatty = {"ping_interval_s": 0.5}
    async with running_stack(redis_server.url, ["BTC-KRW"], venue="upbit", options=chatty) as stack:
        stack.sim.idle_timeout_us = 3_000_000
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        started = time.monotonic()
        await wait_for(lambda: time.monotonic() - started > 4.5 and stats.up, 10,
                       "a connection still up past the 3 s idle timeout")  # fmt: skip
        assert sum(stats.reconnects.values()) == 0
        assert stack.server.stats.connections_accepted == 1
