"""Consuming feedgate: typed messages, subscriptions with gap detection, a book follower.

    from feedgate.client import Subscriber, BookFollower

See docs/consuming.md.
"""

from feedgate.client.book import BookFollower
from feedgate.client.gaps import Gap, SeqTracker
from feedgate.client.messages import (
    Announcement,
    AnyMessage,
    Bbo,
    BookDelta,
    BookSnapshot,
    Message,
    Onchain,
    Private,
    SchemaError,
    Status,
    Trade,
    decode,
)
from feedgate.client.replay import replay
from feedgate.client.subscriber import Delivery, Subscriber
from feedgate.tls import TlsOptions

__all__ = [
    "Announcement",
    "AnyMessage",
    "Bbo",
    "BookDelta",
    "BookFollower",
    "BookSnapshot",
    "Delivery",
    "Gap",
    "Message",
    "Onchain",
    "Private",
    "SchemaError",
    "SeqTracker",
    "Status",
    "Subscriber",
    "TlsOptions",
    "Trade",
    "decode",
    "replay",
]
