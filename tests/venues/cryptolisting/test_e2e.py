"""cryptolisting.ws end to end over its simulator (simulator → worker → real Redis →
subscriber), for what the conformance cases do not cover: the smoke check, a fatal close
(§7.1 ``key_expired``), a bad key at the handshake, duplicates, and the key never leaking."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.settings import build_settings
from feedgate.venues.cryptolisting.sim import DEMO_KEY
from tests.conftest import wait_for
from tests.runtime.harness import Stack, data_messages, running_stack

VENUE = "cryptolisting"


def announcements(stack: Stack) -> list[dict[str, Any]]:
    return [m for ch, m in stack.subscriber.log if ch.startswith("announcements:")]


async def metrics_text(stack: Stack) -> str:
    base = f"http://{stack.worker.health.host}:{stack.worker.health.port}"
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        assert response.status == 200
        return await response.text()


async def test_announcements_and_the_smoke_check(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, [], venue=VENUE) as stack:
        await wait_for(lambda: any(m["is_test"] for m in announcements(stack)), 5, "the test")
        await wait_for(lambda: len(announcements(stack)) >= 20, 10, "announcements")
        got = announcements(stack)
        assert {m["publisher"] for m in got} == {"binance", "upbit", "bithumb"}
        for m in got:
            assert m["type"] == "announcement" and m["exchange"] == VENUE
            assert isinstance(m["tickers"], list) and m["detected_ts"] <= m["recv_ts"]
            assert m["publish_ts"] is None and m["ts"] == m["detected_ts"]  # newer docs' shape
        assert stack.sim.test_requests == 1
        text = await metrics_text(stack)
        assert 'feedgate_smoke_checks_total{exchange="cryptolisting",result="ok"} 1.0' in text
        assert "feedgate_announcement_dispatch_latency_seconds_bucket" in text
        assert 'publisher="upbit"' in text


async def test_smoke_timeout_when_no_test_announcement(redis_server: EmbeddedRedis) -> None:
    async with running_stack(
        redis_server.url, [], venue=VENUE, options={"smoke_timeout_s": 1.0}
    ) as stack:
        stack.sim.on_client_text = lambda session, text: []  # the source never answers
        await wait_for(lambda: stack.subscriber.statuses("stale"), 5, "a stale status")
        (stale,) = stack.subscriber.statuses("stale")
        assert stale["reason"] == "smoke check: no test_announcement within 1s"
        text = await metrics_text(stack)
        assert 'feedgate_smoke_checks_total{exchange="cryptolisting",result="timeout"} 1.0' in text
        assert stack.worker.stats.connections[0].up, "a failed smoke check does not disconnect"


async def test_reconnect_within_a_minute_sends_no_second_test(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, [], venue=VENUE) as stack:
        await wait_for(lambda: any(m["is_test"] for m in announcements(stack)), 5, "the test")
        stack.server.drop_connections()
        await wait_for(lambda: len(stack.subscriber.statuses("subscribed")) == 2, 10, "again")
        seen = data_messages(stack.subscriber)
        await wait_for(lambda: data_messages(stack.subscriber) > seen + 5, 5, "more data")
        assert stack.sim.test_requests == 1


async def test_replayed_announcements_are_published_once(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, [], venue=VENUE) as stack:
        await wait_for(lambda: len(announcements(stack)) >= 20, 10, "announcements")
        replayed = stack.sim.replay_recent(10)
        assert len(replayed) == 10
        stats = stack.worker.stats.venue.counters
        key = ("feedgate_duplicates_dropped_total", (VENUE,))
        await wait_for(lambda: stats[key] >= 10, 5, "duplicates counted")
        got = [m for m in announcements(stack) if not m["is_test"]]
        keys = [(m["publisher"], m["title"], m["listing_type"], m["detected_ts"]) for m in got]
        assert len(set(keys)) == len(keys), "an announcement was published twice"


async def test_key_expired_close_is_fatal(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, [], venue=VENUE) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        attempts = stack.server.stats.connection_attempts
        stack.server.close_all(1000, "key_expired")
        await wait_for(lambda: stack.subscriber.statuses("disconnected"), 5, "disconnected")
        (down,) = stack.subscriber.statuses("disconnected")
        assert down["reason"] == "key_expired"
        await wait_for(lambda: stats.state == "fatal", 5, "the fatal state")
        text = await metrics_text(stack)
        assert (
            'feedgate_connection_fatal{connection="cryptolisting-00",exchange="cryptolisting",'
            'reason="key_expired"} 1.0'
        ) in text
        with pytest.raises(AssertionError, match="timed out"):
            await wait_for(
                lambda: stack.server.stats.connection_attempts > attempts, 2.5, "a new attempt"
            )
        assert stack.subscriber.statuses("connected") == [stack.subscriber.statuses()[0]]


async def test_bad_key_at_the_handshake_stops_the_feed_for_good(
    redis_server: EmbeddedRedis,
) -> None:
    """§7.1: 403 is an invalid, revoked or expired key; retrying would only hammer the service."""
    bad = "dsk_" + "0" * 64
    async with running_stack(redis_server.url, [], venue=VENUE, options={"api_key": bad}) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.fatal_reason == "http_403", 5, "the feed stopped for good")
        await wait_for(lambda: stack.subscriber.statuses("disconnected"), 5, "a status")
        assert stack.subscriber.statuses("disconnected")[0]["reason"] == "http_403"
        attempts = stack.server.stats.connection_attempts
        text = await metrics_text(stack)
        assert 'reason="http_403"} 1.0' in text and "feedgate_connection_fatal" in text
        await asyncio.sleep(1.0)  # a bounded look for retries that must not come
        assert stack.server.stats.connection_attempts == attempts == 1
        assert stack.server.stats.connections_accepted == 0


async def leak_check(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with running_stack(redis_url, [], venue=VENUE) as stack:
        await wait_for(lambda: any(m["is_test"] for m in announcements(stack)), 5, "the test")
        await wait_for(lambda: len(announcements(stack)) >= 20, 10, "announcements")
        stack.server.send_malformed()
        stack.server.close_all(1000, "key_expired")
        await wait_for(lambda: stack.subscriber.statuses("disconnected"), 5, "disconnected")
        text = await metrics_text(stack)
        published = repr(stack.subscriber.log)
    # the gateway's logs: the simulator's own server logs are not the gateway's
    logs = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")
    )
    for where, body in (
        ("messages", published), ("metrics", text), ("logs", logs),
    ):  # fmt: skip
        assert DEMO_KEY not in body and DEMO_KEY[4:20] not in body, f"the key is in the {where}"
    assert "parse error" in logs, "something was logged, so the check saw real log text"


async def test_the_key_never_leaks(
    redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await leak_check(redis_server.url, caplog)


async def test_the_key_never_leaks_at_debug(
    redis_server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await leak_check(redis_server.url, caplog)


def test_the_key_is_not_in_the_settings_repr() -> None:
    settings = build_settings(
        {"feeds": [{"exchange": VENUE, "channels": ["announcements"],
                    "options": {"api_key": DEMO_KEY}}]}
    )  # fmt: skip
    assert DEMO_KEY not in repr(settings)
