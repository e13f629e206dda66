"""A real Prometheus for tests: the installed binary on a free loopback port, its own storage in
a temporary folder, the shipped rules, and a small HTTP API client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.deploy.shipped import ALERTS, PROMETHEUS_DIR, load_yaml, tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def scrape_config(port_map: Callable[[str], str], interval: str = "1s") -> dict[str, Any]:
    """The shipped prometheus.yml with every target rewritten by ``port_map`` (``gateway:9464``
    → ``127.0.0.1:N``), the shipped rules by absolute path, fast intervals for a test and no
    Alertmanager (alert states are read from Prometheus' own API)."""
    config: dict[str, Any] = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    config["global"] |= {
        "scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval,
    }  # fmt: skip
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    assert config["rule_files"] == [str(ALERTS)], "the e2e test must load the shipped rules"
    config.pop("alerting", None)
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            group["targets"] = [port_map(target) for target in group["targets"]]
    return config


class Prometheus:
    def __init__(self, url: str, http: aiohttp.ClientSession, log: Path) -> None:
        self.url, self.http, self.log = url, http, log

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    async def api(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.url}/api/v1/{path}", params=params) as response:
            body = await response.json()
        return body

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result; fails with Prometheus' error for a bad expression."""
        body = await self.api("query", query=expr)
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def alerts(self) -> list[dict[str, Any]]:
        body = await self.api("alerts")
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    async def rules(self) -> list[dict[str, Any]]:
        body = await self.api("rules")
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    async def targets(self) -> list[dict[str, Any]]:
        body = await self.api("targets")
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets


@contextlib.asynccontextmanager
async def running_prometheus(folder: Path, config: dict[str, Any]) -> AsyncIterator[Prometheus]:
    binary = tool("prometheus")
    assert binary is not None
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = folder / "prometheus.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            prometheus = Prometheus(url, http, log)

            async def ready() -> bool:
                assert process.returncode is None, f"prometheus exited:\n{prometheus.log_tail()}"
                try:
                    async with http.get(f"{url}/-/ready") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await poll(ready, 30, "Prometheus ready")
            yield prometheus
    finally:
        await stop_process(process, 10)


async def stop_process(process: asyncio.subprocess.Process, timeout: float) -> None:
    """SIGTERM, and SIGKILL after ``timeout`` s; never leaves the process behind."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()


async def poll(
    condition: Callable[[], Awaitable[object]], timeout: float, what: str, every: float = 0.25
) -> None:
    """Like ``tests.conftest.wait_for``, at an HTTP-friendly pace: a query per ``every`` s."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)
