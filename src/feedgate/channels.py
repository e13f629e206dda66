"""Redis channel and key names (design §2.1). One place builds them so they never drift."""

from __future__ import annotations

from enum import StrEnum

STATUS_CHANNEL = "feedgate:status"


class ChannelKind(StrEnum):
    """The ``channel`` label of metrics and the first part of a channel name."""

    TRADES = "trades"
    BOOK = "book"
    BBO = "bbo"
    ANNOUNCEMENTS = "announcements"
    ONCHAIN = "onchain"
    STATUS = "status"


def trades_channel(exchange: str, symbol: str) -> str:
    return f"trades:{exchange}:{symbol}"


def book_channel(exchange: str, symbol: str) -> str:
    return f"book:{exchange}:{symbol}"


def bbo_channel(exchange: str, symbol: str) -> str:
    return f"bbo:{exchange}:{symbol}"


def canonical_symbol(base: str, quote: str) -> str:
    """``BASE-QUOTE`` uppercase, the form every channel uses."""
    return f"{base.upper()}-{quote.upper()}"


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split a canonical symbol; raises ValueError for anything not ``BASE-QUOTE``."""
    base, sep, quote = symbol.partition("-")
    if not sep or not base or not quote or "-" in quote or symbol != symbol.upper():
        raise ValueError(f"symbol {symbol!r} is not canonical BASE-QUOTE uppercase")
    return base, quote
