"""One worker process: the configured feeds' connections, one publisher, one metrics endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from feedgate.channels import ChannelKind
from feedgate.clock import now_us
from feedgate.errors import FatalConnectionError, SnapshotFailed
from feedgate.events import Status, StatusEvent
from feedgate.metrics import ConnectionStats, WorkerStats, make_registry
from feedgate.protocol.backoff import Backoff
from feedgate.protocol.base import Topic
from feedgate.protocol.heartbeat import HeartbeatPolicy
from feedgate.protocol.plan import owner, plan_connections
from feedgate.protocol.ratelimit import RateLimits, SlidingWindow
from feedgate.runtime.connection import ConnectionRunner, Opener
from feedgate.runtime.health import HealthServer
from feedgate.runtime.publisher import Publisher
from feedgate.runtime.rotation import RotationPolicy
from feedgate.runtime.snapshots import SnapshotFetcher
from feedgate.runtime.transport import Transport, TransportOptions, open_websocket
from feedgate.settings import FeedSettings, Settings
from feedgate.venues import get_venue
from feedgate.venues.spec import VenueSpec

log = logging.getLogger(__name__)


OpenerFactory = Callable[[TransportOptions], Opener]


def default_opener(options: TransportOptions) -> Opener:
    async def open_(url: str, headers: list[tuple[str, str]]) -> Transport:
        chosen = replace(options, headers=tuple(headers)) if headers else options
        return await open_websocket(url, chosen)

    return open_


def heartbeat_policy(feed: FeedSettings) -> HeartbeatPolicy:
    s = feed.staleness
    return HeartbeatPolicy(
        transport_idle_s=s.transport_idle_s,
        data_idle_s={"trades": s.trades_idle_s, "book": s.book_idle_s, "bbo": s.bbo_idle_s},
        reconnect_after=s.reconnect_after,
    )


def _send_limiter(per_second: float, per_minute: int | None) -> Callable[[], RateLimits]:
    """Evenly spaced sends, one per ``1/per_second`` s, and at most ``per_minute`` a minute
    where the venue has such a cap (Upbit). A window of N per second would allow a burst of N
    at the end of one window and N more at the start of the next, which the venue, counting
    arrivals with network jitter, sees as 2N in a second and disconnects for."""

    def make() -> RateLimits:
        windows = [SlidingWindow(1, 1.0 / per_second)]
        if per_minute is not None:
            windows.append(SlidingWindow(per_minute, 60.0))
        return RateLimits(windows)

    return make


def _connect_limiter(limit: int, window_s: float) -> SlidingWindow:
    """Per-second connect limits (Upbit: 5 a second) are met by even spacing, so no burst can
    meet the next window's burst; longer windows (Binance: 300 per 5 minutes) allow a burst."""
    if window_s <= 1.0:
        return SlidingWindow(1, window_s / limit)
    return SlidingWindow(limit, window_s)


@dataclass
class _VenueRuntime:
    spec: VenueSpec
    fetcher: SnapshotFetcher
    connect_limiter: SlidingWindow
    opener: Opener
    next_connection: int = 0


@dataclass
class Worker:
    settings: Settings
    redis_url: str = field(repr=False)  # may hold the ACL user's password
    worker_index: int = 0
    worker_count: int = 1
    """Workers on this host: each runs its share of the plan (``plan.owner``) and takes its
    share of each venue's per-IP connect and REST budgets, so together they never exceed them."""
    shard_index: int = 0
    shard_count: int = 1
    """Hosts (shards) splitting the same plan (``--shard-index``/``--shard-count``)."""
    opener_factory: OpenerFactory = default_opener
    """Builds each venue's transport opener (its frame size limit differs per venue)."""
    serve_metrics: bool = True
    stats: WorkerStats = field(default_factory=WorkerStats)
    runners: list[ConnectionRunner] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stats.worker = str(self.worker_index)
        streams = self.settings.streams
        redis = self.settings.redis
        tls = redis.tls()  # None unless redis.url is rediss:// (an embedded Redis is plain)
        self.publisher = Publisher(
            self.redis_url,
            self.stats.publisher,
            cluster=redis.cluster,
            max_queue=redis.max_queue,
            ssl_context=tls.context() if tls is not None else None,
            stream_kinds=frozenset(map(ChannelKind, streams.channels if streams.enabled else ())),
            stream_maxlen=streams.maxlen,
            password=redis.password.get_secret_value() if redis.password else None,
        )
        self.registry = make_registry(self.stats)
        port = self.settings.metrics.port
        self.health = HealthServer(
            self.stats,
            self.registry,
            self.settings.metrics.host,
            port + self.worker_index if port else 0,
        )
        if not 0 <= self.worker_index < self.worker_count:
            raise ValueError("the worker index must be below the worker count")
        if not 0 <= self.shard_index < self.shard_count:
            raise ValueError("the shard index must be below the shard count")
        self._venues: dict[str, _VenueRuntime] = {}
        self._slot = 0  # connections planned so far, across feeds in config order
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.publisher.run(), name="publisher"))
        for feed in self.settings.feeds:
            await self._start_feed(feed)
        if self.serve_metrics:
            await self.health.start()
            log.info(
                "worker %d metrics on http://%s:%d/metrics",
                self.worker_index,
                self.health.host,
                self.health.port,
            )

    def _venue(self, exchange: str) -> _VenueRuntime:
        runtime = self._venues.get(exchange)
        if runtime is None:
            spec = get_venue(exchange)
            limits = spec.limits
            share = self.worker_count  # per-IP budgets are split between this host's workers
            runtime = _VenueRuntime(
                spec,
                SnapshotFetcher(
                    max((limits.rest_weight_per_minute or 1200) // share, 1),
                    outcomes=self.stats.snapshot_requests,
                ),
                _connect_limiter(
                    max(limits.connects_per_window // share, 1), limits.connect_window_s
                ),
                self.opener_factory(
                    TransportOptions(max_size=spec.max_frame_bytes, kind=self.settings.transport)
                ),
            )
            self._venues[exchange] = runtime
        return runtime

    async def _venue_symbols(self, feed: FeedSettings, venue: _VenueRuntime) -> dict[str, str]:
        """canonical → venue symbol for the feed's symbols; unknown ones are rejected."""
        options = feed.venue_options()
        pinned = {s: feed.venue_symbols[s] for s in feed.symbols if s in feed.venue_symbols}
        wanted = [s for s in feed.symbols if s not in pinned]
        guess = venue.spec.venue_symbol
        if not wanted or not feed.validate_symbols:
            return {**{s: guess(s) for s in wanted}, **pinned}
        try:
            body = await venue.fetcher.get(venue.spec.instruments_url(options))
            listed = venue.spec.parse_instruments(body)
        except (SnapshotFailed, ValueError, KeyError, TypeError) as exc:
            log.error(
                "%s: instrument list unavailable (%s); using symbols unchecked", feed.exchange, exc
            )
            return {**{s: guess(s) for s in wanted}, **pinned}
        mapping = dict(pinned)
        for symbol in wanted:
            if symbol in listed:
                mapping[symbol] = listed[symbol]
                continue
            log.error("%s: %s is not a tradable instrument: rejected", feed.exchange, symbol)
            self.stats.rejected_instruments[feed.exchange] += 1
            self.publisher.submit(
                Status(
                    feed.exchange,
                    StatusEvent.REJECTED,
                    f"{feed.exchange}-instruments",
                    "not in the venue's instrument list",
                    now_us(),
                    symbol,
                )
            )
        return mapping

    async def _start_feed(self, feed: FeedSettings) -> None:
        venue = self._venue(feed.exchange)
        spec = venue.spec
        options = feed.venue_options()
        if spec.symbolless:
            mapping: dict[str, str] = {}
            topics = [Topic(channel, "") for channel in feed.channels]
        else:
            mapping = await self._venue_symbols(feed, venue)
            topics = [Topic(channel, symbol) for symbol in mapping for channel in feed.channels]
        if not topics:
            return
        per_connection = spec.topics_per_connection(options)
        send_rate = spec.limits.messages_per_second
        send_per_minute = spec.limits.messages_per_minute
        for plan in plan_connections(feed.exchange, topics, per_connection):
            plan.connection_id = f"{feed.exchange}-{venue.next_connection:02d}"
            venue.next_connection += 1
            slot, self._slot = self._slot, self._slot + 1
            mine = (self.shard_index, self.worker_index)
            if owner(slot, self.shard_count, self.worker_count) != mine:
                continue  # another worker's (or host's) share
            plan.venue_symbols = {t.symbol: mapping[t.symbol] for t in plan.topics if t.symbol}
            channels = tuple(sorted({t.channel for t in plan.topics}))
            stats = ConnectionStats(feed.exchange, plan.connection_id, channels=channels)
            self.stats.connections.append(stats)
            runner = ConnectionRunner(
                spec.make_protocol(plan, options),
                make_protocol=partial(spec.make_protocol, plan, options),
                rotation=RotationPolicy(after_s=feed.rotation_after_s()),
                connection_id=plan.connection_id,
                opener=venue.opener,
                publisher=self.publisher,
                snapshots=venue.fetcher,
                stats=stats,
                connect_limiter=venue.connect_limiter,
                send_limiter_factory=_send_limiter(send_rate, send_per_minute),
                heartbeat=heartbeat_policy(feed),
                backoff=Backoff(),
                channels=channels,
                venue_metrics=self.stats.venue,
            )
            self.runners.append(runner)
            self._tasks.append(asyncio.create_task(self._guard(runner), name=plan.connection_id))

    async def _guard(self, runner: ConnectionRunner) -> None:
        try:
            await runner.run()
        except FatalConnectionError as exc:
            log.error("%s stopped: %s", runner.connection_id, exc)

    async def run(self) -> None:
        """Start (unless started already) and serve until ``stop()``."""
        if not self._tasks:
            await self.start()
        await self._stopped.wait()

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Drain: stop reading, flush the publisher, close connections, stop serving."""
        for runner in self.runners:
            runner.stop()
        runner_tasks = [t for t in self._tasks if t.get_name() != "publisher"]
        if runner_tasks:
            _, pending = await asyncio.wait(runner_tasks, timeout=drain_timeout)
            for task in pending:
                task.cancel()
        await self.publisher.close(flush_timeout=drain_timeout)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for venue in self._venues.values():
            await venue.fetcher.close()
        await self.health.stop()
        self._stopped.set()
