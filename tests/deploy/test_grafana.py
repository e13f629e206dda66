"""Grafana: the committed dashboards are the generator's output, well formed, on the provisioned
datasource, and provisioning finds them where docker-compose.yml mounts them. (Their queries
run against a real Prometheus in test_prometheus_e2e.py.)"""

from __future__ import annotations

import runpy
from pathlib import Path

from tests.deploy.shipped import (
    REPO,
    compose,
    dashboards,
    load_yaml,
    metric_names,
    panel_queries,
    substitute,
)

GRAFANA = REPO / "grafana"
PROVISIONING = GRAFANA / "provisioning"


def _mounts(service: str) -> dict[Path, str]:
    """Host path (resolved) → container path of a compose service's bind mounts."""
    out = {}
    for volume in compose()["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[(REPO / source).resolve()] = target
    return out


def test_committed_dashboards_are_the_generators_output() -> None:
    generator = runpy.run_path(str(GRAFANA / "generate.py"))
    rendered: dict[str, str] = generator["render"]()
    assert set(rendered) == set(dashboards()), "a dashboard file is missing or extra"
    for name, text in rendered.items():
        committed = (GRAFANA / "dashboards" / name).read_text()
        assert committed == text, f"{name} is stale: run python grafana/generate.py"


def test_dashboards_are_well_formed() -> None:
    datasource = load_yaml(PROVISIONING / "datasources" / "feedgate.yml")["datasources"][0]
    uids = set()
    for name, board in dashboards().items():
        assert board["uid"] not in uids, f"{name}: uid used twice"
        uids.add(board["uid"])
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        for panel in board["panels"]:
            where = f"{name} / {panel['title']}"
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["w"] > 0 and grid["h"] > 0, where
            assert panel["datasource"]["uid"] == datasource["uid"], where
            refs = [t["refId"] for t in panel["targets"]]
            assert panel["targets"] and len(refs) == len(set(refs)), where
            for t in panel["targets"]:
                assert t["expr"].strip() and t["datasource"]["uid"] == datasource["uid"], where
                substitute(t["expr"], "binance")  # only variables the tests know how to fill


def test_overview_shows_what_operators_watch() -> None:
    """Messages/s by exchange and channel, reconnects, lag p50/p99, stale connections, drops,
    Redis publish latency."""
    exprs = [q.expr for q in panel_queries() if q.dashboard == "overview.json"]
    text = "\n".join(exprs)
    assert "sum by (exchange, channel) (rate(feedgate_messages_total" in text
    assert any("feedgate_reconnects_total" in e for e in exprs)
    for q in ("0.5", "0.99"):
        assert f"histogram_quantile({q}, sum by (exchange, le) (rate(feedgate_lag_seconds" in text
        assert f"histogram_quantile({q}, sum by (le) (rate(feedgate_publish_latency" in text
    assert any("feedgate_last_message_timestamp_seconds" in e and "> 60" in e for e in exprs)
    assert any("feedgate_dropped_messages_total" in e for e in exprs)


def test_exchange_dashboard_is_a_drill_down_on_exchange() -> None:
    board = dashboards()["exchange.json"]
    (variable,) = board["templating"]["list"]
    assert variable["name"] == "exchange" and variable["type"] == "query"
    assert "feedgate_" in variable["query"]["query"]
    for panel in board["panels"]:
        for t in panel["targets"]:
            assert 'exchange="$exchange"' in t["expr"], f"{panel['title']} ignores $exchange"


def test_connections_dashboard_has_a_per_connection_table() -> None:
    board = dashboards()["connections.json"]
    tables = [p for p in board["panels"] if p["type"] == "table"]
    assert len(tables) == 1
    (target,) = tables[0]["targets"]
    assert target["instant"] and target["format"] == "table"
    # a row per connection: its last message age, with its state (and channels) as columns
    assert {"feedgate_last_message_timestamp_seconds", "feedgate_connection_state"} <= (
        metric_names(target["expr"])
    )
    assert "group_left (state)" in target["expr"]


def test_provisioning_matches_the_compose_mounts() -> None:
    mounts = _mounts("grafana")
    assert mounts.get(PROVISIONING.resolve()) == "/etc/grafana/provisioning"
    provider = load_yaml(PROVISIONING / "dashboards" / "feedgate.yml")["providers"][0]
    assert mounts.get((GRAFANA / "dashboards").resolve()) == provider["options"]["path"]
    env = compose()["services"]["grafana"]["environment"]
    home = Path(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert str(home.parent) == provider["options"]["path"] and home.name in dashboards()
    prometheus = load_yaml(PROVISIONING / "datasources" / "feedgate.yml")["datasources"][0]
    assert prometheus["type"] == "prometheus" and prometheus["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
    published = compose()["services"]["prometheus"]["ports"]
    assert any(port.endswith(":9090") for port in published)
    # $__rate_interval is four timeIntervals: it must be Prometheus' scrape interval
    scrape = load_yaml(REPO / "deploy" / "prometheus" / "prometheus.yml")["global"]
    assert prometheus["jsonData"]["timeInterval"] == scrape["scrape_interval"]
