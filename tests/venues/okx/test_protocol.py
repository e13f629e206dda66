"""OkxProtocol, pure: subscriptions, trades, keepalive, errors (exchanges.md §5.2, §5.3, §5.7).

Book sync, checksums and the REST fallback are in ``test_protocol_books.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feedgate.events import Bbo, Side, Status, StatusEvent, Trade
from feedgate.protocol.base import CountParseError, Rotate, Subscribed, Topic
from feedgate.venues.okx.options import OkxOptions
from tests.venues.actions import events, of_type
from tests.venues.okx.frames import (
    BTC,
    CONN,
    DOC_ACK,
    DOC_BBO,
    DOC_ERROR,
    DOC_NOTICE,
    DOC_SNAPSHOT,
    DOC_TRADE,
    DOC_UPDATE,
    ETH,
    T0,
    UNKNOWN_INST_ERROR,
    ack,
    all_topics,
    make,
    opened,
    sent,
)


def test_connect_url_follows_the_endpoint() -> None:
    assert make(Topic("trades", BTC)).connect_url() == "wss://ws.okx.com:8443/ws/v5/public"
    local = make(Topic("trades", BTC), ws_url="ws://127.0.0.1:9/")
    assert local.connect_url() == "ws://127.0.0.1:9/ws/v5/public"
    eea = make(Topic("trades", BTC), ws_url="wss://wseea.okx.com:8443/ws/v5/public")
    assert eea.connect_url() == "wss://wseea.okx.com:8443/ws/v5/public"  # §5.1: used as given


def test_options_guard_the_unsequenced_mode() -> None:
    with pytest.raises(ValueError, match="legacy_checksum"):
        OkxOptions(legacy_unsequenced=True)
    with pytest.raises(ValueError):
        OkxOptions(ping_interval_s=30)  # §5.7: must stay under 30 s
    assert OkxOptions(legacy_unsequenced=True, legacy_checksum=True).legacy_unsequenced


def test_subscribe_requests_group_symbols_and_carry_ids() -> None:
    proto = make(*all_topics(BTC, ETH, "SOL-USDT"), symbols_per_request=2)
    frames = sent(proto.on_open(T0))
    assert [f["op"] for f in frames] == ["subscribe", "subscribe"]
    assert [f["id"] for f in frames] == ["1", "2"]
    assert frames[0]["args"] == [
        {"channel": "trades", "instId": BTC},
        {"channel": "books", "instId": BTC},  # book and bbo share one books subscription
        {"channel": "trades", "instId": ETH},
        {"channel": "books", "instId": ETH},
    ]
    assert frames[1]["args"] == [
        {"channel": "trades", "instId": "SOL-USDT"},
        {"channel": "books", "instId": "SOL-USDT"},
    ]


def test_bbo_tbt_option_subscribes_the_channel() -> None:
    proto = make(Topic("bbo", BTC), Topic("trades", BTC), bbo_source="bbo-tbt")
    (frame,) = sent(proto.on_open(T0))
    assert {a["channel"] for a in frame["args"]} == {"bbo-tbt", "trades"}


def test_up_once_every_arg_is_acked() -> None:
    proto = make(*all_topics(BTC, ETH))
    (frame,) = sent(proto.on_open(T0))
    args = frame["args"]
    for arg in args[:-1]:
        assert proto.on_frame(ack(frame["id"], arg["channel"], arg["instId"]), T0) == []
    last = proto.on_frame(ack(frame["id"], args[-1]["channel"], args[-1]["instId"]), T0)
    assert last[0] == Subscribed()
    assert of_type(last, Status)[0].event is StatusEvent.SUBSCRIBED
    assert proto.on_frame(ack(frame["id"], "books", BTC), T0) == []  # a repeat changes nothing


def test_acks_without_id_as_recorded_in_2022() -> None:
    proto = make(Topic("book", BTC))
    proto.on_open(T0)
    assert proto.on_frame(ack(None, "tickers", BTC), T0) == []  # not ours
    assert proto.on_frame(DOC_ACK, T0)[0] == Subscribed()  # §5.2 ack, id "1512" unknown


def test_doc_trade_normalizes() -> None:
    proto = opened(make(Topic("trades", BTC)))
    (trade,) = events(proto.on_frame(DOC_TRADE, T0))
    assert trade == Trade(
        "okx", BTC, BTC, 1630048897897000, T0, "130639474", "42219.9", "0.12060306", Side.BUY
    )


def test_every_trade_of_a_frame_is_emitted_or_none() -> None:
    proto = opened(make(Topic("trades", BTC)))
    data = orjson.loads(DOC_TRADE)
    second = dict(data["data"][0], tradeId="130639475", side="sell", px="42219.8")
    data["data"].append(second)
    trades = events(proto.on_frame(orjson.dumps(data), T0))
    assert [(t.id, t.side, t.price) for t in trades] == [
        ("130639474", Side.BUY, "42219.9"),
        ("130639475", Side.SELL, "42219.8"),
    ]
    second["side"] = "both"
    actions = proto.on_frame(orjson.dumps(data), T0)
    assert len(actions) == 1 and isinstance(actions[0], CountParseError)


@pytest.mark.parametrize(
    ("field", "value"),
    [("px", 42219.9), ("sz", None), ("tradeId", 130639474), ("ts", 1630048897897), ("ts", "x")],
)
def test_bad_trade_fields_are_parse_errors(field: str, value: Any) -> None:
    proto = opened(make(Topic("trades", BTC)))
    data = orjson.loads(DOC_TRADE)
    data["data"][0][field] = value
    actions = proto.on_frame(orjson.dumps(data), T0)
    assert len(actions) == 1 and isinstance(actions[0], CountParseError)


def test_unknown_instrument_is_rejected_and_the_rest_goes_on() -> None:
    topics = (*all_topics(BTC), Topic("trades", "XYZ-USDT"), Topic("book", "XYZ-USDT"))
    proto = make(*topics)
    (frame,) = sent(proto.on_open(T0))
    for arg in frame["args"]:
        if arg["instId"] == BTC:
            assert proto.on_frame(ack(frame["id"], arg["channel"], arg["instId"]), T0) == []
    actions = proto.on_frame(UNKNOWN_INST_ERROR, T0)  # names the instId, carries no id
    (status,) = of_type(actions, Status)[:1]
    assert status.event is StatusEvent.REJECTED
    assert (status.symbol, status.venue_symbol, status.connection) == ("XYZ-USDT", "XYZ-USDT", CONN)
    assert "60018" in status.reason
    assert Subscribed() in actions  # the rest was acked: the connection is up
    assert events(proto.on_frame(DOC_TRADE, T0))  # BTC keeps flowing
    gone = proto.on_frame(DOC_TRADE.replace(BTC, "XYZ-USDT"), T0)
    assert isinstance(gone[0], CountParseError)
    # a rejected symbol is not asked for again after a reconnect
    proto.on_close(T0)
    (again,) = sent(proto.on_open(T0 + 1))
    assert {a["instId"] for a in again["args"]} == {BTC}


def test_an_error_naming_nothing_rejects_the_requests_unanswered_symbols() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), symbols_per_request=1)
    first, second = sent(proto.on_open(T0))
    proto.on_frame(ack(second["id"], "trades", ETH), T0)
    error = orjson.loads(DOC_ERROR)
    error["id"] = first["id"]
    actions = proto.on_frame(orjson.dumps(error), T0)
    rejected = [s for s in of_type(actions, Status) if s.event is StatusEvent.REJECTED]
    assert [s.symbol for s in rejected] == [BTC]
    assert Subscribed() in actions


def test_errors_we_cannot_place_are_counted() -> None:
    proto = opened(make(Topic("trades", BTC)))
    actions = proto.on_frame(DOC_ERROR, T0)  # id "1512" was never sent
    assert len(actions) == 1 and isinstance(actions[0], CountParseError)
    assert "60012" in actions[0].detail


def test_notice_asks_for_a_rotation_and_pong_is_quiet() -> None:
    proto = opened(make(Topic("trades", BTC)))
    assert proto.on_frame(DOC_NOTICE, T0) == [Rotate("server_shutdown")]
    assert proto.on_frame("pong", T0) == []
    assert proto.on_frame(b"pong", T0) == []


def test_text_ping_after_silence_only() -> None:
    proto = opened(make(Topic("trades", BTC), ping_interval_s=20))
    second = 1_000_000
    assert sent(proto.on_tick(T0 + second)) == []  # arms the schedule
    proto.on_frame(DOC_TRADE, T0 + 10 * second)  # a frame restarts it
    assert sent(proto.on_tick(T0 + 11 * second)) == []
    assert sent(proto.on_tick(T0 + 25 * second)) == []  # only 14 s since the restart
    assert sent(proto.on_tick(T0 + 31 * second)) == ["ping"]  # §5.7: text, not JSON
    assert sent(proto.on_tick(T0 + 32 * second)) == []
    assert sent(proto.on_tick(T0 + 51 * second)) == ["ping"]


def test_bbo_tbt_is_published_when_the_touch_changes() -> None:
    bch = "BCH-USDT"
    proto = opened(
        make(Topic("bbo", bch), venue_symbols={bch: "BCH-USDT-SWAP"}, bbo_source="bbo-tbt")
    )
    (bbo,) = events(proto.on_frame(DOC_BBO, T0))
    assert bbo == Bbo(
        "okx", bch, "BCH-USDT-SWAP", 1670324386802000, T0, "111.05", "57745", "111.06", "55154"
    )
    assert proto.on_frame(DOC_BBO, T0 + 1) == []  # unchanged: nothing
    moved = DOC_BBO.replace('"57745"', '"1"')
    assert [b.bid_size for b in of_type(proto.on_frame(moved, T0 + 2), Bbo)] == ["1"]
    (empty,) = of_type(proto.on_close(T0 + 3), Bbo)  # no valid best price until resubscribed
    assert (empty.bid_price, empty.ask_price) == (None, None)


def test_frames_for_channels_we_did_not_subscribe_are_counted() -> None:
    proto = opened(make(Topic("trades", BTC)))
    for frame in (DOC_SNAPSHOT, DOC_UPDATE, DOC_BBO, "not json", "[1, 2]", '{"event": "x"}'):
        actions = proto.on_frame(frame, T0)
        assert len(actions) == 1 and isinstance(actions[0], CountParseError), frame
