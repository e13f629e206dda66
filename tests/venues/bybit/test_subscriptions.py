"""Subscribe failures (exchanges.md §6.2): who is rejected, and everything else keeps flowing.

A failure answers one whole request of up to 10 args. The args its ``ret_msg`` names are
rejected (a ``rejected`` status per symbol); when it names none of a multi-arg request's args,
each arg is retried alone so every one gets its own answer.
"""

from __future__ import annotations

from typing import Any

import orjson

from feedgate.events import Status, StatusEvent, Trade
from feedgate.protocol.base import CountParseError, Subscribed, Topic
from feedgate.venues.bybit.protocol import BybitProtocol
from feedgate.venues.bybit.subscriptions import Ledger
from tests.venues.actions import of_type
from tests.venues.bybit.frames import (
    BTC,
    CONN,
    DOC_FAILURE,
    DOC_SPOT_ACK,
    DOC_TRADE,
    ETH,
    SNAP_U,
    T0,
    ack,
    book_state,
    delta,
    failure,
    make,
    sent,
    snapshot,
    trade_frame,
    trade_item,
)

XRP = "XRP-USDT"


def proto3() -> tuple[BybitProtocol, dict[str, Any]]:
    """BTC, ETH and XRP trades+books in one request (6 args)."""
    proto = make(*(Topic(c, s) for s in (BTC, ETH, XRP) for c in ("trades", "book")))
    (request,) = sent(proto.on_open(T0))
    assert len(request["args"]) == 6
    return proto, request


def rejected(actions: list[Any]) -> list[tuple[str | None, str]]:
    return [
        (s.symbol, s.reason) for s in of_type(actions, Status) if s.event is StatusEvent.REJECTED
    ]


def test_a_named_topic_is_rejected_and_the_rest_retried_one_by_one() -> None:
    proto, request = proto3()
    actions = proto.on_frame(failure("Invalid topic: orderbook.50.XRPUSDT", request["req_id"]), T0)
    assert rejected(actions) == [(XRP, "Invalid topic: orderbook.50.XRPUSDT")]
    retries = sent(actions)
    assert sorted(a for r in retries for a in r["args"]) == sorted(
        a for a in request["args"] if a != "orderbook.50.XRPUSDT"
    )
    assert all(r["op"] == "subscribe" and len(r["args"]) == 1 for r in retries)
    assert Subscribed() not in actions
    for retry in retries[:-1]:
        assert proto.on_frame(ack(retry["req_id"]), T0) == []
    assert Subscribed() in proto.on_frame(ack(retries[-1]["req_id"]), T0)
    # the rejected book is gone, the others work
    assert proto._books.get("XRPUSDT") is None
    assert "orderbook.50.XRPUSDT" not in proto._routes
    assert of_type(proto.on_frame(DOC_TRADE, T0), Trade)


def test_a_failure_naming_nothing_retries_every_arg_and_single_failures_reject() -> None:
    proto, request = proto3()
    retries = sent(proto.on_frame(failure("too many requests", request["req_id"]), T0))
    assert len(retries) == 6 and not rejected([])
    by_arg = {r["args"][0]: r["req_id"] for r in retries}
    actions = []
    for arg, req_id in by_arg.items():
        if arg.endswith("XRPUSDT"):
            actions += proto.on_frame(failure(f"handler not found,topic:{arg}", req_id), T0)
        else:
            actions += proto.on_frame(ack(req_id), T0)
    assert sorted(rejected(actions)) == [
        (XRP, "handler not found,topic:orderbook.50.XRPUSDT"),
        (XRP, "handler not found,topic:publicTrade.XRPUSDT"),
    ]
    assert actions.count(Subscribed()) == 1


def test_documented_failure_without_req_id_is_matched_by_the_topic_it_names() -> None:
    proto = make(Topic("trades", BTC), Topic("trades", ETH), subscribe_batch=1)
    first, second = sent(proto.on_open(T0))
    text = failure(f"Invalid topic: {second['args'][0]}")  # the §6.2 shape: no req_id
    actions = proto.on_frame(text, T0)
    assert rejected(actions) == [(ETH, f"Invalid topic: {second['args'][0]}")]
    assert Subscribed() in proto.on_frame(ack(first["req_id"]), T0)


def test_the_doc_failure_naming_no_topic_of_ours_falls_to_the_oldest_request() -> None:
    proto = make(Topic("trades", BTC))
    assert len(sent(proto.on_open(T0))) == 1
    actions = proto.on_frame(DOC_FAILURE, T0)
    assert rejected(actions) == [(BTC, "Invalid topic: invalid.topic.BTCUSDT")]
    assert Subscribed() not in actions  # nothing left to flow
    assert [type(a) for a in proto.on_frame(DOC_FAILURE, T0)] == [CountParseError]


def test_rejected_book_drops_both_book_and_bbo_and_one_status_per_symbol() -> None:
    proto = make(Topic("book", BTC), Topic("bbo", BTC), Topic("trades", ETH))
    (request,) = sent(proto.on_open(T0))
    ret = "Invalid topic: orderbook.50.BTCUSDT"
    actions = proto.on_frame(failure(ret, request["req_id"]), T0)
    (status,) = [s for s in of_type(actions, Status) if s.event is StatusEvent.REJECTED]
    assert status == Status(
        "bybit", StatusEvent.REJECTED, CONN, ret, T0, BTC, "BTCUSDT"
    )  # fmt: skip
    assert proto._books.get("BTCUSDT") is None
    assert [type(a) for a in proto.on_frame(snapshot(SNAP_U), T0)] == [CountParseError]


def test_already_subscribed_counts_as_success() -> None:
    proto = make(Topic("trades", BTC))
    (request,) = sent(proto.on_open(T0))
    text = failure("error:already subscribed,topic:publicTrade.BTCUSDT", request["req_id"])
    assert Subscribed() in proto.on_frame(text, T0)


def test_a_failed_resync_subscribe_rejects_that_book_only() -> None:
    proto = make(Topic("book", BTC), Topic("trades", BTC), Topic("book", ETH))
    (request,) = sent(proto.on_open(T0))
    proto.on_frame(ack(request["req_id"]), T0)
    proto.on_frame(snapshot(SNAP_U), T0)
    _, sub = sent(proto.on_frame(delta(SNAP_U + 3), T0))
    actions = proto.on_frame(failure("Invalid topic: orderbook.50.BTCUSDT", sub["req_id"]), T0)
    assert rejected(actions) == [(BTC, "Invalid topic: orderbook.50.BTCUSDT")]
    assert Subscribed() not in actions  # the connection was up already
    assert of_type(proto.on_frame(trade_frame([trade_item()]), T0), Trade)
    assert book_state(proto, "ETHUSDT")[0].value == "wait_delta"


def test_unsubscribe_answers_are_quiet_and_unknown_ops_are_counted() -> None:
    proto = make(Topic("trades", BTC))
    sent(proto.on_open(T0))
    unsub = b'{"success":false,"ret_msg":"not subscribed","conn_id":"c","op":"unsubscribe"}'
    assert proto.on_frame(unsub, T0) == []  # nothing pending: a failure for nothing is harmless
    assert [type(a) for a in proto.on_frame(b'{"op":"auth","success":true}', T0)] == [
        CountParseError
    ]
    assert [type(a) for a in proto.on_frame(b'{"op":"subscribe","success":"yes"}', T0)] == [
        CountParseError
    ]


def test_doc_spot_ack_matches_its_req_id() -> None:
    ledger = Ledger()
    request = ledger.new("subscribe", ["orderbook.50.BTCUSDT"], initial=True)
    assert request.req_id == "sub-1"  # the §6.2 sample's id, by construction
    ack_body = orjson.loads(DOC_SPOT_ACK)
    assert ledger.match("subscribe", ack_body["req_id"], ack_body["ret_msg"]) is request
    assert ledger.match("subscribe", "sub-1", "") is None and len(ledger) == 0
    other = ledger.new("unsubscribe", ["x"], initial=False)
    assert ledger.match("subscribe", other.req_id, "") is None  # an op mismatch is not an answer
    assert ledger.match("unsubscribe", None, "") is other
