"""Ethereum on-chain events over JSON-RPC ``eth_subscribe`` as a pure protocol (exchanges.md §8).

One connection carries a ``newHeads`` subscription (channel ``heads``) and one ``logs``
subscription per configured filter (channel ``logs``). Requests carry ids; each answer's
``result`` is the subscription id, by which ``eth_subscription`` notifications are routed. A
JSON-RPC error to a subscribe is a ``rejected`` status for that filter (dropped for the life of
the process: the node would refuse it again) while the rest keeps flowing.

Subscriptions die with the connection (§8): ``on_open`` subscribes afresh. Notifications cover
only future events, so a reconnect can lose blocks; after one, the first head tells how many
(see ``_gap``), and a ``recovered`` status with the suspect range is published and counted in
``feedgate_onchain_gaps_total``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson

from feedgate.events import Onchain, Status, StatusEvent
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    Count,
    CountParseError,
    Emit,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.protocol.checks import brief, check_payload, clip, epoch_us
from feedgate.venues.ethereum import wire
from feedgate.venues.ethereum.options import EthereumOptions

EXCHANGE = "ethereum"
GAPS = "feedgate_onchain_gaps_total"
HEADS, LOGS = "heads", "logs"
_HEAD_TIMES = 256  # recent block hash → timestamp, to stamp logs with their block's time


@dataclass(frozen=True, slots=True)
class _Request:
    """One subscribe request: the channel kind and, for logs, the index of its filter."""

    kind: str
    filter_index: int | None = None


class EthereumProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: EthereumOptions) -> None:
        self.spec = spec
        self.options = options
        self.connection = spec.connection_id
        self.network = options.network
        channels = {t.channel for t in spec.topics}
        self.heads = HEADS in channels
        self.logs = LOGS in channels
        self._filters: dict[int, dict[str, object]] = (
            {i: f.params() for i, f in enumerate(options.log_filters)} if self.logs else {}
        )
        if self.logs and not self._filters:
            self._filters[0] = {}  # no filter configured: every log
        self._pending: dict[int, _Request] = {}
        self._subs: dict[str, str] = {}  # subscription id → HEADS / LOGS
        self._keepalive_ids: set[int] = set()
        self._next_id = 1
        self._subscribed = False
        self._last_block: int | None = None  # highest block number seen, across connections
        self._gap_from: int | None = None  # last block seen before a reconnect not judged yet
        self._head_times: OrderedDict[str, int] = OrderedDict()
        self._last_keepalive: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def connect_url(self) -> str:
        return self.options.ws_url.get_secret_value()

    def on_open(self, now: int) -> list[Action]:
        """§8: subscriptions die with the connection: subscribe everything again, fresh ids."""
        self._pending.clear()
        self._subs.clear()
        self._keepalive_ids.clear()
        self._subscribed = False
        self._last_keepalive = now
        actions: list[Action] = []
        if self.heads:
            actions.append(Send(self._request(_Request(HEADS), wire.NEW_HEADS, None)))
        for index, params in self._filters.items():
            actions.append(Send(self._request(_Request(LOGS, index), wire.LOGS, params)))
        return actions

    def _request(self, request: _Request, kind: str, params: dict[str, object] | None) -> str:
        request_id = self._next_id
        self._next_id += 1
        self._pending[request_id] = request
        return wire.subscribe_request(request_id, kind, params)

    def on_close(self, now: int) -> list[Action]:
        self._subscribed = False
        self._subs.clear()
        self._pending.clear()
        if self._gap_from is None:  # (a reconnect before judging the last one keeps its start)
            self._gap_from = self._last_block
        return []

    def on_tick(self, now: int) -> list[Action]:
        """``eth_blockNumber`` every ``keepalive_s``: nodes send no pings, and a quiet logs-only
        feed would otherwise look like a dead socket to the transport idle check."""
        interval = self.options.keepalive_s
        if interval is None or not self._subscribed or self._last_keepalive is None:
            return []
        if now - self._last_keepalive < interval * 1_000_000:
            return []
        self._last_keepalive = now
        request_id = self._next_id
        self._next_id += 1
        self._keepalive_ids.add(request_id)
        return [Send(wire.call_request(request_id, "eth_blockNumber"))]

    # -- frames ---------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [CountParseError("frame is not JSON")]
        if type(msg) is not dict:
            return [CountParseError("frame is not a JSON object")]
        if msg.get("method") == wire.SUBSCRIPTION:
            return self._on_notification(msg.get("params"), recv_ts)
        if "error" in msg:
            return self._on_error(msg, recv_ts)
        if "result" in msg and "id" in msg:
            return self._on_result(msg, recv_ts)
        return [CountParseError("unknown frame shape")]

    def _on_result(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§8 ``{"jsonrpc":"2.0","id":1,"result":"0xcd0c3e8af590364c09d0fa6a1210faf5"}``."""
        request_id, result = msg["id"], msg["result"]
        if type(request_id) is int and request_id in self._keepalive_ids:
            self._keepalive_ids.discard(request_id)
            return []
        request = self._pending.get(request_id) if type(request_id) is int else None
        if request is None:
            return [CountParseError(f"answer to no pending request: id {brief(request_id)}")]
        if type(result) is not str or not result:
            return [CountParseError(f"subscription id is not a string: {brief(result)}")]
        del self._pending[request_id]
        self._subs[result] = request.kind
        return self._maybe_subscribed(recv_ts)

    def _maybe_subscribed(self, recv_ts: int) -> list[Action]:
        """``Subscribed`` once every subscribe was answered and at least one took."""
        if self._pending or self._subscribed or not self._subs:
            return []
        self._subscribed = True
        actions: list[Action] = [
            Subscribed(),
            Emit(Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, "", recv_ts)),
        ]
        if self._gap_from is not None and not self.heads:
            # logs only: no head will say how far the chain moved while we were away
            last, self._gap_from = self._gap_from, None
            reason = (
                f"blocks from {last} on may be missing logs "
                f"(last seen {last}; no heads subscribed to bound the range)"
            )
            actions += self._gap_status(reason, recv_ts, None)
        return actions

    def _on_error(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """JSON-RPC 2.0 ``{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"…"}}``: the
        subscribe with that id failed (a bad filter): ``rejected``, the rest keeps flowing."""
        error, request_id = msg["error"], msg.get("id")
        detail = (
            f"code {clip(error.get('code'))}: {clip(error.get('message'))}"
            if type(error) is dict
            else brief(error)
        )
        if type(request_id) is int and request_id in self._keepalive_ids:
            self._keepalive_ids.discard(request_id)
            return []  # the node answered, which is all a keepalive asks
        request = self._pending.pop(request_id, None) if type(request_id) is int else None
        if request is None:
            return [CountParseError(f"node error without a known request id: {detail}")]
        if request.filter_index is not None:
            what = f"logs filter {orjson.dumps(self._filters.pop(request.filter_index)).decode()}"
        else:
            what = "newHeads"
            self.heads = False
        status = Status(
            EXCHANGE, StatusEvent.REJECTED, self.connection, f"{what}: {detail}", recv_ts
        )
        return [Emit(status), *self._maybe_subscribed(recv_ts)]

    def _on_notification(self, params: object, recv_ts: int) -> list[Action]:
        if type(params) is not dict:
            return [CountParseError("eth_subscription without params")]
        subscription, result = params.get("subscription"), params.get("result")
        kind = self._subs.get(subscription) if type(subscription) is str else None
        if kind is None:
            return [CountParseError(f"unknown subscription {brief(subscription)}")]
        if type(result) is not dict:
            return [CountParseError(f"{kind} notification without a result object")]
        try:
            event = self._head(result, recv_ts) if kind == HEADS else self._log(result, recv_ts)
        except (KeyError, TypeError, ValueError) as exc:
            return [CountParseError(f"{kind} notification: {type(exc).__name__}: {clip(exc)}")]
        actions: list[Action] = []
        if kind == HEADS and self._subscribed:
            actions += self._gap(event, recv_ts)
            self._head_times[event.block_hash or ""] = event.ts or 0
            while len(self._head_times) > _HEAD_TIMES:
                self._head_times.popitem(last=False)
        if self._last_block is None or event.block_number > self._last_block:
            self._last_block = event.block_number
        actions.append(Emit(event))
        return actions

    def _head(self, head: dict[str, Any], recv_ts: int) -> Onchain:
        """§8 newHeads result ``{"number": "0x1b4", "hash": "0x…", "parentHash": "0x…",
        "timestamp": "0x6720a3f1", …}`` → kind ``heads``; ``ts`` = timestamp seconds in µs."""
        number = wire.index(head["number"])
        block_hash = head["hash"]
        if type(block_hash) is not str:
            raise TypeError("head hash is not a string")
        ts = epoch_us(wire.quantity(head["timestamp"]) * 1_000_000)
        check_payload(head)
        return Onchain(
            exchange=EXCHANGE,
            ts=ts,
            recv_ts=recv_ts,
            network=self.network,
            kind=HEADS,
            block_number=number,
            block_hash=block_hash,
            tx_hash=None,
            log_index=None,
            removed=False,
            payload=head,
        )

    def _log(self, log: dict[str, Any], recv_ts: int) -> Onchain:
        """§8 log result ``{"address": "0x9a29…", "topics": ["0xddf252ad…", …], "data": "0x…",
        "blockNumber": "0x1b4", "blockHash": "0x…", "transactionHash": "0x…",
        "transactionIndex": "0x0", "logIndex": "0x3", "removed": false}`` → kind ``logs``.

        ``removed: true`` (a reorg dropped its block) is published flagged, never dropped. An
        ERC-20 Transfer gains ``from``/``to``/``value`` in the payload (``wire.decode_transfer``).
        ``ts`` is the block's time when its head was seen (logs carry none), else None.
        """
        removed = log.get("removed", False)
        block_hash, tx_hash = log["blockHash"], log["transactionHash"]
        if type(removed) is not bool or type(block_hash) is not str or type(tx_hash) is not str:
            raise TypeError("removed must be a boolean, blockHash/transactionHash strings")
        if type(log["address"]) is not str or type(log["topics"]) is not list:
            raise TypeError("address must be a string and topics a list")
        number, index = wire.index(log["blockNumber"]), wire.index(log["logIndex"])
        transfer = wire.decode_transfer(log)
        payload: dict[str, object] = dict(log) if transfer is None else {**log, **transfer}
        check_payload(payload)
        return Onchain(
            exchange=EXCHANGE,
            ts=self._head_times.get(block_hash),
            recv_ts=recv_ts,
            network=self.network,
            kind=LOGS,
            block_number=number,
            block_hash=block_hash,
            tx_hash=tx_hash,
            log_index=index,
            removed=removed,
            payload=payload,
        )

    # -- gaps -----------------------------------------------------------------------------------

    def _gap(self, head: Onchain, recv_ts: int) -> list[Action]:
        """After a reconnect, the first head H once every subscription is live, against the
        last block L seen before the disconnect: heads of L+1..H-1 were missed; with logs
        subscribed, block L's logs may have been cut too (§8 does not order logs against heads
        nor deliver a block's logs atomically), and so may the logs of blocks whose heads came
        before the logs subscription was confirmed, so the range is L..H-1. An empty range
        (H = L+1 on a heads-only feed, or H <= L) is no gap."""
        last = self._gap_from
        if last is None:
            return []
        self._gap_from = None
        first = last if self.logs else last + 1
        end = head.block_number - 1
        if end < first:
            return []
        reason = f"blocks {first}..{end} may be missing (last seen {last})"
        return self._gap_status(reason, recv_ts, head.ts)

    def _gap_status(self, reason: str, recv_ts: int, ts: int | None) -> list[Action]:
        status = Status(EXCHANGE, StatusEvent.RECOVERED, self.connection, reason, recv_ts, ts=ts)
        return [Emit(status), Count(GAPS, (EXCHANGE, self.network))]
