"""cryptolisting.ws feed options (the ``options`` table of a ``[[feeds]]`` entry with
exchange = cryptolisting; exchanges.md §7.1)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from feedgate.secrets import Secret


class CryptolistingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: Secret
    """``dsk_<64 hex>``, sent as the ``X-API-Key`` upgrade header (§7.1 Connection): a literal,
    ``{ env = "NAME" }`` or ``{ file = "PATH" }``; never logged."""
    ws_url: str = "wss://cryptolisting.ws"
    """``wss://cryptolisting.ws`` (Binance + Upbit + Bithumb) or ``wss://kr.cryptolisting.ws``
    (Upbit only), §7.1."""
    rest_url: str = "https://cryptolisting.ws"
    """Unused (the source has no REST instrument list); accepted so any feed can point at a
    simulator (simapi)."""
    cex: list[str] = Field(default_factory=list)
    """``?cex=binance,upbit`` filter; empty = everything the key allows (§7.1)."""
    smoke_check: bool = True
    """After ``welcome``, send ``{"type":"test"}`` and expect a ``test_announcement``."""
    smoke_timeout_s: float = Field(default=10.0, gt=0)
    """How long the smoke check waits before a ``stale`` status."""
    test_interval_s: float = Field(default=60.0, ge=60.0)
    """At most one test request per this many seconds (§7.1: 1 test/minute per key)."""
    dedup_capacity: int = Field(default=10_000, ge=1)
    """Announcement keys remembered to drop a re-sent announcement (reconnect overlap)."""

    @field_validator("cex")
    @classmethod
    def _lowercase(cls, cex: list[str]) -> list[str]:
        names = [c.strip().lower() for c in cex]
        if any(not n.isalnum() for n in names):
            raise ValueError("cex entries are exchange ids such as binance, upbit, bithumb")
        return names
