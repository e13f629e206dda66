"""Binance Spot (exchanges.md §1): trades or aggTrades, and diff-depth books synced from REST."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.binance.options import BinanceOptions
from feedgate.venues.binance.protocol import BinanceProtocol
from feedgate.venues.binance.wire import parse_exchange_info
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=1024,  # §1.9 max streams per connection
    messages_per_second=4.0,  # §1.9 allows 5 incoming messages/s; keep a margin
    connects_per_window=300,  # §1.9 300 connection attempts per 5 minutes per IP
    connect_window_s=300.0,
    rest_weight_per_minute=6000,  # §1.6 request weight budget per IP and minute
    max_connection_lifetime_s=24 * 3600.0,  # §1.8
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, BinanceOptions)
    return BinanceProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    assert isinstance(options, BinanceOptions)
    return f"{options.rest_url.rstrip('/')}/api/v3/exchangeInfo"


def _topics_per_connection(options: Any) -> int:
    assert isinstance(options, BinanceOptions)
    return min(options.streams_per_connection, LIMITS.topics_per_connection)


VENUE = VenueSpec(
    name="binance",
    limits=LIMITS,
    channels=frozenset({"trades", "book", "bbo"}),
    options_type=BinanceOptions,
    instruments_url=_instruments_url,
    parse_instruments=parse_exchange_info,
    make_protocol=_make_protocol,
    topics_per_connection=_topics_per_connection,
    book_integrity="U/u update ids against a REST snapshot's lastUpdateId (§1.7)",
    venue_symbol=lambda symbol: symbol.replace("-", ""),
    # §1.8 suggests 23 h: an hour before the 24 h cut leaves room for a replacement's REST
    # snapshots under the weight budget (200 books x weight 50 take about 2 minutes)
    rotate_after_s=23 * 3600.0,
)
