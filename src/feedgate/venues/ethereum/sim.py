"""Ethereum node simulator: geth-style JSON-RPC pub/sub over WebSocket (exchanges.md §8), pure.

Any path opens a session. ``eth_subscribe`` ``newHeads`` / ``logs`` (filters honoured: address
or addresses, positional topics with null wildcards and alternatives) answers a fresh hex
subscription id; ``newPendingTransactions`` and ``syncing`` are accepted but send nothing;
``eth_unsubscribe``, ``eth_blockNumber`` and ``eth_chainId`` are answered. Bad filters and
unknown methods get JSON-RPC errors (geth's texts, UNCONFIRMED). The server's periodic step
mines a block (a head); "trades" are ERC-20 ``Transfer`` logs of the watched token contracts
(``symbols``). ``reorg(depth)`` makes the next step re-emit the last blocks' logs with
``removed: true`` and then the replacement heads and logs (``simchain.Chain.reorg``).

Choices where §8 is silent: a session gets one notification per event, for the first of its
subscriptions that matches (geth sends one per matching subscription).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from feedgate.venues.ethereum import wire
from feedgate.venues.ethereum.simchain import Chain, ChainEvent

DOC_TOKEN = "0x9a295ef207dee10098c519166d7a61be35157c2b"  # the §8 logs filter's address
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TOPIC = re.compile(r"^0x[0-9a-fA-F]{64}$")
_SILENT_KINDS = ("newPendingTransactions", "syncing")


@dataclass(slots=True)
class _Filter:
    addresses: frozenset[str] | None  # lowercase; None = any
    topics: list[frozenset[str] | None]  # per position, lowercase alternatives; None = any

    def matches(self, log: dict[str, Any]) -> bool:
        if self.addresses is not None and log["address"].lower() not in self.addresses:
            return False
        topics = log["topics"]
        if len(self.topics) > len(topics):
            return False
        return all(want is None or topics[i].lower() in want for i, want in enumerate(self.topics))


@dataclass(slots=True)
class EthSession:
    """One client connection: subscription id → (kind, logs filter or None), in order."""

    subs: dict[str, tuple[str, _Filter | None]] = field(default_factory=dict)


def parse_filter(raw: object) -> _Filter:
    """§8 filter ``{"address": "0x9a29…" | [...], "topics": ["0xddf2…", null]}`` (≤ 4)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError("invalid argument 1: filter is not an object")
    address = raw.get("address")
    listed = [address] if isinstance(address, str) else address
    addresses: frozenset[str] | None = None
    if listed is not None:
        if not isinstance(listed, list) or not all(
            isinstance(a, str) and _ADDRESS.match(a) for a in listed
        ):
            raise ValueError(f"invalid argument 1: invalid address {address!r}")
        addresses = frozenset(a.lower() for a in listed) or None  # [] = any address
    topics_raw = raw.get("topics") or []
    if not isinstance(topics_raw, list) or len(topics_raw) > 4:
        raise ValueError("invalid argument 1: exceed max topics")
    topics: list[frozenset[str] | None] = []
    for entry in topics_raw:
        alternatives = [entry] if isinstance(entry, str) else entry
        if alternatives is None:
            topics.append(None)
            continue
        if not isinstance(alternatives, list) or not all(
            isinstance(t, str) and _TOPIC.match(t) for t in alternatives
        ):
            raise ValueError(f"invalid argument 1: invalid topic {entry!r}")
        topics.append(frozenset(t.lower() for t in alternatives) or None)
    return _Filter(addresses, topics)


class EthereumSim:
    """A node whose chain carries Transfer logs of the token contracts ``addresses``."""

    venue = "ethereum"
    server_ping_interval_s: float | None = None  # a node sends no pings (§8 names none)
    client_msgs_per_s: int | None = None  # §8 documents no client message limit

    def __init__(self, addresses: list[str], *, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self.addresses = [a.lower() for a in addresses]
        self.chain = Chain(random.Random(self._rng.getrandbits(64)))
        self._reorg_depth = 0

    @classmethod
    def from_canonical(cls, symbols: list[str], *, seed: int = 0) -> EthereumSim:
        """Addresses are kept; any other name (``BTC-USDT``) becomes a token address derived
        from it (sha256, first 20 bytes); none at all → the §8 sample token."""
        addresses = [
            s.lower() if _ADDRESS.match(s) else "0x" + hashlib.sha256(s.encode()).hexdigest()[:40]
            for s in symbols
        ]
        return cls(addresses or [DOC_TOKEN], seed=seed)

    @property
    def symbols(self) -> list[str]:
        return list(self.addresses)

    @property
    def gateway_options(self) -> dict[str, Any]:
        """A feed that follows this node's tokens: one Transfer filter over all of them."""
        return {"log_filters": [{"address": self.symbols, "topics": [wire.TRANSFER_TOPIC]}]}

    def venue_symbol(self, symbol: str) -> str:
        return symbol

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        raise NotImplementedError("a chain has no order book")

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """No book sequence to break (never called for a chain feed)."""

    # -- faults ----------------------------------------------------------------------------------

    def reorg(self, depth: int = 1) -> None:
        """The next step replaces the last ``depth`` blocks instead of mining a new one."""
        self._reorg_depth = max(self._reorg_depth, depth)

    def malformed_frames(self) -> list[bytes]:
        """Not JSON; a notification for a subscription nobody has; an error without an id."""
        unknown = {"number": "0x1", "hash": "0x00", "timestamp": "0x0"}
        return [
            b'{"jsonrpc": "2.0", "method": "eth_subscription", "params": {',
            wire.notification("0x00000000000000000000000000000000", unknown),
            wire.error_frame(None, -32700, "parse error"),
        ]

    def shutdown_frames(self, session: EthSession, now_us: int) -> list[bytes]:
        return []  # a node has no shutdown notice

    # -- market steps ----------------------------------------------------------------------------

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[ChainEvent]:
        """One block (or a pending reorg). The server calls this per chunk of 16 symbols: only
        the chunk holding the first symbol mines, so there is one block per step."""
        if symbols is not None and self.addresses and self.addresses[0] not in symbols:
            return []
        if self._reorg_depth:
            depth, self._reorg_depth = self._reorg_depth, 0
            return self.chain.reorg(depth)
        return [self.chain.next_block(now_us)]

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[ChainEvent]:
        """``n`` Transfer logs of token ``symbol`` in the current block."""
        return [self.chain.transfer(symbol) for _ in range(n)]

    def render(self, session: EthSession, event: ChainEvent) -> bytes | None:
        """§8 ``eth_subscription`` notification for the first matching subscription."""
        for sub_id, (kind, filter_) in session.subs.items():
            if kind != event.kind:
                continue
            if filter_ is None or filter_.matches(event.body):
                return wire.notification(sub_id, event.body)
        return None

    def saturation_frames(self, session: EthSession, now_us: int, n: int) -> list[bytes]:
        """About ``n`` Transfer log notifications for the session's first logs subscription
        that matches any watched token ([] when none does)."""
        for sub_id, (kind, filter_) in session.subs.items():
            if kind != wire.LOGS:
                continue
            probe = [self.chain.transfer(a) for a in self.addresses]
            tokens = [
                e.body["address"] for e in probe if filter_ is None or filter_.matches(e.body)
            ]
            if tokens:
                out = [
                    wire.notification(sub_id, e.body) for e in probe if e.body["address"] in tokens
                ]
                while len(out) < n:
                    token = tokens[len(out) % len(tokens)]
                    out.append(wire.notification(sub_id, self.chain.transfer(token).body))
                return out
        return []

    # -- sessions and JSON-RPC -------------------------------------------------------------------

    def open_session(self, path: str) -> EthSession:
        """Nodes serve JSON-RPC on any path (geth: ``/``)."""
        return EthSession()

    def subscriptions(self, session: EthSession) -> list[str]:
        return [f"{kind}:{sub_id}" for sub_id, (kind, _) in session.subs.items()]

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        return None  # JSON-RPC over HTTP is POST; not simulated

    def on_client_text(self, session: EthSession, text: str) -> list[bytes]:
        """One JSON-RPC request → its response (§8 subscribe/unsubscribe; others as geth)."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [wire.error_frame(None, -32700, "parse error")]
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return [wire.error_frame(None, -32600, "invalid request")]
        request_id, method = request.get("id"), request["method"]
        params = request.get("params") or []
        if not isinstance(params, list):
            return [wire.error_frame(request_id, -32602, "non-array args")]
        if method == "eth_subscribe":
            return [self._subscribe(session, request_id, params)]
        if method == "eth_unsubscribe":
            gone = bool(params) and session.subs.pop(str(params[0]), None) is not None
            return [wire.result_frame(request_id, gone)]
        if method == "eth_blockNumber":
            return [wire.result_frame(request_id, self.chain.tip.head["number"])]
        if method == "eth_chainId":
            return [wire.result_frame(request_id, "0x1")]
        message = f"the method {method} does not exist/is not available"
        return [wire.error_frame(request_id, -32601, message)]

    def _subscribe(self, session: EthSession, request_id: object, params: list[Any]) -> bytes:
        kind = params[0] if params else None
        filter_: _Filter | None = None
        if kind == wire.LOGS:
            try:
                filter_ = parse_filter(params[1] if len(params) > 1 else None)
            except ValueError as exc:
                return wire.error_frame(request_id, -32602, str(exc))
        elif kind != wire.NEW_HEADS and kind not in _SILENT_KINDS:
            return wire.error_frame(
                request_id, -32602, f'no "{kind}" subscription in eth namespace'
            )
        sub_id = "0x" + format(self._rng.getrandbits(128), "032x")
        session.subs[sub_id] = (str(kind), filter_)
        return wire.result_frame(request_id, sub_id)


def make_simulator(symbols: list[str], *, seed: int = 0) -> EthereumSim:
    return EthereumSim.from_canonical(symbols, seed=seed)
