"""Ethereum on-chain events over JSON-RPC ``eth_subscribe`` (exchanges.md §8): block heads and
filtered logs, published on ``onchain:{network}:heads`` and ``onchain:{network}:logs``."""

from __future__ import annotations

from typing import Any

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol
from feedgate.venues.ethereum.options import EthereumOptions
from feedgate.venues.ethereum.protocol import EthereumProtocol
from feedgate.venues.spec import VenueSpec

LIMITS = VenueLimits(
    topics_per_connection=2,  # heads and logs: one connection carries the whole feed
    messages_per_second=10.0,  # §8 documents no client message limit (a node, not an exchange)
    connects_per_window=10,
    connect_window_s=10.0,
)


def _make_protocol(spec: ConnectionSpec, options: Any) -> VenueProtocol:
    assert isinstance(options, EthereumOptions)
    return EthereumProtocol(spec, options)


def _instruments_url(options: Any) -> str:
    """Unused: a chain feed has no instrument list (``symbolless``)."""
    assert isinstance(options, EthereumOptions)
    return options.rest_url


def _parse_instruments(body: bytes) -> dict[str, str]:
    """Unused: a chain feed has no instruments."""
    return {}


VENUE = VenueSpec(
    name="ethereum",
    limits=LIMITS,
    channels=frozenset({"heads", "logs"}),
    options_type=EthereumOptions,
    instruments_url=_instruments_url,
    parse_instruments=_parse_instruments,
    make_protocol=_make_protocol,
    topics_per_connection=lambda options: LIMITS.topics_per_connection,
    book_integrity="n/a (no books)",
    venue_symbol=lambda symbol: symbol,
    symbolless=True,
)
