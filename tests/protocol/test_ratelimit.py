"""SlidingWindow: never more than ``limit`` units in any window of ``window_s`` seconds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedgate.protocol.ratelimit import SlidingWindow


def test_limit_then_wait_for_the_oldest_to_leave_the_window() -> None:
    window = SlidingWindow(limit=5, window_s=1.0)
    assert [window.acquire(10.0) for _ in range(5)] == [0.0] * 5
    assert window.delay(10.25) == 0.75
    assert window.acquire(10.25) == 0.75
    assert window.acquire(10.5) == 0.5  # also waits for the second of the five at 10.0
    # at 11.0 the five from 10.0 have left the window; the two granted for 11.0 are in it
    assert [window.acquire(11.0) for _ in range(3)] == [0.0] * 3
    assert window.acquire(11.0) == 1.0


def test_delay_does_not_reserve() -> None:
    window = SlidingWindow(limit=1, window_s=2.0)
    window.acquire(0.0)
    assert window.delay(1.0) == 1.0
    assert window.delay(1.0) == 1.0
    assert window.delay(2.0) == 0.0
    assert window.acquire(2.0) == 0.0


def test_weighted_costs() -> None:
    window = SlidingWindow(limit=6000, window_s=60.0)  # Binance REST weight per minute
    assert window.acquire(0.0, 250) == 0.0
    assert window.acquire(1.0, 5750) == 0.0
    assert window.acquire(2.0, 50) == 58.0  # needs the 250 at t=0 to expire


def test_invalid_limits_and_costs() -> None:
    with pytest.raises(ValueError, match="positive"):
        SlidingWindow(limit=0, window_s=1.0)
    with pytest.raises(ValueError, match="positive"):
        SlidingWindow(limit=1, window_s=0.0)
    with pytest.raises(ValueError, match="exceeds"):
        SlidingWindow(limit=5, window_s=1.0).acquire(0.0, 6)


# Dyadic times (multiples of 1/64 s) keep every sum exact in floats, so the check can be exact.
_STEP = 1.0 / 64


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(1, 10),
    window_steps=st.integers(1, 128),
    requests=st.lists(st.tuples(st.integers(0, 80), st.integers(1, 10)), min_size=1, max_size=80),
)
def test_never_more_than_limit_units_in_any_window(
    limit: int, window_steps: int, requests: list[tuple[int, int]]
) -> None:
    window_s = window_steps * _STEP
    window = SlidingWindow(limit=limit, window_s=window_s)
    now = 0.0
    granted: list[tuple[float, int]] = []
    for gap_steps, raw_cost in requests:
        now += gap_steps * _STEP  # the clock never goes back
        cost = min(raw_cost, limit)
        busy = any(at > now - window_s for at, _ in granted)
        wait = window.acquire(now, cost)
        assert wait >= 0.0
        if not busy:
            assert wait == 0.0, "an empty window must not make anyone wait"
        granted.append((now + wait, cost))
    for end, _ in granted:  # the worst windows end at a grant
        used = sum(c for at, c in granted if end - window_s < at <= end)
        assert used <= limit, f"{used} units in the window ending at {end}"


def test_rate_limits_wait_for_every_window() -> None:
    from feedgate.protocol.ratelimit import RateLimits, SlidingWindow

    limits = RateLimits([SlidingWindow(1, 0.2), SlidingWindow(3, 60.0)])
    assert limits.acquire(0.0) == 0.0
    assert limits.acquire(0.0) == pytest.approx(0.2)  # spacing: one per 0.2 s
    assert limits.acquire(0.2) == pytest.approx(0.2)
    assert limits.acquire(0.4) == pytest.approx(59.6)  # the minute cap of 3 holds it back
