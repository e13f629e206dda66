"""docker-compose.yml and the Dockerfile: everything they name exists, their commands are the
CLI the tests run, the demo gateway's feeds point at the demo simulators, and Prometheus scrapes
exactly the gateway's metrics ports. ``docker compose config`` validates the file where a compose
is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from feedgate.cli import build_parser
from feedgate.runtime.simserver import simulator_server
from feedgate.settings import Settings, build_settings
from feedgate.venues import available_venues, get_venue
from tests.deploy.shipped import (
    COMPOSE,
    REPO,
    active_services,
    compose,
    compose_env_file,
    feedgate_services,
    healthcheck_command,
    load_yaml,
)

DOCKERFILE = (REPO / "Dockerfile").read_text()
K8S_UID = 10001  # deploy/k8s/statefulset.yaml runAsUser
GATEWAYS = {"feedgate": "live", "feedgate-demo": "demo"}  # service → its profile
ALWAYS = {"redis", "prometheus", "alertmanager", "grafana"}


def _dockerfile_env() -> dict[str, str]:
    block = re.search(r"^ENV (.+?)(?<!\\)$", DOCKERFILE, flags=re.M | re.S)
    assert block, "the Dockerfile sets no ENV"
    return dict(re.findall(r"(\w+)=(\S+)", block.group(1)))


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → repository path of a service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            out[target] = (REPO / source).resolve()
    return out


def _gateway_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Settings]:
    """A gateway service's parsed command and the settings its process would load: the mounted
    file plus the image's and the service's environment."""
    service = compose()["services"][name]
    args = build_parser().parse_args(service["command"])
    for key in [k for k in __import__("os").environ if k.startswith("FEEDGATE_")]:
        monkeypatch.delenv(key)
    for key, value in {**_dockerfile_env(), **service.get("environment", {})}.items():
        monkeypatch.setenv(key, str(value))
    config = _bind_mounts(service)[args.config]
    return args, build_settings(tomllib.loads(config.read_text()))


def _simulators() -> dict[str, Any]:
    """Demo simulator services → their parsed ``feedgate simulate`` arguments."""
    out = {}
    for name, service in feedgate_services().items():
        args = build_parser().parse_args(service["command"])
        if args.command == "simulate":
            out[name] = args
    return out


def test_every_path_the_compose_file_names_exists() -> None:
    for name, service in compose()["services"].items():
        if "build" in service:
            context = REPO / (service["build"] if isinstance(service["build"], str) else ".")
            assert (context / "Dockerfile").is_file(), f"{name}: no Dockerfile"
        else:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), f"{name}: pin a tag"
            assert not service["image"].endswith(":latest"), f"{name}: pin a version"
        for target, source in _bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"


def test_config_files_the_services_name_are_mounted() -> None:
    """Every path a command names (--config.file=…, --config …) is inside a bind mount."""
    for name, service in compose()["services"].items():
        command = service.get("command", [])
        named = [arg.split("=", 1)[1] for arg in command if arg.startswith("--config.file=")]
        named += [command[i + 1] for i, arg in enumerate(command) if arg == "--config"]
        mounts = _bind_mounts(service)
        for path in named:
            inside = [(t, s) for t, s in mounts.items() if path == t or path.startswith(t + "/")]
            assert inside, f"{name}: {path} is not mounted"
            target, source = inside[0]
            assert (source / Path(path).relative_to(target)).is_file() or source.is_file()


def test_profiles_run_one_gateway_each() -> None:
    default = set(compose_env_file()["COMPOSE_PROFILES"].split(","))
    live, demo = active_services(default), active_services({"demo"})
    assert live >= ALWAYS and demo >= ALWAYS
    assert "feedgate" in live and "feedgate-demo" not in live
    assert "feedgate-demo" in demo and "feedgate" not in demo
    assert not any(name in live for name in _simulators()), "simulators only in the demo"
    assert set(_simulators()) <= demo
    for gateway in GATEWAYS:
        networks = compose()["services"][gateway]["networks"]
        assert "gateway" in networks["default"]["aliases"], "Prometheus scrapes `gateway`"


@pytest.mark.parametrize("name", sorted(GATEWAYS))
def test_gateway_runs_the_cli_on_a_config_that_loads(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, settings = _gateway_settings(name, monkeypatch)
    assert args.command == "run" and args.func.__name__ == "_cmd_run"
    assert settings.redis.url == "redis://redis:6379/0" and "redis" in compose()["services"]
    assert settings.metrics.host == "0.0.0.0"
    assert settings.feeds


@pytest.mark.parametrize("name", sorted(GATEWAYS))
def test_prometheus_scrapes_the_supervisor_and_every_worker(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args, settings = _gateway_settings(name, monkeypatch)
    base = settings.metrics.port
    ports = {base - 1} | {base + i for i in range(args.workers)}
    scrape = load_yaml(REPO / "deploy" / "prometheus" / "prometheus.yml")
    targets = {
        target
        for job in scrape["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert targets == {f"gateway:{port}" for port in ports}
    published = compose()["services"][name]["ports"]
    assert published == [f"127.0.0.1:{min(ports)}-{max(ports)}:{min(ports)}-{max(ports)}"]
    assert {f"{port}" for port in ports} <= set(re.findall(r"EXPOSE (.+)", DOCKERFILE)[0].split())


def test_simulators_run_the_cli_and_listen_beyond_loopback() -> None:
    simulators = _simulators()
    assert {args.venue for args in simulators.values()} == set(available_venues())
    for name, args in simulators.items():
        assert name == f"sim-{args.venue}" and args.func.__name__ == "_cmd_simulate"
        assert args.host == "0.0.0.0", f"{name}: on 127.0.0.1 no other container reaches it"
        healthcheck = " ".join(compose()["services"][name]["healthcheck"]["test"])
        assert str(args.port) in healthcheck, f"{name}: the healthcheck probes another port"


def test_demo_feeds_point_at_their_simulators(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each demo feed reaches its simulator service on the port it listens on, asks for the
    symbols it serves, and carries the options it needs (the demo API key, the chain's tokens)."""
    _, settings = _gateway_settings("feedgate-demo", monkeypatch)
    simulators = _simulators()
    served = set()
    for feed in settings.feeds:
        service = f"sim-{feed.exchange}"
        args = simulators[service]
        for url in (feed.options["ws_url"], feed.options["rest_url"]):
            if isinstance(url, SecretStr):  # a node url may carry a key (ethereum)
                url = url.get_secret_value()
            parts = urlsplit(url)
            assert (parts.hostname, parts.port) == (service, args.port), url
        symbols = args.symbols.split(",")
        if feed.symbols:
            assert feed.symbols == symbols
        sim = simulator_server(args.venue, "127.0.0.1", 0, symbols, args.rate).sim
        needed = getattr(sim, "gateway_options", {})
        # compared as the venue's validated options: secrets, nested filters and all
        expected = get_venue(feed.exchange).options_type.model_validate(needed)
        for key in needed:
            mine = getattr(feed.venue_options(), key)
            assert mine == getattr(expected, key), f"{feed.exchange}: {key} is not the sim's"
        served.add(service)
    assert served == set(simulators), "a simulator runs that no feed uses"


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.M)
    assert stages and all(image == "python:3.11-slim" for image in stages)
    user = re.findall(r"^USER (\S+)", DOCKERFILE, flags=re.M)
    assert user and user[-1].split(":")[0] == str(K8S_UID)
    install = re.findall(r"pip install [^\n]*", DOCKERFILE)
    assert install and not any("[" in line for line in install), "no dev extras in the image"
    assert "/healthz" in healthcheck_command()
    assert re.search(r'^ENTRYPOINT \["feedgate"\]', DOCKERFILE, flags=re.M)
    ignored = (REPO / ".dockerignore").read_text()
    assert "!src/" in ignored, "the build context is only what the image needs"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    for profiles in ([], ["--profile", "demo"]):
        result = subprocess.run(
            [*command, "-f", str(COMPOSE), *profiles, "config", "-q"],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
