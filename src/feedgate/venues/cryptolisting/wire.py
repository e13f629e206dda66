"""cryptolisting.ws frame shapes (exchanges.md §7.1), read by the protocol, written by the sim.

Every server frame is a binary WebSocket frame of UTF-8 JSON with a ``type``; new fields may
appear at any time, so parsers read the fields they know and ignore the rest (§7.1 Messages).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from feedgate.protocol.checks import MAX_US, brief

TEST_REQUEST = '{"type":"test"}'
"""§7.1: client → server; answered (to this client only) by a ``test_announcement``."""
TEST_RATE_LIMITED = "test_rate_limited"
"""§7.1: the ``error`` code for a second test within a minute (not a disconnect)."""


class FrameError(ValueError):
    """A frame that cannot be interpreted (counted as a parse error, never raised further)."""


@dataclass(frozen=True, slots=True)
class Welcome:
    tier: str
    allowed_cex: tuple[str, ...]  # ("*",) = every exchange
    expires_in_s: int | None


@dataclass(frozen=True, slots=True)
class AnnouncementFields:
    publisher: str
    listing_type: str
    tickers: tuple[str, ...]
    title: str
    publish_ts: int | None
    detected_ts: int | None
    dispatch_ts: int | None
    abnormal_latency: bool | None


def decode(frame: str | bytes) -> dict[str, Any]:
    """A frame → its JSON object (binary frames hold UTF-8 JSON, §7.1)."""
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise FrameError("not an object with a string type")
    return msg


def _opt_int(msg: dict[str, Any], key: str) -> int | None:
    value = msg.get(key)
    if value is None:
        return None
    if type(value) is not int:
        raise FrameError(f"{key} is not an integer")
    return value


def _opt_time(msg: dict[str, Any], key: str) -> int | None:
    """An optional epoch-µs field; a time before 1970 or after 9999 is junk, not a time."""
    value = _opt_int(msg, key)
    if value is not None and not 0 <= value <= MAX_US:
        raise FrameError(f"{key} is out of range: {value}")
    return value


def _str(msg: dict[str, Any], key: str) -> str:
    value = msg.get(key)
    if not isinstance(value, str):
        raise FrameError(f"{key} missing or not a string")
    return value


def parse_welcome(msg: dict[str, Any]) -> Welcome:
    """§7.1 ``welcome``; ``allowedCex`` is a comma string (docs) or a list (seed): both work.

    ``{"type":"welcome","tier":"premium","maxDistinctIps":2,"maxConnectionsPerIp":5,
    "absoluteMaxConnections":20,"allowedCex":"*","expiresInSecs":2592000}``
    """
    tier = _str(msg, "tier")
    raw = msg.get("allowedCex", "*")
    if isinstance(raw, str):
        allowed = split_list(raw)
    elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        allowed = tuple(x.strip().lower() for x in raw if x.strip())
    else:
        raise FrameError("allowedCex is neither a string nor a list of strings")
    return Welcome(tier, allowed, _opt_int(msg, "expiresInSecs"))


def split_list(text: str) -> tuple[str, ...]:
    """``"ABC,DEF"`` → ``("ABC", "DEF")``; ``""`` → ``()`` (§7.1 ``ticker``, ``allowedCex``)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_announcement(msg: dict[str, Any], *, test: bool = False) -> AnnouncementFields:
    """§7.1 ``announcement`` (older docs carry ``publishTimestampUs``, newer ones do not):

    ``{"type": "announcement", "title": "Binance Will List TOKEN (TOKEN)", "ticker": "TOKEN",
    "publisher": "binance", "listingType": "spot_listing", "detectedTimestampUs":
    1710345000005000, "dispatchTimestampUs": 1710345000006000, "abnormalDetectionLatency": false}``

    ``test``: a ``test_announcement``, whose payload is UNCONFIRMED (§7.1): missing fields get
    placeholders instead of failing the frame.
    """
    if test:
        msg = {"publisher": "test", "listingType": "test", "title": "", "ticker": "", **msg}
    publisher = _str(msg, "publisher").lower()
    # an exchange id names the channel (announcements:{publisher}): ASCII letters, digits, "_"
    if not (publisher.isascii() and publisher.replace("_", "").isalnum()):
        raise FrameError(f"publisher {brief(publisher)} is not an exchange id")
    abnormal = msg.get("abnormalDetectionLatency")
    fields = AnnouncementFields(
        publisher=publisher,
        listing_type=_str(msg, "listingType"),  # unknown values pass through (§7.1)
        tickers=split_list(_str(msg, "ticker")),
        title=_str(msg, "title"),
        publish_ts=_opt_time(msg, "publishTimestampUs"),
        detected_ts=_opt_time(msg, "detectedTimestampUs"),
        dispatch_ts=_opt_time(msg, "dispatchTimestampUs"),
        abnormal_latency=abnormal if isinstance(abnormal, bool) else None,
    )
    if not test and fields.detected_ts is None and fields.publish_ts is None:
        raise FrameError("announcement without detectedTimestampUs or publishTimestampUs")
    return fields


def dedup_key(a: AnnouncementFields) -> str:
    """Stable across reconnects (§9 ``dedup_key``): sha256 of publisher, title, listing type and
    the publish time (or, when the source gives none, the detection time)."""
    when = a.publish_ts if a.publish_ts is not None else a.detected_ts
    text = "\x1f".join((a.publisher, a.title, a.listing_type, str(when)))
    return hashlib.sha256(text.encode()).hexdigest()


def error_code(msg: dict[str, Any]) -> str:
    """§7.1 ``error`` (fields UNCONFIRMED): the code from ``error``, ``code`` or ``message``."""
    for key in ("error", "code", "message"):
        value = msg.get(key)
        if isinstance(value, str):
            return value
    return "unknown"


# -- builders (the simulator and the tests) ----------------------------------------------------


def welcome_frame(
    tier: str, allowed_cex: str | list[str], expires_in_s: int | None, *, legacy: bool = False
) -> bytes:
    """§7.1 ``welcome`` in the older (``maxConnections``) or newer (per-IP limits) form."""
    limits: dict[str, int] = (
        {"maxConnections": 5}
        if legacy
        else {"maxDistinctIps": 2, "maxConnectionsPerIp": 5, "absoluteMaxConnections": 20}
    )
    return orjson.dumps(
        {"type": "welcome", "tier": tier, **limits, "allowedCex": allowed_cex,
         "expiresInSecs": expires_in_s}
    )  # fmt: skip


def announcement_frame(
    a: AnnouncementFields, *, legacy: bool = False, kind: str = "announcement"
) -> bytes:
    """§7.1 ``announcement`` (older form with ``publishTimestampUs``, newer form with
    ``abnormalDetectionLatency``); ``kind`` = ``test_announcement`` for a test reply."""
    msg: dict[str, Any] = {
        "type": kind, "title": a.title, "ticker": ",".join(a.tickers),
        "publisher": a.publisher, "listingType": a.listing_type,
    }  # fmt: skip
    if legacy:
        msg["publishTimestampUs"] = a.publish_ts
    msg["detectedTimestampUs"] = a.detected_ts
    msg["dispatchTimestampUs"] = a.dispatch_ts
    if not legacy:
        msg["abnormalDetectionLatency"] = bool(a.abnormal_latency)
    return orjson.dumps(msg)


HEARTBEAT_FRAME = b'{"type":"heartbeat"}'
"""§7.1 ``heartbeat`` every 30 s; fields beyond ``type`` are UNCONFIRMED."""


def error_frame(code: str) -> bytes:
    """§7.1 ``error`` message (shape UNCONFIRMED: ``{"type":"error","error":code}``, as the
    handshake's 429 bodies spell their code)."""
    return orjson.dumps({"type": "error", "error": code})
