"""The compose demo stack without Docker, watched by a real Prometheus (Debian's package).

What runs is what docker-compose.yml's demo profile runs, on loopback: the simulators built from
the `sim-*` services' `feedgate simulate` commands, the gateway from `feedgate-demo`'s command
(a supervisor and its workers, real processes) on deploy/compose/feeds.demo.toml with the
simulators' addresses, and Prometheus on the shipped prometheus.yml (targets rewritten to the
test's ports) and alerts.yml. Then every Grafana panel query and every alert expression is
evaluated, the panels must return data, and a silent connection must make FeedgateFeedStale
pending while no other alert is.

The silent connection is one more feed on a simulator that trades nothing and is then silenced:
it subscribes and never gets data (its last-message time is 0). Waiting for 60 real seconds of
silence after data would make the test slow; the rule's 60-second arithmetic is covered by
alerts.test.yml.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from feedgate.cli import build_parser
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import SimServer, simulator_server
from feedgate.venues.binance.sim import BinanceSim
from tests.conftest import free_port_block
from tests.deploy.prometheus import (
    Prometheus,
    poll,
    running_prometheus,
    scrape_config,
    stop_process,
)
from tests.deploy.shipped import (
    NO_PROMETHEUS,
    REPO,
    alert_rules,
    compose,
    feedgate_services,
    healthcheck_command,
    panel_queries,
    substitute,
    tool,
)

pytestmark = pytest.mark.skipif(tool("prometheus") is None, reason=NO_PROMETHEUS)

GATEWAY = "feedgate-demo"
DRILL_DOWN = "binance"  # the exchange the panels must show data for (faults are injected there)
QUIET = "binance-01"  # the extra feed's connection: binance's second, after the demo's
IDLE_MARKET = 1e-9  # trades per second: none in any test's lifetime


def _simulator_commands() -> dict[str, Any]:
    commands = {}
    for name, service in feedgate_services().items():
        args = build_parser().parse_args(service["command"])
        if args.command == "simulate":
            commands[name] = args
    return commands


def _demo_toml() -> Path:
    """The file the demo gateway's service mounts as its config."""
    service = compose()["services"][GATEWAY]
    mount = next(v for v in service["volumes"] if v.endswith(":/etc/feedgate/feeds.toml:ro"))
    return REPO / mount.split(":")[0]


def _demo_config(folder: Path, servers: dict[str, SimServer[Any, Any]], quiet: str) -> Path:
    """feeds.demo.toml with each `sim-x:9443` address replaced by its simulator's, plus the
    quiet feed."""
    text = _demo_toml().read_text()
    for name, server in servers.items():
        text = text.replace(f"ws://{name}:9443", server.ws_url)
        text = text.replace(f"http://{name}:9443", server.rest_url)
    left = re.findall(r"\w+://sim-[\w-]+:\d+", text)
    assert not left, f"demo feeds point at simulators the test did not start: {left}"
    text += f"""
[[feeds]]
exchange = "binance"
channels = ["trades"]
symbols = ["XRP-USDT"]
[feeds.options]
ws_url = "{quiet}"
rest_url = "{quiet.replace("ws://", "http://")}"
"""
    path = folder / "feeds.toml"
    path.write_text(text)
    return path


@asynccontextmanager
async def _gateway(config: Path, env: dict[str, str], log: Path) -> AsyncIterator[int]:
    """`feedgate-demo`'s command, with the config path the test wrote; yields the workers."""
    command = list(compose()["services"][GATEWAY]["command"])
    command[command.index("/etc/feedgate/feeds.toml")] = str(config)
    workers = build_parser().parse_args(command).workers
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feedgate.cli", *command, env=env, stdout=out, stderr=out
        )
    try:
        yield workers
    finally:
        await stop_process(process, 20)  # SIGTERM: the supervisor drains its workers too


async def _has_data(prometheus: Prometheus, expr: str) -> bool:
    return bool(await prometheus.query(expr))


async def _active_alerts(prometheus: Prometheus) -> set[tuple[str, str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("connection", ""), a["state"])
        for a in await prometheus.alerts()
    }


async def test_dashboards_and_alert_rules_on_the_demo_stack(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    servers: dict[str, SimServer[Any, Any]] = {}
    for name, args in _simulator_commands().items():
        symbols = args.symbols.split(",")
        servers[name] = simulator_server(args.venue, "127.0.0.1", 0, symbols, args.rate)
    quiet: SimServer[Any, Any] = SimServer(
        BinanceSim.from_canonical(["XRP-USDT"]), trade_rate=IDLE_MARKET
    )
    demo = compose()["services"][GATEWAY]
    env = {**os.environ, **demo.get("environment", {})}
    env.update(FEEDGATE_REDIS__URL=redis_server.url, FEEDGATE_METRICS__HOST="127.0.0.1")
    workers = build_parser().parse_args(demo["command"]).workers
    base = free_port_block(workers)
    env["FEEDGATE_METRICS__PORT"] = str(base)
    shipped_base = tomllib.loads(_demo_toml().read_text())["metrics"]["port"]

    def to_test_port(target: str) -> str:
        port = int(target.rsplit(":", 1)[1])
        return f"127.0.0.1:{base + port - shipped_base}"

    try:
        for server in [*servers.values(), quiet]:
            await server.start()
        config = _demo_config(tmp_path, servers, quiet.ws_url)
        async with (
            _gateway(config, env, tmp_path / "gateway.log"),
            running_prometheus(tmp_path, scrape_config(to_test_port)) as prometheus,
        ):
            await _check(prometheus, servers["sim-binance"], quiet, workers, base, tmp_path)
    finally:
        for server in [*servers.values(), quiet]:
            await server.stop()


async def _check(
    prometheus: Prometheus,
    binance: SimServer[Any, Any],
    quiet: SimServer[Any, Any],
    workers: int,
    base: int,
    folder: Path,
) -> None:
    async def all_targets_up() -> bool:
        targets = await prometheus.targets()
        return len(targets) == workers + 1 and all(t["health"] == "up" for t in targets)

    gateway_log = folder / "gateway.log"
    try:
        await poll(all_targets_up, 30, "the supervisor and every worker scraped")
    except AssertionError:
        raise AssertionError(gateway_log.read_text()[-3000:]) from None

    # data on the drill-down exchange, then a gap and a reconnect there, so that the resync and
    # reconnect panels have series too
    data = f'feedgate_messages_total{{exchange="{DRILL_DOWN}",channel="book"}} > 0'
    await poll(lambda: _has_data(prometheus, data), 30, f"{DRILL_DOWN} book messages")
    binance.skip_update_ids("BTCUSDT", 5)
    gap = f'feedgate_book_resyncs_total{{exchange="{DRILL_DOWN}",reason="gap"}}'
    await poll(lambda: _has_data(prometheus, gap), 20, "the gap counted as a resync")
    binance.drop_connections()
    reconnect = f'feedgate_reconnects_total{{exchange="{DRILL_DOWN}"}}'
    await poll(lambda: _has_data(prometheus, reconnect), 20, "the reconnect counted")

    # the quiet connection subscribes; then it is silenced altogether (no pings either)
    up = f'feedgate_connection_up{{connection="{QUIET}"}} == 1'
    await poll(lambda: _has_data(prometheus, up), 20, f"{QUIET} subscribed")
    quiet.silence(None)

    # every panel: a valid query, and data for the drill-down exchange (a series needs two
    # scrapes before rate() has a value, hence the wait)
    for q in panel_queries():
        expr = substitute(q.expr, DRILL_DOWN)
        await poll(lambda e=expr: _has_data(prometheus, e), 15, f"data for {q}")
    exchanges = {r["metric"]["exchange"] for r in await prometheus.query("feedgate_frames_total")}
    assert len(exchanges) >= 8, exchanges
    for exchange in sorted(exchanges - {DRILL_DOWN}):
        for q in panel_queries():
            await prometheus.query(substitute(q.expr, exchange))  # valid for every exchange
    labels = await prometheus.api("label/exchange/values", **{"match[]": "feedgate_frames_total"})
    assert set(labels["data"]) == exchanges, "the $exchange variable's query lists them all"

    # every alert expression is valid, and Prometheus evaluated every rule without error
    for rule in alert_rules():
        await prometheus.query(rule["expr"])

    async def rules_evaluated() -> bool:
        rules = await prometheus.rules()
        assert not [r for r in rules if r["health"] == "err"], [r.get("lastError") for r in rules]
        return len(rules) == len(alert_rules()) and all(r["health"] == "ok" for r in rules)

    await poll(rules_evaluated, 15, "every rule evaluated")

    # the silent connection's stale alert is pending (its `for:` has not passed), and it is the
    # only alert pending or firing: nothing misfires on a healthy stack
    expected = {("FeedgateFeedStale", QUIET, "pending")}

    async def only_the_stale_alert() -> bool:
        return await _active_alerts(prometheus) == expected

    try:
        await poll(only_the_stale_alert, 30, "FeedgateFeedStale pending alone")
    except AssertionError:
        raise AssertionError(f"active alerts: {await _active_alerts(prometheus)}") from None
    (stale,) = await prometheus.alerts()
    assert stale["labels"]["exchange"] == "binance"
    assert stale["annotations"]["summary"].endswith("has had no data since its worker started")

    # the image's HEALTHCHECK command, run against this supervisor
    command = healthcheck_command()
    assert command.startswith("python "), "the slim image has python, not curl"
    healthcheck = await asyncio.create_subprocess_shell(
        sys.executable + command.removeprefix("python"),
        env={**os.environ, "FEEDGATE_METRICS__PORT": str(base)},
        stderr=subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(healthcheck.communicate(), 10)
    assert healthcheck.returncode == 0, stderr.decode()
