"""Where feedgate listens: the demo only on loopback (its Redis, simulators, metrics and
health), the gateway's /metrics and /healthz on ``metrics.host``."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import sys
from pathlib import Path

import aiohttp

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.supervisor import Supervisor
from feedgate.runtime.worker import Worker
from feedgate.settings import MetricsSettings, build_settings
from feedgate.venues import available_venues

FEEDGATE = [sys.executable, "-m", "feedgate.cli"]


def _address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def process_tree(pid: int) -> set[int]:
    tree, grown = {pid}, True
    while grown:
        grown = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in tree:
                continue
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent in tree:
                tree.add(int(entry.name))
                grown = True
    return tree


def listening_addresses(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that these processes hold."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
                address, port = local.split(":")
                found.append((_address(address), int(port, 16)))
    return found


async def test_the_demo_listens_on_loopback_only() -> None:
    proc = await asyncio.create_subprocess_exec(
        *FEEDGATE, "demo", "--duration", "60", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while b"Ctrl-C stops everything" not in await proc.stdout.readline():
                pass
        sockets = listening_addresses(process_tree(proc.pid))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.communicate(), 20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    # Redis, /metrics + /healthz, and one simulator per venue
    assert len(sockets) >= 2 + len(available_venues()), sockets
    exposed = [s for s in sockets if not ipaddress.ip_address(s[0]).is_loopback]
    assert not exposed, f"the demo listens beyond loopback: {exposed}"


async def test_metrics_and_health_bind_to_the_configured_address(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    assert MetricsSettings().host == "127.0.0.1"  # the default: nothing exposed unless asked
    host = "127.0.0.2"  # also loopback on Linux, but not the address a default would take
    settings = build_settings({"metrics": {"host": host, "port": 0}})
    worker = Worker(settings, redis_url=redis_server.url)
    supervisor = Supervisor(tmp_path / "feeds.toml", settings, 1)
    await worker.start()
    await supervisor.health.start()
    try:
        for server in (worker.health, supervisor.health):
            assert server._runner is not None
            assert [a[0] for a in server._runner.addresses] == [host]
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://{host}:{server.port}/healthz") as response:
                    assert response.status in (200, 503)
                try:
                    async with http.get(f"http://127.0.0.1:{server.port}/healthz"):
                        raise AssertionError("also answering on 127.0.0.1")
                except aiohttp.ClientConnectorError:
                    pass
    finally:
        await supervisor.health.stop()
        await worker.stop()
