"""Bybit feed options (the ``options`` table of a ``[[feeds]]`` entry with exchange = bybit)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ARGS_PER_SUBSCRIBE = 10
"""§6.6: at most 10 args per subscribe request (spot; linear follows the same code)."""
MAX_TOPICS_PER_CONNECTION = 500
"""§6.6 caps the total ``args`` text at 21,000 characters per connection; 500 args of the
longest realistic topic (``orderbook.1000.1000000BABYDOGEUSDT``, 34 characters) stay under it."""


class BybitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_url: str = "wss://stream.bybit.com"
    """WebSocket base; the gateway connects to ``{ws_url}/v5/public/{category}`` (§6.1)."""
    rest_url: str = "https://api.bybit.com"
    """REST base for the instrument list (``/v5/market/instruments-info``; see NOTES.md)."""
    category: Literal["spot", "linear"] = "spot"
    """§6.1 endpoint path; the same frames and rules serve both (linear = USDT/USDC perpetuals)."""
    depth: Literal[1, 50, 200, 1000] = 50
    """§6.4 ``orderbook.{depth}`` topic: 1 (10 ms, snapshots only), 50 (20 ms), 200 (100 ms),
    1000 (200 ms). The published book holds exactly these top levels."""
    strict_u_continuity: bool = True
    """§6.5: a delta whose ``u`` is not the previous ``u`` + 1 is a gap (book_reset, resubscribe).
    The docs call ``u+1`` continuity UNCONFIRMED; every one of the 2,363 deltas in the 2026
    capture (spot and linear, ``orderbook.200``) has it. False: only ``u <= previous`` is a gap.
    Depth 1 never checks continuity (snapshot-only, §6.5)."""
    topics_per_connection: int = Field(default=200, ge=1, le=MAX_TOPICS_PER_CONNECTION)
    """Feed topics (one symbol's trades, or its book and bbo together) per connection."""
    subscribe_batch: int = Field(default=MAX_ARGS_PER_SUBSCRIBE, ge=1, le=MAX_ARGS_PER_SUBSCRIBE)
    """Args per subscribe message (§6.6: at most 10)."""
    ping_interval_s: float = Field(default=20.0, gt=0, le=300)
    """``{"op":"ping"}`` period (§6.6: every 20 s; idle sockets are cut after ~10 minutes)."""
    include_block_trades: bool = True
    """Publish ``BT: true`` block trades (§6.3); the normalized trade has no flag to mark them."""
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    """How often a changed book refreshes its ``book:*`` key with the whole book."""
