"""A runnable consumer: one book kept right with BookFollower, and that symbol's trades.

    python examples/consumer.py --url redis://127.0.0.1:6379/0 --exchange binance \\
        --symbol BTC-USDT [--seconds 30]

Start a gateway first (``make demo`` prints its Redis url). Prints each trade, the top of the
book once a second, and a line whenever messages were lost (the book then rebuilds itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from decimal import Decimal

from feedgate.client import BookFollower, Subscriber, Trade


def level(best: tuple[Decimal, Decimal] | None) -> str:
    return "-" if best is None else f"{best[1]} @ {best[0]}"


async def follow(url: str, exchange: str, symbol: str, seconds: float | None) -> None:
    trades = Subscriber(url, channels=[f"trades:{exchange}:{symbol}"])
    async with BookFollower(url, exchange, symbol) as book, trades:

        async def print_trades() -> None:
            async for delivery in trades:
                if delivery.gap:
                    print(f"lost {delivery.gap.missed} trades ({delivery.gap.reason})")
                trade = delivery.message
                if isinstance(trade, Trade):
                    print(f"trade {trade.side:>4} {trade.size} @ {trade.price}  id={trade.id}")

        async def print_book() -> None:
            while True:
                if book.valid:
                    bid, ask = level(book.best_bid()), level(book.best_ask())
                    print(f"book  bid {bid}  ask {ask}  seq {book.seq}")
                else:
                    print(f"book  resyncing ({book.state.value})")
                await asyncio.sleep(1.0)

        tasks = [asyncio.create_task(print_trades()), asyncio.create_task(print_book())]
        try:
            await asyncio.wait(tasks, timeout=seconds)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--exchange", default="binance")
    parser.add_argument("--symbol", default="BTC-USDT")
    parser.add_argument("--seconds", type=float, default=None, help="stop after (default: never)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(args.url, args.exchange, args.symbol, args.seconds))


if __name__ == "__main__":
    main()
