"""Where Redis is: one server (``redis://``, ``rediss://``) or a cluster's seed nodes.

A cluster is named by ``redis.cluster = true`` with an ordinary URL, or by a cluster URL:
``redis+cluster://user:password@host1:7000,host2:7001`` (``rediss+cluster://`` for TLS), whose
hosts are seeds: the gateway reads the slot map from the first that answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urlparse

from feedgate import redact

SCHEMES = ("redis://", "rediss://", "redis+cluster://", "rediss+cluster://")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None = field(repr=False)  # never in a repr, log line or traceback
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        parts = urlparse(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(
                f"redis url must start with redis:// or rediss://, got {redact.redis_url(url)!r}"
            )
        db_text = parts.path.lstrip("/")
        try:
            port = parts.port or 6379
        except ValueError:  # its message quotes the text, which may be part of the password
            raise ValueError(
                "redis url: bad port (percent-encode '/', '@', ':' and '#' in a password)"
            ) from None
        return cls(
            host=parts.hostname or "localhost",
            port=port,
            db=int(db_text) if db_text else 0,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )

    def with_password(self, password: str | None) -> RedisTarget:
        """The same target authenticating with ``password`` (from ``redis.password``, which
        overrides the url's) when one is given."""
        return self if password is None else replace(self, password=password)

    def at(self, host: str, port: int) -> RedisTarget:
        """The same credentials and TLS on another node of the cluster."""
        return replace(self, host=host, port=port)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port


def is_cluster_url(url: str) -> bool:
    return url.startswith(("redis+cluster://", "rediss+cluster://"))


def parse_redis_url(url: str, cluster: bool = False) -> tuple[list[RedisTarget], bool]:
    """The targets (one, or a cluster's seeds) and whether ``url`` names a cluster."""
    if not is_cluster_url(url):
        target = RedisTarget.from_url(url)
        if cluster and target.db:
            raise ValueError("a Redis Cluster has only database 0")
        return [target], cluster
    scheme, rest = url.split("://", 1)
    plain = scheme.replace("+cluster", "")
    credentials, _, hosts_and_path = rest.rpartition("@")
    hosts, _, path = hosts_and_path.partition("/")
    if path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0")
    prefix = f"{plain}://{credentials}@" if credentials else f"{plain}://"
    seeds = [RedisTarget.from_url(prefix + host) for host in hosts.split(",") if host]
    if not seeds:
        raise ValueError(f"no seed node in cluster url {redact.redis_url(url)!r}")
    return seeds, True
