"""End to end: OKX simulator → worker → real Redis → subscriber, for the OKX-specific paths.

The cases every venue shares are in ``tests/venues/test_conformance.py``. Simulator options are
set by wrapping ``sim.make_simulator`` (what ``running_stack`` calls) for the test.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.venues.okx import sim as okx_sim
from tests.conftest import wait_for
from tests.runtime.harness import Stack, books_settled, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]


@pytest.fixture
def sim_options(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(**options: Any) -> None:
        original = okx_sim.make_simulator
        monkeypatch.setattr(okx_sim, "make_simulator", partial(original, **options))

    return use


def book_messages(stack: Stack, symbol: str) -> list[dict[str, Any]]:
    return stack.subscriber.messages[f"book:okx:{symbol}"]


def trades(stack: Stack, symbol: str) -> list[dict[str, Any]]:
    return stack.subscriber.messages[f"trades:okx:{symbol}"]


async def test_without_initial_snapshots_books_sync_over_rest(
    redis_server: EmbeddedRedis, sim_options: Any
) -> None:
    sim_options(initial_snapshot=False)
    async with running_stack(redis_server.url, SYMBOLS, venue="okx") as stack:
        await books_settled(stack, SYMBOLS)
        assert sorted(set(stack.sim.books_requests)) == SYMBOLS  # §5.6 REST fallback
        assert stack.subscriber.statuses("book_reset") == []
        for symbol in SYMBOLS:
            assert book_messages(stack, symbol)[0]["type"] == "book_snapshot"
        # a gap then resyncs over REST too: resubscribing brings no snapshot either
        stack.server.resume()
        before = stack.sim.books_requests.count("BTC-USDT")
        stack.server.skip_update_ids("BTC-USDT", 3)
        await wait_for(lambda: stack.subscriber.statuses("book_reset"), 5, "a book_reset")
        await books_settled(stack, SYMBOLS)
        assert stack.sim.books_requests.count("BTC-USDT") == before + 1
        assert [r["symbol"] for r in stack.subscriber.statuses("book_reset")] == ["BTC-USDT"]


async def test_checksum_mismatch_resyncs_that_book(
    redis_server: EmbeddedRedis, sim_options: Any
) -> None:
    sim_options(legacy_checksum=True)
    options = {"legacy_checksum": True}
    async with running_stack(redis_server.url, SYMBOLS, venue="okx", options=options) as stack:
        await books_settled(stack, SYMBOLS)
        stats = stack.worker.stats.connections[0]
        assert sum(stats.resyncs.values()) == 0  # real checksums all matched so far
        stack.server.resume()
        other = len(book_messages(stack, "ETH-USDT"))
        stack.server.checksum_flip("BTC-USDT")
        await wait_for(lambda: stack.subscriber.statuses("book_reset"), 5, "a book_reset")
        await books_settled(stack, SYMBOLS)
        (reset,) = stack.subscriber.statuses("book_reset")
        assert (reset["symbol"], reset["reason"]) == ("BTC-USDT", "checksum")
        assert dict(stats.resyncs) == {"checksum": 1}
        assert all(m["type"] == "book_delta" for m in book_messages(stack, "ETH-USDT")[other:])
        log = stack.subscriber.log
        at = next(i for i, (_, m) in enumerate(log) if m.get("event") == "book_reset")
        first = next(m for ch, m in log[at:] if ch == "book:okx:BTC-USDT")
        assert first["type"] == "book_snapshot", "a delta was published on an invalid book"


async def test_a_venue_sequence_reset_is_not_a_gap(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue="okx") as stack:
        await books_settled(stack, SYMBOLS)
        stack.server.resume()
        seq_before = stack.sim.true_book("BTC-USDT")[0]
        stack.sim.reset_sequence("BTC-USDT")
        await wait_for(lambda: stack.sim.true_book("BTC-USDT")[0] < seq_before, 5, "the reset")
        seen = len(book_messages(stack, "BTC-USDT"))
        await wait_for(lambda: len(book_messages(stack, "BTC-USDT")) > seen + 5, 5, "more deltas")
        await books_settled(stack, SYMBOLS)
        assert stack.subscriber.statuses("book_reset") == []


async def test_bbo_from_bbo_tbt(redis_server: EmbeddedRedis) -> None:
    options = {"bbo_source": "bbo-tbt"}
    async with running_stack(redis_server.url, SYMBOLS, venue="okx", options=options) as stack:
        await books_settled(stack, SYMBOLS)
        for symbol in SYMBOLS:
            _, bids, asks = stack.sim.true_book(symbol)

            def current(s: str = symbol, b: Any = bids, a: Any = asks) -> bool:
                got = stack.subscriber.messages[f"bbo:okx:{s}"]
                return (
                    bool(got)
                    and [got[-1]["bid_price"], got[-1]["bid_size"]] == b[0]
                    and [
                        got[-1]["ask_price"],
                        got[-1]["ask_size"],
                    ]
                    == a[0]
                )

            await wait_for(current, 5, f"{symbol} bbo equal to the true touch")


async def test_unknown_instrument_is_rejected_and_the_rest_flows(
    redis_server: EmbeddedRedis,
) -> None:
    symbols = [*SYMBOLS, "XYZ-USDT"]
    async with running_stack(
        redis_server.url, symbols, venue="okx", venue_lists=SYMBOLS, validate_symbols=False
    ) as stack:
        await wait_for(lambda: stack.subscriber.statuses("rejected"), 5, "a rejected status")
        (rejected,) = stack.subscriber.statuses("rejected")
        assert rejected["symbol"] == "XYZ-USDT" and "60018" in rejected["reason"]
        await wait_for(
            lambda: all(len(trades(stack, s)) >= 5 for s in SYMBOLS), 10, "trades flowing"
        )
        await books_settled(stack, SYMBOLS)
        assert stack.worker.stats.connections[0].up


async def test_instrument_list_rejects_before_connecting(redis_server: EmbeddedRedis) -> None:
    symbols = [*SYMBOLS, "XYZ-USDT"]
    async with running_stack(redis_server.url, symbols, venue="okx", venue_lists=SYMBOLS) as stack:
        await wait_for(lambda: stack.subscriber.statuses("rejected"), 5, "a rejected status")
        (rejected,) = stack.subscriber.statuses("rejected")
        assert rejected["connection"] == "okx-instruments"
        await books_settled(stack, SYMBOLS)
        subscribed = [s for subs in stack.server.stats.subscriptions.values() for s in subs]
        assert not [s for s in subscribed if "XYZ" in s]


async def test_upgrade_notice_rotates_the_connection(redis_server: EmbeddedRedis) -> None:
    """§5.2 notice 64008 (closing in 30 s): a replacement takes over first, no reconnect (the
    shared cases, trades exactly once included, are in test_conformance.py)."""
    async with running_stack(redis_server.url, SYMBOLS, venue="okx") as stack:
        await wait_for(lambda: trades(stack, "BTC-USDT"), 5, "first trade")
        stack.server.server_shutdown()
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.rotations[("server_shutdown", "switched")] == 1, 5, "switch")
        await books_settled(stack, SYMBOLS)
        assert sum(stats.reconnects.values()) == 0
        assert stack.subscriber.statuses("book_reset") == []
        assert len(stack.subscriber.statuses("subscribed")) == 1
