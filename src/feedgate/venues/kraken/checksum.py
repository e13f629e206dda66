"""The Kraken v2 book checksum (exchanges.md §3.5, VERIFIED; Appendix A reference).

CRC-32 (IEEE, unsigned) over the top 10 asks (ascending) then the top 10 bids (descending) of the
book after the message is applied and truncated. Each level contributes its price and then its
quantity, each formatted as fixed-point text with the pair's precision (``pair_decimals`` /
``lot_decimals``), the ``.`` removed and leading zeros stripped: ``0.001`` with 8 decimals is
``"0.00100000"`` → ``"100000"``. The precision is the trap: v2 sends JSON floats that lose
trailing zeros, so the literal cannot be used as is.

Formatting a float with ``f"{x:.{dp}f}"`` rounds the binary value correctly, which gives the
venue's decimal text for every value the venue can send (at most ``dp`` decimals, under 16
significant digits), so the frame's numbers are formatted directly, without Decimal.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from feedgate.protocol.levels import number_text

Number = float | int
CHECKSUM_LEVELS = 10
"""§3.5: the top 10 levels per side, whatever the subscribed depth."""
MAX_DP = 12
"""Largest precision tried when inferring one (Kraken pairs use at most ~10)."""


def decimal_digits(value: Number, dp: int) -> str:
    """§3.5 one number: ``45285.2`` (1 dp) → ``"452852"``; ``0.001`` (8 dp) → ``"100000"``."""
    return f"{value:.{dp}f}".replace(".", "").lstrip("0")


def level_digits(price: Number, qty: Number, price_dp: int, qty_dp: int) -> str:
    """One level's part of the checksum string: price digits then quantity digits."""
    return decimal_digits(price, price_dp) + decimal_digits(qty, qty_dp)


def crc(asks: Sequence[str], bids: Sequence[str]) -> int:
    """CRC-32 of the asks' parts then the bids' parts (each best first, at most 10)."""
    return zlib.crc32("".join((*asks, *bids)).encode())


def book_checksum(
    asks: Sequence[tuple[Number, Number]],
    bids: Sequence[tuple[Number, Number]],
    price_dp: int,
    qty_dp: int,
) -> int:
    """Checksum of a book given best first (asks ascending, bids descending); only the first
    ten levels a side count. Appendix A: the worked example of §3.5 gives 3833895402."""
    return crc(
        [level_digits(p, q, price_dp, qty_dp) for p, q in asks[:CHECKSUM_LEVELS]],
        [level_digits(p, q, price_dp, qty_dp) for p, q in bids[:CHECKSUM_LEVELS]],
    )


def shown_decimals(value: Number) -> int:
    """Decimals in the venue's literal (``0.001`` → 3): a lower bound for the precision."""
    _, _, fraction = number_text(value).partition(".")
    return len(fraction)


def infer_precision(
    asks: Sequence[tuple[Number, Number]],
    bids: Sequence[tuple[Number, Number]],
    checksum: int,
) -> tuple[int, int] | None:
    """The (price dp, qty dp) under which ``checksum`` matches this best-first book, or None.

    A fallback for when the instrument list is unavailable: every precision from the decimals
    the literals show up to ``MAX_DP`` is tried (at most 169 CRCs over 20 levels). Different
    precisions give different strings, so a match by accident has odds of about 1 in 2**25.
    """
    top = [*asks[:CHECKSUM_LEVELS], *bids[:CHECKSUM_LEVELS]]
    if not top:
        return None
    n_asks = min(len(asks), CHECKSUM_LEVELS)
    low_p = max(shown_decimals(p) for p, _ in top)
    low_q = max(shown_decimals(q) for _, q in top)
    if low_p > MAX_DP or low_q > MAX_DP:
        return None
    qty_parts = {dp: [decimal_digits(q, dp) for _, q in top] for dp in range(low_q, MAX_DP + 1)}
    for price_dp in range(low_p, MAX_DP + 1):
        prices = [decimal_digits(p, price_dp) for p, _ in top]
        for qty_dp, qtys in qty_parts.items():
            parts = [p + q for p, q in zip(prices, qtys, strict=True)]
            if crc(parts[:n_asks], parts[n_asks:]) == checksum:
                return price_dp, qty_dp
    return None
