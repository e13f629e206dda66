"""OKX v5 public (exchanges.md §5): trades, books synced by seqId/prevSeqId, bbo."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.okx.options import OkxOptions
from feedgate.venues.okx.protocol import OkxProtocol
from feedgate.venues.okx.wire import parse_instruments
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=240,  # UNCONFIRMED: no documented count for public channels (§5.7)
    messages_per_second=5.0,  # UNCONFIRMED: §5.7 documents only 480 requests/hour/connection
    connects_per_window=3,  # §5.7: 3 connection requests per second per IP
    connect_window_s=1.0,
    rest_weight_per_minute=1200,  # UNCONFIRMED: market/books 40 requests per 2 s per IP
    max_connection_lifetime_s=None,
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, OkxOptions)
    return OkxProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    """UNCONFIRMED path (not in exchanges.md); the capture records this URL and its body."""
    assert isinstance(options, OkxOptions)
    return f"{options.rest_url.rstrip('/')}/api/v5/public/instruments?instType=SPOT"


def _topics_per_connection(options: Any) -> int:
    assert isinstance(options, OkxOptions)
    return min(options.topics_per_connection, LIMITS.topics_per_connection)


VENUE = VenueSpec(
    name="okx",
    limits=LIMITS,
    channels=frozenset({"trades", "book", "bbo"}),
    options_type=OkxOptions,
    instruments_url=_instruments_url,
    parse_instruments=parse_instruments,
    make_protocol=_make_protocol,
    topics_per_connection=_topics_per_connection,
    book_integrity=(
        "seqId/prevSeqId continuity from the WS snapshot (§5.5), REST snapshot when none comes "
        "(§5.6); legacy CRC32 checksum optional (§5.6)"
    ),
    venue_symbol=lambda symbol: symbol,  # §5.8: spot instIds are BASE-QUOTE already
)
