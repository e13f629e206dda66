"""A toy chain for the Ethereum simulator (exchanges.md §8), pure and seeded.

It makes geth-shaped ``newHeads`` objects (every §8 field, plausible hex) one block per step,
ERC-20 ``Transfer`` logs in the current block for the watched token contracts, and reorgs: the
logs of the dropped blocks re-emitted with ``"removed": true``, then the new chain's heads and
its logs (§8: duplicates possible, key logs by (blockHash, logIndex)).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from feedgate.venues.ethereum import wire

FIRST_BLOCK = 21_000_000
_KEPT = 64  # recent blocks kept for reorgs


@dataclass(slots=True)
class ChainEvent:
    """One notification body: a head (``kind`` newHeads) or a log (``kind`` logs)."""

    kind: str
    body: dict[str, Any]


@dataclass(slots=True)
class _Block:
    head: dict[str, Any]
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def number(self) -> int:
        return wire.quantity(self.head["number"])


class Chain:
    def __init__(self, rng: random.Random, first_block: int = FIRST_BLOCK) -> None:
        self._rng = rng
        genesis = self._head(first_block, "0x" + "00" * 32, 0)
        self.blocks: deque[_Block] = deque([_Block(genesis)], maxlen=_KEPT)

    @property
    def tip(self) -> _Block:
        return self.blocks[-1]

    def _hash(self) -> str:
        return "0x" + format(self._rng.getrandbits(256), "064x")

    def _head(self, number: int, parent: str, ts_s: int) -> dict[str, Any]:
        """A §8 head: ``{"number": "0x1b4", "hash": "0x…", "parentHash": "0x…",
        "timestamp": "0x6720a3f1", "baseFeePerGas": …, "difficulty": "0x0", …}``."""
        rng = self._rng
        gas_limit = 30_000_000
        return {
            "number": wire.hex_quantity(number),
            "hash": self._hash(),
            "parentHash": parent,
            "timestamp": wire.hex_quantity(ts_s),
            "baseFeePerGas": wire.hex_quantity(rng.randrange(1_000_000_000, 60_000_000_000)),
            "gasLimit": wire.hex_quantity(gas_limit),
            "gasUsed": wire.hex_quantity(rng.randrange(gas_limit // 4, gas_limit)),
            "miner": "0x" + format(rng.getrandbits(160), "040x"),
            "logsBloom": "0x" + "00" * 256,
            "stateRoot": self._hash(),
            "transactionsRoot": self._hash(),
            "receiptsRoot": self._hash(),
            "extraData": "0x6265617665726275696c642e6f7267",  # "beaverbuild.org"
            "difficulty": "0x0",
            "nonce": "0x0000000000000000",
        }

    def next_block(self, now_us: int) -> ChainEvent:
        """Mine one block on the tip (timestamps never go back) and return its head."""
        tip = self.tip
        ts_s = max(wire.quantity(tip.head["timestamp"]), now_us // 1_000_000)
        block = _Block(self._head(tip.number + 1, tip.head["hash"], ts_s))
        self.blocks.append(block)
        return ChainEvent(wire.NEW_HEADS, block.head)

    def transfer(self, token: str, value: int | None = None) -> ChainEvent:
        """One ERC-20 ``Transfer`` log of ``token`` in the tip block."""
        rng, tip = self._rng, self.tip
        sender, receiver = (format(rng.getrandbits(160), "040x") for _ in range(2))
        amount = value if value is not None else rng.randrange(1, 10**24)
        log = {
            "address": token,
            "topics": [
                wire.TRANSFER_TOPIC,
                wire.address_topic("0x" + sender),
                wire.address_topic("0x" + receiver),
            ],
            "data": wire.word(amount),
            "blockNumber": tip.head["number"],
            "blockHash": tip.head["hash"],
            "transactionHash": self._hash(),
            "transactionIndex": wire.hex_quantity(len(tip.logs)),
            "logIndex": wire.hex_quantity(len(tip.logs)),
            "removed": False,
        }
        tip.logs.append(log)
        return ChainEvent(wire.LOGS, log)

    def reorg(self, depth: int) -> list[ChainEvent]:
        """Replace the last ``depth`` blocks: their logs with ``removed: true`` (newest block
        first), then the new blocks' heads (same numbers, new hashes) with their logs (the same
        transactions, re-included)."""
        depth = max(1, min(depth, len(self.blocks) - 1))
        dropped = [self.blocks.pop() for _ in range(depth)]
        events = [
            ChainEvent(wire.LOGS, {**log, "removed": True})
            for block in dropped
            for log in block.logs
        ]
        for old in reversed(dropped):
            tip = self.tip
            ts_s = wire.quantity(old.head["timestamp"])
            block = _Block(self._head(old.number, tip.head["hash"], ts_s))
            block.logs = [{**log, "blockHash": block.head["hash"]} for log in old.logs]
            self.blocks.append(block)
            events.append(ChainEvent(wire.NEW_HEADS, block.head))
            events += [ChainEvent(wire.LOGS, log) for log in block.logs]
        return events
