"""Redis channel and key names (design §2.1). One place builds them so they never drift."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

STATUS_CHANNEL = "feedgate:status"


class ChannelKind(StrEnum):
    """The ``channel`` label of metrics and the first part of a channel name."""

    TRADES = "trades"
    BOOK = "book"
    BBO = "bbo"
    ANNOUNCEMENTS = "announcements"
    ONCHAIN = "onchain"
    PRIVATE = "private"
    STATUS = "status"


def trades_channel(exchange: str, symbol: str) -> str:
    return f"trades:{exchange}:{symbol}"


def book_channel(exchange: str, symbol: str) -> str:
    return f"book:{exchange}:{symbol}"


def bbo_channel(exchange: str, symbol: str) -> str:
    return f"bbo:{exchange}:{symbol}"


MARKET_CHANNELS: dict[str, Callable[[str, str], str]] = {
    ChannelKind.TRADES: trades_channel,
    ChannelKind.BOOK: book_channel,
    ChannelKind.BBO: bbo_channel,
}
"""A market feed's channel kind → the name of its channel for (exchange, symbol)."""


def announcements_channel(publisher: str) -> str:
    return f"announcements:{publisher}"


def onchain_channel(network: str, kind: str) -> str:
    return f"onchain:{network}:{kind}"


def private_channel(exchange: str, account: str, kind: str) -> str:
    """Account data: never on a public channel; Redis ACLs give it its own user."""
    return f"private:{exchange}:{account}:{kind}"


_SYMBOL_PART = re.compile(r"[A-Z0-9]+").fullmatch


def canonical_symbol(base: str, quote: str) -> str:
    """``BASE-QUOTE`` uppercase, the form every channel uses."""
    return f"{base.upper()}-{quote.upper()}"


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split a canonical symbol; raises ValueError for anything not ``BASE-QUOTE`` of uppercase
    ASCII letters and digits (a blank or a non-ASCII letter would pass ``str.upper``, and the
    symbol names channels)."""
    base, sep, quote = symbol.partition("-")
    if not (sep and _SYMBOL_PART(base) and _SYMBOL_PART(quote)):
        raise ValueError(f"symbol {symbol!r} is not canonical BASE-QUOTE uppercase")
    return base, quote
