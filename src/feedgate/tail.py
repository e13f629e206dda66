"""``feedgate tail PATTERN…``: one line per message from channels matching the patterns.

Works against any Redis URL with plain Pub/Sub pattern subscriptions (``PSUBSCRIBE``). Against a
cluster (``redis+cluster://``) the gateway publishes sharded, and sharded Pub/Sub has no patterns:
there the arguments are exact channel names, followed with ``SSUBSCRIBE``. Filters keep lines
of some message types, exchanges or symbols; a gap in a channel's ``seq`` gets a line of its own;
``--summary N`` writes a per-channel rate line to stderr every N seconds.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from feedgate.client.subscriber import Subscriber
from feedgate.errors import ConfigError
from feedgate.runtime.redis_target import is_cluster_url
from feedgate.tls import TlsOptions

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


@dataclass
class Filters:
    """Message fields a line must match (None: any)."""

    types: set[str] | None = None
    exchanges: set[str] | None = None
    symbols: set[str] | None = None

    def accept(self, message: dict[str, Any]) -> bool:
        return (
            (self.types is None or message.get("type") in self.types)
            and (self.exchanges is None or message.get("exchange") in self.exchanges)
            and (self.symbols is None or message.get("symbol") in self.symbols)
        )


class RateSummary:
    """Messages per second per channel over the last interval, and the seq gaps seen."""

    def __init__(self, every_s: float, now: float) -> None:
        self.every_s = every_s
        self.since = now
        self.counts: Counter[str] = Counter()
        self.gaps: Counter[str] = Counter()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.every_s)
            print(self.line(loop.time()), file=sys.stderr, flush=True)

    def line(self, now: float, top: int = 8) -> str:
        elapsed = max(now - self.since, 1e-9)
        parts = [f"{ch} {n / elapsed:.1f}/s" for ch, n in self.counts.most_common(top)]
        if len(self.counts) > top:
            parts.append(f"+{len(self.counts) - top} more")
        total = sum(self.counts.values()) / elapsed
        gaps = f", gaps {sum(self.gaps.values())}" if self.gaps else ""
        self.since, self.counts, self.gaps = now, Counter(), Counter()
        return f"-- {elapsed:.0f}s: {total:.1f} msgs/s{gaps}: " + (", ".join(parts) or "silence")


async def tail(
    url: str,
    patterns: list[str],
    *,
    as_json: bool = False,
    limit: int | None = None,
    filters: Filters | None = None,
    summary_s: float = 0.0,
    tls: TlsOptions | None = None,
) -> None:
    """Print matching messages until ``limit`` (or forever). A line marks each seq gap; with
    ``summary_s`` a rate summary line per channel follows every so many seconds."""
    check_channels(url, patterns)
    filters = filters or Filters()
    color = sys.stdout.isatty() and not as_json
    loop = asyncio.get_running_loop()
    summary = RateSummary(summary_s, loop.time())
    sharded = is_cluster_url(url)
    subscriber = Subscriber(
        url, channels=patterns if sharded else (), patterns=() if sharded else patterns, tls=tls
    )
    seen = 0
    reporter = asyncio.create_task(summary.run()) if summary_s > 0 else None
    try:
        async with subscriber:
            async for channel, data in subscriber.raw_messages():
                if _show(channel, data, subscriber, filters, summary, as_json, color):
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
    finally:
        if reporter is not None:
            reporter.cancel()


def _show(
    channel: str,
    data: bytes,
    subscriber: Subscriber,
    filters: Filters,
    summary: RateSummary,
    as_json: bool,
    color: bool,
) -> bool:
    """Print one message (and the gap before it) if it passes the filters."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        print(f"{channel:<28} not JSON: {data[:80]!r}", flush=True)
        return False
    if not isinstance(message, dict) or not filters.accept(message):
        return False
    summary.counts[channel] += 1
    seq = message.get("seq")
    gap = subscriber.tracker.observe(channel, seq) if isinstance(seq, int) else None
    if gap is not None:
        summary.gaps[channel] += 1
        if not as_json:
            print(f"{channel:<28} -- gap: {gap.reason}, expected seq {gap.expected}, "
                  f"got {gap.got}", flush=True)  # fmt: skip
    if as_json:
        print(data.decode(), flush=True)
    else:
        print(format_message(channel, message, color), flush=True)
    return True


def check_channels(url: str, patterns: list[str]) -> None:
    if is_cluster_url(url) and any(c in name for name in patterns for c in "*?["):
        raise ConfigError(["tail: sharded Pub/Sub has no patterns: name the channels exactly"])


def tls_options(
    url: str, ca: str | None, cert: str | None, key: str | None, check_hostname: bool = True
) -> TlsOptions | None:
    """``--tls-*`` arguments → TlsOptions (None without any); every problem is listed."""
    if ca is None and cert is None and key is None and check_hostname:
        return None
    problems = [
        f"{flag}: file {path} does not exist"
        for flag, path in (("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key))
        if path is not None and not Path(path).is_file()
    ]
    if not url.startswith(("rediss://", "rediss+cluster://")):
        problems.append("--tls-*: need a rediss:// --url")
    if key is not None and cert is None:
        problems.append("--tls-key: needs --tls-cert")
    if problems:
        raise ConfigError(problems)
    return TlsOptions(ca, cert, key, check_hostname)
