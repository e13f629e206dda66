"""Typed messages, decoded from the wire schema (docs/schema.md, design §2.2).

``decode(data)`` turns one published JSON message into a frozen object of its type. Prices and
sizes become ``Decimal`` (exact, as the venue sent them); timestamps stay integer microseconds.
Fields a newer gateway adds within schema version 1 are ignored, so consumers keep working; a
message that is not valid JSON, has another ``v``, or lacks a field raises ``SchemaError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

SCHEMA_VERSION = 1
Level = tuple[Decimal, Decimal]  # (price, size)


class SchemaError(ValueError):
    """A message that does not follow the schema; says which field and why."""


@dataclass(frozen=True, slots=True)
class Message:
    """The fields every message has."""

    exchange: str
    symbol: str | None
    venue_symbol: str | None
    ts: int | None  # venue event time, µs since the epoch (None where the venue gives none)
    recv_ts: int  # gateway receive time, µs
    seq: int  # per channel, +1 per message; a jump means messages were lost


@dataclass(frozen=True, slots=True)
class Trade(Message):
    id: str
    price: Decimal
    size: Decimal
    side: Literal["buy", "sell", "unknown"]  # the taker's side


@dataclass(frozen=True, slots=True)
class BookSnapshot(Message):
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]
    depth: int | None  # levels kept, None for the full book


@dataclass(frozen=True, slots=True)
class BookDelta(Message):
    bids: tuple[Level, ...]  # absolute new sizes; size 0 deletes the level
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class Bbo(Message):
    bid_price: Decimal | None
    bid_size: Decimal | None
    ask_price: Decimal | None
    ask_size: Decimal | None


@dataclass(frozen=True, slots=True)
class Announcement(Message):
    publisher: str
    listing_type: str
    tickers: tuple[str, ...]
    title: str
    url: str | None
    is_test: bool
    publish_ts: int | None
    detected_ts: int | None
    dispatch_ts: int | None


@dataclass(frozen=True, slots=True)
class Onchain(Message):
    network: str
    kind: str
    block_number: int
    block_hash: str | None
    tx_hash: str | None
    log_index: int | None
    removed: bool
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Private(Message):
    account: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Status(Message):
    event: str  # connected, subscribed, disconnected, rejected, book_reset, book_synced, …
    connection: str
    reason: str | None


AnyMessage = Trade | BookSnapshot | BookDelta | Bbo | Announcement | Onchain | Private | Status


def _decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, str):
        raise SchemaError(f"{field}: expected a decimal string, got {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise SchemaError(f"{field}: not a decimal: {value!r}") from None


def _maybe_decimal(value: object, field: str) -> Decimal | None:
    return None if value is None else _decimal(value, field)


def _levels(value: object, field: str) -> tuple[Level, ...]:
    if not isinstance(value, list):
        raise SchemaError(f"{field}: expected a list of [price, size], got {value!r}")
    try:
        return tuple((_decimal(p, field), _decimal(s, field)) for p, s in value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"{field}: expected a list of [price, size], got {value!r}") from None


def _common(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "exchange": m["exchange"],
        "symbol": m["symbol"],
        "venue_symbol": m["venue_symbol"],
        "ts": m["ts"],
        "recv_ts": m["recv_ts"],
        "seq": m["seq"],
    }


def _trade(m: dict[str, Any]) -> Trade:
    side = m["side"]
    if side not in ("buy", "sell", "unknown"):
        raise SchemaError(f"side: expected buy, sell or unknown, got {side!r}")
    price, size = _decimal(m["price"], "price"), _decimal(m["size"], "size")
    return Trade(**_common(m), id=str(m["id"]), price=price, size=size, side=side)


def _snapshot(m: dict[str, Any]) -> BookSnapshot:
    bids, asks = _levels(m["bids"], "bids"), _levels(m["asks"], "asks")
    return BookSnapshot(**_common(m), bids=bids, asks=asks, depth=m["depth"])


def _delta(m: dict[str, Any]) -> BookDelta:
    return BookDelta(**_common(m), bids=_levels(m["bids"], "bids"), asks=_levels(m["asks"], "asks"))


def _bbo(m: dict[str, Any]) -> Bbo:
    return Bbo(
        **_common(m),
        bid_price=_maybe_decimal(m["bid_price"], "bid_price"),
        bid_size=_maybe_decimal(m["bid_size"], "bid_size"),
        ask_price=_maybe_decimal(m["ask_price"], "ask_price"),
        ask_size=_maybe_decimal(m["ask_size"], "ask_size"),
    )


def _announcement(m: dict[str, Any]) -> Announcement:
    return Announcement(
        **_common(m),
        publisher=m["publisher"],
        listing_type=m["listing_type"],
        tickers=tuple(m["tickers"]),
        title=m["title"],
        url=m["url"],
        is_test=bool(m["is_test"]),
        publish_ts=m["publish_ts"],
        detected_ts=m["detected_ts"],
        dispatch_ts=m["dispatch_ts"],
    )


def _onchain(m: dict[str, Any]) -> Onchain:
    return Onchain(
        **_common(m),
        network=m["network"],
        kind=m["kind"],
        block_number=m["block_number"],
        block_hash=m["block_hash"],
        tx_hash=m["tx_hash"],
        log_index=m["log_index"],
        removed=bool(m["removed"]),
        payload=m["payload"],
    )


def _private(m: dict[str, Any]) -> Private:
    return Private(**_common(m), account=m["account"], kind=m["kind"], payload=m["payload"])


def _status(m: dict[str, Any]) -> Status:
    return Status(**_common(m), event=m["event"], connection=m["connection"], reason=m["reason"])


_DECODERS: dict[str, Callable[[dict[str, Any]], AnyMessage]] = {
    "trade": _trade,
    "book_snapshot": _snapshot,
    "book_delta": _delta,
    "bbo": _bbo,
    "announcement": _announcement,
    "onchain": _onchain,
    "private": _private,
    "status": _status,
}


def decode(data: bytes | str) -> AnyMessage:
    """One published message → its typed object (``SchemaError`` says what is wrong)."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SchemaError(f"expected a JSON object, got {type(raw).__name__}")
    if raw.get("v") != SCHEMA_VERSION:
        raise SchemaError(f"v: schema version {raw.get('v')!r}, this client reads {SCHEMA_VERSION}")
    decoder = _DECODERS.get(raw.get("type"))  # type: ignore[arg-type]
    if decoder is None:
        raise SchemaError(f"type: unknown message type {raw.get('type')!r}")
    try:
        message: AnyMessage = decoder(raw)
    except KeyError as exc:
        raise SchemaError(f"{raw['type']}: missing field {exc.args[0]!r}") from None
    if not isinstance(message.seq, int) or not isinstance(message.recv_ts, int):
        raise SchemaError(f"{raw['type']}: seq and recv_ts must be integers")
    return message
