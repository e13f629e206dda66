"""Bybit v5 public, spot and linear (exchanges.md §6): publicTrade, and orderbook.{depth} books
kept from the venue's WS snapshot + deltas with ``u`` continuity."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.bybit import wire
from feedgate.venues.bybit.options import MAX_TOPICS_PER_CONNECTION, BybitOptions
from feedgate.venues.bybit.protocol import BybitProtocol
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=MAX_TOPICS_PER_CONNECTION,  # §6.6 21,000 args characters, see options
    messages_per_second=10.0,  # not documented for public streams (UNCONFIRMED): a modest pace
    connects_per_window=500,  # §6.6 at most 500 connections per 5 minutes per domain/IP
    connect_window_s=300.0,
    rest_weight_per_minute=0,  # only the instrument list is fetched (worker default budget)
    max_connection_lifetime_s=None,  # none documented (§6.6)
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, BybitOptions)
    return BybitProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    assert isinstance(options, BybitOptions)
    return options.rest_url.rstrip("/") + wire.instruments_path(options.category)


def _topics_per_connection(options: Any) -> int:
    assert isinstance(options, BybitOptions)
    return min(options.topics_per_connection, LIMITS.topics_per_connection)


VENUE = VenueSpec(
    name="bybit",
    limits=LIMITS,
    channels=frozenset({"trades", "book", "bbo"}),
    options_type=BybitOptions,
    instruments_url=_instruments_url,
    parse_instruments=wire.parse_instruments,
    make_protocol=_make_protocol,
    topics_per_connection=_topics_per_connection,
    book_integrity=(
        "WS snapshot + deltas; u = previous u + 1 (capture-verified, §6.5 UNCONFIRMED); "
        "a new snapshot or u == 1 resets (§6.5)"
    ),
    venue_symbol=lambda symbol: symbol.replace("-", ""),
)
