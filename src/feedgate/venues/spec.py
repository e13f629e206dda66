"""What a venue folder exports: everything the runtime needs to run and simulate that venue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from feedgate.protocol.base import ConnectionSpec, VenueLimits, VenueProtocol


@dataclass(frozen=True)
class VenueSpec:
    name: str
    limits: VenueLimits
    channels: frozenset[str]
    """Public channel kinds a feed of this venue may ask for (``trades``, ``book``, ``bbo``,
    ``announcements``, ``heads``, ``logs``…); the demo and the conformance suite use them all."""
    options_type: type[BaseModel]
    """The venue's own settings (endpoints, stream choices), validated with the config."""
    instruments_url: Callable[[Any], str]
    parse_instruments: Callable[[bytes], dict[str, str]]
    """REST instrument list body → {canonical symbol: venue symbol} for tradable instruments."""
    make_protocol: Callable[[ConnectionSpec, Any], VenueProtocol]
    topics_per_connection: Callable[[Any], int]
    """How many topics fit on one connection with these options (≤ the venue's limit)."""
    book_integrity: str
    """How a book is known to be right, for docs/venues.md (``U/u update ids + REST snapshot``)."""
    venue_symbol: Callable[[str], str]
    """Canonical ``BASE-QUOTE`` → the venue's usual spelling, used when the instrument list is
    not consulted (``validate_symbols = false``) or unavailable."""
    gap_resets_connection: bool = False
    """True where sequence numbers are per connection (Coinbase §2.7): a gap resets every book
    on that connection, not one."""
    max_frame_bytes: int = 4 * 1024 * 1024
    """The largest frame the venue sends (a full-depth snapshot): larger ones close the socket
    (1009), so this must cover the venue's biggest legitimate frame."""
    private_channels: frozenset[str] = frozenset()
    """Authenticated account channels (Upbit ``my_order``, ``my_asset``): they need credentials
    in the feed's options and publish on ``private:*`` channels only."""
    symbolless: bool = False
    """The source has no instruments (announcements, chain events): a feed lists no symbols and
    each channel is one topic."""
    rotate_after_s: float | None = None
    """Default make-before-break rotation age of a connection, a margin before the venue's
    documented lifetime (``limits.max_connection_lifetime_s``) so the replacement is synced in
    time; None where no lifetime is documented. A feed's ``rotate_after`` overrides it."""
    book_model: str = "deltas"
    """``deltas``: a snapshot then updates that must all be applied (gaps are possible);
    ``snapshots``: every book message is a whole top-N image (Upbit), so there is nothing to
    gap and the conformance gap case does not apply."""
