"""The soak: faults at random while followers and a trade subscriber watch; then the account.

At checkpoints (and at the end) the venues are frozen and every follower's book must equal its
simulator's true book. At the end every trade a simulator wrote to an open connection must have
been published exactly once, or lost within the loss window of a fault that explains it
(reported per fault); nothing may be unaccounted. No process may have died but those killed (and
those were restarted), worker memory stays under a bound, and each fault shows in its metric.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import aiohttp

from feedgate.chaos.faults import BY_NAME, FAULTS, MARKETS, Fault
from feedgate.chaos.stack import SYMBOLS, SoakStack
from feedgate.client import BookFollower, Subscriber, Trade

RSS_BOUND_MB = 400.0


@dataclass
class Fired:
    fault: str
    at: float  # loop time
    detail: str
    counted: bool | None  # the expected metric grew (None: no metric for it)


@dataclass
class Report:
    seconds: float
    fired: list[Fired] = field(default_factory=list)
    sent: int = 0
    published_once: int = 0
    lost_in_window: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    unaccounted: list[str] = field(default_factory=list)
    checkpoints: int = 0
    book_mismatches: list[str] = field(default_factory=list)
    worker_rss_mb: float = 0.0
    kills: int = 0
    restarts: float = 0.0
    dropped: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        faults = Counter(f.fault for f in self.fired)
        lines = [
            f"soak: {self.seconds:.0f} s, {len(self.fired)} faults "
            + ", ".join(f"{k} x{v}" for k, v in sorted(faults.items())),
            f"trades: {self.sent} sent, {self.published_once} published once, lost in fault"
            f" windows {dict(self.lost_in_window)}, duplicates {dict(self.duplicates)},"
            f" unaccounted {len(self.unaccounted)}",
            f"gateway drops by reason: {self.dropped}",
            f"books: {self.checkpoints} checkpoints, {len(self.book_mismatches)} mismatches",
            f"workers: {self.kills} killed, {self.restarts:.0f} restarts; max worker RSS"
            f" {self.worker_rss_mb:.0f} MiB (bound {RSS_BOUND_MB:.0f})",
        ]
        lines += [
            f"  {f.at:8.1f}s {f.fault:<16} {f.detail}  metric: {f.counted}" for f in self.fired
        ]
        lines += [f"PROBLEM: {p}" for p in self.problems] or ["all checks passed"]
        return "\n".join(lines)


class Soak:
    def __init__(self, seconds: float, seed: int, schedule: list[str] | None = None) -> None:
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.schedule = schedule  # fault names in order (default: at random)
        self.stack = SoakStack()
        self.symbols = SYMBOLS
        self.stall_s = 10.0  # longer than the soak's staleness thresholds (8 s)
        self.kills = 0
        self.http: aiohttp.ClientSession = None  # type: ignore[assignment]  # set in run()
        self.followers: dict[str, BookFollower] = {}
        self.trades: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.rss: dict[int, float] = {}
        self.report = Report(seconds)
        self._windows: list[tuple[float, float, str]] = []  # (from, to, fault): losses allowed
        self._started = 0.0

    async def run(self) -> Report:
        loop = asyncio.get_running_loop()
        await self.stack.start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        watchers: list[asyncio.Task[None]] = []
        try:
            # the trade subscriber is there before the first trade can be published
            subscribed = asyncio.Event()
            watchers.append(asyncio.create_task(self._collect_trades(subscribed)))
            await asyncio.wait_for(subscribed.wait(), 10)
            await self.stack.start_gateway()
            await self._wait_gateway_up()
            watchers.append(asyncio.create_task(self._sample_memory()))
            for venue in MARKETS:
                follower = BookFollower(self.stack.redis.url, venue, SYMBOLS[0])
                await follower.start()
                self.followers[venue] = follower
            await self._checkpoint()
            started = self._started = loop.time()
            n = 0
            while loop.time() - started < self.seconds:
                fault = self._next_fault(n)
                n += 1
                await self._fire(fault, started)
                await asyncio.sleep(2.0)
                if n % 4 == 0:
                    await self._checkpoint()
            await self._checkpoint()
            await self._final_account()
        finally:
            for task in watchers:
                task.cancel()
            for follower in self.followers.values():
                with contextlib.suppress(Exception):
                    await follower.stop()
            await self.http.close()
            await self.stack.stop()
        return self.report

    def _next_fault(self, n: int) -> Fault:
        if self.schedule:
            return BY_NAME[self.schedule[n % len(self.schedule)]]
        return self.rng.choice(FAULTS)

    async def _wait_gateway_up(self) -> None:
        for _ in range(120):
            health = await self.stack.health(self.http)
            if all(h is not None and h.get("ok", True) for h in health):
                return
            await asyncio.sleep(0.5)
        raise RuntimeError("the gateway's workers did not come up")

    async def _fire(self, fault: Fault, started: float) -> None:
        loop = asyncio.get_running_loop()
        before = await self.stack.metrics(self.http)
        at = loop.time()
        detail, labels = await fault.fire(self, self.rng)
        counted = None
        if fault.metric is not None and labels is not None:
            counted = False
            for _ in range(30):  # up to ~15 s for the effect to be counted
                after = await self.stack.metrics(self.http)
                if _grew(before, after, fault.metric, labels):
                    counted = True
                    break
                await asyncio.sleep(0.5)
        self.report.fired.append(Fired(fault.name, at - started, detail, counted))
        self._windows.append((at - 1.0, loop.time() + fault.loss_s, fault.name))

    async def _checkpoint(self) -> None:
        """Once every follower is valid, freeze the venues; each book must then equal the
        simulator's (within a few seconds: the stall threshold must not pass)."""
        self.report.checkpoints += 1
        deadline = time.monotonic() + 30
        while not all(f.valid for f in self.followers.values()):
            if time.monotonic() > deadline:
                bad = [v for v, f in self.followers.items() if not f.valid]
                self.report.book_mismatches.append(f"checkpoint {self.report.checkpoints}: "
                                                   f"{bad} not valid within 30 s")  # fmt: skip
                return
            await asyncio.sleep(0.1)
        for server in self.stack.servers.values():
            server.silence(None)
        try:
            pending = set(self.followers)
            deadline = time.monotonic() + 5
            while pending and time.monotonic() < deadline:
                pending = {v for v in pending if not self._book_equal(v)}
                await asyncio.sleep(0.1)
            for venue in sorted(pending):
                self.report.book_mismatches.append(
                    f"checkpoint {self.report.checkpoints}: {venue} book differs"
                )
        finally:
            for server in self.stack.servers.values():
                server.resume()

    def _book_equal(self, venue: str) -> bool:
        follower = self.followers[venue]
        sim = self.stack.servers[venue].sim
        _, bids, asks = sim.true_book(sim.venue_symbol(follower.symbol))
        mine = follower.levels()
        exact = ([(Decimal(p), Decimal(s)) for p, s in bids],
                 [(Decimal(p), Decimal(s)) for p, s in asks])  # fmt: skip
        return follower.valid and (list(mine[0]), list(mine[1])) == exact

    async def _collect_trades(self, subscribed: asyncio.Event) -> None:
        async with Subscriber(self.stack.redis.url, patterns=["trades:*"]) as sub:
            subscribed.set()
            async for delivery in sub:
                message = delivery.message
                if isinstance(message, Trade) and message.venue_symbol is not None:
                    self.trades[(message.exchange, message.venue_symbol)].append(message.id)

    async def _sample_memory(self) -> None:
        while True:
            for h in await self.stack.health(self.http):
                if h is not None:
                    self.rss[h["pid"]] = max(self.rss.get(h["pid"], 0.0), _rss_mb(h["pid"]))
            await asyncio.sleep(1.0)

    async def _final_account(self) -> None:
        for server in self.stack.servers.values():
            server.silence(None)  # nothing more is sent; what was sent gets through
        await asyncio.sleep(3.0)
        report = self.report
        windows = sorted(self._windows)
        for venue in MARKETS:
            server = self.stack.servers[venue]
            sent, times = server.trades_sent or {}, server.trades_sent_at or {}
            for symbol, ids in sent.items():
                seen = Counter(self.trades[(venue, symbol)])
                for trade_id, at in zip(ids, times[symbol], strict=True):
                    report.sent += 1
                    n = seen.get(trade_id, 0)
                    window = _window(windows, at)
                    if n == 1:
                        report.published_once += 1
                    elif n == 0 and window is not None:
                        report.lost_in_window[window] += 1
                    elif n == 0:
                        report.unaccounted.append(
                            f"{venue} {symbol} {trade_id} at {at - self._started:.1f}s"
                        )
                    else:
                        report.duplicates[window or "unexplained"] += 1
        metrics = await self.stack.metrics(self.http)
        report.dropped = {
            labels: value for (name, labels), value in metrics.items()
            if name == "feedgate_dropped_messages_total" and value
        }  # fmt: skip
        report.restarts = sum(v for (n, _), v in metrics.items()
                              if n == "feedgate_worker_restarts_total")  # fmt: skip
        report.kills = self.kills
        report.worker_rss_mb = max(self.rss.values(), default=0.0)
        self._judge()

    def _judge(self) -> None:
        r = self.report
        if r.unaccounted:
            r.problems.append(f"{len(r.unaccounted)} trades unaccounted, e.g. {r.unaccounted[:5]}")
        if r.duplicates.get("unexplained"):
            r.problems.append(f"{r.duplicates['unexplained']} trades published twice")
        if r.book_mismatches:
            r.problems.append(f"books: {r.book_mismatches}")
        if self.stack.gateway is None or self.stack.gateway.returncode is not None:
            r.problems.append("the supervisor died")
        if r.restarts != r.kills:
            r.problems.append(f"{r.restarts:.0f} worker restarts for {r.kills} kills")
        if r.worker_rss_mb > RSS_BOUND_MB:
            r.problems.append(f"a worker reached {r.worker_rss_mb:.0f} MiB")
        uncounted = [f.fault for f in r.fired if f.counted is False]
        if uncounted:
            r.problems.append(f"faults missing from their metric: {uncounted}")
        if r.sent == 0:
            r.problems.append("no trade was sent: nothing was checked")


def _grew(before: dict[tuple[str, str], float], after: dict[tuple[str, str], float],
          metric: str, labels: str) -> bool:  # fmt: skip
    """Whether the samples named ``metric`` whose labels contain ``labels`` grew in sum."""

    def total(values: dict[tuple[str, str], float]) -> float:
        return sum(v for (name, found), v in values.items() if name == metric and labels in found)

    return total(after) > total(before)


def _window(windows: list[tuple[float, float, str]], at: float) -> str | None:
    i = bisect.bisect_right(windows, (at, float("inf"), ""))
    for start, end, name in windows[max(0, i - 8) : i]:
        if start <= at <= end:
            return name
    return None


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_soak(seconds: float, seed: int = 1, schedule: list[str] | None = None) -> Report:
    return asyncio.run(Soak(seconds, seed, schedule).run())
