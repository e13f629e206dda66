"""Known secrets through a whole run: they reach no log line (at DEBUG), published message,
status, metric, health report, command line, repr or error text.

``feedgate run`` (supervisor and worker processes, as operators start it) gets the Redis
password in ``FEEDGATE_REDIS__URL`` (``redis://feedgate:SECRET@…``), an API key from the
environment, an account's secret key from a file and an Ethereum node url with a key in its
path. Mid-run the password is changed on the server, so every AUTH fails for a while (logged,
counted, retried), then it is restored; a second node url with a key points at a closed port,
so connect failures are logged too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from feedgate.client import Subscriber
from feedgate.errors import ConfigError
from feedgate.runtime.redis_link import RedisReplyError, open_redis
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.redis_target import RedisTarget
from feedgate.settings import build_settings, load_settings
from feedgate.venues.cryptolisting.sim import DEMO_KEY
from feedgate.venues.upbit.sim import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from tests.conftest import free_port_block, wait_for
from tests.security.conftest import ACL_FILE, PASSWORDS, user_url
from tests.security.feeds import ACCOUNT, simulators

FEEDGATE = [sys.executable, "-m", "feedgate.cli"]
REDIS_SECRET = "rds-Secret-4f1d8a0c9e"
NODE_KEY = "node-key-8b2e6f10c4d7"
ADMIN = "admin-test-password"
SECRETS = {
    "redis password": REDIS_SECRET, "cryptolisting key": DEMO_KEY,
    "upbit secret key": DEMO_SECRET_KEY, "node key": NODE_KEY,
}  # fmt: skip


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The shipped ACL with the known secret as feedgate's password, plus an admin to change it."""
    acl = tmp_path_factory.mktemp("acl") / "users.acl"
    text = ACL_FILE.read_text().replace(sha256(PASSWORDS["feedgate"]), sha256(REDIS_SECRET))
    acl.write_text(text + f"user admin on #{sha256(ADMIN)} ~* &* +@all\n")
    with EmbeddedRedis(extra_args=["--aclfile", str(acl)]) as embedded:
        yield embedded


def leaks(texts: dict[str, str]) -> list[str]:
    return [f"the {name} is in the {where}" for where, text in texts.items()
            for name, secret in SECRETS.items() if secret in text]  # fmt: skip


def config(tmp_path: Path, port: int, servers: dict[str, Any]) -> Path:
    secret_file = tmp_path / "upbit_secret"
    secret_file.write_text(DEMO_SECRET_KEY + "\n")
    path = tmp_path / "feeds.toml"
    path.write_text(f"""
log_level = "DEBUG"
[metrics]
port = {port}

[[feeds]]
exchange = "binance"
channels = ["trades", "book", "bbo"]
symbols = ["BTC-USDT"]
[feeds.options]
ws_url = "{servers["binance"].ws_url}"
rest_url = "{servers["binance"].rest_url}"

[[feeds]]
exchange = "cryptolisting"
channels = ["announcements"]
[feeds.options]
ws_url = "{servers["cryptolisting"].ws_url}"
rest_url = "{servers["cryptolisting"].rest_url}"
api_key = {{ env = "FG_TEST_CRYPTOLISTING_KEY" }}

[[feeds]]
exchange = "upbit"
channels = ["my_order", "my_asset"]
symbols = ["BTC-KRW"]
[feeds.options]
ws_url = "{servers["upbit"].ws_url}"
rest_url = "{servers["upbit"].rest_url}"
account = "{ACCOUNT}"
access_key = "{DEMO_ACCESS_KEY}"
secret_key = {{ file = "{secret_file}" }}

[[feeds]]
exchange = "ethereum"
channels = ["heads"]
[feeds.options]
ws_url = {{ env = "FG_TEST_NODE_URL" }}

[[feeds]]
exchange = "ethereum"
channels = ["logs"]
[feeds.options]
network = "closed"
ws_url = "ws://127.0.0.1:1/v3/{NODE_KEY}"
""")
    return path


async def get_text(http: aiohttp.ClientSession, url: str) -> str:
    try:
        async with http.get(url) as response:
            return f"{response.status} {await response.text()}"
    except aiohttp.ClientError as exc:
        return f"unreachable: {exc}"


def command_lines(pid: int) -> str:
    """The command lines of ``pid`` and its children: readable by every user of the host."""
    lines = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name == str(pid) or stat.rsplit(")", 1)[1].split()[1] == str(pid):
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return "\n".join(lines)


async def test_a_full_run_with_known_secrets_leaks_none(
    server: EmbeddedRedis, tmp_path: Path
) -> None:
    admin = aioredis.Redis(host=server.host, port=server.port, username="admin", password=ADMIN)
    published: list[str] = []
    pubsub = admin.pubsub()
    await pubsub.psubscribe("*")

    async def record() -> None:
        while True:
            item = await pubsub.get_message(timeout=0.2)
            if item is not None and item["type"] == "pmessage":
                published.append(f"{item['channel'].decode()} {item['data'].decode()}")

    def seen(prefix: str) -> bool:
        return any(line.startswith(prefix) for line in published)

    port = free_port_block(2)  # supervisor on port - 1, the worker on port
    venues = ("binance", ["BTC-USDT"]), ("cryptolisting", []), ("upbit", ["BTC-KRW"])
    async with simulators(*venues, ("ethereum", [])) as (binance, listing, upbit, node):
        path = config(tmp_path, port, {"binance": binance, "cryptolisting": listing,
                                       "upbit": upbit})  # fmt: skip
        env = {
            **os.environ,
            "FEEDGATE_REDIS__URL": user_url(server, "feedgate", REDIS_SECRET),
            "FG_TEST_CRYPTOLISTING_KEY": DEMO_KEY,
            "FG_TEST_NODE_URL": f"{node.ws_url}/v3/{NODE_KEY}",
            "PYTHONUNBUFFERED": "1",
        }
        log_path = tmp_path / "stderr.log"
        reader = asyncio.create_task(record())
        with log_path.open("wb") as log_file:
            proc = await asyncio.create_subprocess_exec(
                *FEEDGATE, "run", "--config", str(path), "--workers", "1",
                env=env, stdout=log_file, stderr=log_file,
            )  # fmt: skip
        texts: dict[str, str] = {}
        try:
            async with aiohttp.ClientSession() as http:
                worker = f"http://127.0.0.1:{port}"
                await wait_for(
                    lambda: seen("trades:") and seen("announcements:") and seen("private:")
                    and seen("onchain:"), 30, "every kind of message",
                )  # fmt: skip
                texts["command lines"] = command_lines(proc.pid)
                # the password changes under the gateway: its AUTH fails until it is restored
                await admin.execute_command("ACL", "SETUSER", "feedgate", "resetpass", ">other")
                await admin.execute_command("CLIENT", "KILL", "USER", "feedgate")
                await wait_for(
                    lambda: "WRONGPASS" in log_path.read_text(errors="replace"), 10, "refused AUTH"
                )
                restore = ("ACL", "SETUSER", "feedgate", "resetpass", f"#{sha256(REDIS_SECRET)}")
                await admin.execute_command(*restore)

                async def healthy() -> bool:
                    return (await get_text(http, f"{worker}/healthz")).startswith("200")

                await wait_for(healthy, 15, "Redis connected again")
                for name, url in (
                    ("worker", worker),
                    ("supervisor", f"http://127.0.0.1:{port - 1}"),
                ):
                    texts[f"{name}'s /metrics"] = await get_text(http, f"{url}/metrics")
                    texts[f"{name}'s /healthz"] = await get_text(http, f"{url}/healthz")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await pubsub.aclose()
            await admin.aclose()
    texts["logs"] = log_path.read_text(errors="replace")
    texts["published messages and statuses"] = "\n".join(published)
    assert not leaks(texts), leaks(texts)
    logs = texts["logs"]
    # and the run did reach every path that could leak: DEBUG logging, refused AUTHs, failed
    # connects to a url with a key, and statuses
    assert " DEBUG feedgate.cli: settings: " in logs and "WRONGPASS" in logs, logs[-3000:]
    assert "redis://feedgate:***@" in logs  # the settings were logged, masked
    assert "connect to ws://127.0.0.1:1 failed" in logs
    assert "feedgate:status" in texts["published messages and statuses"]
    assert "feedgate_publish_errors_total" in texts["worker's /metrics"]


def test_secrets_stay_out_of_reprs_and_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDGATE_REDIS__URL", f"redis://feedgate:{REDIS_SECRET}@redis:6379/0")
    monkeypatch.setenv("FG_TEST_CRYPTOLISTING_KEY", DEMO_KEY)
    monkeypatch.setenv("FG_TEST_NODE_URL", f"wss://node.example/v3/{NODE_KEY}")
    servers = {name: _Fake(name) for name in ("binance", "cryptolisting", "upbit")}
    settings = load_settings(config(tmp_path, 9464, servers))
    assert settings.redis.url is not None and REDIS_SECRET in settings.redis.url  # usable
    assert not leaks({"settings' repr": repr(settings), "settings' str": str(settings)})
    assert "redis://feedgate:***@redis:6379/0" in repr(settings)
    target = RedisTarget.from_url(settings.redis.url)
    assert REDIS_SECRET not in repr(target)
    monkeypatch.delenv("FEEDGATE_REDIS__URL")  # else it wins over every url below
    errors = []
    for url in (
        f"http://feedgate:{REDIS_SECRET}@redis:6379/0",  # not a redis url
        f"redis://feedgate:{REDIS_SECRET}@redis:6379/x",  # bad database
        f"redis://feedgate:{REDIS_SECRET}/x@redis:6379/0",  # an unescaped '/' in the password
        f"redis+cluster://feedgate:{REDIS_SECRET}@/0",  # no seed
        f"redis+cluster://feedgate:{REDIS_SECRET}@h:1/3",  # a cluster has only db 0
    ):
        with pytest.raises(ConfigError) as info:
            build_settings({"redis": {"url": url}})
        errors.append(str(info.value))
    assert not leaks({"config errors": "\n".join(errors)}), errors


class _Fake:
    """Stands in for a simulator in a config that is only loaded, never run."""

    def __init__(self, name: str) -> None:
        self.ws_url, self.rest_url = f"wss://{name}.example", f"https://{name}.example"


async def test_refused_logins_and_lost_subscriptions_do_not_print_the_password(
    server: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = RedisTarget.from_url(user_url(server, "feedgate", "wrong-" + REDIS_SECRET))
    with pytest.raises(RedisReplyError) as refused:
        await open_redis(wrong, None)
    assert "WRONGPASS" in str(refused.value) and REDIS_SECRET not in str(refused.value)
    consumer_password = PASSWORDS["consumer"]
    url = user_url(server, "consumer")
    admin = aioredis.Redis(host=server.host, port=server.port, username="admin", password=ADMIN)
    try:
        async with Subscriber(url, patterns=["trades:*"]) as subscriber:
            lost = asyncio.create_task(anext(subscriber.raw_messages()))
            await admin.execute_command("CLIENT", "KILL", "USER", "consumer")
            await wait_for(lambda: subscriber.reconnects >= 1, 10, "the subscriber reconnected")
            lost.cancel()
            await asyncio.gather(lost, return_exceptions=True)
    finally:
        await admin.aclose()
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "consumer:***@" in text  # the line is there, without the password
    assert consumer_password not in text
