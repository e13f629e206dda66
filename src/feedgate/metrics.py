"""Metrics of design §2.3, counted on the hot path as plain integers and exported at scrape time.

The read loop and the publisher only bump attributes and dict entries of the objects below; no
prometheus_client call (and so no lock) happens per message. ``FeedgateCollector`` reads them when
Prometheus scrapes and builds the metric families then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from feedgate.histogram import FastHistogram as FastHistogram  # re-exported: its home was here

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


VENUE_HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "feedgate_announcement_dispatch_latency_seconds": (
        "Announcement receipt minus the source's dispatch time",
        ("exchange", "publisher"),
        LAG_BUCKETS,
    ),
}
"""Histograms a venue protocol may ``Observe``: name → (help, label names, buckets)."""

VENUE_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "feedgate_smoke_checks_total": (
        "Feed smoke checks after connecting (announcement test message), by result",
        ("exchange", "result"),
    ),
    "feedgate_duplicates_dropped_total": (
        "Messages seen twice (e.g. a reconnect overlap) and published once",
        ("exchange",),
    ),
    "feedgate_onchain_gaps_total": (
        "Reconnects after which on-chain data may be incomplete",
        ("exchange", "network"),
    ),
}
"""Counters a venue protocol may ``Count``: name → (help, label names)."""

VENUE_COUNTER_TIMES: dict[str, tuple[str, str]] = {
    "feedgate_smoke_checks_total": (
        "feedgate_smoke_check_last_timestamp_seconds",
        "Unix time of the latest smoke check, by result (a failure newer than the latest ok "
        "means the feed is failing its check)",
    ),
}
"""Venue counters whose latest time per label set is exported too: counter name → (gauge name,
help). A counter says how often; only a time says which result is the current one."""

DROP_REASONS = ("queue_full", "redis_disconnected")
"""Why the publisher drops messages; exported at 0 from the start, so the first drop is an
increase Prometheus can see (a series born at 1 has no increase)."""

CONNECTION_STATES = (
    "idle", "backoff", "connecting", "subscribing", "subscribed", "stopped", "fatal",
)  # fmt: skip
"""``ConnectionStats.state`` values, exported as an enum gauge (one series per state)."""


@dataclass(slots=True)
class VenueMetrics:
    """What venue protocols observe and count through ``Observe``/``Count`` actions."""

    histograms: dict[tuple[str, tuple[str, ...]], FastHistogram] = field(default_factory=dict)
    counters: Counter[tuple[str, tuple[str, ...]]] = field(default_factory=Counter)
    last_counted: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)

    def observe(self, metric: str, labels: tuple[str, ...], value: float) -> None:
        key = (metric, labels)
        histogram = self.histograms.get(key)
        if histogram is None:
            spec = VENUE_HISTOGRAMS.get(metric)
            if spec is None or len(labels) != len(spec[1]):
                raise ValueError(f"undeclared venue histogram {metric}{labels}")
            histogram = self.histograms[key] = FastHistogram(spec[2])
        histogram.observe(value)

    def count(
        self, metric: str, labels: tuple[str, ...], n: int = 1, at: float | None = None
    ) -> None:
        """``at``: the Unix time of the count (the runtime's clock; venue code has none)."""
        spec = VENUE_COUNTERS.get(metric)
        if spec is None or len(labels) != len(spec[1]):
            raise ValueError(f"undeclared venue counter {metric}{labels}")
        self.counters[(metric, labels)] += n
        if at is not None and metric in VENUE_COUNTER_TIMES:
            self.last_counted[(metric, labels)] = at

    def families(self) -> Iterator[Metric]:
        for name, (text, labels, _) in VENUE_HISTOGRAMS.items():
            family = HistogramMetricFamily(name, text, labels=list(labels))
            for (metric, values), h in sorted(self.histograms.items()):
                if metric == name:
                    family.add_metric(list(values), h.buckets(), h.sum)
            yield family
        for name, (text, labels) in VENUE_COUNTERS.items():
            counter = CounterMetricFamily(name.removesuffix("_total"), text, labels=list(labels))
            for (metric, values), n in sorted(self.counters.items()):
                if metric == name:
                    counter.add_metric(list(values), n)
            yield counter
        for counter_name, (name, text) in VENUE_COUNTER_TIMES.items():
            gauge = GaugeMetricFamily(name, text, labels=list(VENUE_COUNTERS[counter_name][1]))
            for (metric, values), at in sorted(self.last_counted.items()):
                if metric == counter_name:
                    gauge.add_metric(list(values), at)
            yield gauge


@dataclass(slots=True)
class ConnectionStats:
    """Per connection slot; the connection runner owns and bumps it."""

    exchange: str
    connection: str
    frames: int = 0
    parse_errors: int = 0
    up: bool = False
    last_message_us: int = 0  # recv_ts of the last data message: an int store per message
    reconnects: Counter[str] = field(default_factory=Counter)
    resyncs: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    state: str = "idle"  # one of CONNECTION_STATES
    fatal_reason: str | None = None  # set when the venue told us reconnecting cannot help
    channels: tuple[str, ...] = ()  # channel kinds the slot carries (feed config)
    rotations: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Make-before-break replacements by (reason, outcome): ``switched``, ``failed`` (the old
    connection kept serving), ``fallback`` (the old one closed first: a plain reconnect)."""


@dataclass(slots=True)
class PublisherStats:
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)  # (exchange, channel)
    dropped: Counter[str] = field(default_factory=Counter)
    publish_errors: int = 0
    queue_depth: int = 0
    redis_up: bool = False
    latency: FastHistogram = field(default_factory=lambda: FastHistogram(LATENCY_BUCKETS))
    lag: dict[tuple[str, str], FastHistogram] = field(default_factory=dict)

    def lag_histogram(self, exchange: str, channel: str) -> FastHistogram:
        key = (exchange, channel)
        histogram = self.lag.get(key)
        if histogram is None:
            histogram = self.lag[key] = FastHistogram(LAG_BUCKETS)
        return histogram


@dataclass(slots=True)
class WorkerStats:
    worker: str = "0"
    connections: list[ConnectionStats] = field(default_factory=list)
    publisher: PublisherStats = field(default_factory=PublisherStats)
    snapshot_requests: Counter[str] = field(default_factory=Counter)  # by outcome
    rejected_instruments: Counter[str] = field(default_factory=Counter)  # by exchange
    venue: VenueMetrics = field(default_factory=VenueMetrics)
    worker_restarts: Counter[str] = field(default_factory=Counter)


class FeedgateCollector(Collector):
    """Builds every ``feedgate_*`` family from a WorkerStats at scrape time."""

    def __init__(self, stats: WorkerStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        frames = CounterMetricFamily(
            "feedgate_frames", "WebSocket frames received", labels=["exchange"]
        )
        parse_errors = CounterMetricFamily(
            "feedgate_parse_errors", "Frames that could not be interpreted", labels=["exchange"]
        )
        reconnects = CounterMetricFamily(
            "feedgate_reconnects", "Reconnects, by cause", labels=["exchange", "reason"]
        )
        resyncs = CounterMetricFamily(
            "feedgate_book_resyncs", "Book resyncs, by cause", labels=["exchange", "reason"]
        )
        rejected = CounterMetricFamily(
            "feedgate_subscriptions_rejected",
            "Subscriptions the venue or the instrument list rejected",
            labels=["exchange"],
        )
        by_exchange: dict[str, Counter[str]] = {}
        for c in s.connections:
            totals = by_exchange.setdefault(c.exchange, Counter())
            totals["frames"] += c.frames
            totals["parse_errors"] += c.parse_errors
            totals["rejected"] += c.rejected
        reconnect_totals: Counter[tuple[str, str]] = Counter()
        resync_totals: Counter[tuple[str, str]] = Counter()
        rotation_totals: Counter[tuple[str, str, str]] = Counter()
        for c in s.connections:
            for reason, n in c.reconnects.items():
                reconnect_totals[(c.exchange, reason)] += n
            for reason, n in c.resyncs.items():
                resync_totals[(c.exchange, reason)] += n
            for (reason, outcome), n in c.rotations.items():
                rotation_totals[(c.exchange, reason, outcome)] += n
        for exchange, n in s.rejected_instruments.items():
            by_exchange.setdefault(exchange, Counter())["rejected"] += n
        for exchange, totals in sorted(by_exchange.items()):
            frames.add_metric([exchange], totals["frames"])
            parse_errors.add_metric([exchange], totals["parse_errors"])
            rejected.add_metric([exchange], totals["rejected"])
        for (exchange, reason), n in sorted(reconnect_totals.items()):
            reconnects.add_metric([exchange, reason], n)
        for (exchange, reason), n in sorted(resync_totals.items()):
            resyncs.add_metric([exchange, reason], n)
        rotations = CounterMetricFamily(
            "feedgate_rotations",
            "Make-before-break connection replacements, by cause and outcome",
            labels=["exchange", "reason", "outcome"],
        )
        for (exchange, reason, outcome), n in sorted(rotation_totals.items()):
            rotations.add_metric([exchange, reason, outcome], n)
        yield from (frames, parse_errors, reconnects, resyncs, rotations, rejected)
        yield from _connection_gauges(s.connections)
        yield from s.venue.families()
        yield from self._publisher(s.publisher)
        restarts = CounterMetricFamily(
            "feedgate_worker_restarts", "Supervisor restarts of workers", labels=["worker"]
        )
        for worker, n in sorted(s.worker_restarts.items()):
            restarts.add_metric([worker], n)
        yield restarts
        snapshots = CounterMetricFamily(
            "feedgate_snapshot_requests", "REST snapshot requests, by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(s.snapshot_requests.items()):
            snapshots.add_metric([outcome], n)
        yield snapshots

    def _publisher(self, p: PublisherStats) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "feedgate_messages", "Normalized messages published", labels=["exchange", "channel"]
        )
        for (exchange, channel), n in sorted(p.messages.items()):
            messages.add_metric([exchange, channel], n)
        dropped = CounterMetricFamily(
            "feedgate_dropped_messages", "Messages dropped instead of published", labels=["reason"]
        )
        for reason in sorted(set(DROP_REASONS) | set(p.dropped)):
            dropped.add_metric([reason], p.dropped[reason])
        yield messages
        yield dropped
        yield CounterMetricFamily(
            "feedgate_publish_errors", "Redis errors while publishing", value=p.publish_errors
        )
        yield GaugeMetricFamily(
            "feedgate_publish_queue_depth", "Messages waiting to be published", value=p.queue_depth
        )
        yield GaugeMetricFamily(
            "feedgate_redis_up",
            "1 while the publisher is connected to Redis",
            value=1.0 if p.redis_up else 0.0,
        )
        latency = HistogramMetricFamily(
            "feedgate_publish_latency_seconds", "Frame read to PUBLISH acknowledged"
        )
        latency.add_metric([], p.latency.buckets(), p.latency.sum)
        yield latency
        lag = HistogramMetricFamily(
            "feedgate_lag_seconds",
            "Gateway receive time minus venue event time",
            labels=["exchange", "channel"],
        )
        for (exchange, channel), h in sorted(p.lag.items()):
            lag.add_metric([exchange, channel], h.buckets(), h.sum)
        yield lag


def _connection_gauges(connections: list[ConnectionStats]) -> Iterator[Metric]:
    """Per connection slot: up, last data, state, channels, and a fatal stop."""
    up = GaugeMetricFamily(
        "feedgate_connection_up",
        "1 when the connection is subscribed and receiving",
        labels=["exchange", "connection"],
    )
    last = GaugeMetricFamily(
        "feedgate_last_message_timestamp_seconds",
        "Unix time of the last data frame on the connection (0: none since the worker started)",
        labels=["exchange", "connection"],
    )
    state = GaugeMetricFamily(
        "feedgate_connection_state",
        "1 for the connection's current state, 0 for the others",
        labels=["exchange", "connection", "state"],
    )
    info = GaugeMetricFamily(
        "feedgate_connection_info",
        "Always 1: the channel kinds a connection carries, comma-separated",
        labels=["exchange", "connection", "channels"],
    )
    fatal = GaugeMetricFamily(
        "feedgate_connection_fatal",
        "1 when a connection stopped for good (e.g. its API key expired): an operator must act",
        labels=["exchange", "connection", "reason"],
    )
    for c in connections:
        labels = [c.exchange, c.connection]
        up.add_metric(labels, 1.0 if c.up else 0.0)
        last.add_metric(labels, c.last_message_us / 1e6)
        for name in CONNECTION_STATES:
            state.add_metric([*labels, name], 1.0 if c.state == name else 0.0)
        info.add_metric([*labels, ",".join(c.channels)], 1.0)
        if c.fatal_reason is not None:
            fatal.add_metric([*labels, c.fatal_reason], 1.0)
    yield from (up, last, state, info, fatal)


def make_registry(stats: WorkerStats) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FeedgateCollector(stats))
    return registry
