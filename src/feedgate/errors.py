"""The one exception tree. Gaps, checksum mismatches and unknown frames are not exceptions:
they are state transitions plus a counter. These are for what really stops an operation."""

from __future__ import annotations


class FeedgateError(Exception):
    """Base of every error feedgate raises on purpose."""


class ConfigError(FeedgateError):
    """The configuration is invalid; ``problems`` lists every one, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class EmbeddedRedisError(FeedgateError):
    """The embedded Redis server could not be found or started."""


class FatalConnectionError(FeedgateError):
    """The venue closed with a reason that reconnecting cannot fix (e.g. an invalid API key)."""


class SnapshotFailed(FeedgateError):
    """A REST request (snapshot, instrument list) failed after its retries."""
