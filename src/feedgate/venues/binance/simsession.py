"""The Binance simulator's sessions and stream events (exchanges.md §1.1-§1.2), pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_TIME_KEYS = ("E", "T")
_ID_MAX = 2**63 - 1


@dataclass(slots=True)
class StreamEvent:
    """One payload for one stream; times are µs. Rendered at most once per session format."""

    topic: str
    payload: dict[str, Any]
    cache: list[bytes | None] = field(default_factory=lambda: [None, None, None, None])


@dataclass(slots=True)
class BinanceSession:
    """What one client connection asked for (§1.1, §1.2)."""

    combined: bool
    micro: bool
    streams: dict[str, None] = field(default_factory=dict)
    """Subscribed stream names in subscription order (a dict used as an ordered set)."""
    unknown: list[str] = field(default_factory=list)
    """Streams accepted although no such symbol/stream exists (Binance acks them silently)."""

    @property
    def fmt(self) -> int:
        return (2 if self.combined else 0) + (1 if self.micro else 0)


def payload_for(event: StreamEvent, micro: bool) -> dict[str, Any]:
    if micro:
        return event.payload
    ms = dict(event.payload)
    for key in _TIME_KEYS:
        if key in ms:
            ms[key] //= 1000
    return ms


def valid_request_id(request_id: Any) -> bool:
    """§1.2: a signed 64-bit int, an alphanumeric string of ≤ 36 chars, or null."""
    if request_id is None:
        return True
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return -(2**63) <= request_id <= _ID_MAX
    return isinstance(request_id, str) and len(request_id) <= 36 and request_id.isalnum()
