"""The market model behind the Binance simulator: one seeded L2 book and trade tape per symbol.

Pure (no clocks, sockets or asyncio): the caller passes the time in microseconds. Prices and
quantities are kept as integer *atoms* of 1e-8, the resolution of Binance's 8-decimal text
(``"94250.01000000"``, exchanges.md §1.3/§1.5), so every rendered value is exact.

Consistency rule (what tests rely on): the "true book" changes only inside ``next_depth``, and
every change is either sent in that depthUpdate or, after ``skip_update_ids``, deliberately not
sent while its update ids are consumed (§1.7 gap). Trades never touch the book directly: the
quantity they take is queued and removed from the traded levels by the next depthUpdate, as on
the real venue, where fills show up in the diff stream.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import NamedTuple

ATOMS = 100_000_000
"""Atoms per unit: Binance renders prices and sizes with 8 decimals."""

ZERO = "0.00000000"

_USD_PRICE = {
    "BTC": 94250.0,
    "ETH": 3300.0,
    "BNB": 700.0,
    "SOL": 150.0,
    "XRP": 2.2,
    "DOGE": 0.32,
    "ADA": 0.9,
    "TRX": 0.25,
    "LTC": 100.0,
    "LINK": 20.0,
    "DOT": 7.0,
    "AVAX": 35.0,
    "USDT": 1.0,
    "USDC": 1.0,
    "FDUSD": 1.0,
    "TUSD": 1.0,
    "DAI": 1.0,
    "USD": 1.0,
    "EUR": 1.08,
    "TRY": 0.029,
    "BRL": 0.17,
}


def fmt(atoms: int) -> str:
    """Atoms → Binance decimal text: ``9425001000000`` → ``"94250.01000000"``."""
    return f"{atoms // ATOMS}.{atoms % ATOMS:08d}"


class TakerOrder(NamedTuple):
    """One aggressive order: ``fills`` trades at one price, i.e. one aggTrade (§1.4) spanning
    trade ids ``first_id .. first_id + len(fills) - 1`` (§1.3). A NamedTuple rather than a frozen
    dataclass because the saturation benchmark creates several hundred thousand a second."""

    symbol: str
    agg_id: int
    first_id: int
    price: str
    qty: str
    fills: tuple[str, ...]
    time_us: int
    buyer_is_maker: bool
    """§1.3 ``m``: true when the taker sold."""


@dataclass(frozen=True, slots=True)
class DepthChange:
    """One depthUpdate's content (§1.5): ids ``U``/``u`` and absolute ``[price, qty]`` levels."""

    symbol: str
    first_id: int
    last_id: int
    bids: list[list[str]]
    asks: list[list[str]]
    time_us: int


def _start_price(base: str, quote: str, rng: random.Random) -> float:
    base_usd = _USD_PRICE.get(base.upper()) or math.exp(rng.uniform(math.log(0.05), math.log(50)))
    quote_usd = _USD_PRICE.get(quote.upper(), 1.0)
    return base_usd / quote_usd


def _pow10_atoms(exponent: int) -> int:
    """10**exponent expressed in atoms, clamped to [1 atom, 1 unit]."""
    exponent = max(-8, min(0, exponent))
    return int(10 ** (8 + exponent))


class SymbolMarket:
    """True book, update ids and trade ids of one symbol. ``levels`` per side is the target size
    (the count drifts a little around it)."""

    __slots__ = (
        "_fill_pool",
        "_fills",
        "_hidden",
        "_rng",
        "_texts",
        "ask_prices",
        "asks",
        "bid_prices",
        "bids",
        "changes_per_update",
        "last_update_id",
        "levels",
        "lot",
        "next_agg_id",
        "next_trade_id",
        "symbol",
        "tick",
    )

    def __init__(
        self,
        symbol: str,
        base: str,
        quote: str,
        rng: random.Random,
        *,
        levels: int = 300,
        changes_per_update: int = 4,
    ) -> None:
        self.symbol = symbol
        self._rng = rng
        self.levels = levels
        self.changes_per_update = changes_per_update
        price = _start_price(base, quote, rng)
        magnitude = math.floor(math.log10(price))
        self.tick = _pow10_atoms(magnitude - 6)  # ~7 significant digits (BTCUSDT: 0.01)
        self.lot = _pow10_atoms(-magnitude - 1)  # ~0.1-1 quote per lot (BTCUSDT: 0.00001)
        self.last_update_id = rng.randrange(10**9, 8 * 10**10)
        self.next_trade_id = rng.randrange(10**8, 6 * 10**9)
        self.next_agg_id = rng.randrange(10**8, 4 * 10**9)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_prices: list[int] = []  # ascending: best bid is last
        self.ask_prices: list[int] = []  # ascending: best ask is first
        self._fills: dict[tuple[bool, int], int] = {}  # (is_bid, price) -> qty taken by trades
        self._hidden = 0
        self._texts: dict[int, str] = {}
        fill_lots = (int(math.exp(rng.uniform(0.0, 8.0))) for _ in range(512))
        self._fill_pool = [(self.lot * n, fmt(self.lot * n)) for n in fill_lots]
        mid = max(int(price * ATOMS) // self.tick, levels * 4) * self.tick
        bid, ask = mid - self.tick, mid
        for _ in range(levels):
            self._set(True, bid, self._qty())
            self._set(False, ask, self._qty())
            bid -= self.tick * rng.choice((1, 1, 1, 2, 3))
            ask += self.tick * rng.choice((1, 1, 1, 2, 3))

    # -- book primitives -----------------------------------------------------------------------

    def _qty(self) -> int:
        lots = int(math.exp(self._rng.uniform(0.0, math.log(50_000))))
        return self.lot * max(1, lots)

    def _set(self, is_bid: bool, price: int, qty: int) -> None:
        book, prices = (self.bids, self.bid_prices) if is_bid else (self.asks, self.ask_prices)
        if qty <= 0:
            if price in book:
                del book[price]
                del prices[bisect_left(prices, price)]
            return
        if price not in book:
            insort(prices, price)
        book[price] = qty

    def best_bid(self) -> int:
        return self.bid_prices[-1]

    def best_ask(self) -> int:
        return self.ask_prices[0]

    def _level(self, is_bid: bool, depth: int) -> int:
        """Price ``depth`` levels from the touch (clamped to the book)."""
        prices = self.bid_prices if is_bid else self.ask_prices
        depth = min(depth, len(prices) - 1)
        return prices[-1 - depth] if is_bid else prices[depth]

    # -- trades ----------------------------------------------------------------------------------

    def next_trade(self, now_us: int) -> TakerOrder:
        """A taker order at the touch (15 %: one level through it) with 1-3 fills (§1.3/§1.4).

        Hot path of the saturation benchmark: one ``getrandbits`` feeds every choice and fill
        sizes come from a precomputed pool of (atoms, text).
        """
        r = self._rng.getrandbits(64)
        taker_buys = bool(r & 1)
        depth = 1 if (r >> 1) & 127 < 19 else 0
        prices = self.ask_prices if taker_buys else self.bid_prices
        if depth >= len(prices):
            depth = 0
        price = prices[depth] if taker_buys else prices[-1 - depth]
        pool = self._fill_pool
        first = pool[(r >> 8) & 511]
        fills: tuple[str, ...]
        if (r >> 17) & 255 < 205:  # 80 % single fill
            total, qty, fills = first[0], first[1], (first[1],)
        else:
            picks = [first, pool[(r >> 25) & 511]]
            if (r >> 34) & 1:
                picks.append(pool[(r >> 35) & 511])
            total = sum(f[0] for f in picks)
            qty, fills = fmt(total), tuple(f[1] for f in picks)
        key = (not taker_buys, price)
        self._fills[key] = self._fills.get(key, 0) + total
        price_text = self._texts.get(price)
        if price_text is None:
            if len(self._texts) > 4096:
                self._texts.clear()
            price_text = self._texts[price] = fmt(price)
        first_id = self.next_trade_id
        self.next_trade_id = first_id + len(fills)
        self.next_agg_id += 1
        return TakerOrder(
            self.symbol,
            self.next_agg_id - 1,
            first_id,
            price_text,
            qty,
            fills,
            now_us,
            not taker_buys,
        )

    # -- depth -------------------------------------------------------------------------------------

    def skip_update_ids(self, n: int) -> None:
        """The next ``next_depth`` first consumes ``n`` update ids whose changes are applied to the
        true book but never sent: the sent event then has ``U > previous u + 1`` (§1.7 gap)."""
        self._hidden += max(1, n)

    def next_depth(self, now_us: int) -> tuple[DepthChange | None, DepthChange]:
        """Mutate the book and return (hidden change or None, the change to send).

        The hidden change exists only after ``skip_update_ids``; it always alters the touch sizes
        so a gateway that ignores the gap ends up with a wrong book.
        """
        hidden: DepthChange | None = None
        avoid: set[tuple[bool, int]] = set()
        if self._hidden:
            first = self.last_update_id + 1
            changes = self._apply_fills(set())
            touch = self._touch_sizes()
            changes.update(touch)
            avoid = set(touch)
            changes.update(self._random_changes(self.changes_per_update, avoid | set(changes)))
            self.last_update_id += self._hidden
            self._hidden = 0
            hidden = self._change(first, changes, now_us)
        changes = self._apply_fills(avoid)
        k = self._rng.randint(1, 2 * self.changes_per_update)
        changes.update(self._random_changes(k, avoid | set(changes)))
        first = self.last_update_id + 1
        self.last_update_id = first + self._rng.choice((0, 0, 0, 1, 2, 5))
        return hidden, self._change(first, changes, now_us)

    def _change(self, first: int, changes: dict[tuple[bool, int], int], now_us: int) -> DepthChange:
        last = max(self.last_update_id, first)
        bids = sorted((p, q) for (b, p), q in changes.items() if b)
        asks = sorted((p, q) for (b, p), q in changes.items() if not b)
        return DepthChange(
            symbol=self.symbol,
            first_id=first,
            last_id=last,
            bids=[[fmt(p), fmt(q)] for p, q in reversed(bids)],
            asks=[[fmt(p), fmt(q)] for p, q in asks],
            time_us=now_us,
        )

    def _touch_sizes(self) -> dict[tuple[bool, int], int]:
        out: dict[tuple[bool, int], int] = {}
        for is_bid in (True, False):
            price = self._level(is_bid, 0)
            book = self.bids if is_bid else self.asks
            qty = book[price] + self.lot * self._rng.randint(1, 1000)
            self._set(is_bid, price, qty)
            out[(is_bid, price)] = qty
        return out

    def _apply_fills(self, avoid: set[tuple[bool, int]]) -> dict[tuple[bool, int], int]:
        out: dict[tuple[bool, int], int] = {}
        for (is_bid, price), taken in self._fills.items():
            book = self.bids if is_bid else self.asks
            if price not in book or len(book) <= 2:
                continue
            qty = max(0, book[price] - taken)
            self._set(is_bid, price, qty)
            out[(is_bid, price)] = qty
        self._fills.clear()
        avoid.update(out)
        return out

    def _random_changes(self, k: int, avoid: set[tuple[bool, int]]) -> dict[tuple[bool, int], int]:
        """``k`` level changes (resize, insert, delete; mostly near the touch), then, if the spread
        is wider than a few ticks, one insert inside it. Each side stays near ``levels`` levels
        and the book never crosses: inserts are checked against the opposite touch."""
        rng = self._rng
        out: dict[tuple[bool, int], int] = {}

        def put(is_bid: bool, price: int, qty: int) -> None:
            if price > 0 and (is_bid, price) not in avoid and (is_bid, price) not in out:
                self._set(is_bid, price, qty)
                out[(is_bid, price)] = qty

        for _ in range(k):
            is_bid = rng.random() < 0.5
            count = len(self.bid_prices if is_bid else self.ask_prices)
            depth = int(rng.expovariate(0.08))
            roll = rng.random()
            if count > self.levels * 1.2:  # trim the far end
                put(is_bid, self._level(is_bid, count - 1), 0)
            elif roll < 0.5:
                put(is_bid, self._level(is_bid, depth), self._qty())
            elif roll < 0.75 or count < self.levels:
                put(is_bid, self._new_price(is_bid, depth), self._qty())
            elif count > 2:
                put(is_bid, self._level(is_bid, depth), 0)
        max_spread = self.tick * rng.randint(1, 4)
        for _ in range(6):
            if self.best_ask() - self.best_bid() <= max_spread:
                break
            is_bid = rng.random() < 0.5
            put(is_bid, self._new_price(is_bid, 0), self._qty())
        for is_bid in (True, False):  # refill a thin top of book (liquidity comes back)
            top = self.bid_prices[:-7:-1] if is_bid else self.ask_prices[:6]
            if len(top) == 6 and abs(top[5] - top[0]) > 12 * self.tick:
                gaps = [abs(top[d + 1] - top[d]) for d in range(5)]
                put(is_bid, self._new_price(is_bid, 1 + gaps.index(max(gaps))), self._qty())
        return out

    def _new_price(self, is_bid: bool, depth: int) -> int:
        """A price not in the book: inside the spread for ``depth`` 0 (behind the touch when the
        spread is one tick), else in the gap below level ``depth`` or past the far end."""
        tick, rng = self.tick, self._rng
        best_bid, best_ask = self.best_bid(), self.best_ask()
        sign = -1 if is_bid else 1  # direction away from the touch
        if depth == 0:
            gap = (best_ask - best_bid) // tick
            if gap >= 2:
                step = rng.randint(1, min(gap - 1, max(3, gap // 2)))
                return best_bid + step * tick if is_bid else best_ask - step * tick
        prices = self.bid_prices if is_bid else self.ask_prices
        depth = min(max(depth, 1), len(prices)) - 1
        near = self._level(is_bid, depth)
        if depth + 1 < len(prices):
            far = self._level(is_bid, depth + 1)
            gap = abs(far - near) // tick
            if gap >= 2:
                return near + sign * tick * rng.randint(1, gap - 1)
        return self._level(is_bid, len(prices) - 1) + sign * tick * rng.randint(1, 3)

    # -- views -------------------------------------------------------------------------------------

    def top(self, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        """Best-first ``[price, qty]`` text of the top ``limit`` levels each side (§1.6)."""
        bids = [[fmt(p), fmt(self.bids[p])] for p in reversed(self.bid_prices[-limit:])]
        asks = [[fmt(p), fmt(self.asks[p])] for p in self.ask_prices[:limit]]
        return bids, asks
