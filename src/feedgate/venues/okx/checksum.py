"""OKX's legacy order-book checksum (exchanges.md §5.6, Appendix A ``okx_legacy_checksum``).

Deprecated by OKX in 2026: the ``checksum`` field of ``books`` is now always 0, so validation is
off by default (``legacy_checksum`` option). It stays for recordings made before (the 2022 capture
reproduces every checksum) and for venues/environments that still send it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

LEVELS = 25
"""§5.6: the first 25 bids and 25 asks of the local book."""


def legacy_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """§5.6: ``bid1_px:bid1_sz:ask1_px:ask1_sz:bid2_px:…`` over the first 25 levels a side (a
    side with fewer levels skips its missing entries), with the price and size strings exactly as
    received; CRC32 of the UTF-8 text as a **signed** 32-bit integer.

    ``bids``/``asks`` are best first; levels may carry extra elements (``[px, sz, "0", n]``).
    """
    parts: list[str] = []
    n_bids, n_asks = min(len(bids), LEVELS), min(len(asks), LEVELS)
    for i in range(max(n_bids, n_asks)):
        if i < n_bids:
            parts.append(bids[i][0])
            parts.append(bids[i][1])
        if i < n_asks:
            parts.append(asks[i][0])
            parts.append(asks[i][1])
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def checksum_of_text(text: str) -> int:
    """The signed CRC32 of an already joined check string (Appendix A test vectors)."""
    crc = zlib.crc32(text.encode())
    return crc - (1 << 32) if crc >= (1 << 31) else crc
