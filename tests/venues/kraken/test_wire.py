"""Kraken wire helpers: the §3.2/§3.6 requests, AssetPairs (§3.5, §3.8), RFC 3339 times."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.venues import get_venue
from feedgate.venues.kraken import wire


def test_requests_match_the_doc() -> None:
    """§3.2 and §3.6 request frames, as the doc prints them."""
    assert orjson.loads(wire.subscribe_frame("book", ["BTC/USD", "ETH/USD"], 1, 10)) == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 10,
                   "snapshot": True},
        "req_id": 1,
    }  # fmt: skip
    assert orjson.loads(wire.subscribe_frame("trade", ["BTC/USD"], 2)) == {
        "method": "subscribe",
        "params": {"channel": "trade", "symbol": ["BTC/USD"], "snapshot": False},
        "req_id": 2,
    }
    assert orjson.loads(wire.unsubscribe_frame("book", ["BTC/USD"], 3, 10)) == {
        "method": "unsubscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10},
        "req_id": 3,
    }
    assert orjson.loads(wire.ping_frame(101)) == {"method": "ping", "req_id": 101}


ASSET_PAIRS = b"""{"error": [], "result": {
 "XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "base": "XXBT", "quote": "ZUSD",
              "pair_decimals": 1, "lot_decimals": 8, "status": "online"},
 "XETHZEUR": {"altname": "ETHEUR", "wsname": "ETH/EUR", "base": "XETH", "quote": "ZEUR",
              "pair_decimals": 2, "lot_decimals": 8, "status": "cancel_only"},
 "XDGUSD": {"altname": "XDGUSD", "wsname": "XDG/USD", "base": "XXDG", "quote": "ZUSD",
            "pair_decimals": 7, "lot_decimals": 8, "status": "online"},
 "XBTUSD.d": {"altname": "XBTUSD.d", "base": "XXBT", "quote": "ZUSD",
              "pair_decimals": 1, "lot_decimals": 8},
 "OLDUSD": {"altname": "OLDUSD", "wsname": "OLD/USD", "base": "OLD", "quote": "ZUSD",
            "pair_decimals": 4, "lot_decimals": 8, "status": "delisted"}}}"""


def test_asset_pairs_map_legacy_names_to_v2_symbols() -> None:
    """§3.8: REST ``wsname`` says XBT, v2 says BTC; pairs off the WS API are left out."""
    pairs = wire.parse_asset_pairs(ASSET_PAIRS)
    assert pairs == {
        "BTC-USD": wire.Pair("BTC/USD", 1, 8),
        "ETH-EUR": wire.Pair("ETH/EUR", 2, 8),
        "DOGE-USD": wire.Pair("DOGE/USD", 7, 8),
    }
    spec = get_venue("kraken")
    assert spec.parse_instruments(ASSET_PAIRS)["BTC-USD"] == "BTC/USD"
    assert spec.venue_symbol("BTC-USD") == "BTC/USD"


@pytest.mark.parametrize(
    "body", [b'{"error": ["EGeneral:Too many requests"], "result": {}}', b'{"result": []}']
)
def test_asset_pairs_errors_raise(body: bytes) -> None:
    with pytest.raises((ValueError, AttributeError, KeyError, TypeError)):
        wire.parse_asset_pairs(body)


def test_asset_pairs_builder_round_trips() -> None:
    body = wire.asset_pairs_body([("BTC", "USDT", 2, 8), ("DOGE", "USD", 7, 8)])
    assert wire.parse_asset_pairs(body) == {
        "BTC-USDT": wire.Pair("BTC/USDT", 2, 8),
        "DOGE-USD": wire.Pair("DOGE/USD", 7, 8),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-07-30T15:29:58.343415Z", datetime(2023, 7, 30, 15, 29, 58, 343415, tzinfo=UTC)),
        ("2023-10-06T17:35:55.440295Z", datetime(2023, 10, 6, 17, 35, 55, 440295, tzinfo=UTC)),
        ("2023-10-06T17:35:55.44Z", datetime(2023, 10, 6, 17, 35, 55, 440000, tzinfo=UTC)),
        ("2023-10-06T17:35:55Z", datetime(2023, 10, 6, 17, 35, 55, tzinfo=UTC)),
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert wire.parse_timestamp(text) == (expected - epoch) // (expected.resolution)


@pytest.mark.parametrize("text", ["", "yesterday", "2023-07-30T15:29:58.34341xZ", 17])
def test_bad_timestamps_raise(text: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        wire.parse_timestamp(text)


@given(st.integers(0, 4_102_444_800_000_000))
def test_timestamp_round_trip(us: int) -> None:
    text = wire.format_timestamp(us)
    assert len(text) == 27 and text.endswith("Z")
    assert wire.parse_timestamp(text) == us
