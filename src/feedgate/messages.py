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


_TYPES: dict[type, str] = {
    Trade: "trade",
    BookDelta: "book_delta",
    BookSnapshot: "book_snapshot",
    Bbo: "bbo",
    Status: "status",
}


def header(event: Event) -> bytes:
    """The fields every message of this type on this channel shares, as an open JSON object
    (``{"v":1,"type":…,"exchange":…,"symbol":…,"venue_symbol":…,``). The publisher caches it
    per channel, so the hot path encodes only what changes per message."""
    fixed = {
        "v": SCHEMA_VERSION,
        "type": _TYPES[type(event)],
        "exchange": event.exchange,
        "symbol": event.symbol,
        "venue_symbol": event.venue_symbol,
    }
    return orjson.dumps(fixed)[:-1] + b","


def encode_body(event: Event, seq: int) -> bytes:
    """The per-message fields, closing the object opened by ``header``."""
    dumps = orjson.dumps
    if type(event) is Trade:
        return dumps(
            {
                "ts": event.ts,
                "recv_ts": event.recv_ts,
                "seq": seq,
                "id": event.id,
                "price": event.price,
                "size": event.size,
                "side": event.side,
            }
        )[1:]
    if type(event) is BookDelta:
        return dumps(
            {
                "ts": event.ts,
                "recv_ts": event.recv_ts,
                "seq": seq,
                "bids": event.bids,
                "asks": event.asks,
            }
        )[1:]
    if type(event) is Bbo:
        return dumps(
            {
                "ts": event.ts,
                "recv_ts": event.recv_ts,
                "seq": seq,
                "bid_price": event.bid_price,
                "bid_size": event.bid_size,
                "ask_price": event.ask_price,
                "ask_size": event.ask_size,
            }
        )[1:]
    if type(event) is BookSnapshot:
        return dumps(
            {
                "ts": event.ts,
                "recv_ts": event.recv_ts,
                "seq": seq,
                "bids": event.bids,
                "asks": event.asks,
                "depth": event.depth,
            }
        )[1:]
    assert type(event) is Status
    return dumps(
        {
            "ts": event.ts,
            "recv_ts": event.recv_ts,
            "seq": seq,
            "event": event.event,
            "connection": event.connection,
            "reason": event.reason,
        }
    )[1:]


def encode(event: Event, seq: int) -> bytes:
    """The JSON of one message (field order as in docs/schema.md)."""
    return header(event) + encode_body(event, seq)
