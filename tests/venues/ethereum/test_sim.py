"""Pure tests of the Ethereum node simulator (exchanges.md §8), and its frames through the
gateway protocol (both sides of the same JSON-RPC conversation)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from feedgate.events import Onchain
from feedgate.protocol.base import ConnectionSpec, CountParseError, Send, Topic
from feedgate.venues.ethereum import sim as sim_module
from feedgate.venues.ethereum import wire
from feedgate.venues.ethereum.options import EthereumOptions
from feedgate.venues.ethereum.protocol import EthereumProtocol
from feedgate.venues.ethereum.sim import DOC_TOKEN, EthereumSim, EthSession
from tests.venues.actions import of_type

NOW = 1_767_225_600_123_456
TOKEN_B = "0x6b175474e89094c44da98b954eedeac495271d0f"


def make(seed: int = 1) -> EthereumSim:
    return EthereumSim.from_canonical([DOC_TOKEN, TOKEN_B], seed=seed)


def rpc(sim: EthereumSim, session: EthSession, method: str, *params: Any, id_: int = 1) -> Any:
    text = orjson.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": list(params)})
    [reply] = sim.on_client_text(session, text.decode())
    return orjson.loads(reply)


def subscribe(sim: EthereumSim, session: EthSession, *params: Any) -> str:
    reply = rpc(sim, session, "eth_subscribe", *params)
    sub = reply["result"]
    assert isinstance(sub, str) and sub.startswith("0x") and len(sub) == 34  # §8 hex id
    return sub


def frames(sim: EthereumSim, session: EthSession, events: list[Any]) -> list[dict[str, Any]]:
    out = [sim.render(session, e) for e in events]
    return [orjson.loads(f) for f in out if f is not None]


def test_symbols_are_addresses_and_names_map_to_stable_ones() -> None:
    named = EthereumSim.from_canonical(["BTC-USDT", "ETH-USDT"])
    assert all(len(a) == 42 and a.startswith("0x") for a in named.symbols)
    assert named.symbols == EthereumSim.from_canonical(["BTC-USDT", "ETH-USDT"]).symbols
    assert EthereumSim.from_canonical([]).symbols == [DOC_TOKEN]
    assert named.venue_symbol("BTC-USDT") == "BTC-USDT"
    with pytest.raises(NotImplementedError):
        named.true_book("BTC-USDT")
    assert named.server_ping_interval_s is None and named.client_msgs_per_s is None
    EthereumOptions.model_validate(named.gateway_options)  # the feed options it suggests are valid


def test_heads_follow_each_other_with_every_doc_field() -> None:
    sim = make()
    session = sim.open_session("/anything")
    sub = subscribe(sim, session, "newHeads")
    got = frames(sim, session, sim.tick_events(NOW) + sim.tick_events(NOW + 50_000))
    assert [f["params"]["subscription"] for f in got] == [sub, sub]
    first, second = (f["params"]["result"] for f in got)
    assert wire.quantity(second["number"]) == wire.quantity(first["number"]) + 1
    assert second["parentHash"] == first["hash"]
    assert wire.quantity(first["timestamp"]) == NOW // 1_000_000
    assert set(first) >= {"number", "hash", "parentHash", "timestamp", "baseFeePerGas", "gasLimit",
        "gasUsed", "miner", "logsBloom", "stateRoot", "transactionsRoot", "receiptsRoot",
        "extraData", "difficulty", "nonce"}  # fmt: skip


def test_log_filters_are_honoured() -> None:
    sim = make()
    session = sim.open_session("/")
    sub = subscribe(
        sim, session, "logs", {"address": TOKEN_B, "topics": [wire.TRANSFER_TOPIC, None]}
    )
    sim.tick_events(NOW)
    events = sim.trade_events(DOC_TOKEN, NOW, 3) + sim.trade_events(TOKEN_B, NOW, 2)
    got = frames(sim, session, events)
    assert len(got) == 2 and {f["params"]["subscription"] for f in got} == {sub}
    log = got[0]["params"]["result"]
    assert log["address"] == TOKEN_B and log["removed"] is False
    assert log["blockNumber"] == sim.chain.tip.head["number"]
    assert wire.decode_transfer(log) is not None
    other = sim.open_session("/")
    subscribe(sim, other, "logs", {"topics": [None, None, None, "0x" + "11" * 32]})
    assert frames(sim, other, events) == []  # a 4th topic no Transfer has


@pytest.mark.parametrize(
    "filter_",
    [{"address": "0x1234"}, {"topics": ["0xdd"]}, {"topics": [None] * 5}, "logs", {"address": 5}],
)
def test_bad_filters_get_json_rpc_errors(filter_: Any) -> None:
    sim = make()
    session = sim.open_session("/")
    reply = rpc(sim, session, "eth_subscribe", "logs", filter_, id_=7)
    assert reply["id"] == 7 and reply["error"]["code"] == -32602
    assert sim.subscriptions(session) == []


def test_other_calls() -> None:
    sim = make()
    session = sim.open_session("/")
    sub = subscribe(sim, session, "newHeads")
    assert rpc(sim, session, "eth_blockNumber")["result"] == sim.chain.tip.head["number"]
    assert rpc(sim, session, "eth_unsubscribe", sub)["result"] is True
    assert rpc(sim, session, "eth_unsubscribe", sub)["result"] is False
    assert rpc(sim, session, "eth_foo")["error"]["code"] == -32601
    assert rpc(sim, session, "eth_subscribe", "bogus")["error"]["code"] == -32602
    [bad] = sim.on_client_text(session, "{")
    assert orjson.loads(bad)["error"]["code"] == -32700


def test_reorg_removes_then_replaces_the_last_blocks_logs() -> None:
    sim = make()
    session = sim.open_session("/")
    subscribe(sim, session, "newHeads")
    subscribe(sim, session, "logs")
    sim.tick_events(NOW)
    old_tip = dict(sim.chain.tip.head)
    logs = [e.body for e in sim.trade_events(DOC_TOKEN, NOW, 2)]
    sim.reorg(1)
    got = [f["params"]["result"] for f in frames(sim, session, sim.tick_events(NOW + 50_000))]
    removed, new_head, replaced = got[:2], got[2], got[3:]
    assert removed == [{**log, "removed": True} for log in logs]
    assert new_head["number"] == old_tip["number"] and new_head["hash"] != old_tip["hash"]
    assert new_head["parentHash"] == old_tip["parentHash"]
    assert [(r["transactionHash"], r["logIndex"]) for r in replaced] == [
        (log["transactionHash"], log["logIndex"]) for log in logs
    ]
    assert all(r["blockHash"] == new_head["hash"] and r["removed"] is False for r in replaced)
    # and the chain goes on from the new tip
    [nxt] = frames(sim, session, sim.tick_events(NOW + 100_000))
    assert nxt["params"]["result"]["parentHash"] == new_head["hash"]


def test_one_block_per_step_whatever_the_symbol_chunks() -> None:
    sim = make()
    assert len(sim.tick_events(NOW, [DOC_TOKEN])) == 1
    assert sim.tick_events(NOW, [TOKEN_B]) == []


def test_saturation_frames_follow_the_logs_subscription() -> None:
    sim = make()
    session = sim.open_session("/")
    assert sim.saturation_frames(session, NOW, 10) == []
    sub = subscribe(sim, session, "logs", {"address": [TOKEN_B]})
    got = [orjson.loads(f) for f in sim.saturation_frames(session, NOW, 10)]
    assert len(got) >= 10 and {f["params"]["subscription"] for f in got} == {sub}
    assert {f["params"]["result"]["address"] for f in got} == {TOKEN_B}


def test_the_gateway_protocol_reads_the_simulator() -> None:
    """Requests from the protocol → sim replies → protocol; heads and logs come out, the
    malformed frames are counted."""
    sim = make()
    session = sim.open_session("/")
    spec = ConnectionSpec("ethereum-01", (Topic("heads", ""), Topic("logs", "")))
    proto = EthereumProtocol(spec, EthereumOptions.model_validate(sim.gateway_options))
    for action in proto.on_open(NOW):
        assert isinstance(action, Send)
        for reply in sim.on_client_text(session, action.data):
            proto.on_frame(reply, NOW)
    assert proto._subscribed
    events = sim.tick_events(NOW) + sim.trade_events(TOKEN_B, NOW, 3)
    out = []
    for frame in (sim.render(session, e) for e in events):
        assert frame is not None
        out += of_type(proto.on_frame(frame, NOW), Onchain)
    assert [e.kind for e in out] == ["heads", "logs", "logs", "logs"]
    assert all(e.ts == (NOW // 1_000_000) * 1_000_000 for e in out)
    assert all(int(e.payload["value"]) > 0 for e in out[1:])
    for frame in sim.malformed_frames():
        assert [type(a) for a in proto.on_frame(frame, NOW)] == [CountParseError]
    assert sim.shutdown_frames(session, NOW) == []
    assert sim_module.make_simulator([], seed=2).symbols == [DOC_TOKEN]
