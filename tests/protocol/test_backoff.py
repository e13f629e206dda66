"""Reconnect backoff: immediate first try, exponential growth, cap, jitter, stable reset."""

from __future__ import annotations

import random

import pytest

from feedgate.protocol.backoff import Backoff


def test_first_delay_is_zero_then_grows_exponentially_to_the_cap() -> None:
    backoff = Backoff(base_s=0.5, factor=2.0, cap_s=5.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_jitter_stays_within_bounds_and_is_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(base_s=1.0, factor=2.0, cap_s=16.0, jitter=0.5, rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(40)]

    delays = run(7)
    assert delays == run(7)
    assert delays != run(8)
    assert delays[0] == 0.0
    for attempt, delay in enumerate(delays[1:], start=1):
        ceiling = min(16.0, 2.0 ** (attempt - 1))
        assert ceiling * 0.5 < delay <= ceiling
    capped = delays[6:]
    assert len(set(capped)) > 1, "jitter spreads connections dropped together"


def test_full_jitter_may_go_down_to_zero_but_never_negative() -> None:
    backoff = Backoff(base_s=1.0, cap_s=4.0, jitter=1.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays[5:]) < 1.0


def _attempts_until_zero(backoff: Backoff) -> int:
    return next(n for n in range(100) if backoff.next_delay() == 0.0)


def test_short_connection_does_not_reset_the_backoff() -> None:
    backoff = Backoff(base_s=1.0, jitter=0.0, stable_after_s=30.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.connected(100.0)
    backoff.disconnected(129.9)  # accepted then dropped: not stable
    assert backoff.next_delay() == 8.0


def test_stable_connection_resets_the_backoff() -> None:
    backoff = Backoff(base_s=1.0, jitter=0.0, stable_after_s=30.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.connected(100.0)
    backoff.disconnected(130.0)
    assert backoff.next_delay() == 0.0
    assert backoff.next_delay() == 1.0


def test_disconnect_without_connect_does_not_reset() -> None:
    backoff = Backoff(base_s=1.0, jitter=0.0)
    backoff.next_delay()
    backoff.next_delay()
    backoff.disconnected(1e9)
    assert backoff.next_delay() == 2.0


@pytest.mark.parametrize("attempts", [1_100, 20_000])
def test_a_long_outage_keeps_returning_the_cap(attempts: int) -> None:
    """Hours of failed attempts must not overflow ``factor ** n`` (float overflow raises)."""
    backoff = Backoff(base_s=0.5, factor=2.0, cap_s=30.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(attempts)]
    assert delays[-1] == 30.0
    assert max(delays) == 30.0
