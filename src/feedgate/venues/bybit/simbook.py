"""The Bybit simulator's books: depth-limited views of one seeded market per symbol (§6.4, §6.5).

Pure (no clocks, sockets or asyncio): callers pass the time in microseconds. The random-walk
market is Binance's ``SymbolMarket`` (integer atoms of 1e-8, the true book changes only in
``next_depth``); this module adds what Bybit sends on top of it:

- one view per subscribed depth (``orderbook.50`` …) holding exactly the top ``depth`` levels a
  side, with its own ``u``: a step sends the difference between the old and the new top as a
  ``delta`` with ``u`` = previous ``u`` + 1 (levels that leave the top are sent with size ``"0"``,
  levels that enter it with their size), as the 2026 capture shows (every delta ``u+1``, the book
  always exactly 200 levels); nothing is sent when the top did not change;
- depth 1 is snapshot-only and re-sends an unchanged image with the same ``u`` after 3 s;
- ``seq``, the cross sequence, shared by every depth and the trades of a symbol;
- faults: ``skip`` (ids consumed by changes that are applied but never sent: a ``u`` gap, §6.5)
  and ``reset`` (the next step sends a fresh ``snapshot``, with ``u`` = 1 for a restart).

Prices and sizes are rendered with the instrument's decimals (tick and lot size), like the venue
(``"65140.4"``, ``"0.885797"``), and size ``"0"`` deletes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import NamedTuple

from feedgate.venues.binance.simmarket import ATOMS, SymbolMarket, TakerOrder

REPEAT_US = 3_000_000  # §6.5: depth 1 re-sends an unchanged snapshot after 3 s


def _decimals(step_atoms: int) -> int:
    """Decimals of a power-of-ten step in atoms: 10**6 atoms (0.01) → 2."""
    decimals = 8
    while step_atoms >= 10 and decimals > 0:
        step_atoms //= 10
        decimals -= 1
    return decimals


def _text(atoms: int, decimals: int) -> str:
    whole, frac = divmod(atoms, ATOMS)
    if decimals == 0:
        return str(whole)
    return f"{whole}.{frac // 10 ** (8 - decimals):0{decimals}d}"


def cut(text: str, decimals: int) -> str:
    """Binance's 8-decimal text to ``decimals`` places (exact for multiples of the step)."""
    drop = 8 - decimals
    return text[: len(text) - drop - (1 if decimals == 0 else 0)]


class BookFrame(NamedTuple):
    """One orderbook message's content; ``wire.book_message`` renders it per category."""

    depth: int
    symbol: str
    kind: str  # "snapshot" or "delta"
    bids: list[list[str]]
    asks: list[list[str]]
    u: int
    seq: int
    ts_ms: int
    cts_ms: int


@dataclass(slots=True)
class View:
    """What subscribers of one ``orderbook.{depth}`` topic were last sent."""

    depth: int
    u: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    sent_us: int = 0


class SimBook:
    """One symbol: its market, the depth views subscribed so far, ``seq`` and pending faults."""

    __slots__ = (
        "_reset",
        "_rng",
        "_skip",
        "market",
        "price_decimals",
        "qty_decimals",
        "seq",
        "symbol",
        "views",
    )

    def __init__(self, market: SymbolMarket, rng: random.Random) -> None:
        self.market = market
        self.symbol = market.symbol
        self._rng = rng
        self.price_decimals = _decimals(market.tick)
        self.qty_decimals = _decimals(market.lot)
        self.seq = rng.randrange(10**9, 10**11)
        self.views: dict[int, View] = {}
        self._skip = 0
        self._reset: str | None = None

    # -- views -----------------------------------------------------------------------------------

    def top(self, depth: int) -> tuple[dict[int, int], dict[int, int]]:
        m = self.market
        bids = {p: m.bids[p] for p in m.bid_prices[-depth:]}
        asks = {p: m.asks[p] for p in m.ask_prices[:depth]}
        return bids, asks

    def levels(self, depth: int) -> tuple[list[list[str]], list[list[str]]]:
        """Best-first ``[price, size]`` text of the true top ``depth`` levels a side."""
        return self._sides(*self.top(depth))

    def _level(self, price: int, qty: int) -> list[str]:
        return [_text(price, self.price_decimals), _text(qty, self.qty_decimals)]

    def view(self, depth: int) -> View:
        """The view of ``depth``, started at the current book when first subscribed."""
        view = self.views.get(depth)
        if view is None:
            view = self.views[depth] = View(depth, self._rng.randrange(10**6, 10**8))
            view.bids, view.asks = self.top(depth)
        return view

    def snapshot(self, depth: int, now_us: int) -> BookFrame:
        """The image a new subscriber of ``orderbook.{depth}`` gets (§6.5: after subscribing)."""
        view = self.view(depth)
        return self._frame(view, "snapshot", *self._sides(view.bids, view.asks), now_us)

    def true_book(self, depth: int) -> tuple[int, list[list[str]], list[list[str]]]:
        view = self.views.get(depth)
        return (view.u if view else 0, *self.levels(depth))

    # -- faults ----------------------------------------------------------------------------------

    def skip(self, n: int) -> None:
        """The next step first makes changes that are never sent and consumes ``n`` ids."""
        self._skip += max(1, n)

    def reset(self, restart: bool) -> None:
        """The next step sends a fresh snapshot on every depth (``u`` = 1 when ``restart``)."""
        self._reset = "restart" if restart else "snapshot"

    # -- steps -----------------------------------------------------------------------------------

    def step(self, now_us: int) -> list[BookFrame]:
        """One book interval: move the market, then one message per view that changed."""
        rng, market = self._rng, self.market
        if self._skip:
            market.skip_update_ids(1)  # the hidden change always alters the touch sizes
            market.next_depth(now_us)
            self.seq += rng.randint(1, 40)
            for view in self.views.values():
                view.bids, view.asks = self.top(view.depth)
                view.u += self._skip
            self._skip = 0
        market.next_depth(now_us)
        self.seq += rng.randint(1, 40)
        reset, self._reset = self._reset, None
        frames: list[BookFrame] = []
        for view in self.views.values():
            bids, asks = self.top(view.depth)
            changed = bids != view.bids or asks != view.asks
            if reset is not None or view.depth == 1:
                if reset is None and not changed and now_us - view.sent_us < REPEAT_US:
                    continue
                view.u = 1 if reset == "restart" else view.u + (1 if changed or reset else 0)
                view.bids, view.asks, view.sent_us = bids, asks, now_us
                frames.append(self._frame(view, "snapshot", *self._sides(bids, asks), now_us))
            elif changed:
                delta_bids = self._diff(view.bids, bids, True)
                delta_asks = self._diff(view.asks, asks, False)
                view.u += 1
                view.bids, view.asks, view.sent_us = bids, asks, now_us
                frames.append(self._frame(view, "delta", delta_bids, delta_asks, now_us))
        return frames

    def trade(self, now_us: int) -> tuple[TakerOrder, int]:
        """One taker order and its cross sequence (the fills of one order share it, §6.3)."""
        self.seq += 1
        return self.market.next_trade(now_us), self.seq

    def _sides(
        self, bids: dict[int, int], asks: dict[int, int]
    ) -> tuple[list[list[str]], list[list[str]]]:
        return (
            [self._level(p, bids[p]) for p in sorted(bids, reverse=True)],
            [self._level(p, asks[p]) for p in sorted(asks)],
        )

    def _diff(self, old: dict[int, int], new: dict[int, int], bids: bool) -> list[list[str]]:
        changed = [p for p in old if p not in new] + [p for p, q in new.items() if old.get(p) != q]
        changed.sort(reverse=bids)
        level = self._level  # a level that left the top: its price text with size "0"
        return [level(p, new[p]) if p in new else [level(p, 0)[0], "0"] for p in changed]

    def _frame(
        self, view: View, kind: str, bids: list[list[str]], asks: list[list[str]], now_us: int
    ) -> BookFrame:
        ts_ms = now_us // 1000
        cts_ms = (now_us - 1500) // 1000  # §6.4: matching-engine time, a little earlier than ts
        return BookFrame(view.depth, self.symbol, kind, bids, asks, view.u, self.seq, ts_ms, cts_ms)
