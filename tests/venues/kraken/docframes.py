"""Kraken v2 test data: exchanges.md §3 sample frames verbatim, the §3.5 worked example, the
captured book (``../shared/captures/kraken-v2-book.json``), and the Appendix A reference
checksum over a Decimal book, which the tests use as the independent judge."""

from __future__ import annotations

import zlib
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
import pytest

from feedgate.protocol.base import Action, ConnectionSpec, Send, Topic
from feedgate.venues.kraken import wire
from feedgate.venues.kraken.options import KrakenOptions
from feedgate.venues.kraken.protocol import KrakenProtocol
from tests.conftest import CAPTURES

T0 = 1_767_225_600_500_000  # µs
CONN = "kraken-03"
BTC, ETH = "BTC-USD", "ETH-USD"
VENUE_SYMBOLS = {BTC: "BTC/USD", ETH: "ETH/USD"}

# -- verbatim frames of exchanges.md §3 (values illustrative unless captured) --------------------
DOC_STATUS = (
    '{"channel": "status", "type": "update",'
    ' "data": [{"api_version": "v2", "connection_id": 12893477410, "system": "online",'
    ' "version": "2.0.10"}]}'
)
DOC_ACK = (
    '{"method": "subscribe",'
    ' "result": {"channel": "book", "depth": 10, "snapshot": true, "symbol": "BTC/USD"},'
    ' "success": true, "time_in": "2023-09-25T09:04:31.742599Z",'
    ' "time_out": "2023-09-25T09:04:31.742648Z", "req_id": 1}'
)
DOC_ERROR = (
    '{"error": "Currency pair not supported XBT/USD", "method": "subscribe", "success": false,'
    ' "symbol": "XBT/USD", "time_in": "2023-09-25T09:04:31.742599Z",'
    ' "time_out": "2023-09-25T09:04:31.742648Z", "req_id": 1}'
)
DOC_TRADES = (
    '{"channel": "trade", "type": "update",'
    ' "data": [{"symbol": "BTC/USD", "side": "buy", "price": 105944.2, "qty": 0.00027625,'
    ' "ord_type": "limit", "trade_id": 10218208,'
    ' "timestamp": "2023-10-06T17:35:55.440295Z"},'
    ' {"symbol": "BTC/USD", "side": "sell", "price": 105910.5, "qty": 0.0001246,'
    ' "ord_type": "market", "trade_id": 10218209,'
    ' "timestamp": "2023-10-06T17:35:56.123456Z"}]}'
)
DOC_UPDATE = (  # captured (§3.4); also update 0 of the capture
    '{"channel": "book", "type": "update",'
    ' "data": [{"symbol": "BTC/USD", "bids": [],'
    ' "asks": [{"price": 29431.1, "qty": 0.0}, {"price": 29433.3, "qty": 0.8},'
    ' {"price": 29430.6, "qty": 0.001}],'
    ' "checksum": 3547452596, "timestamp": "2023-07-30T15:29:58.343415Z"}]}'
)
DOC_HEARTBEAT = '{"channel":"heartbeat"}'
DOC_PONG = (
    '{"method":"pong","req_id":101,"time_in":"2023-09-25T09:05:00.123456Z",'
    '"time_out":"2023-09-25T09:05:00.123500Z"}'
)

# -- §3.5 worked example (BTC/USD, price dp 1, qty dp 8) -----------------------------------------
EXAMPLE_ASKS = [(45285.2, 0.001), (45286.4, 1.25), (45290.0, 0.5)]
EXAMPLE_BIDS = [(45283.5, 0.01), (45283.1, 2), (45280.0, 10)]
EXAMPLE_CHECKSUM = 3833895402
EXAMPLE_UPDATE_ASKS = [(45285.2, 0)]
EXAMPLE_UPDATE_BIDS = [(45284.0, 0.3)]
EXAMPLE_UPDATE_CHECKSUM = 797063217


def example_frames(symbol: str = "BTC/USD") -> tuple[bytes, bytes]:
    """The §3.5 example as a §3.4 snapshot and update (shape per §3.4)."""
    snap = wire.book_entry(symbol, EXAMPLE_BIDS, EXAMPLE_ASKS, EXAMPLE_CHECKSUM, None)
    upd = wire.book_entry(
        symbol, EXAMPLE_UPDATE_BIDS, EXAMPLE_UPDATE_ASKS, EXAMPLE_UPDATE_CHECKSUM,
        "2023-07-30T15:29:58.343415Z",
    )  # fmt: skip
    return wire.book_frame("snapshot", [snap]), wire.book_frame("update", [upd])


# -- the capture ----------------------------------------------------------------------------------
CAPTURE = CAPTURES / "kraken-v2-book.json"


@cache
def _capture_bytes() -> bytes:
    return CAPTURE.read_bytes()


def capture() -> dict[str, Any]:
    """``{"init": snapshot, "updates": [509 updates]}`` (BTC/USD, precision 1/8), a fresh copy."""
    if not CAPTURE.is_file():
        pytest.skip(f"{CAPTURE} is absent (a fresh checkout has no ../shared)")
    data: dict[str, Any] = orjson.loads(_capture_bytes())
    return data


# -- Appendix A, as the independent judge ---------------------------------------------------------


def appendix_checksum(bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal], price_dp: int,
                      qty_dp: int) -> int:  # fmt: skip
    """exchanges.md Appendix A ``kraken_v2_checksum``, verbatim but for names."""

    def part(x: Decimal, dp: int) -> str:
        return f"{x:.{dp}f}".replace(".", "").lstrip("0")

    s = "".join(part(p, price_dp) + part(asks[p], qty_dp) for p in sorted(asks)[:10])
    s += "".join(part(p, price_dp) + part(bids[p], qty_dp) for p in sorted(bids, reverse=True)[:10])
    return zlib.crc32(s.encode())


class RefBook:
    """A Decimal book parsed from the frames' JSON text (``parse_float=Decimal``), truncated to
    ``depth`` after every message (§3.4), checked with ``appendix_checksum``."""

    def __init__(self, depth: int = 10, price_dp: int = 1, qty_dp: int = 8) -> None:
        self.depth, self.price_dp, self.qty_dp = depth, price_dp, qty_dp
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, entry: dict[str, Any], *, truncate: bool = True) -> None:
        for side, levels in ((self.bids, entry["bids"]), (self.asks, entry["asks"])):
            for level in levels:
                price, qty = Decimal(str(level["price"])), Decimal(str(level["qty"]))
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        if truncate:
            self.bids = dict(sorted(self.bids.items(), reverse=True)[: self.depth])
            self.asks = dict(sorted(self.asks.items())[: self.depth])

    def checksum(self) -> int:
        return appendix_checksum(self.bids, self.asks, self.price_dp, self.qty_dp)

    def levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return sorted(self.bids.items(), reverse=True), sorted(self.asks.items())


def decimal_levels(levels: Any) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in levels]


# -- protocol helpers -----------------------------------------------------------------------------


def make(*topics: Topic, **options: Any) -> KrakenProtocol:
    return KrakenProtocol(
        ConnectionSpec(CONN, topics, dict(VENUE_SYMBOLS)), KrakenOptions(**options)
    )


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [orjson.loads(a.data) for a in actions if isinstance(a, Send)]


def ack_for(request: dict[str, Any]) -> list[bytes]:
    """§3.2 acks, one per symbol, for a request the protocol sent."""
    params = request["params"]
    out = []
    for symbol in params["symbol"]:
        result = {"channel": params["channel"], "symbol": symbol}
        if "depth" in params:
            result["depth"] = params["depth"]
        out.append(wire.ack_frame(request["method"], result, request["req_id"], "t", "t"))
    return out


def opened(proto: KrakenProtocol, now: int = T0, precisions: bool = True) -> KrakenProtocol:
    """Open, give it AssetPairs (BTC/USD and ETH/USD at 1/8 unless told not to), ack all."""
    actions = proto.on_open(now)
    if precisions:
        body = wire.asset_pairs_body([("BTC", "USD", 1, 8), ("ETH", "USD", 1, 8)])
        proto.on_snapshot("instruments", body, now)
    for request in sent(actions):
        for frame in ack_for(request):
            proto.on_frame(frame, now)
    return proto
