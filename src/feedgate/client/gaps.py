"""Per-channel ``seq`` tracking: what a subscriber lost, and why.

Every channel's ``seq`` goes up by one per message (design §2.2). A jump means messages were
dropped (by the gateway under backpressure, or by Redis when this subscriber fell behind); a
decrease means the gateway process restarted; after this client reconnected, anything but the
next ``seq`` means messages went by while it was away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GapReason = Literal["dropped", "restart", "reconnected"]


@dataclass(frozen=True, slots=True)
class Gap:
    channel: str
    expected: int  # the seq that should have come
    got: int
    reason: GapReason

    @property
    def missed(self) -> int | None:
        """How many messages were lost (unknown across a gateway restart)."""
        return None if self.reason == "restart" else self.got - self.expected


class SeqTracker:
    def __init__(self) -> None:
        self._last: dict[str, int] = {}
        self._reconnected: set[str] = set()

    def observe(self, channel: str, seq: int) -> Gap | None:
        last = self._last.get(channel)
        self._last[channel] = seq
        if last is None or seq == last + 1:
            self._reconnected.discard(channel)
            return None
        if seq <= last:
            reason: GapReason = "restart"
        elif channel in self._reconnected:
            reason = "reconnected"
        else:
            reason = "dropped"
        self._reconnected.discard(channel)
        return Gap(channel, last + 1, seq, reason)

    def reconnected(self) -> None:
        """The subscription was re-established: the next message per channel tells what went by."""
        self._reconnected.update(self._last)

    def last(self, channel: str) -> int | None:
        return self._last.get(channel)
