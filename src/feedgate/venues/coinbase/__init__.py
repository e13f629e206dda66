"""Coinbase Advanced Trade (exchanges.md §2): market_trades, and level2 books from WS snapshots
checked by the connection-wide ``sequence_num``."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.coinbase.options import MAX_TOPICS_PER_CONNECTION, CoinbaseOptions
from feedgate.venues.coinbase.protocol import CoinbaseProtocol
from feedgate.venues.coinbase.wire import parse_products
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=MAX_TOPICS_PER_CONNECTION,  # none documented (§2.8); ours, see options
    messages_per_second=4.0,  # §2.8: 8 unauthenticated messages/s per IP; 4/s per connection
    connects_per_window=2,  # §2.8: 8 connections/s per IP; 2/s keeps the subscribe messages of
    connect_window_s=1.0,  # connections opening together under the 8 messages/s per IP
    rest_weight_per_minute=600,  # public REST 10 requests/s per IP: UNCONFIRMED (not in §2)
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, CoinbaseOptions)
    return CoinbaseProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    assert isinstance(options, CoinbaseOptions)
    return f"{options.rest_url.rstrip('/')}/api/v3/brokerage/market/products"


def _topics_per_connection(options: Any) -> int:
    assert isinstance(options, CoinbaseOptions)
    return min(options.topics_per_connection, LIMITS.topics_per_connection)


VENUE = VenueSpec(
    name="coinbase",
    limits=LIMITS,
    channels=frozenset({"trades", "book", "bbo"}),
    options_type=CoinbaseOptions,
    instruments_url=_instruments_url,
    parse_instruments=parse_products,
    make_protocol=_make_protocol,
    topics_per_connection=_topics_per_connection,
    book_integrity=(
        "WS snapshot + updates; connection-wide envelope sequence_num (+1 per message, §2.7): "
        "any jump resubscribes level2 for every book of the connection"
    ),
    venue_symbol=str.upper,  # product ids are canonical BASE-QUOTE already (§2.9)
    gap_resets_connection=True,
    max_frame_bytes=32 * 1024 * 1024,  # the captured BTC-USD level2 snapshot is one 5.1 MB frame
)
