from __future__ import annotations

import socket

import pytest

from feedgate.errors import EmbeddedRedisError
from feedgate.runtime.redis_server import EmbeddedRedis, find_server_binary


def test_embedded_server_answers_and_stops() -> None:
    server = EmbeddedRedis().start()
    try:
        assert server.running
        with socket.create_connection((server.host, server.port), timeout=2) as s:
            s.sendall(b"SET k v\r\nGET k\r\n")
            data = b""
            while not data.endswith(b"v\r\n"):
                data += s.recv(64)
        assert data == b"+OK\r\n$1\r\nv\r\n"
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(OSError), socket.create_connection((server.host, server.port), timeout=1):
        pass


def test_binary_is_found() -> None:
    assert find_server_binary()


def test_bad_binary_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho nope >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EmbeddedRedisError, match="exited with 3"):
        EmbeddedRedis(binary=str(fake)).start(timeout=3)
