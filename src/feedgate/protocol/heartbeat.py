"""When is a connection dead, and when is a feed merely quiet?

Two clocks, checked once a second by the runtime:
- transport idle: no frame of any kind (data, ping, heartbeat) for ``transport_idle_s`` → the
  socket is dead even if TCP has not noticed: reconnect.
- data idle, per channel kind: the socket is alive but a subscribed channel sent no data for its
  threshold → publish ``stale`` (and ``recovered`` when data returns); after ``reconnect_after``
  thresholds of silence, reconnect, because some venues silently stop a subscription.
Quiet markets make books and trades pause, so data thresholds are per channel and generous.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HeartbeatReport:
    reconnect: str | None  # "transport_idle" / "data_idle" when the connection must be replaced
    stale: tuple[str, ...] = ()  # channels that just went quiet
    recovered: tuple[str, ...] = ()  # channels that sent data again


@dataclass(slots=True)
class HeartbeatPolicy:
    transport_idle_s: float = 30.0
    data_idle_s: dict[str, float] = field(default_factory=lambda: {"book": 30.0, "trades": 300.0})
    reconnect_after: float = 3.0  # multiples of the data threshold

    def check(
        self,
        now_s: float,
        last_frame_s: float,
        last_data_s: dict[str, float],
        stale: set[str],
    ) -> HeartbeatReport:
        """Judge one connection; updates ``stale`` (the channels now reported stale) in place.

        A channel that never sent data is judged from ``last_frame_s`` onwards, i.e. from when
        the connection was opened or last heard from: a subscription that never delivers is
        caught as well. Channels that went quiet are reported stale even when the same check
        also replaces the connection (a late check must not skip the ``stale`` status).
        """
        newly_stale: list[str] = []
        recovered: list[str] = []
        reconnect: str | None = None
        for channel, last in last_data_s.items():
            threshold = self.data_idle_s.get(channel)
            if threshold is None:
                continue
            idle = now_s - last
            if idle >= threshold * self.reconnect_after:
                reconnect = reconnect or "data_idle"
            if idle >= threshold:
                if channel not in stale:
                    stale.add(channel)
                    newly_stale.append(channel)
            elif channel in stale:
                stale.discard(channel)
                recovered.append(channel)
        if now_s - last_frame_s >= self.transport_idle_s:
            reconnect = "transport_idle"
        return HeartbeatReport(reconnect, tuple(newly_stale), tuple(recovered))


@dataclass(slots=True)
class PingSchedule:
    """Application-level pings on a timer (Kraken ``ping``, OKX text ``ping``, Bybit
    ``{"op":"ping"}``): a venue protocol asks ``due(now)`` in ``on_tick`` and sends when true.
    Times are integer microseconds, as everywhere in venue code."""

    interval_s: float
    _next_us: int | None = None

    def due(self, now_us: int) -> bool:
        if self._next_us is None:
            self._next_us = now_us + int(self.interval_s * 1_000_000)
            return False
        if now_us < self._next_us:
            return False
        self._next_us = now_us + int(self.interval_s * 1_000_000)
        return True

    def reset(self) -> None:
        """Start over (on a new connection)."""
        self._next_us = None
