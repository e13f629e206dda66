"""Frames of exchanges.md §2, verbatim, and a venue stand-in that varies their values (never their
shape) with a correct per-connection ``sequence_num`` (§2.7)."""

from __future__ import annotations

import json
from typing import Any

from feedgate.protocol.base import Action, ConnectionSpec, Send, Topic
from feedgate.venues.coinbase.options import CoinbaseOptions
from feedgate.venues.coinbase.protocol import CoinbaseProtocol

BTC, ETH = "BTC-USD", "ETH-USD"
CONN = "coinbase-03"
T0 = 1_786_309_548_000_000  # µs

# -- exchanges.md §2, verbatim (values illustrative, as the doc says) ----------------------------
DOC_SUBSCRIBE_LEVEL2 = (
    '{"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"}'
)
DOC_SUBSCRIBE_TRADES = (
    '{"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"}'
)
DOC_SUBSCRIBE_HEARTBEATS = '{"type": "subscribe", "channel": "heartbeats"}'
DOC_ACK = """{"channel": "subscriptions", "client_id": "", "timestamp": "2026-04-07T14:30:00.000000Z",
 "sequence_num": 0,
 "events": [{"subscriptions": {"level2": ["BTC-USD"], "market_trades": ["BTC-USD", "ETH-USD"]}}]}"""  # noqa: E501
DOC_ERROR = '{"type":"error","message":"failure to subscribe"}'
DOC_TRADES = """{"channel": "market_trades", "client_id": "", "timestamp": "2026-04-07T14:30:02.789012345Z",
 "sequence_num": 5,
 "events": [{"type": "update",
             "trades": [{"trade_id": "995098700", "product_id": "BTC-USD", "price": "68900.50",
                         "size": "0.00150000", "side": "BUY",
                         "time": "2026-04-07T14:30:02.789012Z"},
                        {"trade_id": "995098701", "product_id": "BTC-USD", "price": "68900.00",
                         "size": "0.05000000", "side": "SELL",
                         "time": "2026-04-07T14:30:02.800000Z"}]}]}"""  # noqa: E501
DOC_L2_SNAPSHOT = """{"channel": "l2_data", "client_id": "", "timestamp": "2024-10-08T09:10:36.120390407Z",
 "sequence_num": 1,
 "events": [{"type": "snapshot", "product_id": "BTC-USD",
             "updates": [{"side": "bid", "event_time": "2024-10-08T09:10:35.171517Z",
                          "price_level": "62317.89", "new_quantity": "0.032355"},
                         {"side": "offer", "event_time": "2024-10-08T09:10:35.171517Z",
                          "price_level": "62394.77", "new_quantity": "0.0170024"}]}]}"""  # noqa: E501
DOC_L2_UPDATE = """{"channel": "l2_data", "client_id": "", "timestamp": "2024-10-08T09:10:53.374050957Z",
 "sequence_num": 345,
 "events": [{"type": "update", "product_id": "BTC-USD",
             "updates": [{"side": "bid", "event_time": "2024-10-08T09:10:53.335085Z",
                          "price_level": "62313.58", "new_quantity": "0"},
                         {"side": "offer", "event_time": "2024-10-08T09:10:53.335085Z",
                          "price_level": "62394.77", "new_quantity": "0.0270024"}]}]}"""  # noqa: E501
DOC_HEARTBEAT = """{"channel": "heartbeats", "client_id": "", "timestamp": "2023-06-23T20:31:26.122969572Z",
 "sequence_num": 7,
 "events": [{"current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
             "heartbeat_counter": 3049}]}"""  # noqa: E501

EVENT_TIME = "2024-10-08T09:10:53.335085Z"
EVENT_US = 1_728_378_653_335_085  # EVENT_TIME in µs (checked against datetime in test_wire)


def numbered(doc: str, seq: int) -> bytes:
    msg = json.loads(doc)
    msg["sequence_num"] = seq
    return json.dumps(msg).encode()


def l2_event(kind: str, product: str, bids: Any = (), asks: Any = ()) -> dict[str, Any]:
    """The §2.5 event shape with other levels: ``bids``/``asks`` are ``[price, size]`` pairs."""
    updates = [
        {"side": side, "event_time": EVENT_TIME, "price_level": p, "new_quantity": q}
        for side, levels in (("bid", bids), ("offer", asks))
        for p, q in levels
    ]
    return {"type": kind, "product_id": product, "updates": updates}


def trade(trade_id: str, side: str, price: str = "68900.50", product: str = BTC) -> dict[str, Any]:
    """The §2.4 trade shape with other values."""
    return {
        "trade_id": trade_id, "product_id": product, "price": price, "size": "0.00150000",
        "side": side, "time": "2026-04-07T14:30:02.789012Z",
    }  # fmt: skip


class Venue:
    """Frames as one Coinbase connection sends them: every message takes the next
    ``sequence_num`` (from 0, §2.7). ``lose(n)`` drops ``n`` messages on the way."""

    def __init__(self, proto: CoinbaseProtocol, now: int = T0) -> None:
        self.proto = proto
        self.seq = 0
        self.now = now

    def send(self, doc: str, events: list[Any] | None = None) -> list[Action]:
        msg = json.loads(doc)
        msg["sequence_num"] = self.seq
        self.seq += 1
        if events is not None:
            msg["events"] = events
        self.now += 1000
        return self.proto.on_frame(json.dumps(msg), self.now)

    def lose(self, n: int = 1) -> None:
        self.seq += n

    def ack(self, **subscriptions: list[str]) -> list[Action]:
        return self.send(DOC_ACK, [{"subscriptions": subscriptions}])

    def book(self, kind: str, product: str, bids: Any = (), asks: Any = ()) -> list[Action]:
        return self.send(DOC_L2_UPDATE, [l2_event(kind, product, bids, asks)])

    def trades(self, *trades: dict[str, Any], kind: str = "update") -> list[Action]:
        return self.send(DOC_TRADES, [{"type": kind, "trades": list(trades)}])

    def heartbeat(self) -> list[Action]:
        return self.send(DOC_HEARTBEAT)


def make(*topics: Topic, **options: Any) -> CoinbaseProtocol:
    return CoinbaseProtocol(ConnectionSpec(CONN, topics), CoinbaseOptions(**options))


def all_topics(*products: str) -> tuple[Topic, ...]:
    return tuple(Topic(c, p) for p in products for c in ("trades", "book", "bbo"))


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.data) for a in actions if isinstance(a, Send)]


def connected(proto: CoinbaseProtocol, *, sync: tuple[str, ...] = ()) -> Venue:
    """Open, acknowledge every channel, and sync ``sync``'s books from one-level snapshots."""
    proto.on_open(T0)
    venue = Venue(proto)
    venue.ack(heartbeats=["heartbeats"], market_trades=[BTC, ETH], level2=[BTC, ETH])
    for product in sync:
        venue.book("snapshot", product, [["100.00", "1.5"]], [["101.00", "2.5"]])
    return venue


def book_state(proto: CoinbaseProtocol, product: str = BTC) -> tuple[Any, ...]:
    sync = proto._books[product].sync
    return sync.state, sync.book.bids.top(), sync.book.asks.top()
