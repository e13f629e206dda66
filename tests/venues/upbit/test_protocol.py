"""The Upbit protocol, pure: frames (exchanges.md §4 samples) and times in, actions out."""

from __future__ import annotations

import orjson
import pytest
from pydantic import SecretStr

from feedgate.events import Bbo, BookSnapshot, PrivateUpdate, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import (
    ConnectionSpec,
    CountParseError,
    Fatal,
    Resync,
    Send,
    Subscribed,
    Topic,
)
from feedgate.venues.upbit import VENUE, wire
from feedgate.venues.upbit.options import UpbitOptions
from feedgate.venues.upbit.protocol import UpbitProtocol
from tests.venues.actions import of_type
from tests.venues.upbit import frames

NOW = 1_700_000_000_000_000


def proto(
    symbols: list[str], channels: tuple[str, ...] = ("trades", "book", "bbo"), **options: object
) -> UpbitProtocol:
    topics = tuple(Topic(c, s) for s in symbols for c in channels)
    return UpbitProtocol(ConnectionSpec("upbit-00", topics), UpbitOptions.model_validate(options))


def test_codes_map_both_ways() -> None:
    assert wire.canonical("KRW-BTC") == "BTC-KRW"
    assert wire.venue_code("BTC-USDT") == "USDT-BTC"
    assert VENUE.venue_symbol("ETH-SGD") == "SGD-ETH"
    for bad in ("KRWBTC", "krw-btc", "A-B-C", "-BTC"):
        with pytest.raises(ValueError):
            wire.canonical(bad)


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("kr", "wss://api.upbit.com/websocket/v1"),
        ("sg", "wss://sg-api.upbit.com/websocket/v1"),
        ("id", "wss://id-api.upbit.com/websocket/v1"),
        ("th", "wss://th-api.upbit.com/websocket/v1"),
    ],
)
def test_regions_and_override(region: str, url: str) -> None:
    assert proto(["BTC-SGD"], region=region).connect_url() == url
    assert proto(["BTC-SGD"], ws_url="ws://h:1/").connect_url() == "ws://h:1/websocket/v1"


def test_one_request_array_with_every_type() -> None:
    p = proto(["BTC-KRW", "ETH-KRW"], depth=15, format="DEFAULT", is_only_realtime=True)
    (send,) = p.on_open(NOW)
    assert isinstance(send, Send)
    request = orjson.loads(send.data)
    assert set(request[0]) == {"ticket"}
    assert request[1:] == [
        {"type": "trade", "codes": ["KRW-BTC", "KRW-ETH"], "is_only_realtime": True},
        {"type": "orderbook", "codes": ["KRW-BTC.15", "KRW-ETH.15"], "is_only_realtime": True},
        {"format": "DEFAULT"},
    ]
    assert p.connect_headers(NOW) == []  # public: no JWT


@pytest.mark.parametrize("raw", [frames.TRADE_DEFAULT, frames.TRADE_DEFAULT.decode()])
def test_default_trade_binary_or_text(raw: bytes | str) -> None:
    p = proto(["BTC-KRW"])
    actions = p.on_frame(raw, NOW)
    assert isinstance(actions[0], Subscribed)
    (trade,) = of_type(actions, Trade)
    assert (trade.symbol, trade.venue_symbol) == ("BTC-KRW", "KRW-BTC")
    assert (trade.id, trade.price, trade.size) == ("1676965220395000", "32292000", "0.03096742")
    assert trade.side is Side.BUY  # §4.3 BID = buy
    assert trade.ts == 1676965220395_000  # trade_timestamp ms → µs


def test_simple_trade_and_repeat_dropped() -> None:
    p = proto(["BTC-SGD"])
    (trade,) = of_type(p.on_frame(frames.TRADE_SIMPLE, NOW), Trade)
    assert (trade.price, trade.size, trade.side) == ("128450", "0.0031", Side.SELL)
    assert of_type(p.on_frame(frames.TRADE_SIMPLE, NOW), Trade) == []  # same sequential_id


@pytest.mark.parametrize("raw", [frames.BOOK_DEFAULT, frames.BOOK_SIMPLE])
def test_every_orderbook_is_a_snapshot_with_bbo(raw: bytes) -> None:
    p = proto(["BTC-SGD"], depth=15)
    actions = p.on_frame(raw, NOW)
    (snap,) = of_type(actions, BookSnapshot)
    assert snap.depth == 15 and snap.ts == 1746601573804_000
    assert snap.bids[0] == ("128450", "0.05") and snap.asks[0] == ("128460", "0.2")
    (bbo,) = of_type(actions, Bbo)
    assert (bbo.bid_price, bbo.bid_size, bbo.ask_price, bbo.ask_size) == (
        "128450", "0.05", "128460", "0.2",
    )  # fmt: skip
    synced = [s for s in of_type(actions, Status) if s.event is StatusEvent.BOOK_SYNCED]
    assert len(synced) == 1
    again = p.on_frame(raw, NOW)
    assert len(of_type(again, BookSnapshot)) == 1  # every image is published
    assert of_type(again, Bbo) == []  # unchanged best levels
    assert of_type(again, Status) == []


def test_zero_price_units_are_skipped() -> None:
    msg = orjson.loads(frames.BOOK_SIMPLE)
    msg["obu"].append({"ap": 128470.0, "bp": 0, "as": 0.9, "bs": 0})
    (snap,) = of_type(proto(["BTC-SGD"]).on_frame(orjson.dumps(msg), NOW), BookSnapshot)
    assert len(snap.bids) == 1 and len(snap.asks) == 2 and snap.depth == 30


def test_number_rendering_is_plain_decimal() -> None:
    msg = orjson.loads(frames.TRADE_SIMPLE)
    msg.update(tp=0.00001234, tv=1e-08)
    (trade,) = of_type(proto(["BTC-SGD"]).on_frame(orjson.dumps(msg), NOW), Trade)
    assert (trade.price, trade.size) == ("0.00001234", "0.00000001")


def test_close_resets_synced_books_only() -> None:
    p = proto(["BTC-SGD", "ETH-SGD"])
    p.on_frame(frames.BOOK_SIMPLE, NOW)
    actions = p.on_close(NOW)
    assert [a.reason for a in actions if isinstance(a, Resync)] == ["reconnect"]
    (reset,) = of_type(actions, Status)
    assert (reset.event, reset.symbol, reset.reason) == (
        StatusEvent.BOOK_RESET, "BTC-SGD", "reconnect",
    )  # fmt: skip
    (bbo,) = of_type(actions, Bbo)
    assert bbo.bid_price is None and bbo.ask_price is None
    assert p.on_close(NOW) == []


def test_ping_every_interval_and_status_up_acks() -> None:
    p = proto(["BTC-SGD"], ping_interval_s=60)
    p.on_open(NOW)
    assert p.on_tick(NOW + 59_000_000) == []
    assert p.on_tick(NOW + 60_000_000) == [Send("PING")]
    actions = p.on_frame(b'{"status":"UP"}', NOW)
    assert isinstance(actions[0], Subscribed)
    assert p.on_frame(b'{"status":"UP"}', NOW) == []


def test_error_frames_are_rejections_and_bad_auth_is_fatal() -> None:
    p = proto(["BTC-SGD"])
    actions = p.on_frame(frames.ERROR, NOW)
    (status,) = of_type(actions, Status)
    assert (status.event, status.reason) == (StatusEvent.REJECTED, "NO_CODES")
    assert any(isinstance(a, CountParseError) for a in actions)
    bad = p.on_frame(b'{"error":{"name":"INVALID_AUTH","message":"x"}}', NOW)
    assert Fatal("INVALID_AUTH") in bad


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1]", b'{"ty":"mystery"}', b'{"ty":"trade","cd":"KRW-XRP"}',
     frames.TRADE_SIMPLE.replace(b'"tp": 128450.0', b'"tp": "128450.0"'),
     frames.BOOK_SIMPLE.replace(b'"as": 0.2', b'"as": -0.2')],
)  # fmt: skip
def test_bad_frames_are_counted(raw: bytes) -> None:
    actions = proto(["BTC-SGD"]).on_frame(raw, NOW)
    assert [type(a) for a in actions] == [CountParseError]


def test_private_connection_subscribes_and_publishes_as_sent() -> None:
    secret = "s3cret-value"
    p = proto(
        ["BTC-KRW"], ("my_order", "my_asset"),
        access_key="ak", secret_key=secret, account="desk1",
    )  # fmt: skip
    assert p.connect_url() == "wss://api.upbit.com/websocket/v1/private"
    (send,) = p.on_open(NOW)
    assert orjson.loads(send.data)[1:] == [
        {"type": "myOrder", "codes": ["KRW-BTC"]}, {"type": "myAsset"}, {"format": "SIMPLE"},
    ]  # fmt: skip
    assert secret not in send.data
    ((name, value),) = p.connect_headers(NOW)
    assert name == "Authorization" and value.startswith("Bearer ")
    assert p.connect_headers(NOW) != [(name, value)]  # fresh nonce at every connect
    asset = b'{"ty":"myAsset","astuid":"u","ast":[{"cu":"KRW","b":1000.0,"l":0.0}],"asttms":1,"tms":1710146517267,"st":"REALTIME"}'  # noqa: E501
    (update,) = of_type(p.on_frame(asset, NOW), PrivateUpdate)
    assert (update.account, update.kind, update.ts) == ("desk1", "my_asset", 1710146517267_000)
    assert update.payload["ast"] == [{"cu": "KRW", "b": 1000.0, "l": 0.0}]


def test_private_needs_keys_and_its_own_feed() -> None:
    with pytest.raises(ValueError, match="access_key"):
        proto(["BTC-KRW"], ("my_asset",))
    with pytest.raises(ValueError, match="feed of their own"):
        proto(["BTC-KRW"], ("trades", "my_order"), access_key="a", secret_key="b")
    options = UpbitOptions.model_validate({"access_key": "a", "secret_key": "zz-secret-zz"})
    assert isinstance(options.secret_key, SecretStr) and "zz-secret-zz" not in repr(options)
