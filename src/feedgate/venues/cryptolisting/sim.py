"""cryptolisting.ws simulator (exchanges.md §7.1), pure: no clocks, sockets or asyncio.

The generic server (``runtime/simserver.py``) owns sockets and time; this module decides what a
connection may do and what it is sent. Its "symbols" are publishers (``binance``, ``upbit``,
``bithumb``) and its "trades" are announcements: ``trade_events(publisher, now, n)`` makes ``n``
fresh ones, so the server's paced trade loop emits announcements at the requested rate.

- Upgrade: ``X-API-Key`` required (missing → 401, unknown → 403, §7.1), ``?cex=`` filters.
- ``welcome`` first (sent on the session's first render: ``tick_events`` returns a probe event
  every tick so it comes promptly even when no announcement is due), then announcements in the
  key's docs version (older with ``publishTimestampUs``, newer with ``abnormalDetectionLatency``),
  free tier redacted; ``heartbeat`` every 30 s; ``{"type":"test"}`` → ``test_announcement``, or
  ``error`` ``test_rate_limited`` within a minute of the key's last test.
- Faults: ``replay_recent(n)`` re-sends the last ``n`` announcements (a reconnect overlap);
  ``malformed_frames``; fatal closes via the server's ``close_all(1000, "key_expired")``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import orjson

from feedgate.venues.cryptolisting import wire
from feedgate.venues.cryptolisting.simcontent import FREE_TIER_TITLE, PUBLISHERS, make_content

DEMO_KEY = "dsk_" + hashlib.sha256(b"feedgate cryptolisting demo key").hexdigest()
"""A key of the right shape (``dsk_`` + 64 hex, §7.1) that the simulator accepts."""
TEST_INTERVAL_US = 60_000_000  # §7.1: 1 test request per minute per key
RECENT = 256  # announcements kept for replay_recent


@dataclass(frozen=True, slots=True)
class SimKey:
    tier: str = "premium"
    allowed_cex: str | list[str] = "*"  # §7.1 a string; the seed's list form is accepted too
    legacy: bool = False  # older docs' frame shapes
    expires_in_s: int | None = 2_592_000


@dataclass(slots=True, eq=False)
class Session:
    key: str
    publishers: frozenset[str]  # the effective filter: key's allowed set ∩ cex
    welcomed: bool = False


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One announcement (``fields``), or None: the probe that lets a new session get welcomed."""

    fields: wire.AnnouncementFields | None


PROBE = SimEvent(None)


class CryptolistingSim:
    venue = "cryptolisting"
    binary_frames = True  # §7.1: binary frames of UTF-8 JSON
    wants_headers = True
    server_ping_interval_s = 15.0  # §7.1: a WebSocket ping every 15 s
    periodic_interval_s = 30.0  # §7.1: JSON heartbeat every 30 s
    client_msgs_per_s = 3  # stand-in for §7.1's 3 client messages/minute (pongs count here)

    def __init__(self, publishers: list[str], *, seed: int = 0) -> None:
        self._publishers = list(publishers)
        self._rng = random.Random(seed)
        self.keys: dict[str, SimKey] = {DEMO_KEY: SimKey()}
        self.gateway_options: dict[str, object] = {"api_key": DEMO_KEY}
        self.recent: list[SimEvent] = []
        self.test_requests = 0
        self._replay: list[SimEvent] = []
        self._last_test: dict[str, int] = {}
        self._now = 0
        self._last_detected = 0

    @property
    def symbols(self) -> list[str]:
        return list(self._publishers)

    # -- sessions ----------------------------------------------------------------------------------

    def open_session(self, path: str, headers: dict[str, str] | None = None) -> Session | None:
        """§7.1 upgrade: ``/`` with an optional ``?cex=a,b`` and the ``X-API-Key`` header."""
        parts = urlsplit(path)
        if parts.path not in ("", "/"):
            return None
        key = (headers or {}).get("x-api-key")
        if not key:
            raise PermissionError('{"error":"missing_api_key"}')
        info = self.keys.get(key)
        if info is None:
            raise PermissionError('{"error":"invalid_api_key"}')
        allowed = set(PUBLISHERS) | set(self._publishers)
        if info.allowed_cex != "*":
            raw = info.allowed_cex
            allowed = set(wire.split_list(raw) if isinstance(raw, str) else raw)
        cex = parse_qs(parts.query).get("cex")
        if cex:
            allowed &= set(wire.split_list(",".join(cex).lower()))
        return Session(key, frozenset(allowed))  # an empty set still connects (§7.1)

    def subscriptions(self, session: Session) -> list[str]:
        return sorted(session.publishers)

    def on_client_text(self, session: Session, text: str) -> list[bytes]:
        """§7.1: ``{"type":"test"}`` → ``test_announcement`` (to this client only), or an
        ``error`` ``test_rate_limited`` within a minute of the key's previous test."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return []
        if not isinstance(msg, dict) or msg.get("type") != "test":
            return []
        self.test_requests += 1
        last = self._last_test.get(session.key)
        if last is not None and self._now - last < TEST_INTERVAL_US:
            return [wire.error_frame(wire.TEST_RATE_LIMITED)]
        self._last_test[session.key] = self._now
        test = self._fresh("binance", self._now, title="Test announcement")
        return [wire.announcement_frame(test, kind="test_announcement")]

    def add_key(self, key: str, info: SimKey) -> None:
        self.keys[key] = info

    # -- announcements -----------------------------------------------------------------------------

    def _fresh(
        self, publisher: str, now_us: int, title: str | None = None
    ) -> wire.AnnouncementFields:
        listing_type, text, tickers = make_content(self._rng, publisher)
        # detection strictly increases, so every announcement has its own dedup key
        detected = max(now_us - self._rng.randint(1_000, 4_000), self._last_detected + 1)
        self._last_detected = detected
        return wire.AnnouncementFields(
            publisher=publisher,
            listing_type="test" if title else listing_type,
            tickers=() if title else tickers,
            title=title or text,
            publish_ts=detected - self._rng.randint(2_000, 50_000),
            detected_ts=detected,
            dispatch_ts=max(now_us, detected + 1),
            abnormal_latency=False,
        )

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[SimEvent]:
        """``n`` fresh announcements by publisher ``symbol`` (plus any pending replay)."""
        self._now = max(self._now, now_us)
        events = [SimEvent(self._fresh(symbol, now_us)) for _ in range(n)]
        self.recent = (self.recent + events)[-RECENT:]
        replay, self._replay = self._replay, []
        return replay + events

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[SimEvent]:
        """No market to step: the probe only, so new sessions get their ``welcome``."""
        self._now = max(self._now, now_us)
        return [PROBE]

    def replay_recent(self, n: int) -> list[SimEvent]:
        """Fault: the next batch re-sends the last ``n`` announcements (reconnect overlap)."""
        self._replay = self.recent[-n:]
        return list(self._replay)

    def welcome_for(self, session: Session) -> bytes:
        info = self.keys[session.key]
        return wire.welcome_frame(
            info.tier, info.allowed_cex, info.expires_in_s, legacy=info.legacy
        )

    def render(self, session: Session, event: SimEvent) -> bytes | None:
        if not session.welcomed:
            # §7.1 welcome comes first; what was published before it is not this session's
            session.welcomed = True
            return self.welcome_for(session)
        a = event.fields
        if a is None or a.publisher not in session.publishers:
            return None
        info = self.keys[session.key]
        if info.tier == "free" and a.listing_type != "not_listing":
            a = wire.AnnouncementFields(
                a.publisher, a.listing_type, (), FREE_TIER_TITLE, a.publish_ts, a.detected_ts,
                a.dispatch_ts, a.abnormal_latency,
            )  # fmt: skip
        return wire.announcement_frame(a, legacy=info.legacy)

    def periodic_frames(self, session: Session, now_us: int) -> list[bytes]:
        """§7.1 ``heartbeat`` every 30 s."""
        self._now = max(self._now, now_us)
        return [wire.HEARTBEAT_FRAME]

    def saturation_frames(self, session: Session, now_us: int, n: int) -> list[bytes]:
        frames: list[bytes] = []
        for i in range(n):
            publisher = self._publishers[i % len(self._publishers)]
            frame = self.render(session, SimEvent(self._fresh(publisher, now_us)))
            if frame is not None:
                frames.append(frame)
        return frames

    def malformed_frames(self) -> list[bytes]:
        """Not JSON, not UTF-8, an announcement missing its fields, an unknown type."""
        return [
            b"{not json",
            b"\xff\xfe\x00garbage",
            b'{"type":"announcement","title":"Binance Will List TOKEN (TOKEN)"}',
            b'{"type":"listing_digest_v9","items":[]}',
        ]

    def shutdown_frames(self, session: Session, now_us: int) -> list[bytes]:
        return []  # §7.1 documents no shutdown notice, only close codes

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """No sequence numbers in §7.1: nothing to skip."""

    def venue_symbol(self, symbol: str) -> str:
        return symbol

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        raise NotImplementedError("cryptolisting.ws has no books")

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        return None


def make_simulator(symbols: list[str], *, seed: int = 0) -> CryptolistingSim:
    """``symbols`` may name publishers; anything else (``BTC-USDT``) means all three (§7.1)."""
    publishers = [s.lower() for s in symbols if s.lower() in PUBLISHERS]
    return CryptolistingSim(publishers or list(PUBLISHERS), seed=seed)
