"""Binance feed options (the ``options`` table of a ``[[feeds]]`` entry with exchange = binance)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BinanceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_url: str = "wss://stream.binance.com:9443"
    """WebSocket base; the gateway connects to ``{ws_url}/stream`` and SUBSCRIBEs (§1.1-1.2)."""
    rest_url: str = "https://api.binance.com"
    trade_stream: Literal["trade", "aggTrade"] = "trade"
    """``trade`` = one message per fill (id ``t``); ``aggTrade`` = per taker order (id ``a``)."""
    time_unit: Literal["ms", "us"] = "ms"
    """``us`` adds ``timeUnit=MICROSECOND`` to the URL so venue times arrive in µs (§1.1)."""
    snapshot_limit: int = Field(default=1000, ge=1, le=5000)
    """REST depth levels (§1.6); weight 5/25/50/250 for ≤100/≤500/≤1000/≤5000."""
    streams_per_connection: int = Field(default=200, ge=1, le=1024)
    """At most 1024 per connection (§1.9); fewer spreads the load over more sockets."""
    subscribe_batch: int = Field(default=100, ge=1, le=1024)
    """Streams per SUBSCRIBE message; messages are paced under 5/s by the runtime (§1.9)."""
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    """How often a changed book refreshes its ``book:*`` key with the whole book."""


def snapshot_weight(limit: int) -> int:
    """§1.6 request weight of ``GET /api/v3/depth`` for a given limit."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250
