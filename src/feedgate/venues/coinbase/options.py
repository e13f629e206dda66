"""Coinbase feed options (the ``options`` table of a ``[[feeds]]`` entry, exchange = coinbase)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TOPICS_PER_CONNECTION = 150
"""Our cap (§2.8 documents no per-connection subscription limit): 50 symbols with trades, book
and bbo. A sequence gap resyncs every book of a connection (§2.7), so connections stay small."""


class CoinbaseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_url: str = "wss://advanced-trade-ws.coinbase.com"
    """Market data endpoint (§2.1); the gateway subscribes at its root path."""
    rest_url: str = "https://api.coinbase.com"
    """Public REST host: the instrument list is ``{rest_url}/api/v3/brokerage/market/products``."""
    topics_per_connection: int = Field(default=30, ge=1, le=MAX_TOPICS_PER_CONNECTION)
    """Topics (a symbol's trades, book, bbo) per connection. §2.7: keep level2 connections small
    so a resync, which asks every book of the connection again, stays cheap."""
    trade_side: Literal["maker", "taker"] = "maker"
    """What ``market_trades`` ``side`` names (§2.4 marks it UNCONFIRMED). ``maker``: the recorded
    session shows ``SELL`` trades consuming offers, i.e. the resting side (NOTES.md); the
    published ``side`` is then the opposite, the taker's. ``taker`` publishes it as is."""
    backfill_trades: bool = True
    """After a reconnect, publish the trades of the ``market_trades`` snapshot (§2.4, recent
    trades) that are newer than the last one published: what was missed while disconnected, as far
    as the snapshot reaches. The first connection's snapshot is history and never published."""
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    """How often a changed book refreshes its ``book:*`` key with the whole book."""
