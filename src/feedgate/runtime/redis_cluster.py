"""A private Redis Cluster on loopback, from the same server binary as ``EmbeddedRedis``.

The tests (and anyone trying ``redis.cluster`` without a cluster at hand) get N masters with the
16384 slots split evenly, joined with ``CLUSTER MEET`` and ready when every node reports
``cluster_state:ok`` and sees all N masters. No replicas: failover is the cluster's business and
not what the gateway's tests exercise.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType

import hiredis

from feedgate.errors import EmbeddedRedisError
from feedgate.runtime.cluster_map import SLOTS
from feedgate.runtime.redis_server import EmbeddedRedis, free_port


def command(host: str, port: int, *args: str | int, timeout: float = 2.0) -> object:
    """One command on a fresh blocking connection (set-up only, never on a hot path)."""
    packed = hiredis.pack_command(tuple(str(a) for a in args))  # type: ignore[arg-type]
    parser = hiredis.Reader()
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(packed)
        while True:
            reply = parser.gets()
            if reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise EmbeddedRedisError(f"{args[0]} on :{port}: {reply}")
                return reply
            data = s.recv(1 << 16)
            if not data:
                raise EmbeddedRedisError(f"redis on :{port} closed the connection")
            parser.feed(data)


class EmbeddedRedisCluster:
    def __init__(self, masters: int = 3, binary: str | None = None) -> None:
        if masters < 1:
            raise ValueError("a cluster needs at least one master")
        # the bus port is named, not the default port + 10000, which may be out of range
        self.bus_ports = [free_port() for _ in range(masters)]
        self.nodes = [
            EmbeddedRedis(
                binary=binary,
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    str(bus_port),
                ],
            )
            for bus_port in self.bus_ports
        ]

    @property
    def host(self) -> str:
        return self.nodes[0].host

    @property
    def url(self) -> str:
        """A cluster url naming every node as a seed."""
        hosts = ",".join(f"{n.host}:{n.port}" for n in self.nodes)
        return f"redis+cluster://{hosts}"

    def start(self, timeout: float = 20.0) -> EmbeddedRedisCluster:
        try:
            for node in self.nodes:
                node.start()
            share = SLOTS // len(self.nodes)
            for i, node in enumerate(self.nodes):
                first = i * share
                last = SLOTS - 1 if i == len(self.nodes) - 1 else first + share - 1
                command(node.host, node.port, "CLUSTER", "ADDSLOTSRANGE", first, last)
            seed = self.nodes[0]
            for node, bus_port in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                command(seed.host, seed.port, "CLUSTER", "MEET", node.host, node.port, bus_port)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._node_ready(node) for node in self.nodes):
                return
            time.sleep(0.05)
        raise EmbeddedRedisError(f"the cluster did not converge within {timeout}s")

    def _node_ready(self, node: EmbeddedRedis) -> bool:
        info = command(node.host, node.port, "CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
        return (
            fields.get("cluster_state") == "ok"
            and fields.get("cluster_known_nodes") == str(len(self.nodes))
            and fields.get("cluster_slots_assigned") == str(SLOTS)
        )

    def node_id(self, node: EmbeddedRedis) -> str:
        reply = command(node.host, node.port, "CLUSTER", "MYID")
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedRedisCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
