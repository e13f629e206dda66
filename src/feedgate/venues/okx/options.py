"""OKX feed options (the ``options`` table of a ``[[feeds]]`` entry with exchange = okx)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

PUBLIC_PATH = "/ws/v5/public"  # §5.1 (wire.PUBLIC_PATH; options stay importable on their own)


class OkxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_url: str = "wss://ws.okx.com:8443"
    """WebSocket host; the gateway connects to ``{ws_url}/ws/v5/public`` (§5.1). A URL with a
    path is used as given (EEA ``wseea``, US ``wsus``, demo ``wspap`` hosts)."""
    rest_url: str = "https://www.okx.com"
    """REST base for the instrument list and the books snapshot fallback."""
    bbo_source: Literal["books", "bbo-tbt"] = "books"
    """``books``: the bbo is derived from the synced book (never ahead of or behind it);
    ``bbo-tbt``: subscribe the venue's tick-by-tick top-of-book channel (§5.4)."""
    legacy_checksum: bool = False
    """Validate the deprecated CRC32 ``checksum`` of ``books`` (§5.6). OKX now always sends 0,
    which is never validated; a mismatch resyncs the book like a gap."""
    legacy_unsequenced: bool = False
    """Accept ``books`` frames without ``seqId``/``prevSeqId`` (recordings from before OKX added
    them, such as the 2022 capture): they are numbered locally and guarded by the checksum alone,
    so this needs ``legacy_checksum``."""
    topics_per_connection: int = Field(default=30, ge=3, le=240)
    """Topics (symbol x channel) per connection. §5.4 advises more connections beyond ~30 deep
    books; 30 keeps any mix of channels under that."""
    symbols_per_request: int = Field(default=10, ge=1, le=100)
    """Symbols whose channels share one ``subscribe`` request (§5.2; args ≤ 64 KB, §5.7)."""
    ops_per_hour: int = Field(default=480, ge=2, le=480)
    """§5.7 ``subscribe``/``unsubscribe`` requests per hour per connection. A book resync that
    would exceed it falls back to a REST snapshot instead of resubscribing."""
    ping_interval_s: float = Field(default=20.0, gt=0, lt=30)
    """§5.7: send the text ``ping`` after this long without any frame (must be < 30 s)."""
    checkpoint_interval_s: float = Field(default=1.0, gt=0)
    """How often a changed book refreshes its ``book:*`` key with the whole book."""

    @model_validator(mode="after")
    def _unsequenced_needs_checksum(self) -> OkxOptions:
        if self.legacy_unsequenced and not self.legacy_checksum:
            raise ValueError("legacy_unsequenced needs legacy_checksum: nothing else guards a book")
        return self

    def public_url(self) -> str:
        """The WebSocket URL to open: ``{ws_url}/ws/v5/public`` unless ``ws_url`` has a path."""
        if urlsplit(self.ws_url).path.strip("/"):
            return self.ws_url
        return self.ws_url.rstrip("/") + PUBLIC_PATH
