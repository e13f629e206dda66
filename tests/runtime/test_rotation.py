"""Make-before-break rotation end to end: simulator → worker → real Redis → subscriber.

The cases every venue shares (a forced lifetime met by rotations, a shutdown notice) are in
``tests/venues/test_conformance.py``; these are the runtime's failure paths: a replacement that
cannot connect leaves the old connection serving, and one that is not up when the old
connection is cut falls back to a plain reconnect; plus the venue's own schedule of a notice
before the cut, the connect limiter and the metrics.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from prometheus_client import generate_latest

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import Lifetime
from feedgate.venues.okx import LIMITS as OKX_LIMITS
from tests.conftest import wait_for
from tests.runtime.harness import Stack, books_settled, data_messages, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]


def quick_retries(stack: Stack) -> None:
    rotator = stack.worker.runners[0].rotator
    rotator.policy = replace(rotator.policy, retry_s=0.2, retry_cap_s=0.5)


def trade_ids(stack: Stack, venue: str = "binance") -> dict[str, list[str]]:
    return {
        m["venue_symbol"]: [t["id"] for t in stack.subscriber.messages[f"trades:{venue}:{s}"]]
        for s in SYMBOLS
        for m in stack.subscriber.messages[f"trades:{venue}:{s}"][:1]
    }


async def all_sent_published(stack: Stack, venue: str = "binance") -> None:
    sent = stack.server.trades_sent
    assert sent is not None
    await wait_for(
        lambda: (
            {s: sorted(i) for s, i in trade_ids(stack, venue).items()}
            == {s: sorted(i) for s, i in sent.items()}
        ),
        5,
        "every trade sent published once",
    )


async def test_a_replacement_that_cannot_connect_leaves_the_old_one_serving(
    redis_server: EmbeddedRedis,
) -> None:
    async with running_stack(
        redis_server.url, SYMBOLS, rotate_after=1.0, record_trades=True
    ) as stack:
        rotator = stack.worker.runners[0].rotator
        rotator.policy = replace(rotator.policy, retry_s=0.2, retry_cap_s=0.2)
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        stack.server.refuse_connections(503)
        await wait_for(lambda: stats.rotations[("lifetime", "failed")] >= 2, 10, "2 failures")
        # the old connection never stopped: still up, still publishing, nobody told otherwise
        assert stats.up and stack.server.stats.open_connections == 1
        seen = data_messages(stack.subscriber)
        await wait_for(lambda: data_messages(stack.subscriber) > seen + 20, 5, "data flowing")
        assert stack.server.stats.refused_connections >= 2
        # the next retry is far off; a shutdown notice does not wait for it
        rotator.policy = replace(rotator.policy, retry_s=60.0, retry_cap_s=60.0)
        await wait_for(lambda: stats.rotations[("lifetime", "failed")] >= 3, 5, "a long wait")
        stack.server.refuse_connections(None)
        stack.server.server_shutdown()
        await wait_for(lambda: stats.rotations[("server_shutdown", "switched")] == 1, 5, "switch")
        await books_settled(stack, SYMBOLS)
        await all_sent_published(stack)
        statuses = [m["event"] for m in stack.subscriber.statuses()]
        assert "disconnected" not in statuses and "book_reset" not in statuses
        assert sum(stats.reconnects.values()) == 0


def books_valid(stack: Stack) -> bool:
    return all(stack.subscriber.books[s].valid for s in SYMBOLS)


async def test_old_connection_cut_before_a_replacement_connects_reconnects_as_before(
    redis_server: EmbeddedRedis,
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, rotate_after=1.0) as stack:
        quick_retries(stack)
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        stack.server.refuse_connections(503)
        await wait_for(lambda: books_valid(stack), 5, "books synced")
        await wait_for(lambda: stats.rotations[("lifetime", "failed")] >= 1, 10, "a failure")
        stack.server.close_one(code=1001)  # the venue cuts it
        await wait_for(lambda: stats.reconnects["venue_going_away"] == 1, 5, "the cut")
        assert stats.rotations[("lifetime", "fallback")] == 1
        # never both lost: the slot reconnects on its own once the venue takes connections
        stack.server.refuse_connections(None)
        await wait_for(lambda: stats.up, 10, "reconnected")
        await books_settled(stack, SYMBOLS)
        # what subscribers saw: the plain reconnect's disconnect and resets, then a new sync
        events = [(m["event"], m["reason"]) for m in stack.subscriber.statuses()]
        cut = events.index(("disconnected", "venue_going_away"))
        assert ("rotated", "lifetime") not in events[:cut]
        assert events[cut - 2 : cut] == [("book_reset", "reconnect")] * 2
        assert ("book_synced", "") in events[cut:]


async def test_old_connection_cut_while_the_replacement_syncs_hands_over_at_once(
    redis_server: EmbeddedRedis,
) -> None:
    """The replacement is subscribed (its trades are held) but its books cannot sync (REST is
    down) when the venue cuts the old connection: it takes over at once instead of a
    reconnect. No trade is lost or repeated; the books it has not synced yet are reset and
    sync on it."""
    async with running_stack(
        redis_server.url, SYMBOLS, rotate_after=1.0, record_trades=True
    ) as stack:
        stats = stack.worker.stats.connections[0]
        rotator = stack.worker.runners[0].rotator
        await wait_for(lambda: books_valid(stack), 5, "books synced")
        stack.server.fail_rest(503)

        def replacement_subscribed() -> bool:
            overlap = rotator.overlap
            return bool(overlap and overlap.candidate and overlap.candidate.subscribed)

        await wait_for(replacement_subscribed, 5, "a subscribed replacement")
        rotator.policy = replace(rotator.policy, after_s=None)  # this one rotation only
        stack.server.close_one(0, code=1001)  # the old connection
        await wait_for(lambda: stats.rotations[("lifetime", "switched")] == 1, 5, "the switch")
        stack.server.fail_rest(None)
        await books_settled(stack, SYMBOLS)
        await all_sent_published(stack)
        events = [(m["event"], m["reason"]) for m in stack.subscriber.statuses()]
        at = events.index(("rotated", "lifetime"))
        assert events[at + 1 : at + 3] == [("book_reset", "reconnect")] * 2
        assert ("disconnected", "venue_going_away") not in events
        assert sum(stats.reconnects.values()) == 0 and dict(stats.resyncs) == {"reconnect": 2}
        assert stack.server.stats.open_connections == 1


async def test_okx_upgrade_notices_before_each_cut_rotate_within_the_connect_limit(
    redis_server: EmbeddedRedis,
) -> None:
    """The venue's schedule scaled down (§5.2: notice 30 s before the upgrade disconnect): each
    connection is told 2 s before it is cut. No lifetime is configured (OKX documents none),
    the notices alone rotate, and every replacement is paced by the 3 connects/s limit."""
    async with running_stack(
        redis_server.url, SYMBOLS, venue="okx", record_trades=True, rotate_after=0
    ) as stack:
        stack.server.force_lifetime(Lifetime(2.5, notice_s=2.0))
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.rotations[("server_shutdown", "switched")] >= 3, 15, "3x")
        await books_settled(stack, SYMBOLS)
        await all_sent_published(stack, "okx")
        assert stack.server.stats.lifetime_closes == 0  # none lived to be cut
        assert sum(stats.reconnects.values()) == 0
        assert stack.subscriber.statuses("book_reset") == []
        spacing = OKX_LIMITS.connect_window_s / OKX_LIMITS.connects_per_window
        gaps = [b - a for a, b in pairwise(stack.server.stats.attempt_times)]
        assert gaps and min(gaps) >= spacing * 0.9, gaps
        text = generate_latest(stack.worker.registry).decode()
        assert (
            'feedgate_rotations_total{exchange="okx",outcome="switched",reason="server_shutdo'
            in text
        )
