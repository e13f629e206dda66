"""TLS to Redis against a real TLS-only server that requires client certificates, with
certificates made by the test (tests/security/pki.py): the gateway publishes and consumers
receive over ``rediss://``; a client without a certificate, or trusting the wrong CA, or
reaching the server by a name its certificate does not list, is refused, and the gateway logs
it and retries with backoff instead of crashing."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from feedgate.client import Bbo, BookFollower, Subscriber, TlsOptions, Trade
from feedgate.client.blocking import latest
from feedgate.metrics import PublisherStats
from feedgate.runtime.publisher import Publisher
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.worker import Worker
from feedgate.settings import build_settings
from tests.conftest import wait_for
from tests.security.feeds import feed, simulators
from tests.security.pki import Pki


def client_tls(pki: Pki) -> TlsOptions:
    return TlsOptions(str(pki.ca), str(pki.client_cert), str(pki.client_key))


@asynccontextmanager
async def publisher(
    url: str, tls: TlsOptions
) -> AsyncIterator[tuple[Publisher, asyncio.Task[None]]]:
    """A publisher running (connecting, retrying) until the block ends, and its task."""
    pub = Publisher(url, PublisherStats(), ssl_context=tls.context())
    task = asyncio.create_task(pub.run())
    try:
        yield pub, task
    finally:
        await pub.close(flush_timeout=0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_gateway_publishes_and_clients_receive_over_tls(
    tls_server: EmbeddedRedis, pki: Pki
) -> None:
    url, tls = tls_server.url, client_tls(pki)
    assert url.startswith("rediss://")
    async with simulators(("binance", ["BTC-USDT"])) as (binance,):
        settings = build_settings({
            "redis": {
                "url": url, "tls_ca_file": str(pki.ca), "tls_cert_file": str(pki.client_cert),
                "tls_key_file": str(pki.client_key),
            },
            "metrics": {"port": 0},
            "feeds": [feed(binance, "binance", ["BTC-USDT"])],
        })  # fmt: skip
        worker = Worker(settings, redis_url=url)
        seen: list[object] = []

        async def follow(subscriber: Subscriber) -> None:
            async for delivery in subscriber:
                seen.append(delivery.message)

        async with Subscriber(url, patterns=["trades:*"], tls=tls) as subscriber:
            reader = asyncio.create_task(follow(subscriber))
            await worker.start()
            try:
                await wait_for(lambda: any(isinstance(m, Trade) for m in seen), 10, "trades")
                async with BookFollower(url, "binance", "BTC-USDT", tls=tls) as book:
                    await book.synced(timeout=10)
                bbo = await asyncio.to_thread(latest, url, "bbo:binance:BTC-USDT", tls=tls)
                assert isinstance(bbo, Bbo)
                tail = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "feedgate.cli", "tail", "trades:*", "--limit", "3",
                    "--summary", "0", "--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert),
                    "--tls-key", str(pki.client_key),
                    env={**os.environ, "FEEDGATE_TAIL_URL": url},
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, err = await asyncio.wait_for(tail.communicate(), 30)
                assert tail.returncode == 0, err.decode()
                assert (
                    len(out.decode().splitlines()) == 3
                    and "trades:binance:BTC-USDT" in out.decode()
                )
                stats = worker.stats.publisher
                assert stats.redis_up and stats.publish_errors == 0
            finally:
                await worker.stop()
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)


async def test_a_client_without_a_certificate_is_refused(
    tls_server: EmbeddedRedis, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    no_cert = TlsOptions(str(pki.ca))
    async with publisher(tls_server.url, no_cert) as (pub, _):
        await wait_for(lambda: pub.stats.publish_errors >= 2, 10, "two refused attempts")
        assert not pub.stats.redis_up
    assert f"redis connect to 127.0.0.1:{tls_server.port} failed" in caplog.text
    with pytest.raises(RedisConnectionError):
        await Subscriber(tls_server.url, patterns=["trades:*"], tls=no_cert).connect()


async def test_a_wrong_ca_is_logged_and_retried_with_backoff(
    tls_server: EmbeddedRedis, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's certificate does not chain to the CA the client trusts: every attempt fails
    with the reason in the log, the attempts are spaced by the backoff, nothing crashes."""
    caplog.set_level(logging.WARNING)
    wrong = TlsOptions(str(pki.other_ca), str(pki.client_cert), str(pki.client_key))
    async with publisher(tls_server.url, wrong) as (pub, task):
        await wait_for(lambda: pub.stats.publish_errors >= 3, 10, "three failed attempts")
        assert not task.done() and not pub.stats.redis_up  # still trying, not crashed
    failures = [r for r in caplog.records if "redis connect to" in r.getMessage()]
    assert len(failures) >= 3
    assert all("certificate verify failed" in r.getMessage() for r in failures)
    gaps = [b.created - a.created for a, b in itertools.pairwise(failures)]
    assert max(gaps) >= 0.1, f"attempts not spaced by a backoff: {gaps}"
    with pytest.raises(RedisConnectionError, match="certificate verify failed"):
        await Subscriber(tls_server.url, patterns=["trades:*"], tls=wrong).connect()


async def test_the_host_name_is_checked_unless_turned_off(
    tls_server: EmbeddedRedis, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """The test certificate names 127.0.0.1 only; reached as localhost it does not match."""
    caplog.set_level(logging.WARNING)
    by_name = f"rediss://localhost:{tls_server.port}/0"
    async with publisher(by_name, client_tls(pki)) as (pub, _):
        await wait_for(lambda: pub.stats.publish_errors >= 1, 10, "a refused attempt")
        assert not pub.stats.redis_up
    assert "match" in caplog.text  # "Hostname mismatch, certificate is not valid for 'localhost'"
    unchecked = TlsOptions(str(pki.ca), str(pki.client_cert), str(pki.client_key), False)
    async with publisher(by_name, unchecked) as (pub, _):
        await pub.wait_connected(10)
