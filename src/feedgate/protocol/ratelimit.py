"""Rate limits as pure sliding windows: ask when the next event may happen, given ``now``.

Used for connect attempts (Binance: 300 per 5 minutes per IP), messages sent per connection
(Binance: 5 per second, pings and control frames included) and REST weight budgets.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class SlidingWindow:
    """At most ``limit`` units in any ``window_s`` seconds."""

    limit: int
    window_s: float
    _events: deque[tuple[float, int]] = field(default_factory=deque)
    _used: int = 0

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.window_s <= 0:
            raise ValueError("a rate limit needs a positive limit and window")

    def _expire(self, now_s: float) -> None:
        events = self._events
        while events and events[0][0] <= now_s - self.window_s:
            self._used -= events.popleft()[1]

    def delay(self, now_s: float, cost: int = 1) -> float:
        """Seconds to wait before ``cost`` units fit (0 when they fit now)."""
        if cost > self.limit:
            raise ValueError(f"cost {cost} exceeds the limit {self.limit}")
        self._expire(now_s)
        if self._used + cost <= self.limit:
            return 0.0
        needed = self._used + cost - self.limit
        freed = 0
        for at, units in self._events:
            freed += units
            if freed >= needed:
                return at + self.window_s - now_s
        return self.window_s  # unreachable while cost <= limit

    def acquire(self, now_s: float, cost: int = 1) -> float:
        """Reserve ``cost`` units; returns how long to wait before using them (0 = now)."""
        wait = self.delay(now_s, cost)
        self._events.append((now_s + wait, cost))
        self._used += cost
        return wait


@dataclass(slots=True)
class RateLimits:
    """Several windows at once (5 a second *and* 100 a minute): an event waits until it fits
    in every one of them."""

    windows: list[SlidingWindow]

    def acquire(self, now_s: float, cost: int = 1) -> float:
        wait = max((w.delay(now_s, cost) for w in self.windows), default=0.0)
        for window in self.windows:
            window.acquire(now_s + wait, cost)
        return wait
