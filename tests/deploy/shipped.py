"""The operations files as shipped, read once for the deploy tests: alert rules, Grafana
dashboards and their PromQL, docker-compose.yml, and the metric families the code exports."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
RUNBOOK = REPO / "docs" / "runbook.md"
DASHBOARDS = REPO / "grafana" / "dashboards"
COMPOSE = REPO / "docker-compose.yml"

NO_PROMETHEUS = "Prometheus is not installed (Debian: apt-get install prometheus; .ci/run does)"


def tool(name: str) -> str | None:
    """Path of a Prometheus tool (``prometheus``, ``promtool``, ``amtool``), if installed."""
    return shutil.which(name)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # file name
    panel: str  # title
    expr: str  # PromQL with Grafana variables

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}: {self.expr}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def panel_queries() -> list[PanelQuery]:
    queries = []
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                queries.append(PanelQuery(name, panel["title"], target["expr"]))
    return queries


GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
}


def substitute(expr: str, exchange: str) -> str:
    """A panel's PromQL as Grafana sends it, for one exchange; fails on a variable it does not
    know (so a new variable cannot slip past the tests unevaluated)."""
    for name, value in {**GRAFANA_VARIABLES, "$exchange": exchange}.items():
        expr = expr.replace(name, value)
    leftover = re.findall(r"\$\w+", expr)
    assert not leftover, f"unknown Grafana variables {leftover} in {expr}"
    return expr


METRIC = re.compile(r"\bfeedgate_[a-z0-9_]+\b")
_HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")


def metric_names(expr: str) -> set[str]:
    """``feedgate_*`` families an expression reads (histogram series folded to the family)."""
    return {_HISTOGRAM_SERIES.sub("", name) for name in METRIC.findall(expr)}


def exported_families() -> dict[str, str]:
    """Every family a worker or the supervisor exports, by exposition name → type."""
    from prometheus_client.registry import CollectorRegistry

    from feedgate.metrics import WorkerStats, make_registry
    from feedgate.runtime.supervisor import Supervisor, _SupervisorCollector
    from feedgate.settings import build_settings

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SupervisorCollector(Supervisor(Path("feeds.toml"), build_settings({}), 1)))
    families = {}
    for metric in [*make_registry(WorkerStats()).collect(), *registry.collect()]:
        name = metric.name + "_total" if metric.type == "counter" else metric.name
        families[name] = metric.type
    return families


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


def compose_env_file() -> dict[str, str]:
    """``.env`` beside docker-compose.yml: compose reads COMPOSE_PROFILES etc. from it."""
    values = {}
    for line in (REPO / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def active_services(profiles: set[str]) -> set[str]:
    """Compose's rule: a service without profiles always runs, others with one of theirs."""
    return {
        name
        for name, service in compose()["services"].items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }


def feedgate_services() -> dict[str, dict[str, Any]]:
    """Services running the feedgate image (the gateway and the simulators)."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("image") == "feedgate:local"
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def healthcheck_command() -> str:
    """The image's HEALTHCHECK command (shell form)."""
    (check,) = [args for word, args in dockerfile_instructions() if word == "HEALTHCHECK"]
    return check.split(" CMD ", 1)[1]
