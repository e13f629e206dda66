"""The REST fetcher against a real loopback HTTP server: budget, joining, 429, retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from feedgate.errors import SnapshotFailed
from feedgate.runtime.snapshots import SnapshotFetcher
from tests.conftest import wait_for


class Venue:
    def __init__(self) -> None:
        self.hits: list[tuple[float, str]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []  # queued (status, headers)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append((time.monotonic(), request.path_qs))
        await asyncio.sleep(0.05)
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        return web.Response(status=status, headers=headers, body=b'{"ok":true}')


@pytest.fixture
async def venue() -> AsyncIterator[tuple[Venue, str]]:
    v = Venue()
    app = web.Application()
    app.router.add_get("/{tail:.*}", v.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield v, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_same_url_requests_are_joined(venue: tuple[Venue, str]) -> None:
    v, base = venue
    fetcher = SnapshotFetcher(1000)
    got: list[bytes] = []
    for _ in range(3):
        fetcher.request(f"{base}/depth?symbol=A", 1, got.append, lambda r: None)
    fetcher.request(f"{base}/depth?symbol=B", 1, got.append, lambda r: None)
    await wait_for(lambda: len(got) == 4, 5, "four deliveries")
    assert sorted(path for _, path in v.hits) == ["/depth?symbol=A", "/depth?symbol=B"]
    await fetcher.close()


async def test_weight_budget_is_never_exceeded(venue: tuple[Venue, str]) -> None:
    v, base = venue
    fetcher = SnapshotFetcher(weight_per_minute=100)
    fetcher.budget.window_s = 1.0  # a one-second window keeps the test short
    await asyncio.gather(*(fetcher.get(f"{base}/d?i={i}", weight=50) for i in range(4)))
    # 4 requests of weight 50 under 100 per window: the second pair waits a window
    times = sorted(t for t, _ in v.hits)
    assert len(times) == 4 and times[2] - times[0] >= 0.95 and times[1] - times[0] < 0.5
    assert fetcher.outcomes["budget_wait"] == 2 and fetcher.outcomes["ok"] == 4
    await fetcher.close()


async def test_429_honours_retry_after_then_succeeds(venue: tuple[Venue, str]) -> None:
    v, base = venue
    v.answers = [(429, {"Retry-After": "0.3"})]
    fetcher = SnapshotFetcher(1000)
    assert await fetcher.get(f"{base}/d") == b'{"ok":true}'
    (t1, _), (t2, _) = v.hits
    assert t2 - t1 >= 0.3
    assert fetcher.outcomes["rate_limited"] == 1
    await fetcher.close()


async def test_gives_up_after_retries_and_reports_failure(venue: tuple[Venue, str]) -> None:
    v, base = venue
    v.answers = [(500, {})] * 10
    fetcher = SnapshotFetcher(1000, attempts=2)
    failures: list[str] = []
    fetcher.request(f"{base}/d", 1, lambda b: None, failures.append)
    await wait_for(lambda: failures, 10, "the failure report")
    assert "HTTP 500" in failures[0] and len(v.hits) == 2
    with pytest.raises(SnapshotFailed):
        await fetcher.get("http://127.0.0.1:9/unreachable")
    await fetcher.close()
