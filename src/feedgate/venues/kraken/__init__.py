"""Kraken Spot WebSocket v2 (exchanges.md §3): trades, and books verified by CRC32 checksums."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.kraken.options import MAX_TOPICS_PER_CONNECTION, KrakenOptions
from feedgate.venues.kraken.protocol import KrakenProtocol
from feedgate.venues.kraken.wire import ASSET_PAIRS_PATH, parse_instruments
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=MAX_TOPICS_PER_CONNECTION,  # §3.7: no documented limit (UNCONFIRMED)
    messages_per_second=5.0,  # §3.7: the rate limit is dynamic, no number published (UNCONFIRMED)
    connects_per_window=10,  # §3.7: "keep reconnects ≤ 1/s with backoff" (UNCONFIRMED)
    connect_window_s=10.0,
    rest_weight_per_minute=60,  # public REST: about 1 call/s (UNCONFIRMED); only AssetPairs
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, KrakenOptions)
    return KrakenProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    assert isinstance(options, KrakenOptions)
    return options.rest_url.rstrip("/") + ASSET_PAIRS_PATH


def _topics_per_connection(options: Any) -> int:
    assert isinstance(options, KrakenOptions)
    return min(options.topics_per_connection, LIMITS.topics_per_connection)


VENUE = VenueSpec(
    name="kraken",
    limits=LIMITS,
    channels=frozenset({"trades", "book", "bbo"}),
    options_type=KrakenOptions,
    instruments_url=_instruments_url,
    parse_instruments=parse_instruments,
    make_protocol=_make_protocol,
    topics_per_connection=_topics_per_connection,
    book_integrity="CRC32 of the top 10 levels a side on every snapshot and update (§3.5)",
    venue_symbol=lambda symbol: symbol.replace("-", "/"),
)
