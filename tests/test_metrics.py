"""The scrape-time collector turns the plain counters into every §2.3 family."""

from __future__ import annotations

from prometheus_client import generate_latest

from feedgate.metrics import ConnectionStats, FastHistogram, WorkerStats, make_registry


def test_exposition_has_every_family_with_labels() -> None:
    stats = WorkerStats()
    conn = ConnectionStats(
        "binance", "binance-00", frames=10, parse_errors=2, up=True, last_message_s=1700000000.5
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
