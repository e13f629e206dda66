"""The Kraken book feed of one simulated symbol, over Binance's seeded market model.

Pure (no clocks or sockets). ``feedgate.venues.binance.simmarket.SymbolMarket`` moves the true
book and the trade tape in integer atoms of 1e-8; this module turns it into what Kraken v2 sends
(exchanges.md §3.4): per subscribed depth, a snapshot of the top ``depth`` levels and then, per
market step, the levels of that window that changed, the levels deleted from it, and the levels
that entered it from below. Levels pushed out of the window are not sent (the client truncates),
exactly as §3.4 says. Every message carries the CRC32 (§3.5) of the true top 10 after the step,
computed here from the integer atoms, independently of the protocol's float formatting.

The pair's precision follows the market's tick (``pair_decimals``), quantities use 8 decimals
(``lot_decimals``), and the REST AssetPairs body announces both.

Faults: ``skip_update_ids`` makes the next step carry a hidden change (the touch sizes move
without being sent, ``SymbolMarket.skip_update_ids``), so the next update's checksum no longer
matches a client's book; ``checksum_flip`` corrupts the checksum of the next update only.
"""

from __future__ import annotations

import zlib

from feedgate.venues.binance.simmarket import ATOMS, DepthChange, SymbolMarket

QTY_DP = 8
CHECKSUM_LEVELS = 10
Window = tuple[dict[int, int], dict[int, int]]
"""(bids, asks): price atoms → qty atoms, best first."""
Levels = list[tuple[int, int]]


def atoms(text: str) -> int:
    """SymbolMarket text (always 8 decimals, ``"94250.01000000"``) → atoms."""
    return int(text.replace(".", ""))


def number(value: int) -> float:
    """Atoms → the JSON number Kraken sends (§0: floats; correctly rounded, so exact text)."""
    return value / ATOMS


class KrakenBookFeed:
    """The Kraken view of one ``SymbolMarket``: windows per depth, messages, checksums."""

    __slots__ = ("_flip", "_price_div", "_windows", "market", "price_dp", "steps")

    def __init__(self, market: SymbolMarket) -> None:
        self.market = market
        tick_exponent = len(str(market.tick)) - 1  # the tick is 10**k atoms
        self.price_dp = 8 - tick_exponent
        self._price_div = 10**tick_exponent
        self._windows: dict[int, Window] = {}
        self._flip = False
        self.steps = 0

    def top(self, depth: int) -> Window:
        market = self.market
        bids = {p: market.bids[p] for p in reversed(market.bid_prices[-depth:])}
        asks = {p: market.asks[p] for p in market.ask_prices[:depth]}
        return bids, asks

    def checksum(self) -> int:
        """§3.5 over the true top 10: ``str`` of the atoms scaled to the precision is the fixed
        point text without its dot and leading zeros."""
        bids, asks = self.top(CHECKSUM_LEVELS)
        div = self._price_div
        text = "".join(f"{p // div}{q}" for p, q in asks.items())
        text += "".join(f"{p // div}{q}" for p, q in bids.items())
        return zlib.crc32(text.encode())

    def flip_next(self) -> None:
        self._flip = True

    def subscribe(self, depth: int) -> tuple[Levels, Levels, int]:
        """A new subscription at ``depth``: the snapshot (bids, asks best first, checksum)."""
        window = self._windows.get(depth)
        if window is None:
            window = self._windows[depth] = self.top(depth)
        bids, asks = window
        return list(bids.items()), list(asks.items()), self.checksum()

    def step(self, now_us: int) -> dict[int, tuple[Levels, Levels, int]]:
        """One market step → {depth: (bids, asks, checksum)} for the depths with changes."""
        _, change = self.market.next_depth(now_us)
        self.steps += 1
        if not self._windows:
            return {}
        changed_bids, changed_asks = _changes(change)
        out: dict[int, tuple[Levels, Levels, int]] = {}
        checksum: int | None = None
        for depth, (old_bids, old_asks) in self._windows.items():
            new_bids, new_asks = self._windows[depth] = self.top(depth)
            bids = _sent(old_bids, new_bids, changed_bids)
            asks = _sent(old_asks, new_asks, changed_asks)
            if bids or asks:
                if checksum is None:
                    checksum = self.checksum()
                    if self._flip:
                        checksum ^= 0x5A5A5A5A
                        self._flip = False
                bids.sort(reverse=True)
                asks.sort()
                out[depth] = (bids, asks, checksum)
        return out


def _changes(change: DepthChange) -> tuple[dict[int, int], dict[int, int]]:
    return (
        {atoms(p): atoms(q) for p, q in change.bids},
        {atoms(p): atoms(q) for p, q in change.asks},
    )


def _sent(old: dict[int, int], new: dict[int, int], changed: dict[int, int]) -> Levels:
    """§3.4 what the venue sends for one side of a window: changed levels inside it, deleted
    ones that were inside it (qty 0), and levels that entered it from below."""
    out: Levels = []
    for price, qty in changed.items():
        if price in new:
            out.append((price, new[price]))
        elif qty == 0 and price in old:
            out.append((price, 0))
    out.extend((p, q) for p, q in new.items() if p not in old and p not in changed)
    return out
