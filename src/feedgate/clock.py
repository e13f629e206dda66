"""Wall-clock helpers for the runtime. Venue code never calls these: it is given ``now``."""

from __future__ import annotations

import time


def now_us() -> int:
    """Wall-clock microseconds since the epoch (the unit of ``ts``/``recv_ts``)."""
    return time.time_ns() // 1000


def monotonic() -> float:
    return time.monotonic()
