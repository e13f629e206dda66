"""One OKX instrument in the simulator: Binance's seeded random-walk market with OKX ids and text.

Pure (no clocks, sockets or asyncio): the caller passes the time in microseconds. The book, trade
tape and update ids come from ``feedgate.venues.binance.simmarket.SymbolMarket`` (imported, not
changed); this module renders them the OKX way (exchanges.md §5):

- numbers as OKX writes them, without trailing zeros (``"8476.98"``, size ``"0"`` deletes);
- levels ``[px, sz, "0", orderCount]`` (§5.4);
- ``seqId``/``prevSeqId`` (§5.5): each update's ``prevSeqId`` is the previous update's
  ``seqId``, sent or not, so a skipped (hidden) update is a gap the gateway must see; a no-change
  keepalive has ``prevSeqId == seqId``; ``reset_sequence`` makes the next ``seqId`` decrease;
- the legacy checksum (§5.6) of the true top 25 levels, or 0 (the venue's current behaviour).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from feedgate.venues.binance.simmarket import SymbolMarket
from feedgate.venues.okx import wire
from feedgate.venues.okx.checksum import LEVELS, legacy_checksum


def okx_text(text: str) -> str:
    """``"94250.01000000"`` → ``"94250.01"``, ``"0.00000000"`` → ``"0"`` (OKX trims zeros)."""
    if "." not in text:
        return text
    return text.rstrip("0").rstrip(".") or "0"


def okx_level(price: str, size: str) -> list[str]:
    """§5.4 ``[price, size, "0" (deprecated), orderCount]``; a delete has count ``"0"``."""
    px, sz = okx_text(price), okx_text(size)
    count = "0" if sz == "0" else str(1 + (len(sz) * 7 + ord(px[-1])) % 9)
    return [px, sz, "0", count]


@dataclass(frozen=True, slots=True)
class BookStep:
    """One ``books`` update (§5.4) as sent; ``keepalive`` when it carries no change (§5.5)."""

    prev_seq_id: int
    seq_id: int
    bids: list[list[str]]
    asks: list[list[str]]
    checksum: int
    time_us: int
    keepalive: bool


class OkxMarket:
    """``inst_id``'s true book and ids. ``keepalive_every`` n: every n-th step is a keepalive."""

    __slots__ = (
        "_flip",
        "_reset",
        "_rng",
        "_steps",
        "inst_id",
        "keepalive_every",
        "last_ms",
        "legacy_checksum",
        "market",
        "seq_id",
    )

    def __init__(
        self,
        inst_id: str,
        base: str,
        quote: str,
        rng: random.Random,
        *,
        levels: int = 200,
        keepalive_every: int = 0,
        legacy_checksum: bool = False,
    ) -> None:
        self.inst_id = inst_id
        self.market = SymbolMarket(inst_id, base, quote, rng, levels=levels)
        self._rng = rng
        self.seq_id = rng.randrange(10**9, 10**11)
        self.keepalive_every = keepalive_every
        self.legacy_checksum = legacy_checksum
        self.last_ms = 0
        """Time of the last step (epoch ms): the ``ts`` of snapshots taken between steps."""
        self._steps = 0
        self._flip = False
        self._reset = False

    # -- faults -----------------------------------------------------------------------------------

    def skip_update_ids(self, n: int) -> None:
        """The next step first makes ``n`` id steps of changes that are never sent (§5.5 gap)."""
        self.market.skip_update_ids(n)

    def checksum_flip(self) -> None:
        """The next update with changes carries a wrong (non-zero) checksum."""
        self._flip = True

    def reset_sequence(self) -> None:
        """The next update's ``seqId`` is below its ``prevSeqId`` (§5.5 sequence reset)."""
        self._reset = True

    # -- stepping ---------------------------------------------------------------------------------

    def step(self, now_us: int) -> BookStep:
        """One 100 ms ``books`` update (§5.4)."""
        self._steps += 1
        self.last_ms = now_us // 1000
        if self.keepalive_every and self._steps % self.keepalive_every == 0:
            seq = self.seq_id
            return BookStep(seq, seq, [], [], self.checksum(), now_us, True)
        hidden, change = self.market.next_depth(now_us)
        if hidden is not None:  # its ids are used up although nothing is sent
            self.seq_id += hidden.last_id - hidden.first_id + 1
        prev = self.seq_id
        if self._reset and prev > 0:
            self._reset = False
            self.seq_id = prev // 1000 + 1 if prev > 1000 else prev - 1
        else:
            self.seq_id = prev + change.last_id - change.first_id + 1
        checksum = self.checksum()
        if self._flip:
            self._flip = False
            checksum = ~checksum or 1  # wrong, and never the "no checksum" 0
        return BookStep(
            prev,
            self.seq_id,
            [okx_level(p, q) for p, q in change.bids],
            [okx_level(p, q) for p, q in change.asks],
            checksum,
            now_us,
            False,
        )

    def next_trade(self, now_us: int) -> dict[str, object]:
        """One taker order as one §5.3 trade: ``tradeId`` is the last fill's id, ``count`` the
        number of fills aggregated, ``side`` the taker's."""
        o = self.market.next_trade(now_us)
        return wire.trade_data(
            self.inst_id,
            str(o.first_id + len(o.fills) - 1),
            okx_text(o.price),
            okx_text(o.qty),
            "sell" if o.buyer_is_maker else "buy",
            now_us // 1000,
            len(o.fills),
            self.seq_id,
        )

    # -- views ------------------------------------------------------------------------------------

    def levels(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        """Top ``limit`` levels a side as OKX 4-element levels, best first."""
        bids, asks = self.market.top(limit)
        return [okx_level(p, q) for p, q in bids], [okx_level(p, q) for p, q in asks]

    def checksum(self) -> int:
        """The §5.6 legacy checksum of the true book, or 0 when it is off (§5.6: always 0)."""
        if not self.legacy_checksum:
            return 0
        bids, asks = self.market.top(LEVELS)
        return legacy_checksum(
            [[okx_text(p), okx_text(q)] for p, q in bids],
            [[okx_text(p), okx_text(q)] for p, q in asks],
        )

    def best(self) -> tuple[list[list[str]], list[list[str]]]:
        """The touch as ``bbo-tbt`` sends it (one level a side)."""
        return self.levels(1)

    def true_book(self) -> tuple[int, list[list[str]], list[list[str]]]:
        market = self.market
        bids, asks = self.levels(len(market.bids) + len(market.asks))
        return self.seq_id, [b[:2] for b in bids], [a[:2] for a in asks]
