"""Writes the Grafana dashboards in ``grafana/dashboards/`` (run it after editing this file).

The JSON is committed (Grafana's provisioning reads it as is); it is generated because three
dashboards share the datasource, the queries' idioms and the panel layout, and hand-edited JSON
drifts. ``tests/deploy/test_grafana.py`` fails when the committed files differ from this output;
``tests/deploy/test_prometheus_e2e.py`` runs every query against a real Prometheus.

    python grafana/generate.py          # rewrite the files
    python grafana/generate.py --check  # exit 1 if they are out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # provisioning/datasources/
RATE = "$__rate_interval"
MARKET = 'channel=~"trades|book|bbo"'
Panel = dict[str, Any]


def braces(sel: str) -> str:
    """A selector's matchers in braces; none at all for none (PromQL rejects ``{}``)."""
    return f"{{{sel}}}" if sel else ""


def stale(sel: str = "") -> str:
    """A connection is stale when subscribed, carrying market data, and silent for 60 s: the
    FeedgateFeedStale alert's test (deploy/prometheus/alerts.yml) before its ``for:``."""
    return (
        f"(time() - feedgate_last_message_timestamp_seconds{braces(sel)} > 60)"
        " and on (exchange, connection) (feedgate_connection_up == 1)"
        " and on (exchange, connection)"
        ' feedgate_connection_info{channels=~"(.*,)?(trades|book|bbo)(,.*)?"}'
    )


def target(expr: str, legend: str = "", *, table: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
    if table:
        out |= {"format": "table", "instant": True, "range": False}
    return out


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    *,
    w: int,
    h: int,
    unit: str = "short",
    description: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
    **extra: Any,
) -> Panel:
    steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
    for ref, t in zip("ABCDEFGH", targets, strict=False):
        t["refId"] = ref
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": w, "h": h},
        "targets": targets,
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        **extra,
    }


Query = tuple[str, str]  # (PromQL, legend)


def stat(title: str, *queries: Query, **kw: Any) -> Panel:
    options = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value"}
    targets = [target(expr, legend) for expr, legend in queries]
    return panel("stat", title, targets, w=4, h=4, options=options, **kw)


def series(title: str, *queries: Query, w: int = 12, **kw: Any) -> Panel:
    options = {"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]}}
    targets = [target(expr, legend) for expr, legend in queries]
    return panel("timeseries", title, targets, w=w, h=8, options=options, **kw)


def quantiles(metric: str, by: str, sel: str = "") -> list[Query]:
    """p50 and p99 of a histogram, by the labels ``by`` (may be empty)."""
    group = f"{by}, le" if by else "le"
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(",") if label.strip())
    rate = f"rate({metric}_bucket{braces(sel)}[{RATE}])"
    return [
        (f"histogram_quantile({q}, sum by ({group}) ({rate}))", f"{legend} p{int(q * 100)}".strip())
        for q in (0.5, 0.99)
    ]


def exchange_variable(*, multi: bool) -> dict[str, Any]:
    query = "label_values(feedgate_frames_total, exchange)"
    return {
        "name": "exchange",
        "label": "exchange",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "exchange"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "allValue": ".*" if multi else None,
        "current": {},
    }


def dashboard(uid: str, title: str, panels: list[Panel], variables: list[Any]) -> dict[str, Any]:
    x = y = row_h = 0
    for number, p in enumerate(panels, start=1):
        p["id"] = number
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["gridPos"] |= {"x": x, "y": y}
        x, row_h = x + w, max(row_h, h)
    links = [{"type": "dashboards", "tags": ["feedgate"], "asDropdown": True, "title": "feedgate"}]
    return {
        "uid": uid,
        "title": title,
        "tags": ["feedgate"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "links": links,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    data = 'channel!="status"'
    red_from = [(None, "green"), (1, "red")]
    return dashboard(
        "feedgate-overview",
        "feedgate / Overview",
        [
            stat(
                "Connections up / total",
                ("sum(feedgate_connection_up)", "up"),
                ("count(feedgate_connection_up)", "total"),
            ),
            stat(
                "Stale connections",
                (f"count({stale()}) or vector(0)", "stale"),
                description="Subscribed market-data connections silent for over 60 s",
                thresholds=red_from,
            ),
            stat(
                "Stopped for good",
                ("count(feedgate_connection_fatal == 1) or vector(0)", "fatal"),
                description="Connections a venue stopped for good (rejected key): act",
                thresholds=red_from,
            ),
            stat(
                "Workers up / wanted",
                ("sum(feedgate_workers_up)", "up"),
                ("sum(feedgate_workers_wanted)", "wanted"),
            ),
            stat(
                "Redis connected (workers)",
                ("sum(feedgate_redis_up)", "connected"),
                ("count(feedgate_redis_up)", "workers"),
            ),
            stat(
                "Smoke check: latest result",
                (
                    "time() - max by (exchange, result) "
                    "(feedgate_smoke_check_last_timestamp_seconds)",
                    "{{exchange}} {{result}}",
                ),
                unit="s",
                description="Time since the announcement source's latest smoke check, by result",
            ),
            series(
                "Messages/s by exchange and channel",
                (
                    f"sum by (exchange, channel) (rate(feedgate_messages_total{{{data}}}[{RATE}]))",
                    "{{exchange}} {{channel}}",
                ),
                unit="ops",
            ),
            series(
                "Frames/s by exchange",
                (f"sum by (exchange) (rate(feedgate_frames_total[{RATE}]))", "{{exchange}}"),
                unit="ops",
            ),
            series(
                "Lag p50 / p99 by exchange (trades, book, bbo)",
                *quantiles("feedgate_lag_seconds", "exchange", MARKET),
                unit="s",
                thresholds=red_from,
            ),
            series(
                "Redis publish latency p50 / p99 (frame read to PUBLISH acknowledged)",
                *quantiles("feedgate_publish_latency_seconds", ""),
                unit="s",
            ),
            series(
                "Reconnects per minute by exchange and reason",
                (
                    f"60 * sum by (exchange, reason) (rate(feedgate_reconnects_total[{RATE}]))",
                    "{{exchange}} {{reason}}",
                ),
            ),
            series(
                "Book resyncs per minute by exchange and reason",
                (
                    f"60 * sum by (exchange, reason) (rate(feedgate_book_resyncs_total[{RATE}]))",
                    "{{exchange}} {{reason}}",
                ),
            ),
            series(
                "Dropped messages/s by reason",
                (f"sum by (reason) (rate(feedgate_dropped_messages_total[{RATE}]))", "{{reason}}"),
                w=8,
                unit="ops",
                thresholds=[(None, "green"), (0.001, "red")],
            ),
            series(
                "Redis publish errors/s by worker",
                (
                    f"sum by (instance) (rate(feedgate_publish_errors_total[{RATE}]))",
                    "{{instance}}",
                ),
                w=8,
                unit="ops",
            ),
            series(
                "Publish queue depth by worker",
                ("sum by (instance) (feedgate_publish_queue_depth)", "{{instance}}"),
                w=8,
            ),
            series(
                "Worker restarts (15 min)",
                (
                    "sum by (worker) (increase(feedgate_worker_restarts_total[15m]))",
                    "worker {{worker}}",
                ),
                w=24,
            ),
        ],
        [],
    )


def exchange() -> dict[str, Any]:
    sel = 'exchange="$exchange"'
    age = f"time() - (feedgate_last_message_timestamp_seconds{{{sel}}} > 0)"
    return dashboard(
        "feedgate-exchange",
        "feedgate / Exchange",
        [
            stat(
                "Connections up / total",
                (f"sum(feedgate_connection_up{{{sel}}})", "up"),
                (f"count(feedgate_connection_up{{{sel}}})", "total"),
            ),
            stat(
                "Stale connections",
                (f"count({stale(sel)}) or vector(0)", "stale"),
                thresholds=[(None, "green"), (1, "red")],
            ),
            stat(
                "Parse errors/s",
                (f"sum(rate(feedgate_parse_errors_total{{{sel}}}[{RATE}]))", "parse errors"),
                unit="ops",
                thresholds=[(None, "green"), (0.01, "orange")],
            ),
            stat(
                "Rejected subscriptions",
                (f"sum(feedgate_subscriptions_rejected_total{{{sel}}})", "rejected"),
                thresholds=[(None, "green"), (1, "orange")],
            ),
            stat(
                "Reconnects (1 h)",
                (f"sum(increase(feedgate_reconnects_total{{{sel}}}[1h]))", "reconnects"),
            ),
            stat(
                "Frames/s",
                (f"sum(rate(feedgate_frames_total{{{sel}}}[{RATE}]))", "frames"),
                unit="ops",
            ),
            series(
                "Messages/s by channel",
                (
                    f"sum by (channel) "
                    f'(rate(feedgate_messages_total{{{sel},channel!="status"}}[{RATE}]))',
                    "{{channel}}",
                ),
                unit="ops",
            ),
            series(
                "Lag p50 / p99 by channel",
                *quantiles("feedgate_lag_seconds", "channel", sel),
                unit="s",
            ),
            series(
                "Reconnects per minute by reason",
                (
                    f"60 * sum by (reason) (rate(feedgate_reconnects_total{{{sel}}}[{RATE}]))",
                    "{{reason}}",
                ),
            ),
            series(
                "Book resyncs per minute by reason",
                (
                    f"60 * sum by (reason) (rate(feedgate_book_resyncs_total{{{sel}}}[{RATE}]))",
                    "{{reason}}",
                ),
            ),
            series(
                "Last message age by connection",
                (age, "{{connection}}"),
                unit="s",
                thresholds=[(None, "green"), (60, "red")],
            ),
            series(
                "Connections by state",
                (f"sum by (state) (feedgate_connection_state{{{sel}}})", "{{state}}"),
            ),
        ],
        [exchange_variable(multi=False)],
    )


def connections() -> dict[str, Any]:
    sel = 'exchange=~"$exchange"'
    # one row per connection: its age, with its state and channels joined in as labels
    table_expr = (
        f"time() - (feedgate_last_message_timestamp_seconds{{{sel}}}"
        " * on (instance, exchange, connection) group_left (state) (feedgate_connection_state == 1)"
        " * on (instance, exchange, connection) group_left (channels) feedgate_connection_info)"
    )
    never = {"type": "range", "options": {"from": 1e9, "to": None, "result": {"text": "never"}}}
    hidden = {"Time": True, "job": True, "__name__": True}
    organize = {"excludeByName": hidden, "renameByName": {"Value": "last message age"}}
    table = panel(
        "table",
        "Connections: last message age, state, channels",
        [target(table_expr, table=True)],
        w=24,
        h=14,
        unit="s",
        description="Age 'never': no data since the worker started. Sorted oldest first.",
        thresholds=[(None, "green"), (60, "red")],
        options={"sortBy": [{"displayName": "last message age", "desc": True}]},
        transformations=[{"id": "organize", "options": organize}],
    )
    table["fieldConfig"]["defaults"] |= {
        "mappings": [never],
        "custom": {"cellOptions": {"type": "color-text"}},
    }
    return dashboard(
        "feedgate-connections",
        "feedgate / Connections",
        [
            table,
            series(
                "Last message age by connection",
                (
                    f"time() - (feedgate_last_message_timestamp_seconds{{{sel}}} > 0)",
                    "{{connection}}",
                ),
                unit="s",
                thresholds=[(None, "green"), (60, "red")],
            ),
            series(
                "Connections up by exchange",
                (f"sum by (exchange) (feedgate_connection_up{{{sel}}})", "{{exchange}}"),
            ),
        ],
        [exchange_variable(multi=True)],
    )


DASHBOARDS = {"overview.json": overview, "exchange.json": exchange, "connections.json": connections}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = OUT / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)} (run python grafana/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
