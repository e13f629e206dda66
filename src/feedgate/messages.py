"""Events → wire messages (design §2.2) and where each goes (design §2.1).

One ``encode`` per message, at publish time, with the channel's ``seq``. Every message carries
``v``, ``type``, ``exchange``, ``symbol``, ``venue_symbol``, ``ts``, ``recv_ts`` and ``seq``.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from feedgate import SCHEMA_VERSION
from feedgate.channels import STATUS_CHANNEL, ChannelKind, bbo_channel, book_channel, trades_channel
from feedgate.events import Bbo, BookDelta, BookSnapshot, Event, Status, Trade


@dataclass(frozen=True, slots=True)
class Route:
    """Where one event goes: its Pub/Sub channel, metric label and last-value key (if any)."""

    channel: str
    kind: ChannelKind
    key: str | None  # the late-joiner key (same name as the channel) or None
    publish: bool  # False for book checkpoints: they only refresh the key


def route(event: Event) -> Route:
    if type(event) is Trade:
        return Route(trades_channel(event.exchange, event.symbol), ChannelKind.TRADES, None, True)
    if type(event) is BookDelta:
        return Route(book_channel(event.exchange, event.symbol), ChannelKind.BOOK, None, True)
    if type(event) is BookSnapshot:
        channel = book_channel(event.exchange, event.symbol)
        return Route(channel, ChannelKind.BOOK, channel, not event.checkpoint)
    if type(event) is Bbo:
        channel = bbo_channel(event.exchange, event.symbol)
        return Route(channel, ChannelKind.BBO, channel, True)
    return Route(STATUS_CHANNEL, ChannelKind.STATUS, None, True)


def encode(event: Event, seq: int) -> bytes:
    """The JSON of one message; field order follows docs/schema.md."""
    if type(event) is Trade:
        return orjson.dumps({
            "v": SCHEMA_VERSION, "type": "trade", "exchange": event.exchange,
            "symbol": event.symbol, "venue_symbol": event.venue_symbol, "ts": event.ts,
            "recv_ts": event.recv_ts, "seq": seq, "id": event.id, "price": event.price,
            "size": event.size, "side": event.side.value,
        })
    if type(event) is BookDelta:
        return orjson.dumps({
            "v": SCHEMA_VERSION, "type": "book_delta", "exchange": event.exchange,
            "symbol": event.symbol, "venue_symbol": event.venue_symbol, "ts": event.ts,
            "recv_ts": event.recv_ts, "seq": seq, "bids": event.bids, "asks": event.asks,
        })
    if type(event) is Bbo:
        return orjson.dumps({
            "v": SCHEMA_VERSION, "type": "bbo", "exchange": event.exchange,
            "symbol": event.symbol, "venue_symbol": event.venue_symbol, "ts": event.ts,
            "recv_ts": event.recv_ts, "seq": seq, "bid_price": event.bid_price,
            "bid_size": event.bid_size, "ask_price": event.ask_price, "ask_size": event.ask_size,
        })
    if type(event) is BookSnapshot:
        return orjson.dumps({
            "v": SCHEMA_VERSION, "type": "book_snapshot", "exchange": event.exchange,
            "symbol": event.symbol, "venue_symbol": event.venue_symbol, "ts": event.ts,
            "recv_ts": event.recv_ts, "seq": seq, "bids": event.bids, "asks": event.asks,
            "depth": event.depth,
        })
    assert type(event) is Status
    return orjson.dumps({
        "v": SCHEMA_VERSION, "type": "status", "exchange": event.exchange,
        "symbol": event.symbol, "venue_symbol": event.venue_symbol, "ts": event.ts,
        "recv_ts": event.recv_ts, "seq": seq, "event": event.event.value,
        "connection": event.connection, "reason": event.reason,
    })
