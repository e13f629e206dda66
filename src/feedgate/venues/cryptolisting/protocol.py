"""cryptolisting.ws listing announcements (exchanges.md §7.1) → ``Announcement`` events.

Flow per connection: the upgrade carries ``X-API-Key`` (``connect_headers``); the server sends
``welcome`` at once, which is the subscription confirmation (there is nothing to subscribe to:
the ``?cex=`` query is the filter). Then ``announcement`` messages, a ``heartbeat`` every 30 s
and server pings (answered by the transport).

Smoke check: after ``welcome`` the protocol sends ``{"type":"test"}`` and expects a
``test_announcement`` within ``smoke_timeout_s`` (checked in ``on_tick``); otherwise a ``stale``
status. Tests are limited to 1/minute per key (§7.1), so a reconnect within the minute skips it.

Duplicates (an announcement delivered again around a reconnect) are dropped by ``dedup_key``.
Fatal close reasons (``key_expired``/``key_invalidated``) are judged by the runtime
(``runtime/closing.py``) from the close frame.
"""

from __future__ import annotations

from typing import Any

from feedgate.events import Announcement, Status, StatusEvent
from feedgate.protocol.base import (
    Action,
    ConnectionSpec,
    Count,
    CountParseError,
    Emit,
    Observe,
    Send,
    Subscribed,
    VenueProtocol,
)
from feedgate.venues.cryptolisting import wire
from feedgate.venues.cryptolisting.dedup import RecentKeys
from feedgate.venues.cryptolisting.options import CryptolistingOptions

EXCHANGE = "cryptolisting"
SMOKE = "feedgate_smoke_checks_total"
DUPLICATES = "feedgate_duplicates_dropped_total"
LATENCY = "feedgate_announcement_dispatch_latency_seconds"
_IGNORED = frozenset({"heartbeat"})


class CryptolistingProtocol(VenueProtocol):
    exchange = EXCHANGE

    def __init__(self, spec: ConnectionSpec, options: CryptolistingOptions) -> None:
        self.connection = spec.connection_id
        self.options = options
        self.recent = RecentKeys(options.dedup_capacity)
        self.welcome: wire.Welcome | None = None
        self.smoke_deadline: int | None = None  # µs; a test request is outstanding
        self.last_test: int | None = None  # µs; survives reconnects (1 test/min per key, §7.1)

    # -- connection ------------------------------------------------------------------------------

    def connect_url(self) -> str:
        """``wss://cryptolisting.ws[?cex=binance,upbit]`` (§7.1 Connection)."""
        base = self.options.ws_url
        if not self.options.cex:
            return base
        return f"{base}{'&' if '?' in base else '?'}cex={','.join(self.options.cex)}"

    def connect_headers(self, now: int) -> list[tuple[str, str]]:
        """§7.1 Auth: ``X-API-Key: dsk_<64 hex>`` on the upgrade request."""
        return [("X-API-Key", self.options.api_key.get_secret_value())]

    def on_open(self, now: int) -> list[Action]:
        self.welcome = None
        self.smoke_deadline = None
        return []  # the server speaks first (welcome)

    def carry_over(self, previous: VenueProtocol) -> None:
        """The announcements already published (a replacement may be sent them again) and the
        last smoke test time (one test a minute per key, §7.1)."""
        if isinstance(previous, CryptolistingProtocol):
            self.recent = previous.recent.copy()
            self.last_test = previous.last_test

    def on_close(self, now: int) -> list[Action]:
        self.welcome = None
        self.smoke_deadline = None  # a test answer cannot arrive on a closed socket
        return []

    def on_tick(self, now: int) -> list[Action]:
        if self.smoke_deadline is None or now < self.smoke_deadline:
            return []
        self.smoke_deadline = None
        reason = f"smoke check: no test_announcement within {self.options.smoke_timeout_s:g}s"
        return [
            Count(SMOKE, (EXCHANGE, "timeout")),
            Emit(Status(EXCHANGE, StatusEvent.STALE, self.connection, reason, now)),
        ]

    # -- frames ----------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, recv_ts: int) -> list[Action]:
        try:
            msg = wire.decode(frame)
            kind = msg["type"]
            if kind == "announcement":
                return self._on_announcement(msg, recv_ts, test=False)
            if kind == "test_announcement":
                return self._on_announcement(msg, recv_ts, test=True)
            if kind == "welcome":
                return self._on_welcome(msg, recv_ts)
            if kind == "error":
                return self._on_error(msg)
            if kind in _IGNORED:
                return []
            return [CountParseError(f"unknown message type {kind[:40]!r}")]
        except wire.FrameError as exc:
            return [CountParseError(str(exc))]

    def _on_welcome(self, msg: dict[str, Any], recv_ts: int) -> list[Action]:
        """§7.1 ``welcome`` (once, first): the connection is up; then the smoke check.

        ``{"type":"welcome","tier":"premium","maxConnections":5,"allowedCex":"*",
        "expiresInSecs":2592000}``
        """
        welcome = wire.parse_welcome(msg)
        self.welcome = welcome
        reason = f"tier={welcome.tier} allowedCex={','.join(welcome.allowed_cex) or '-'}"
        actions: list[Action] = [
            Subscribed(),
            Emit(Status(EXCHANGE, StatusEvent.SUBSCRIBED, self.connection, reason, recv_ts)),
        ]
        interval_us = int(self.options.test_interval_s * 1_000_000)
        if self.options.smoke_check and (
            self.last_test is None or recv_ts - self.last_test >= interval_us
        ):
            self.last_test = recv_ts
            self.smoke_deadline = recv_ts + int(self.options.smoke_timeout_s * 1_000_000)
            actions.append(Send(wire.TEST_REQUEST))
        return actions

    def _on_announcement(self, msg: dict[str, Any], recv_ts: int, *, test: bool) -> list[Action]:
        """§7.1 ``announcement`` / ``test_announcement`` → ``announcements:{publisher}``.

        ``{"type": "announcement", "title": "Binance Will List ABC, DEF and GHI", "ticker":
        "ABC,DEF,GHI", "publisher": "binance", "listingType": "spot_listing",
        "publishTimestampUs": 1710345000000000, "detectedTimestampUs": 1710345000005000,
        "dispatchTimestampUs": 1710345000006000}``
        """
        a = wire.parse_announcement(msg, test=test)
        key = wire.dedup_key(a)
        actions: list[Action] = []
        if test:
            key = "test:" + key  # answers to our own requests: never deduplicated
            if self.smoke_deadline is not None:
                self.smoke_deadline = None
                actions.append(Count(SMOKE, (EXCHANGE, "ok")))
        elif self.recent.seen(key):
            return [Count(DUPLICATES, (EXCHANGE,))]
        elif a.dispatch_ts is not None:
            # negative values are clock skew between the source and us: recorded as 0
            latency = max(0.0, (recv_ts - a.dispatch_ts) / 1e6)
            actions.append(Observe(LATENCY, (EXCHANGE, a.publisher), latency))
        ts = a.publish_ts if a.publish_ts is not None else a.detected_ts
        event = Announcement(
            exchange=EXCHANGE, ts=ts, recv_ts=recv_ts, publisher=a.publisher,
            listing_type=a.listing_type, tickers=a.tickers, title=a.title, url=None,
            is_test=test, publish_ts=a.publish_ts, detected_ts=a.detected_ts,
            dispatch_ts=a.dispatch_ts, dedup_key=key,
        )  # fmt: skip
        actions.append(Emit(event))
        return actions

    def _on_error(self, msg: dict[str, Any]) -> list[Action]:
        """§7.1 ``error`` (fields UNCONFIRMED), e.g. ``test_rate_limited``: not a disconnect."""
        code = wire.error_code(msg)
        if code == wire.TEST_RATE_LIMITED:
            if self.smoke_deadline is None:
                return []
            self.smoke_deadline = None
            return [Count(SMOKE, (EXCHANGE, "rate_limited"))]
        return [CountParseError(f"venue error {code[:60]!r}")]
