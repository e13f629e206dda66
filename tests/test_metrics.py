"""The scrape-time collector turns the plain counters into every §2.3 family."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from feedgate.metrics import (
    CONNECTION_STATES,
    ConnectionStats,
    FastHistogram,
    WorkerStats,
    make_registry,
)
from feedgate.runtime.supervisor import Supervisor, _SupervisorCollector
from feedgate.settings import build_settings
from tests.conftest import SHARED


def test_exposition_has_every_family_with_labels() -> None:
    stats = WorkerStats()
    conn = ConnectionStats(
        "binance",
        "binance-00",
        frames=10,
        parse_errors=2,
        up=True,
        last_message_us=1_700_000_000_500_000,
    )
    conn.reconnects["connection_lost"] += 3
    conn.resyncs["gap"] += 1
    conn.rotations[("lifetime", "switched")] += 2
    stats.connections.append(conn)
    stats.connections.append(ConnectionStats("binance", "binance-01", frames=5))
    p = stats.publisher
    p.messages[("binance", "trades")] += 7
    p.dropped["queue_full"] += 4
    p.publish_errors = 1
    p.queue_depth = 12
    p.latency.observe(0.0003)
    p.lag_histogram("binance", "trades").observe(0.02)
    text = generate_latest(make_registry(stats)).decode()
    for line in (
        'feedgate_frames_total{exchange="binance"} 15.0',
        'feedgate_parse_errors_total{exchange="binance"} 2.0',
        'feedgate_reconnects_total{exchange="binance",reason="connection_lost"} 3.0',
        'feedgate_book_resyncs_total{exchange="binance",reason="gap"} 1.0',
        'feedgate_rotations_total{exchange="binance",outcome="switched",reason="lifetime"} 2.0',
        'feedgate_connection_up{connection="binance-00",exchange="binance"} 1.0',
        'feedgate_connection_up{connection="binance-01",exchange="binance"} 0.0',
        'feedgate_last_message_timestamp_seconds{connection="binance-00",exchange="binance"}'
        " 1.7000000005e+09",
        'feedgate_messages_total{channel="trades",exchange="binance"} 7.0',
        'feedgate_dropped_messages_total{reason="queue_full"} 4.0',
        "feedgate_publish_errors_total 1.0",
        "feedgate_publish_queue_depth 12.0",
        'feedgate_publish_latency_seconds_bucket{le="0.0005"} 1.0',
        "feedgate_publish_latency_seconds_count 1.0",
        'feedgate_lag_seconds_bucket{channel="trades",exchange="binance",le="0.025"} 1.0',
        'feedgate_lag_seconds_bucket{channel="trades",exchange="binance",le="0.01"} 0.0',
    ):
        assert line in text, line
    assert "# HELP feedgate_messages_total Normalized messages published" in text


def test_fast_histogram_buckets_and_quantiles() -> None:
    h = FastHistogram((0.001, 0.01, 0.1))
    for v in (0.0005, 0.005, 0.005, 0.05, 5.0):
        h.observe(v)
    assert h.buckets() == [("0.001", 1.0), ("0.01", 3.0), ("0.1", 4.0), ("+Inf", 5.0)]
    assert h.quantile(0.5) == 0.01 and h.quantile(1.0) == float("inf")
    before = list(h.counts)
    h.observe(0.0001)
    assert h.quantile(0.99, since=before) == 0.001
    assert FastHistogram((1.0,)).quantile(0.5) is None


def test_fast_histogram_pending_values_count_for_every_reader() -> None:
    """Batch latencies and lags wait in ``pending`` (no per-batch settle on the hot path):
    whatever reads the histogram sees them, bucketed exactly as one-by-one observations, and
    the pending list never outgrows ``SETTLE_AT``."""
    bounds = (0.0001, 0.001, 0.01)
    now = 1_000_000
    latencies = [0, 99, 100, 101, 999, 1000, 1001, 9999, 10_000, 10_001, 50_000] * 3
    for read in ("count", "counts", "sum", "buckets", "quantile"):
        batched, one_by_one = FastHistogram(bounds), FastHistogram(bounds)
        batched.observe_since(now, [now - v for v in latencies[:20]])
        batched.pending.extend(latencies[20:])  # the publisher appends lags like this
        for v in latencies:
            one_by_one.observe_us(v)
        if read == "count":
            assert batched.count == len(latencies)
        elif read == "counts":
            assert batched.counts == one_by_one.counts
        elif read == "sum":
            assert batched.sum == pytest.approx(sum(latencies) / 1e6)
        elif read == "buckets":
            assert batched.buckets() == one_by_one.buckets()
        else:
            assert batched.quantile(0.5) == one_by_one.quantile(0.5) == 0.001
    flooded = FastHistogram(bounds)
    for _ in range(1000):
        flooded.observe_since(now, [now - 5] * 7)
        assert len(flooded.pending) < FastHistogram.SETTLE_AT
    assert flooded.count == 7000 and flooded.counts[0] == 7000


def test_connection_state_channels_and_zero_drops_are_exported() -> None:
    stats = WorkerStats()
    conn = ConnectionStats("kraken", "kraken-00", state="backoff", channels=("book", "trades"))
    stats.connections.append(conn)
    text = generate_latest(make_registry(stats)).decode()
    labels = 'connection="kraken-00",exchange="kraken"'
    assert f'feedgate_connection_state{{{labels},state="backoff"}} 1.0' in text
    assert f'feedgate_connection_state{{{labels},state="subscribed"}} 0.0' in text
    assert text.count("feedgate_connection_state{") == len(CONNECTION_STATES)
    assert f'feedgate_connection_info{{channels="book,trades",{labels}}} 1.0' in text
    # never-dropped reasons are there at 0, so the first drop is an increase Prometheus sees
    assert 'feedgate_dropped_messages_total{reason="queue_full"} 0.0' in text
    assert 'feedgate_dropped_messages_total{reason="redis_disconnected"} 0.0' in text
    assert "feedgate_connection_fatal{" not in text
    conn.fatal_reason = "key_expired"
    text = generate_latest(make_registry(stats)).decode()
    assert f'feedgate_connection_fatal{{{labels},reason="key_expired"}} 1.0' in text


def test_smoke_check_results_carry_the_time_of_the_latest_one() -> None:
    stats = WorkerStats()
    venue = stats.venue
    venue.count("feedgate_smoke_checks_total", ("cryptolisting", "ok"), at=1700000000.0)
    venue.count("feedgate_smoke_checks_total", ("cryptolisting", "timeout"), at=1700000100.0)
    venue.count("feedgate_smoke_checks_total", ("cryptolisting", "ok"), at=1700000200.0)
    venue.count("feedgate_duplicates_dropped_total", ("cryptolisting",), at=1700000300.0)
    text = generate_latest(make_registry(stats)).decode()
    name = "feedgate_smoke_check_last_timestamp_seconds"
    assert f'{name}{{exchange="cryptolisting",result="ok"}} 1.7000002e+09' in text
    assert f'{name}{{exchange="cryptolisting",result="timeout"}} 1.7000001e+09' in text
    assert 'feedgate_smoke_checks_total{exchange="cryptolisting",result="ok"} 2.0' in text
    # only declared counters get a time series
    assert "duplicates_dropped_last" not in text


def test_every_state_the_runtime_sets_is_a_declared_state() -> None:
    """The enum gauge has one series per declared state: a state set elsewhere would be
    exported as no state at all."""
    runtime = Path(__file__).resolve().parents[1] / "src" / "feedgate" / "runtime"
    assigned = set()
    for module in runtime.glob("*.py"):
        assigned |= set(re.findall(r'stats\.state = "(\w+)"', module.read_text()))
    assert assigned, "no state assignments found: the pattern is out of date"
    assert assigned <= set(CONNECTION_STATES), assigned - set(CONNECTION_STATES)


def test_every_design_metric_is_exported_with_help_text() -> None:
    """Design §2.3's table, against what a worker and the supervisor export (the design lives in
    ../shared, beside the repository; skipped where that folder is absent)."""
    design = SHARED / "design.md"
    if not design.exists():
        pytest.skip(f"{design} is absent")
    section = design.read_text().split("### 2.3", 1)[1].split("\n### ", 1)[0]
    wanted = set(re.findall(r"`(feedgate_\w+)", section))
    assert len(wanted) >= 13, "the §2.3 table moved: update this test"
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SupervisorCollector(Supervisor(Path("x.toml"), build_settings({}), 1)))
    exported = {}
    for metric in [*make_registry(WorkerStats()).collect(), *registry.collect()]:
        name = metric.name + "_total" if metric.type == "counter" else metric.name
        exported[name] = metric.documentation
    assert wanted - set(exported) == set(), "in design §2.3 but not exported"
    assert all(text.strip() for text in exported.values()), "a family without help text"
