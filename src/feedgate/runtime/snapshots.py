"""REST snapshot fetcher: one HTTP session, a per-venue request-weight budget, retries.

Venue protocols ask for snapshots with ``FetchSnapshot`` actions; the connection runner hands them
here. Requests for the same URL already under way are joined, the venue's weight budget (e.g.
Binance: 6000 per minute per IP) is never exceeded, a 429/418 answer honours ``Retry-After``, and
other failures retry with backoff before the protocol is told the snapshot failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

import aiohttp

from feedgate.errors import SnapshotFailed
from feedgate.protocol.backoff import Backoff
from feedgate.protocol.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], None]
Fail = Callable[[str], None]


class SnapshotFetcher:
    def __init__(
        self,
        weight_per_minute: int,
        *,
        concurrency: int = 4,
        attempts: int = 4,
        timeout_s: float = 10.0,
        outcomes: Counter[str] | None = None,
    ) -> None:
        self.budget = SlidingWindow(max(weight_per_minute, 1), 60.0)
        self._semaphore = asyncio.Semaphore(concurrency)
        self._attempts = attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._waiting: dict[str, list[tuple[Deliver, Fail]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.outcomes: Counter[str] = outcomes if outcomes is not None else Counter()

    def request(self, url: str, weight: int, deliver: Deliver, fail: Fail) -> None:
        waiting = self._waiting.get(url)
        if waiting is not None:
            waiting.append((deliver, fail))
            return
        self._waiting[url] = [(deliver, fail)]
        task = asyncio.create_task(self._fetch(url, weight))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def get(self, url: str, weight: int = 1) -> bytes:
        """One budgeted GET with retries (also used for instrument lists)."""
        backoff = Backoff(base_s=0.5, cap_s=10.0)
        last_error = "no attempt"
        for _ in range(self._attempts):
            delay = backoff.next_delay()
            if delay:
                await asyncio.sleep(delay)
            wait = self.budget.acquire(
                asyncio.get_running_loop().time(), min(weight, self.budget.limit)
            )
            if wait:
                self.outcomes["budget_wait"] += 1
                await asyncio.sleep(wait)
            try:
                async with self._semaphore:
                    session = self._ensure_session()
                    async with session.get(url) as response:
                        body = await response.read()
                        if response.status == 200:
                            self.outcomes["ok"] += 1
                            return body
                        last_error = f"HTTP {response.status}: {body[:200]!r}"
                        if response.status in (418, 429):
                            self.outcomes["rate_limited"] += 1
                            retry_after = float(response.headers.get("Retry-After", "5"))
                            await asyncio.sleep(min(retry_after, 60.0))
                        else:
                            self.outcomes["http_error"] += 1
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.outcomes["transport_error"] += 1
                last_error = f"{type(exc).__name__}: {exc}"
        raise SnapshotFailed(last_error)

    async def _fetch(self, url: str, weight: int) -> None:
        try:
            body = await self.get(url, weight)
        except SnapshotFailed as exc:
            log.warning("snapshot %s failed: %s", url, exc)
            for _, fail in self._waiting.pop(url, []):
                fail(str(exc))
            return
        for deliver, _ in self._waiting.pop(url, []):
            deliver(body)

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
