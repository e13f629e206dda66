"""The naive gateway the benchmark compares against: websockets, ``json.loads``, and one
``await redis.publish`` per message (what a hand-rolled ingester usually looks like).

``python bench/naive.py --ws ws://127.0.0.1:P --redis redis://127.0.0.1:R/0 --symbols N
--per-connection K``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import redis.asyncio as aioredis
from websockets.asyncio.client import connect


async def connection(url: str, streams: list[str], redis: aioredis.Redis) -> None:
    async with connect(
        f"{url}/stream?streams={'/'.join(streams)}&timeUnit=MICROSECOND", max_size=None
    ) as ws:
        seq: dict[str, int] = {}
        async for frame in ws:
            recv_ts = time.time_ns() // 1000
            wrapper = json.loads(frame)
            data = wrapper["data"]
            symbol = data["s"][:-4] + "-USDT"
            channel = f"trades:binance:{symbol}"
            seq[channel] = seq.get(channel, 0) + 1
            message = {
                "v": 1,
                "type": "trade",
                "exchange": "binance",
                "symbol": symbol,
                "venue_symbol": data["s"],
                "ts": data["T"],
                "recv_ts": recv_ts,
                "seq": seq[channel],
                "id": str(data["t"]),
                "price": data["p"],
                "size": data["q"],
                "side": "sell" if data["m"] else "buy",
            }
            await redis.publish(channel, json.dumps(message))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--symbols", type=int, default=1)
    parser.add_argument("--per-connection", type=int, default=1)
    args = parser.parse_args()
    redis = aioredis.Redis.from_url(args.redis)
    names = [f"s{i:03d}usdt@trade" for i in range(args.symbols)]
    groups = [names[i : i + args.per_connection] for i in range(0, len(names), args.per_connection)]
    await asyncio.gather(*(connection(args.ws, g, redis) for g in groups))


if __name__ == "__main__":
    asyncio.run(main())
