"""``feedgate tail PATTERN…``: one line per message from channels matching the patterns.

Works against any Redis URL; uses plain Pub/Sub pattern subscriptions (``PSUBSCRIBE``).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import redis.asyncio as aioredis

_COLORS = {
    "trade": "\033[36m",
    "book_snapshot": "\033[35m",
    "book_delta": "\033[34m",
    "bbo": "\033[33m",
    "status": "\033[31m",
}
_RESET = "\033[0m"


def format_message(channel: str, message: dict[str, Any], color: bool) -> str:
    kind = message.get("type", "?")
    if kind == "trade":
        body = f"{message['side']:>4} {message['size']} @ {message['price']}  id={message['id']}"
    elif kind == "bbo":
        body = (
            f"{message['bid_size']} @ {message['bid_price']}  |  "
            f"{message['ask_price']} x {message['ask_size']}"
        )
    elif kind in ("book_snapshot", "book_delta"):
        bids, asks = message.get("bids", []), message.get("asks", [])
        best = f" best {bids[0][0]} / {asks[0][0]}" if bids and asks else ""
        body = f"{len(bids)} bids, {len(asks)} asks{best}"
    elif kind == "status":
        body = f"{message['event']} {message['connection']} {message.get('reason') or ''}".strip()
    else:
        body = orjson.dumps(message).decode()
    line = f"{channel:<28} seq={message.get('seq', '?'):<7} {kind:<13} {body}"
    return f"{_COLORS.get(kind, '')}{line}{_RESET}" if color else line


async def tail(
    url: str, patterns: list[str], *, as_json: bool = False, limit: int | None = None
) -> None:
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.psubscribe(*patterns)
    color = sys.stdout.isatty() and not as_json
    seen = 0
    try:
        async for item in pubsub.listen():
            if item["type"] != "pmessage":
                continue
            channel = item["channel"].decode()
            if as_json:
                print(item["data"].decode(), flush=True)
            else:
                message = orjson.loads(item["data"])
                print(format_message(channel, message, color), flush=True)
            seen += 1
            if limit is not None and seen >= limit:
                return
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
