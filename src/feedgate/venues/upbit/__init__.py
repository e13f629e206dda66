"""Upbit (exchanges.md §4): trades and top-N orderbook images on the public endpoint, and the
authenticated ``myOrder``/``myAsset`` streams on the private one."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.spec import VenueSpec
from feedgate.venues.upbit import wire
from feedgate.venues.upbit.options import REST_HOSTS, UpbitOptions
from feedgate.venues.upbit.protocol import PRIVATE_KINDS, UpbitProtocol

LIMITS = VenueLimits(
    topics_per_connection=1000,  # no documented cap (UNCONFIRMED); the option picks the size
    messages_per_second=5.0,  # §4.7 at most 5 data requests a second per connection
    messages_per_minute=100,  # §4.7 and at most 100 a minute
    connects_per_window=5,  # §4.7 at most 5 connection requests a second
    connect_window_s=1.0,
    rest_weight_per_minute=0,  # only the market list is fetched (worker default budget)
    max_connection_lifetime_s=None,  # none documented
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, UpbitOptions)
    return UpbitProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    assert isinstance(options, UpbitOptions)
    base = options.rest_url or REST_HOSTS[options.region]
    return base.rstrip("/") + wire.MARKETS_PATH


def _topics_per_connection(options: Any) -> int:
    assert isinstance(options, UpbitOptions)
    return min(options.topics_per_connection, LIMITS.topics_per_connection)


VENUE = VenueSpec(
    name="upbit",
    limits=LIMITS,
    channels=frozenset({"trades", "book", "bbo"}),
    private_channels=frozenset(PRIVATE_KINDS),
    options_type=UpbitOptions,
    instruments_url=_instruments_url,
    parse_instruments=wire.parse_markets,
    make_protocol=_make_protocol,
    topics_per_connection=_topics_per_connection,
    book_integrity="every orderbook message is a whole top-N image (§4.4): nothing to gap",
    venue_symbol=wire.venue_code,
    max_frame_bytes=1024 * 1024,  # a 30-pair orderbook in DEFAULT keys is a few kB
    book_model="snapshots",
)
