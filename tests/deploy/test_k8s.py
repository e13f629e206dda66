"""The Kubernetes manifests in ``deploy/k8s/`` agree with each other and with the gateway.

Checks, without a cluster: every port the Service, the probes and the PodMonitor name exists in
the pod; the ports follow the gateway's layout (supervisor ``metrics.port - 1``, worker i
``metrics.port + i``); probes hit the supervisor's ``/healthz``; every env var is one the gateway
reads; ``FEEDGATE_SHARD_COUNT`` equals ``replicas``; the ConfigMap's ``feeds.toml`` loads with
``build_settings`` under the pod's environment; the command reads the config where the ConfigMap
is mounted; labels and selectors line up.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from feedgate.settings import Settings, build_settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
NAMESPACE = "feedgate"
SHARD_INDEX_FIELD = "metadata.labels['apps.kubernetes.io/pod-index']"
DRAIN_BOUND_S = 10
"""SIGTERM drains and exits within this many seconds."""
WORKER_RSS_MI = 150
"""~150 MB RSS per worker at 200 connections."""
WORKER_CORES = 1.0
"""~1 core per worker at 200 connections."""

PROCESS_ENV = {"FEEDGATE_WORKERS", "FEEDGATE_SHARD_INDEX", "FEEDGATE_SHARD_COUNT"}
"""Read by the CLI/supervisor (``--workers``, ``--shard-index``, ``--shard-count``)."""
REQUIRED_ENV = PROCESS_ENV | {
    "FEEDGATE_REDIS__URL",
    "FEEDGATE_METRICS__HOST",
    "FEEDGATE_METRICS__PORT",
}
# IANA_SVC_NAME: at most 15 characters, lowercase alphanumerics and single hyphens, one letter
PORT_NAME = re.compile(r"^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# ---------------------------------------------------------------------------------------------
# loading


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


DOCS = _documents()


def _one(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in DOCS if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def sts() -> dict[str, Any]:
    return _one("StatefulSet")


@pytest.fixture(scope="module")
def pod(sts: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = sts["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = pod["containers"]
    assert len(containers) == 1, "one gateway container per pod (its supervisor runs the workers)"
    result: dict[str, Any] = containers[0]
    return result


@pytest.fixture(scope="module")
def feeds_toml() -> str:
    text: str = _one("ConfigMap")["data"]["feeds.toml"]
    return text


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = {entry["name"]: entry for entry in container.get("env", [])}
    assert len(entries) == len(container.get("env", [])), "an env var is set twice"
    return entries


def _env_value(container: dict[str, Any], name: str) -> str:
    entry = _env(container)[name]
    assert "value" in entry, f"{name} should be a literal value"
    value: str = entry["value"]
    return value


def _ports(container: dict[str, Any]) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container["ports"]}


def _resolve_port(container: dict[str, Any], ref: str | int) -> int:
    """A port reference (name or number) → the container port it means; fails if none."""
    ports = _ports(container)
    if isinstance(ref, str):
        assert ref in ports, f"port {ref!r} is not a named port of the pod ({sorted(ports)})"
        return ports[ref]
    assert ref in ports.values(), f"port {ref} is not a container port ({sorted(ports.values())})"
    return ref


def _base_port(container: dict[str, Any]) -> int:
    return int(_env_value(container, "FEEDGATE_METRICS__PORT"))


def _workers(container: dict[str, Any]) -> int:
    return int(_env_value(container, "FEEDGATE_WORKERS"))


def _secret_env_names(node: object) -> set[str]:
    """Names in every ``{ env = "NAME" }`` secret reference of a parsed feeds.toml."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {str(node["env"])}
        return set().union(*(_secret_env_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_secret_env_names(value) for value in node))
    return set()


def _is_settings_env(name: str) -> bool:
    """Whether ``FEEDGATE_A__B`` names a field of ``Settings`` (``a.b``)."""
    if not name.startswith("FEEDGATE_"):
        return False
    model: type[BaseModel] | None = Settings
    for part in name.removeprefix("FEEDGATE_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_model else None
    return True


def _cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _mebibytes(quantity: str | int) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20}
    units |= {"G": 1e9 / 2**20}
    text = str(quantity)
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * units[suffix]
    return float(text) / 2**20


# ---------------------------------------------------------------------------------------------
# the manifests as a set


def test_every_manifest_parses_and_sits_in_the_namespace() -> None:
    kinds = sorted(doc["kind"] for _, doc in DOCS)
    for required in ("ConfigMap", "PodMonitor", "Secret", "Service", "StatefulSet"):
        assert required in kinds, f"deploy/k8s has no {required}"
    for filename, doc in DOCS:
        assert doc.get("apiVersion"), f"{filename}: no apiVersion"
        assert doc["metadata"].get("name"), f"{filename}: {doc['kind']} has no name"
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{filename}: namespace"


def test_the_secret_is_clearly_an_example() -> None:
    names = [filename for filename, doc in DOCS if doc["kind"] == "Secret"]
    assert names == ["secret.example.yaml"], "only the example Secret lives in the repository"
    for value in _one("Secret")["stringData"].values():
        assert re.search(r"CHANGE_ME|EXAMPLE|PLACEHOLDER", value), f"{value!r} looks real"


# ---------------------------------------------------------------------------------------------
# ports, probes, scraping


def test_port_names_are_valid_and_unique(container: dict[str, Any]) -> None:
    ports = container["ports"]
    names = [port["name"] for port in ports]
    numbers = [port["containerPort"] for port in ports]
    assert len(set(names)) == len(names) and len(set(numbers)) == len(numbers)
    for name in names:
        assert len(name) <= 15 and PORT_NAME.match(name), f"{name!r} is not a valid port name"


def test_ports_follow_the_gateway_layout(container: dict[str, Any]) -> None:
    """Supervisor on ``metrics.port - 1``, worker i on ``metrics.port + i``, nothing else."""
    base, workers = _base_port(container), _workers(container)
    assert workers >= 1
    expected = {base - 1} | {base + i for i in range(workers)}
    assert set(_ports(container).values()) == expected


def test_service_is_headless_for_the_statefulset(
    sts: dict[str, Any], container: dict[str, Any]
) -> None:
    service = _one("Service")
    assert service["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    names = set()
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        assert _resolve_port(container, target) == port["port"], f"service port {port['name']}"
        names.add(port["name"])
    assert names == set(_ports(container)), "the Service names every metrics port of the pod"


def test_podmonitor_scrapes_every_metrics_port(container: dict[str, Any]) -> None:
    endpoints = _one("PodMonitor")["spec"]["podMetricsEndpoints"]
    scraped = set()
    for endpoint in endpoints:
        ref = endpoint.get("port", endpoint.get("targetPort"))
        assert ref is not None, "a PodMetricsEndpoint names its port"
        scraped.add(_resolve_port(container, ref))
        assert endpoint.get("path", "/metrics") == "/metrics"
    assert scraped == set(_ports(container).values()), "supervisor and every worker are scraped"


def test_scrape_annotations_as_an_alternative(sts: dict[str, Any]) -> None:
    annotations = sts["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"
    # a single prometheus.io/port would narrow the scrape to one of the pod's metrics ports
    assert "prometheus.io/port" not in annotations


def test_probes_hit_the_supervisor_healthz(container: dict[str, Any]) -> None:
    supervisor = _base_port(container) - 1
    assert "livenessProbe" in container and "readinessProbe" in container
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind not in container:
            continue
        get = container[kind]["httpGet"]
        assert get["path"] == "/healthz", kind
        assert _resolve_port(container, get["port"]) == supervisor, f"{kind} port"


# ---------------------------------------------------------------------------------------------
# environment, sharding, config


def test_every_env_var_is_one_the_gateway_reads(container: dict[str, Any], feeds_toml: str) -> None:
    secrets = _secret_env_names(tomllib.loads(feeds_toml))
    env = _env(container)
    for name in env:
        assert name in PROCESS_ENV or name in secrets or _is_settings_env(name), (
            f"{name} is not read by the gateway"
        )
    missing = (REQUIRED_ENV | secrets) - set(env)
    assert not missing, f"the pod does not set {sorted(missing)}"
    assert _env_value(container, "FEEDGATE_METRICS__HOST") == "0.0.0.0"


def test_secret_references_exist_in_the_example_secret(container: dict[str, Any]) -> None:
    secret = _one("Secret")
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for name, entry in _env(container).items():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            continue
        assert ref["name"] == secret["metadata"]["name"], name
        assert ref["key"] in keys, f"{name}: the Secret has no key {ref['key']!r}"


def test_shard_count_equals_replicas_and_index_is_the_ordinal(
    sts: dict[str, Any], container: dict[str, Any]
) -> None:
    assert int(_env_value(container, "FEEDGATE_SHARD_COUNT")) == sts["spec"]["replicas"]
    index = _env(container)["FEEDGATE_SHARD_INDEX"]
    assert index["valueFrom"]["fieldRef"]["fieldPath"] == SHARD_INDEX_FIELD


def test_configmap_feeds_toml_loads_under_the_pods_environment(
    monkeypatch: pytest.MonkeyPatch, container: dict[str, Any], feeds_toml: str
) -> None:
    """Exactly what the pod's process sees: the file plus the pod's env (secrets from the example
    Secret, the shard index as if in pod 0)."""
    for name in list(os.environ):
        if name.startswith("FEEDGATE_"):
            monkeypatch.delenv(name)
    secret = _one("Secret")["stringData"]
    for name, entry in _env(container).items():
        if "value" in entry:
            value = entry["value"]
        elif "secretKeyRef" in entry["valueFrom"]:
            value = secret[entry["valueFrom"]["secretKeyRef"]["key"]]
        else:
            value = "0"
        monkeypatch.setenv(name, value)

    settings = build_settings(tomllib.loads(feeds_toml))

    assert settings.metrics.host == "0.0.0.0"
    assert settings.metrics.port == _base_port(container)
    redis_ref = _env(container)["FEEDGATE_REDIS__URL"]["valueFrom"]["secretKeyRef"]
    assert settings.redis.url == secret[redis_ref["key"]]
    exchanges = {feed.exchange for feed in settings.feeds}
    assert {"binance", "coinbase", "okx", "bybit", "kraken"} <= exchanges


def test_command_reads_the_config_where_the_configmap_is_mounted(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    argv = [*container.get("command", []), *container.get("args", [])]
    assert argv[:3] == ["feedgate", "run", "--config"], argv
    path = Path(argv[3])

    configmap = _one("ConfigMap")["metadata"]["name"]
    volumes = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == configmap]
    assert len(volumes) == 1, "one volume carries the ConfigMap"
    volume = volumes[0]
    mounts = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert len(mounts) == 1 and "subPath" not in mounts[0]
    assert path.parent == Path(mounts[0]["mountPath"])
    items = {item["path"]: item["key"] for item in volume["configMap"].get("items", [])}
    key = items.get(path.name) if items else path.name
    assert key == "feeds.toml", f"{path} is not the ConfigMap's feeds.toml"


def test_labels_and_selectors_match(sts: dict[str, Any]) -> None:
    template = sts["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], what: str) -> None:
        assert selector, f"{what} has an empty selector"
        assert selector.items() <= template.items(), f"{what} does not select the pods"

    selects(sts["spec"]["selector"]["matchLabels"], "StatefulSet")
    selects(_one("Service")["spec"]["selector"], "Service")
    monitor = _one("PodMonitor")
    selects(monitor["spec"]["selector"]["matchLabels"], "PodMonitor")
    assert monitor["metadata"]["namespace"] == sts["metadata"]["namespace"] or monitor["spec"].get(
        "namespaceSelector"
    )
    for constraint in sts["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
        selects(constraint["labelSelector"]["matchLabels"], "topologySpreadConstraint")


# ---------------------------------------------------------------------------------------------
# lifecycle, security, resources


def test_grace_period_covers_the_drain(pod: dict[str, Any]) -> None:
    assert pod["terminationGracePeriodSeconds"] > DRAIN_BOUND_S


def test_runs_non_root_with_a_read_only_root(
    pod: dict[str, Any], container: dict[str, Any]
) -> None:
    context = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 1) != 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    # the one writable place: /tmp (multiprocessing and tempfile need it)
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp and not tmp[0].get("readOnly", False)
    emptydirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert tmp[0]["name"] in emptydirs


def test_resources_fit_the_workers(container: dict[str, Any]) -> None:
    workers = _workers(container)
    requests, limits = container["resources"]["requests"], container["resources"]["limits"]
    assert _cpu(requests["cpu"]) >= workers * WORKER_CORES
    assert _mebibytes(requests["memory"]) >= workers * WORKER_RSS_MI
    assert _cpu(limits["cpu"]) >= _cpu(requests["cpu"])
    assert _mebibytes(limits["memory"]) >= _mebibytes(requests["memory"])
