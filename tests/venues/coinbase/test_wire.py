"""Coinbase wire helpers, pure: RFC 3339 timestamps (§2.9), the products list, frame builders."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedgate.venues.coinbase import wire
from tests.venues.coinbase.frames import (
    DOC_ACK,
    DOC_L2_SNAPSHOT,
    DOC_SUBSCRIBE_HEARTBEATS,
    DOC_SUBSCRIBE_LEVEL2,
    DOC_SUBSCRIBE_TRADES,
    EVENT_TIME,
    EVENT_US,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference_us(text: str) -> int:
    """``datetime``'s reading, the fraction cut to µs first (it takes at most 6 digits)."""
    match = re.fullmatch(r"(.{19})(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)", text)
    assert match is not None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in "Zz" else zone
    parsed = datetime.fromisoformat(f"{base}.{((fraction or '') + '000000')[:6]}{zone}")
    return (parsed - EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EVENT_TIME, EVENT_US),  # §2.5 event_time, µs
        ("2024-10-08T09:10:53.374050957Z", 1_728_378_653_374_050),  # §2.3 envelope, ns: cut
        ("2026-08-09T21:05:38.50436Z", 1_786_309_538_504_360),  # captured: 5 digits
        ("2026-08-09T21:05:38Z", 1_786_309_538_000_000),
        ("2026-08-09T23:05:38.5+02:00", 1_786_309_538_500_000),
        ("2026-08-09T16:35:38.5-04:30", 1_786_309_538_500_000),
        ("2024-02-29T00:00:00z", 1_709_164_800_000_000),
        ("1970-01-01T00:00:00.000001Z", 1),
    ],
)
def test_rfc3339_to_microseconds(text: str, expected: int) -> None:
    assert wire.rfc3339_us(text) == expected == reference_us(text)


@pytest.mark.parametrize(
    "text",
    [
        "", "2026-08-09", "2026-08-09 21:05:38Z x", "2026-13-09T21:05:38Z", "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z", "2026-08-09T24:00:00Z", "2026-08-09T21:05:38.Z",
        "2026-08-09T21:05:38.5", "2026-08-09T21:05:38.5+0200", "2026-08-09T21:05:38.5UTC",
        "2026-08-09T21:0a:38Z", "2026-08-09T21:05:38.5Zjunk",
        "\uff12\uff10\uff12\uff16-08-09T21:05:38Z",  # fullwidth digits
    ],
)  # fmt: skip
def test_rfc3339_junk_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        wire.rfc3339_us(text)


@pytest.mark.parametrize("value", [None, 1_786_311_138, b"2026-08-09T21:05:38Z", ["x"]])
def test_rfc3339_non_strings_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        wire.rfc3339_us(value)


@given(st.integers(0, 253_402_300_799_999_999), st.integers(0, 999))
def test_format_and_parse_round_trip_and_match_datetime(us: int, nanos: int) -> None:
    text = wire.format_rfc3339(us)
    assert text == (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert wire.rfc3339_us(text) == us
    long = wire.format_rfc3339(us, nanos)
    assert long[:26] == text[:26] and len(long) == 30 and wire.rfc3339_us(long) == us


@given(st.datetimes(timezones=st.just(timezone(timedelta(hours=5, minutes=30)))))
def test_offsets_agree_with_datetime(moment: datetime) -> None:
    text = moment.isoformat(timespec="microseconds")
    if moment.year < 1000:
        return  # isoformat pads years; RFC 3339 years have four digits anyway
    assert wire.rfc3339_us(text) == (moment - EPOCH) // timedelta(microseconds=1)


# -- frames --------------------------------------------------------------------------------------


def test_subscribe_frames_are_the_docs() -> None:
    products = ["BTC-USD", "ETH-USD"]
    assert json.loads(wire.subscribe_frame("level2", products)) == json.loads(DOC_SUBSCRIBE_LEVEL2)
    assert json.loads(wire.subscribe_frame("market_trades", products)) == json.loads(
        DOC_SUBSCRIBE_TRADES
    )
    assert json.loads(wire.subscribe_frame("heartbeats", [])) == json.loads(
        DOC_SUBSCRIBE_HEARTBEATS
    )
    assert json.loads(wire.unsubscribe_frame("level2", ["BTC-USD"])) == {
        "type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"
    }  # fmt: skip


def test_builders_reproduce_the_doc_frames() -> None:
    snapshot = json.loads(DOC_L2_SNAPSHOT)
    (event,) = snapshot["events"]
    built = wire.l2_event(
        "snapshot", "BTC-USD", "2024-10-08T09:10:35.171517Z",
        [["62317.89", "0.032355"]], [["62394.77", "0.0170024"]],
    )  # fmt: skip
    assert built == event
    framed = wire.envelope("l2_data", snapshot["timestamp"], 1, [built])
    assert orjson.loads(framed) == snapshot
    ack = json.loads(DOC_ACK)
    assert ack["events"] == [wire.subscriptions_event(ack["events"][0]["subscriptions"])]


def test_l2_levels_split_bids_and_offers() -> None:
    (event,) = json.loads(DOC_L2_SNAPSHOT)["events"]
    assert wire.l2_levels(event["updates"]) == (
        (("62317.89", "0.032355"),), (("62394.77", "0.0170024"),)
    )  # fmt: skip


@pytest.mark.parametrize(
    "update",
    [
        {"side": "ask", "price_level": "1", "new_quantity": "1"},  # §2.5: "offer", not "ask"
        {"side": "bid", "price_level": 1.5, "new_quantity": "1"},
        {"side": "bid", "price_level": "1", "new_quantity": "-1"},
        {"side": "bid", "price_level": "nan", "new_quantity": "1"},
        {"side": "bid", "new_quantity": "1"},
        ["bid", "1", "1"],
    ],
)
def test_l2_levels_junk_raises(update: Any) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        wire.l2_levels([{"side": "bid", "price_level": "2", "new_quantity": "1"}, update])


def test_error_text_keeps_message_and_reason() -> None:
    assert wire.error_text({"type": "error", "message": "failure to subscribe"}) == (
        "failure to subscribe"
    )
    legacy = {"type": "error", "message": "Failed to subscribe", "reason": "X-Y is not valid"}
    assert wire.error_text(legacy) == "Failed to subscribe: X-Y is not valid"
    assert wire.error_text({"type": "error"}) == "error"


# -- the products list -----------------------------------------------------------------------------

# Captured entries (captures/coinbase.jsonl.zst, GET /api/v3/brokerage/market/products), trimmed
# to the fields the gateway reads.
CAPTURED_PRODUCTS = [
    {"product_id": "BTC-USD", "status": "online", "trading_disabled": False, "product_type": "SPOT",
     "quote_currency_id": "USD", "base_currency_id": "BTC", "alias": "", "alias_to": ["BTC-USDC"]},
    {"product_id": "BTC-USDC", "status": "online", "trading_disabled": False,
     "product_type": "SPOT", "quote_currency_id": "USDC", "base_currency_id": "BTC",
     "alias": "BTC-USD", "alias_to": []},
    {"product_id": "USDT-USDC", "status": "online", "trading_disabled": False,
     "product_type": "SPOT", "quote_currency_id": "USDC", "base_currency_id": "USDT", "alias": "",
     "alias_to": []},
    {"product_id": "DAI-USD", "status": "delisted", "trading_disabled": True,
     "product_type": "SPOT", "quote_currency_id": "USD", "base_currency_id": "DAI", "alias": "",
     "alias_to": ["DAI-USDC"]},
    {"product_id": "DAI-USDC", "status": "delisted", "trading_disabled": True,
     "product_type": "SPOT", "quote_currency_id": "USDC", "base_currency_id": "DAI",
     "alias": "DAI-USD", "alias_to": []},
]  # fmt: skip


def test_products_map_usdc_aliases_to_their_usd_book_and_skip_delisted() -> None:
    body = orjson.dumps({"products": CAPTURED_PRODUCTS, "num_products": 5})
    assert wire.parse_products(body) == {
        "BTC-USD": "BTC-USD", "BTC-USDC": "BTC-USD", "USDT-USDC": "USDT-USDC"
    }  # fmt: skip


def test_an_alias_whose_target_is_not_listed_keeps_its_own_product() -> None:
    body = orjson.dumps({"products": CAPTURED_PRODUCTS[1:3]})
    assert wire.parse_products(body) == {"BTC-USDC": "BTC-USDC", "USDT-USDC": "USDT-USDC"}


def test_products_body_round_trips() -> None:
    body = wire.products_body([("BTC-USDT", "BTC", "USDT"), ("ETH-USDT", "ETH", "USDT")])
    assert wire.parse_products(body) == {"BTC-USDT": "BTC-USDT", "ETH-USDT": "ETH-USDT"}
    assert orjson.loads(body)["num_products"] == 2
