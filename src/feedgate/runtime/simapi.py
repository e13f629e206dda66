"""The contract between a venue simulator and ``simserver``, plus server-side frame encoding.

A venue's ``sim.py`` implements ``VenueSimulator`` structurally (it imports nothing from here, so
it stays pure); the server is generic over the venue's session type ``S`` and event type ``E``.
Each venue's ``sim`` module also exports ``make_simulator(symbols, *, seed)`` taking canonical
``BASE-QUOTE`` symbols, which ``run_simulator`` and the conformance tests use; and each venue's
options accept ``ws_url`` and ``rest_url``, so any gateway feed can be pointed at its simulator.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

S = TypeVar("S")
E = TypeVar("E")


class VenueSimulator(Protocol[S, E]):
    """What the server needs from a venue simulator. All times are µs since the epoch."""

    @property
    def venue(self) -> str: ...

    @property
    def symbols(self) -> list[str]:
        """Venue symbols, the keys of ``trade_events`` and ``skip_update_ids``."""
        ...

    def open_session(self, path: str) -> S | None:
        """A WebSocket request path (with query) → session; None → 404, ValueError → 400."""
        ...

    def on_client_text(self, session: S, text: str) -> list[bytes]:
        """One client text frame → reply frames (may change the session's subscriptions)."""
        ...

    def subscriptions(self, session: S) -> list[str]: ...

    def trade_events(self, symbol: str, now_us: int, n: int) -> list[E]:
        """``n`` trades of ``symbol`` as events (one trade may make several)."""
        ...

    def tick_events(self, now_us: int, symbols: list[str] | None = None) -> list[E]:
        """One periodic step of the books of ``symbols`` (default all)."""
        ...

    def render(self, session: S, event: E) -> bytes | None:
        """The text frame ``session`` receives for ``event``; None when not subscribed."""
        ...

    def saturation_frames(self, session: S, now_us: int, n: int) -> list[bytes]:
        """About ``n`` fresh trade frames for the session's trade subscriptions ([] if none)."""
        ...

    def malformed_frames(self) -> list[bytes]: ...

    def shutdown_frames(self, session: S, now_us: int) -> list[bytes]: ...

    def skip_update_ids(self, symbol: str, n: int) -> None:
        """Make ``symbol``'s book feed miss updates (a sequence gap, or for checksum venues a
        corrupted update), while the true book moves on: a gateway ignoring it goes wrong."""
        ...

    def venue_symbol(self, symbol: str) -> str:
        """Canonical ``BASE-QUOTE`` → the venue's spelling (the keys used above)."""
        ...

    def true_book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]]:
        """(last update id, bids, asks) best first: what a correct gateway book must equal."""
        ...

    def http_get(self, path: str) -> tuple[int, bytes] | None:
        """A REST GET path (with query) → (status, JSON body); None → 404."""
        ...


OPTIONAL_FEATURES = """
Optional simulator attributes ``SimServer`` uses when present (read with ``getattr``):
- ``client_msgs_per_s: int | None`` — client frames per second before the venue disconnects
  (default 5, Binance §1.9; None = unlimited).
- ``server_ping_interval_s: float | None`` — WebSocket ping frames from the server (default 20,
  Binance §1.8; None = none, for venues whose keepalive is application-level).
- ``periodic_interval_s: float`` and ``periodic_frames(session, now_us) -> list[bytes]`` —
  frames the venue sends on a timer (Coinbase ``heartbeats``, Kraken ``heartbeat``).
- ``subscribe_deadline_s: float | None`` — close a session with no subscription after this long
  (Coinbase: 5 s).
- ``checksum_flip(symbol)`` — the next book update of ``symbol`` carries a wrong checksum.
- ``should_close(session, now_us) -> str | None`` — a close reason when the venue would end the
  session itself (Upbit closes a client silent for 120 s); checked once a second.
- ``binary_frames: bool`` — data frames go out as binary WebSocket frames (Upbit, cryptolisting).
- ``gateway_options: dict`` — options a gateway feed needs besides ``ws_url``/``rest_url`` to
  talk to this simulator (a demo API key); the demo and the test harness merge them in.
- ``request_headers`` — ``open_session`` may take ``(path, headers)`` when the simulator
  defines ``wants_headers = True`` (API keys, JWTs in ``Authorization``); a ``PermissionError``
  from it answers HTTP 401/403 like the venue.
- ``trade_ids(event) -> list[tuple[str, str]]`` — the (venue symbol, trade id) pairs a gateway
  feed with default options publishes for ``event`` ([] for anything else), so a test can
  compare what was sent with what was published (``SimServer.record_trades``).
"""


@dataclass(slots=True)
class SimStats:
    """Counters a test or benchmark reads; plain ints, updated on the event loop."""

    connection_attempts: int = 0
    attempt_times: list[float] = field(default_factory=list)  # loop time of each attempt
    connections_accepted: int = 0
    open_connections: int = 0
    client_messages: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    rate_limit_violations: int = 0
    pong_timeouts: int = 0
    slow_client_disconnects: int = 0
    lifetime_closes: int = 0
    refused_connections: int = 0
    http_requests: int = 0
    subscriptions: dict[int, list[str]] = field(default_factory=dict)
    """Open connection id → its subscribed streams."""


_SMALL = [bytes((0x81, n)) for n in range(126)]
_MEDIUM = struct.Struct("!BBH")
_LARGE = struct.Struct("!BBQ")


_SMALL_BINARY = [bytes((0x82, n)) for n in range(126)]


def frame_text_batch(payloads: list[bytes], binary: bool = False) -> bytes:
    """Encode payloads as consecutive unmasked, unfragmented server frames (RFC 6455 §5.2:
    FIN + opcode 0x1 text, or 0x2 binary for venues that send binary frames such as Upbit and
    cryptolisting.ws; 7/16/64-bit length; no mask from a server)."""
    small, opcode = (_SMALL_BINARY, 0x82) if binary else (_SMALL, 0x81)
    parts: list[bytes] = []
    append = parts.append
    for payload in payloads:
        n = len(payload)
        if n < 126:
            append(small[n])
        elif n < 65536:
            append(_MEDIUM.pack(opcode, 126, n))
        else:
            append(_LARGE.pack(opcode, 127, n))
        append(payload)
    return b"".join(parts)
