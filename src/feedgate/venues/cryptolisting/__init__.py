"""cryptolisting.ws listing-announcement feed (exchanges.md §7.1): one connection, no symbols,
``announcements:{publisher}`` channels."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.cryptolisting.options import CryptolistingOptions
from feedgate.venues.cryptolisting.protocol import CryptolistingProtocol
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=1,  # one topic: the announcements channel
    messages_per_second=1.0,
    messages_per_minute=3,  # §7.1 client messages: 3/minute (more closes with 1008)
    connects_per_window=10,  # §7.1 per IP: 10 new connections per minute
    connect_window_s=60.0,
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, CryptolistingOptions)
    return CryptolistingProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    """Unused: a symbolless source has no instrument list."""
    assert isinstance(options, CryptolistingOptions)
    return options.rest_url


def _parse_instruments(body: bytes) -> dict[str, str]:
    """Unused: a symbolless source has no instruments."""
    return {}


VENUE = VenueSpec(
    name="cryptolisting",
    limits=LIMITS,
    channels=frozenset({"announcements"}),
    options_type=CryptolistingOptions,
    instruments_url=_instruments_url,
    parse_instruments=_parse_instruments,
    make_protocol=_make_protocol,
    topics_per_connection=lambda options: 1,
    book_integrity="n/a (announcements; duplicates dropped by a sha256 key)",
    venue_symbol=lambda symbol: symbol,
    max_frame_bytes=1024 * 1024,
    symbolless=True,
    book_model="none",
)
