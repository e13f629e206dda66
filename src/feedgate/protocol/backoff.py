"""Reconnect backoff: exponential with jitter and a cap, reset only after a stable spell.

The first attempt is immediate; attempt n waits ``min(cap, base * factor**(n-2))`` shortened by a
random share of up to ``jitter`` so that many connections dropped together do not return together.

Resetting on every successful connect would let a venue that accepts and then drops us at once
pull us into a tight reconnect loop; so the attempt count goes back to zero only once a connection
stayed up for ``stable_after_s``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    stable_after_s: float = 30.0
    jitter: float = 0.5  # delay = ceiling * (1 - jitter * U[0,1)); 1.0 = full jitter
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0
    _connected_at: float | None = None

    def next_delay(self) -> float:
        """The wait before the next connect attempt; each call counts one more attempt."""
        if self.attempts == 0:
            self.attempts = 1
            return 0.0
        try:
            ceiling = min(self.cap_s, self.base_s * self.factor ** (self.attempts - 1))
        except OverflowError:  # after ~1000 attempts factor**n exceeds a float: long capped
            ceiling = self.cap_s
        self.attempts += 1
        return ceiling * (1.0 - self.jitter * self.rng.random())

    def connected(self, now_s: float) -> None:
        self._connected_at = now_s

    def disconnected(self, now_s: float) -> None:
        if self._connected_at is not None and now_s - self._connected_at >= self.stable_after_s:
            self.attempts = 0
        self._connected_at = None
