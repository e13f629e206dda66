"""Ethereum JSON-RPC pub/sub frames (exchanges.md §8): builders and field decoders, pure.

Shared by the protocol and the simulator so both read and write the same shapes. All
quantities are ``0x``-hex strings and the block ``timestamp`` is in seconds (§8).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from feedgate.protocol.checks import brief

JSONRPC = "2.0"
INT64_MAX = 2**63 - 1
SUBSCRIPTION = "eth_subscription"
NEW_HEADS = "newHeads"
LOGS = "logs"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""keccak256("Transfer(address,address,uint256)"): topic0 of ERC-20 (and ERC-721) transfers."""

_QUANTITY = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
_WORD = re.compile(r"^0x[0-9a-fA-F]{64}$")


def subscribe_request(request_id: int, kind: str, filter_: dict[str, object] | None = None) -> str:
    """§8 ``{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["logs",{…}]}``."""
    params: list[object] = [kind] if filter_ is None else [kind, filter_]
    message = {"jsonrpc": JSONRPC, "id": request_id, "method": "eth_subscribe", "params": params}
    return orjson.dumps(message).decode()


def call_request(request_id: int, method: str, params: list[object] | None = None) -> str:
    """A plain JSON-RPC call (``eth_blockNumber`` as a keepalive)."""
    message = {"jsonrpc": JSONRPC, "id": request_id, "method": method, "params": params or []}
    return orjson.dumps(message).decode()


def result_frame(request_id: object, result: object) -> bytes:
    """§8 response ``{"jsonrpc":"2.0","id":1,"result":"0xcd0c3e8af590364c09d0fa6a1210faf5"}``."""
    return orjson.dumps({"jsonrpc": JSONRPC, "id": request_id, "result": result})


def error_frame(request_id: object, code: int, message: str) -> bytes:
    """JSON-RPC 2.0 error object (the spec's shape; §8 shows none; geth's texts UNCONFIRMED)."""
    error = {"code": code, "message": message}
    return orjson.dumps({"jsonrpc": JSONRPC, "id": request_id, "error": error})


def notification(subscription: str, result: dict[str, Any]) -> bytes:
    """§8 ``{"jsonrpc":"2.0","method":"eth_subscription",
    "params":{"subscription":"0xcd0c…","result":{…}}}``."""
    params = {"subscription": subscription, "result": result}
    return orjson.dumps({"jsonrpc": JSONRPC, "method": SUBSCRIPTION, "params": params})


def quantity(value: object) -> int:
    """§8 ``"0x1b4"`` → 436. Raises ValueError/TypeError for anything but 0x-hex text."""
    if type(value) is not str or not _QUANTITY.match(value):
        raise ValueError(f"not a 0x-hex quantity: {brief(value)}")
    return int(value, 16)


def index(value: object) -> int:
    """A block number or log index: a ``quantity`` (up to 256 bits in general) that fits the
    signed 64-bit integer the message schema gives it; ValueError beyond."""
    number = quantity(value)
    if number > INT64_MAX:
        raise ValueError(f"{brief(value)} does not fit 64 bits")
    return number


def hex_quantity(n: int) -> str:
    """436 → ``"0x1b4"`` (no leading zeros, as nodes write quantities)."""
    return hex(n)


def topic_address(topic: object) -> str:
    """An indexed ``address`` topic (32 bytes, left-padded) → the lowercase ``0x`` address.

    ``0x000000000000000000000000ab5801a7d398351b8be11c439e05c5b3259aec9b`` →
    ``0xab5801a7d398351b8be11c439e05c5b3259aec9b``. Lowercase, not EIP-55 checksummed: the
    checksum needs Keccak-256, which the standard library lacks, and nodes send lowercase.
    """
    if type(topic) is not str or not _WORD.match(topic) or int(topic[2:26], 16) != 0:
        raise ValueError(f"not an address topic: {brief(topic)}")
    return "0x" + topic[26:].lower()


def decode_transfer(log: dict[str, Any]) -> dict[str, str] | None:
    """ERC-20 ``Transfer(address indexed from, address indexed to, uint256 value)`` → ``from``,
    ``to`` (lowercase addresses from topics[1]/[2]) and ``value`` (decimal string of the 32-byte
    ``data``); None when the log is not an ERC-20 transfer (ERC-721 has 4 topics and no data).

    Sample log (§8 fields): ``{"address": "0x9a29…7c2b", "topics": ["0xddf252ad…b3ef",
    "0x…<from>", "0x…<to>"], "data": "0x…0de0b6b3a7640000", "blockNumber": "0x1b4", …}``.
    """
    topics = log.get("topics")
    if type(topics) is not list or len(topics) != 3:
        return None
    first = topics[0]
    if type(first) is not str or first.lower() != TRANSFER_TOPIC:
        return None
    data = log.get("data")
    if type(data) is not str or not _WORD.match(data):
        return None
    try:
        sender, receiver = topic_address(topics[1]), topic_address(topics[2])
    except ValueError:
        return None
    return {"from": sender, "to": receiver, "value": str(int(data, 16))}


def address_topic(address: str) -> str:
    """A 20-byte address as an indexed topic (left-padded to 32 bytes)."""
    return "0x" + address[2:].lower().rjust(64, "0")


def word(value: int) -> str:
    """A uint256 as 32-byte ``data`` hex."""
    return "0x" + format(value, "064x")
