"""Kraken feed options (the ``options`` table of a ``[[feeds]]`` entry with exchange = kraken)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TOPICS_PER_CONNECTION = 400
"""Our own cap: §3.7 publishes no per-connection subscription limit (UNCONFIRMED)."""


class KrakenOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_url: str = "wss://ws.kraken.com"
    """WebSocket base; the gateway connects to ``{ws_url}/v2`` (§3.1)."""
    rest_url: str = "https://api.kraken.com"
    """REST base for the instrument list ``GET {rest_url}/0/public/AssetPairs`` (§3.5)."""
    depth: Literal[10, 25, 100, 500, 1000] = 10
    """Book levels per side (§3.2/§3.4); the local book is truncated to it after every message."""
    topics_per_connection: int = Field(default=200, ge=1, le=MAX_TOPICS_PER_CONNECTION)
    """Topics (a symbol on a channel) per socket; no documented limit (§3.7, UNCONFIRMED)."""
    subscribe_batch: int = Field(default=50, ge=1, le=MAX_TOPICS_PER_CONNECTION)
    """Symbols per subscribe request (§3.2 takes a list; a cap is UNCONFIRMED)."""
    ping_interval_s: float = Field(default=5.0, gt=0)
    """Send an app-level ``ping`` when nothing arrived for this long (§3.6: heartbeats are
    ~1/s, "use it if no heartbeat arrives for a few seconds")."""
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    """How often a changed book refreshes its ``book:*`` key with the whole book."""
    infer_precision: bool = True
    """When a pair's precision is not known from AssetPairs (REST down, pair missing), take the
    one precision pair (≤ 12 decimals) under which the snapshot's checksum matches (§3.5)."""
