"""Upbit frame shapes (exchanges.md §4), shared by the protocol and the simulator.

Every data frame exists in two spellings: DEFAULT keys (``trade_price``) and SIMPLE keys
(``tp``), §4.2-§4.4. The simulator builds frames in DEFAULT keys and renders SIMPLE through the
same key tables the protocol reads, so the two cannot drift apart. Numbers are JSON doubles
(§4.8); codes are QUOTE-BASE (``KRW-BTC``), canonical symbols BASE-QUOTE (``BTC-KRW``).
"""

from __future__ import annotations

from typing import Any

import orjson

from feedgate.protocol.checks import brief

TRADE, ORDERBOOK, MY_ORDER, MY_ASSET = "trade", "orderbook", "myOrder", "myAsset"
PUBLIC_PATH, PRIVATE_PATH = "/websocket/v1", "/websocket/v1/private"  # §4.1
PING = "PING"  # §4.5 text keepalive
DEPTHS = (1, 5, 15, 30)  # §4.2 orderbook counts; anything else falls back to 30
DEFAULT_DEPTH = 30

SIMPLE_KEYS: dict[str, str] = {
    # envelope and trade (§4.3)
    "type": "ty", "code": "cd", "timestamp": "tms", "stream_type": "st",
    "trade_price": "tp", "trade_volume": "tv", "ask_bid": "ab", "prev_closing_price": "pcp",
    "change": "c", "change_price": "cp", "trade_date": "td", "trade_time": "ttm",
    "trade_timestamp": "ttms", "sequential_id": "sid", "best_ask_price": "bap",
    "best_ask_size": "bas", "best_bid_price": "bbp", "best_bid_size": "bbs",
    # orderbook (§4.4)
    "total_ask_size": "tas", "total_bid_size": "tbs", "orderbook_units": "obu",
    "ask_price": "ap", "bid_price": "bp", "ask_size": "as", "bid_size": "bs", "level": "lv",
}  # fmt: skip
"""DEFAULT → SIMPLE key names (§4.3/§4.4 tables)."""
DEFAULT_KEYS = {v: k for k, v in SIMPLE_KEYS.items()}


# -- symbols (§4.8) ------------------------------------------------------------------------------


def canonical(code: str) -> str:
    """§4.8 ``KRW-BTC`` (QUOTE-BASE) → ``BTC-KRW``; raises ValueError for anything else."""
    quote, sep, base = code.partition("-")
    if not sep or not quote or not base or "-" in base or code != code.upper():
        raise ValueError(f"not an Upbit market code: {brief(code)}")
    return f"{base}-{quote}"


def venue_code(symbol: str) -> str:
    """Canonical ``BTC-USDT`` → Upbit ``USDT-BTC`` (§4.8: reverse the two parts)."""
    base, sep, quote = symbol.upper().partition("-")
    if not sep or not base or not quote:
        raise ValueError(f"symbols are BASE-QUOTE, not {symbol!r}")
    return f"{quote}-{base}"


# -- client requests (§4.2, §4.5) -----------------------------------------------------------------


def request_frame(
    ticket: str,
    types: list[tuple[str, list[str] | None]],
    fmt: str,
    *,
    is_only_realtime: bool = False,
) -> str:
    """§4.2 ``[{"ticket": "…"}, {"type": "trade", "codes": ["KRW-BTC"]},
    {"type": "orderbook", "codes": ["KRW-BTC.15"]}, {"format": "SIMPLE"}]``: one array with
    every type; ``codes`` None leaves the key out (``myAsset`` takes none)."""
    body: list[dict[str, Any]] = [{"ticket": ticket}]
    for kind, codes in types:
        item: dict[str, Any] = {"type": kind}
        if codes is not None:
            item["codes"] = codes
        if is_only_realtime and kind in (TRADE, ORDERBOOK):
            item["is_only_realtime"] = True
        body.append(item)
    body.append({"format": fmt})
    return orjson.dumps(body).decode()


def book_code(code: str, depth: int | None) -> str:
    """§4.2 ``SGD-BTC.15``; no suffix for the default depth."""
    return code if depth is None else f"{code}.{depth}"


def split_book_code(text: str) -> tuple[str, int]:
    """``KRW-BTC.15`` → (``KRW-BTC``, 15); unsupported counts fall back to 30 (§4.2)."""
    code, _, count = text.partition(".")
    depth = int(count) if count.isdigit() else DEFAULT_DEPTH
    return code, depth if depth in DEPTHS else DEFAULT_DEPTH


# -- venue frames (§4.3-§4.6) ---------------------------------------------------------------------


def get(msg: dict[str, Any], key: str) -> Any:
    """The value of DEFAULT ``key`` in a frame of either format (KeyError when absent)."""
    if key in msg:
        return msg[key]
    return msg[SIMPLE_KEYS[key]]


def simple(msg: Any) -> Any:
    """A DEFAULT-keyed frame (nested units too) in SIMPLE keys; unknown keys stay as they are."""
    if isinstance(msg, dict):
        return {SIMPLE_KEYS.get(k, k): simple(v) for k, v in msg.items()}
    if isinstance(msg, list):
        return [simple(v) for v in msg]
    return msg


def trade_message(
    code: str,
    ts_ms: int,
    trade_ms: int,
    price: float,
    volume: float,
    ask_bid: str,
    prev_close: float,
    sequential_id: int,
    stream_type: str,
) -> dict[str, Any]:
    """§4.3 DEFAULT ``{"type": "trade", "code": "KRW-BTC", "timestamp": 1676965220452,
    "trade_date": "2023-02-21", "trade_time": "07:40:20", "trade_timestamp": 1676965220395,
    "trade_price": 32292000, "trade_volume": 0.03096742, "ask_bid": "BID",
    "prev_closing_price": 31883000.0, "change": "RISE", "change_price": 409000.0,
    "sequential_id": 1676965220395000, "stream_type": "REALTIME"}`` (dates from ``trade_ms``,
    UTC). The ``best_*`` fields are left out, as in the 2021 capture."""
    seconds = trade_ms // 1000
    days, rest = divmod(seconds, 86400)
    change = price - prev_close
    return {
        "type": TRADE, "code": code, "timestamp": ts_ms,
        "trade_date": _date(days), "trade_time": f"{rest // 3600:02d}:{rest // 60 % 60:02d}:"
        f"{rest % 60:02d}", "trade_timestamp": trade_ms, "trade_price": price,
        "trade_volume": volume, "ask_bid": ask_bid, "prev_closing_price": prev_close,
        "change": "RISE" if change > 0 else "FALL" if change < 0 else "EVEN",
        "change_price": abs(change), "sequential_id": sequential_id, "stream_type": stream_type,
    }  # fmt: skip


def orderbook_message(
    code: str, ts_ms: int, units: list[tuple[float, float, float, float]], stream_type: str
) -> dict[str, Any]:
    """§4.4 DEFAULT ``{"type": "orderbook", "code": "SGD-BTC", "timestamp": 1746601573804,
    "total_ask_size": 4.79, "total_bid_size": 2.65, "orderbook_units": [{"ask_price": 128460.0,
    "bid_price": 128450.0, "ask_size": 0.2, "bid_size": 0.05}], "stream_type": "REALTIME",
    "level": 0}``; ``units`` = (ask price, bid price, ask size, bid size), 0 for a missing side."""
    return {
        "type": ORDERBOOK, "code": code, "timestamp": ts_ms,
        "total_ask_size": sum(u[2] for u in units), "total_bid_size": sum(u[3] for u in units),
        "orderbook_units": [
            {"ask_price": a, "bid_price": b, "ask_size": asz, "bid_size": bsz}
            for a, b, asz, bsz in units
        ],
        "stream_type": stream_type, "level": 0,
    }  # fmt: skip


def error_frame(name: str, message: str) -> bytes:
    """§4.6 ``{"error": {"name": "NO_CODES", "message": "..."}}``."""
    return orjson.dumps({"error": {"name": name, "message": message}})


STATUS_UP = b'{"status":"UP"}'
"""§4.5: the reply to ``PING`` (and every 10 s while the connection is alive)."""


def _date(days: int) -> str:
    """Days since 1970-01-01 → ``yyyy-MM-dd`` (civil-from-days, proleptic Gregorian)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}"


# -- REST instrument list -------------------------------------------------------------------------

MARKETS_PATH = "/v1/market/all"
"""Not in exchanges.md; the 2021 capture's ``http`` record fetched it from api.upbit.com."""


def parse_markets(body: bytes) -> dict[str, str]:
    """``[{"market": "KRW-BTC", "korean_name": "비트코인", "english_name": "Bitcoin"}, …]``
    (as captured) → ``{"BTC-KRW": "KRW-BTC", …}``."""
    items = orjson.loads(body)
    if type(items) is not list:
        raise ValueError("the market list is not a JSON array")
    out: dict[str, str] = {}
    for item in items:
        code = item["market"]
        if type(code) is not str:
            raise TypeError("market must be a string")
        out[canonical(code)] = code
    return out


def markets_body(codes: list[tuple[str, str]]) -> bytes:
    """The captured shape for ``[(code, english name), …]`` (Korean name: the English one)."""
    return orjson.dumps([{"market": c, "korean_name": n, "english_name": n} for c, n in codes])
