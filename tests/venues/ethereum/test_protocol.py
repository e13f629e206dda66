"""EthereumProtocol, pure: feed §8 frames (exchanges.md) and a time, assert on actions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feedgate.events import Onchain, Status, StatusEvent
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    Count,
    CountParseError,
    Send,
    Subscribed,
    Topic,
)
from feedgate.venues.ethereum.options import EthereumOptions
from feedgate.venues.ethereum.protocol import EthereumProtocol
from tests.venues.actions import events, of_type

T0 = 1_767_225_600_500_000  # µs
CONN = "ethereum-01"
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DOC_ADDRESS = "0x9a295ef207dee10098c519166d7a61be35157c2b"
DOC_FILTER = {"address": DOC_ADDRESS, "topics": [TRANSFER, None]}

# Verbatim §8 frames.
DOC_SUBSCRIBE_LOGS = (
    '{"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",'
    ' "params": ["logs", {"address": "0x9a295ef207dee10098c519166d7a61be35157c2b",'
    ' "topics": ["0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef", null]}]}'
)
DOC_SUBSCRIBE_HEADS = (
    '{"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}'
)
DOC_RESPONSE = '{"jsonrpc": "2.0", "id": 1, "result": "0xcd0c3e8af590364c09d0fa6a1210faf5"}'
HEADS_SUB = "0xcd0c3e8af590364c09d0fa6a1210faf5"
DOC_HEAD_NOTIFICATION = (
    '{"jsonrpc": "2.0", "method": "eth_subscription",'
    ' "params": {"subscription": "0xcd0c3e8af590364c09d0fa6a1210faf5",'
    ' "result": {"number": "0x1b4", "hash": "0x…", "parentHash": "0x…",'
    ' "timestamp": "0x6720a3f1", "baseFeePerGas": "0x…", "gasLimit": "0x…",'
    ' "gasUsed": "0x…", "miner": "0x…", "logsBloom": "0x…",'
    ' "stateRoot": "0x…", "transactionsRoot": "0x…", "receiptsRoot": "0x…",'
    ' "extraData": "0x…", "difficulty": "0x0", "nonce": "0x0000000000000000"}}}'
)
LOGS_SUB = "0x1e4f2b6c0a9d8e7f6a5b4c3d2e1f0a9b"
BLOCK_HASH = "0x" + "ab" * 32
TX_HASH = "0x" + "cd" * 32

# Hand-computed Transfer: from 0xab5801a7…ec9b to 0x6b175474…1d0f, data 0x…0de0b6b3a7640000
# = 0xde0b6b3a7640000 = 1_000_000_000_000_000_000 (10**18).
SENDER = "0xab5801a7d398351b8be11c439e05c5b3259aec9b"
RECEIVER = "0x6b175474e89094c44da98b954eedeac495271d0f"
VALUE_DATA = "0x" + "0" * 49 + "de0b6b3a7640000"


def log_result(
    block: int = 0x1B4, index: int = 3, removed: object = False, **change: Any
) -> dict[str, Any]:
    """A log with exactly the §8 result fields (§8 gives the field list, not a sample)."""
    log = {
        "address": DOC_ADDRESS,
        "topics": [TRANSFER, "0x" + "0" * 24 + SENDER[2:], "0x" + "0" * 24 + RECEIVER[2:]],
        "data": VALUE_DATA,
        "blockNumber": hex(block),
        "blockHash": BLOCK_HASH,
        "transactionHash": TX_HASH,
        "transactionIndex": "0x0",
        "logIndex": hex(index),
        "removed": removed,
    }
    log.update(change)
    return log


def notify(sub: object, result: object) -> bytes:
    params = {"subscription": sub, "result": result}
    return orjson.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": params})


def head(number: int, ts_s: int = 0x6720A3F1, block_hash: str = BLOCK_HASH) -> bytes:
    return notify(HEADS_SUB, {"number": hex(number), "hash": block_hash, "timestamp": hex(ts_s)})


def result(request_id: int, value: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": value})


def error(request_id: object, code: int = -32602, message: str = "invalid argument 1") -> bytes:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return orjson.dumps(body)


def make(channels: tuple[str, ...] = ("heads", "logs"), **options: Any) -> EthereumProtocol:
    spec = ConnectionSpec(CONN, tuple(Topic(c, "") for c in channels))
    opts = {"log_filters": [DOC_FILTER], **options}
    return EthereumProtocol(spec, EthereumOptions.model_validate(opts))


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [orjson.loads(a.data) for a in actions if isinstance(a, Send)]


def opened(proto: EthereumProtocol, subs: tuple[str, ...] = (HEADS_SUB, LOGS_SUB)) -> None:
    """Open and answer every subscribe request in order with ``subs``."""
    for request, sub in zip(sent(proto.on_open(T0)), subs, strict=True):
        proto.on_frame(result(request["id"], sub), T0)


def state(proto: EthereumProtocol) -> object:
    return (
        dict(proto._pending), dict(proto._subs), proto._subscribed, proto._last_block,
        proto._gap_from, dict(proto._head_times), dict(proto._filters),
    )  # fmt: skip


def statuses(actions: list[Action], event: StatusEvent) -> list[Status]:
    return [s for s in of_type(actions, Status) if s.event is event]


# -- subscribing ----------------------------------------------------------------------------------


def test_on_open_sends_the_doc_requests() -> None:
    proto = make()
    assert proto.connect_url() == "ws://localhost:8546"
    assert sent(proto.on_open(T0)) == [
        orjson.loads(DOC_SUBSCRIBE_HEADS),
        orjson.loads(DOC_SUBSCRIBE_LOGS),
    ]


def test_one_logs_subscription_per_filter_and_none_means_every_log() -> None:
    two = make(("logs",), log_filters=[DOC_FILTER, {"topics": [[TRANSFER, "0x" + "11" * 32]]}])
    params = [r["params"] for r in sent(two.on_open(T0))]
    assert params == [["logs", DOC_FILTER], ["logs", {"topics": [[TRANSFER, "0x" + "11" * 32]]}]]
    assert [r["params"] for r in sent(make(("logs",), log_filters=[]).on_open(T0))] == [
        ["logs", {}]
    ]


def test_subscribed_once_every_request_is_answered() -> None:
    proto = make()
    proto.on_open(T0)
    assert proto.on_frame(DOC_RESPONSE, T0) == []
    actions = proto.on_frame(result(2, LOGS_SUB), T0)
    assert isinstance(actions[0], Subscribed)
    assert [s.event for s in of_type(actions, Status)] == [StatusEvent.SUBSCRIBED]
    assert proto.on_frame(result(2, LOGS_SUB), T0) == [
        CountParseError("answer to no pending request: id 2")
    ]


def test_json_rpc_error_rejects_that_filter_and_the_rest_flows() -> None:
    proto = make()
    proto.on_open(T0)
    proto.on_frame(DOC_RESPONSE, T0)
    actions = proto.on_frame(error(2, -32602, "invalid argument 1: bad address"), T0)
    rejected = statuses(actions, StatusEvent.REJECTED)
    assert (
        len(rejected) == 1 and "code -32602: invalid argument 1: bad address" in rejected[0].reason
    )
    assert DOC_ADDRESS in rejected[0].reason
    assert any(isinstance(a, Subscribed) for a in actions)  # heads took: the connection is up
    assert of_type(proto.on_frame(DOC_HEAD_NOTIFICATION, T0), Onchain)
    proto.on_close(T0)  # the rejected filter is not asked for again
    assert [r["params"] for r in sent(proto.on_open(T0))] == [["newHeads"]]


def test_error_without_a_known_id_is_counted() -> None:
    proto = make()
    opened(proto)
    before = state(proto)
    assert [type(a) for a in proto.on_frame(error(None, -32700, "parse error"), T0)] == [
        CountParseError
    ]
    assert state(proto) == before


def test_reconnect_subscribes_again_with_fresh_ids_and_old_ids_are_unknown() -> None:
    proto = make()
    opened(proto)
    proto.on_close(T0)
    again = sent(proto.on_open(T0))
    assert [r["id"] for r in again] == [3, 4]
    assert [type(a) for a in proto.on_frame(DOC_HEAD_NOTIFICATION, T0)] == [CountParseError]


# -- heads and logs -------------------------------------------------------------------------------


def test_doc_head_notification() -> None:
    proto = make()
    opened(proto)
    [event] = events(proto.on_frame(DOC_HEAD_NOTIFICATION, T0 + 7))
    assert isinstance(event, Onchain)
    assert (event.network, event.kind, event.block_number, event.block_hash) == (
        "ethereum", "heads", 436, "0x…",
    )  # fmt: skip
    assert event.ts == 0x6720A3F1 * 1_000_000 == 1_730_192_369_000_000
    assert event.recv_ts == T0 + 7
    assert (event.tx_hash, event.log_index, event.removed) == (None, None, False)
    assert event.payload == orjson.loads(DOC_HEAD_NOTIFICATION)["params"]["result"]


def test_transfer_log_is_decoded_and_stamped_with_its_block_time() -> None:
    proto = make(network="sepolia")
    opened(proto)
    proto.on_frame(head(0x1B4, 0x6720A3F1), T0)
    [event] = events(proto.on_frame(notify(LOGS_SUB, log_result()), T0))
    assert isinstance(event, Onchain)
    assert (event.network, event.kind, event.block_number, event.log_index) == (
        "sepolia", "logs", 436, 3,
    )  # fmt: skip
    assert (event.block_hash, event.tx_hash, event.removed) == (BLOCK_HASH, TX_HASH, False)
    assert event.ts == 1_730_192_369_000_000
    assert event.payload["from"] == SENDER and event.payload["to"] == RECEIVER
    assert event.payload["value"] == "1000000000000000000"
    assert event.payload["data"] == VALUE_DATA  # the node's fields stay as sent


def test_other_logs_are_published_undecoded_without_a_known_block_time() -> None:
    proto = make()
    opened(proto)
    nft = log_result(topics=[*log_result()["topics"], "0x" + "0" * 63 + "7"], data="0x")
    other = log_result(topics=["0x" + "11" * 32])
    for log in (nft, other):
        [event] = events(proto.on_frame(notify(LOGS_SUB, log), T0))
        assert isinstance(event, Onchain) and event.ts is None
        assert event.payload == log


def test_removed_log_is_published_flagged() -> None:
    proto = make()
    opened(proto)
    [event] = events(proto.on_frame(notify(LOGS_SUB, log_result(removed=True)), T0))
    assert isinstance(event, Onchain) and event.removed is True
    assert event.payload["removed"] is True and event.payload["value"] == "1000000000000000000"


# -- gaps -----------------------------------------------------------------------------------------


def reconnect_then_head(proto: EthereumProtocol, number: int) -> list[Action]:
    proto.on_close(T0)
    opened(proto, (HEADS_SUB,) if not proto.logs else (HEADS_SUB, LOGS_SUB))
    return proto.on_frame(head(number), T0)


def test_heads_gap_after_reconnect_is_reported_and_counted() -> None:
    proto = make(("heads",))
    opened(proto, (HEADS_SUB,))
    proto.on_frame(head(1200), T0)
    actions = reconnect_then_head(proto, 1205)
    [status] = statuses(actions, StatusEvent.RECOVERED)
    assert status.reason == "blocks 1201..1204 may be missing (last seen 1200)"
    assert Count("feedgate_onchain_gaps_total", ("ethereum", "ethereum")) in actions
    assert of_type(actions, Onchain)[0].block_number == 1205
    # reported once: later heads say nothing
    assert statuses(proto.on_frame(head(1207), T0), StatusEvent.RECOVERED) == []


@pytest.mark.parametrize("first", [1201, 1200, 1190])
def test_no_gap_when_the_next_block_follows(first: int) -> None:
    proto = make(("heads",))
    opened(proto, (HEADS_SUB,))
    proto.on_frame(head(1200), T0)
    actions = reconnect_then_head(proto, first)
    assert statuses(actions, StatusEvent.RECOVERED) == []
    assert not any(isinstance(a, Count) for a in actions)


def test_with_logs_the_last_seen_block_is_suspect_too() -> None:
    proto = make()
    opened(proto)
    proto.on_frame(head(1200), T0)
    proto.on_frame(notify(LOGS_SUB, log_result(block=1200)), T0)
    [status] = statuses(reconnect_then_head(proto, 1201), StatusEvent.RECOVERED)
    assert status.reason == "blocks 1200..1200 may be missing (last seen 1200)"


def test_logs_only_feed_reports_at_resubscription() -> None:
    proto = make(("logs",))
    opened(proto, (LOGS_SUB,))
    proto.on_frame(notify(LOGS_SUB, log_result(block=1300)), T0)
    proto.on_close(T0)
    [request] = sent(proto.on_open(T0))
    actions = proto.on_frame(result(request["id"], LOGS_SUB), T0)
    [status] = statuses(actions, StatusEvent.RECOVERED)
    assert status.reason.startswith("blocks from 1300 on may be missing logs (last seen 1300")
    assert Count("feedgate_onchain_gaps_total", ("ethereum", "ethereum")) in actions


def test_first_connection_is_no_gap() -> None:
    proto = make()
    opened(proto)
    assert statuses(proto.on_frame(head(1205), T0), StatusEvent.RECOVERED) == []


# -- keepalive ------------------------------------------------------------------------------------


def test_keepalive_asks_the_block_number_and_ignores_the_answer() -> None:
    proto = make(keepalive_s=20)
    opened(proto)
    assert proto.on_tick(T0 + 19_000_000) == []
    [call] = sent(proto.on_tick(T0 + 20_000_000))
    assert call["method"] == "eth_blockNumber"
    assert proto.on_frame(result(call["id"], "0x1b4"), T0) == []
    assert make(keepalive_s=None).on_tick(T0 + 10**9) == []


# -- malformed input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        b"not json", b"", b"\xff\xfe", "[1]", "null", "{}", '{"jsonrpc": "2.0"}',
        notify("0xnope", {}), notify(["x"], {}), notify(HEADS_SUB, None),
        '{"jsonrpc": "2.0", "method": "eth_subscription", "params": 5}',
        head(0)[:-1], notify(HEADS_SUB, {"number": 436, "hash": "0x1", "timestamp": "0x1"}),
        notify(HEADS_SUB, {"number": "0x1b4", "hash": None, "timestamp": "0x1"}),
        notify(HEADS_SUB, {"number": "0x", "hash": "0x1", "timestamp": "0x1"}),
        notify(LOGS_SUB, log_result(removed="true")),
        notify(LOGS_SUB, log_result(logIndex="3")),
        notify(LOGS_SUB, {k: v for k, v in log_result().items() if k != "blockHash"}),
        result(99, "0x1"),
    ],
)  # fmt: skip
def test_malformed_frames_are_counted_and_change_nothing(frame: str | bytes) -> None:
    proto = make()
    opened(proto)
    proto.on_frame(head(1200), T0)
    before = state(proto)
    assert [type(a) for a in proto.on_frame(frame, T0)] == [CountParseError]
    assert state(proto) == before


def test_gap_is_judged_once_every_subscription_is_live() -> None:
    """Heads may arrive before the logs subscription is confirmed: the logs of those blocks
    were missed too, so the first head after ``Subscribed`` bounds the range."""
    proto = make()
    opened(proto)
    proto.on_frame(head(1200), T0)
    proto.on_close(T0)
    heads_req, logs_req = sent(proto.on_open(T0))
    proto.on_frame(result(heads_req["id"], HEADS_SUB), T0)
    early = proto.on_frame(head(1203), T0)
    assert of_type(early, Onchain) and statuses(early, StatusEvent.RECOVERED) == []
    proto.on_frame(result(logs_req["id"], LOGS_SUB), T0)
    [status] = statuses(proto.on_frame(head(1204), T0), StatusEvent.RECOVERED)
    assert status.reason == "blocks 1200..1203 may be missing (last seen 1200)"
