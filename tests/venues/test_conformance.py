"""Every venue through the same cases (design §3.1), end to end over its simulator:
subscribe, trades, book sync, gap → reset, silence → reconnect, unknown frame counted,
reconnect resubscribes. A new venue folder is picked up here without changing this file."""

from __future__ import annotations

import pytest

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.venues import available_venues, get_venue
from tests.conftest import wait_for
from tests.runtime.harness import Stack, books_settled, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
VENUES = available_venues()


def trades(stack: Stack, symbol: str) -> list[dict]:
    return stack.subscriber.messages[f"trades:{stack.worker.settings.feeds[0].exchange}:{symbol}"]


@pytest.mark.parametrize("venue", VENUES)
async def test_subscribes_and_delivers_trades_and_books(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await wait_for(
            lambda: all(len(trades(stack, s)) >= 10 for s in SYMBOLS), 10, "10 trades per symbol"
        )
        await books_settled(stack, SYMBOLS)
        events = [m["event"] for m in stack.subscriber.statuses()]
        assert events[:2] == ["connected", "subscribed"]
        assert stack.worker.stats.connections[0].up
        for symbol in SYMBOLS:
            got = trades(stack, symbol)
            assert [m["seq"] for m in got] == list(range(1, len(got) + 1))
            assert len({m["id"] for m in got}) == len(got), "a trade was published twice"
            book = stack.subscriber.messages[f"book:{venue}:{symbol}"]
            assert book[0]["type"] == "book_snapshot"
        assert stack.subscriber.statuses("book_reset") == []


@pytest.mark.parametrize("venue", VENUES)
async def test_gap_resets_that_book_only_and_resyncs(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await books_settled(stack, SYMBOLS)
        stack.server.resume()
        other = f"book:{venue}:ETH-USDT"
        before = len(stack.subscriber.messages[other])
        stack.server.skip_update_ids(stack.sim.venue_symbol("BTC-USDT"), 3)
        await wait_for(lambda: stack.subscriber.statuses("book_reset"), 5, "a book_reset")
        await books_settled(stack, SYMBOLS)
        resets = stack.subscriber.statuses("book_reset")
        per_connection = get_venue(venue).gap_resets_connection
        expected = SYMBOLS if per_connection else ["BTC-USDT"]
        assert sorted(r["symbol"] for r in resets) == expected
        assert all(r["reason"] != "reconnect" for r in resets)
        log = stack.subscriber.log
        at = next(i for i, (ch, m) in enumerate(log) if m.get("event") == "book_reset")
        first = next(m for ch, m in log[at:] if ch == f"book:{venue}:BTC-USDT")
        assert first["type"] == "book_snapshot", "a delta was published on an invalid book"
        # bbo subscribers learn it too: an empty bbo right after the reset
        bbo = next(m for ch, m in log[at:] if ch == f"bbo:{venue}:BTC-USDT")
        assert (bbo["bid_price"], bbo["ask_price"]) == (None, None)
        book = stack.subscriber.messages[f"book:{venue}:BTC-USDT"]
        assert [m["seq"] for m in book] == list(range(1, len(book) + 1))
        if not per_connection:
            assert all(m["type"] == "book_delta" for m in stack.subscriber.messages[other][before:])
        resyncs = stack.worker.stats.connections[0].resyncs
        assert sum(resyncs.values()) == len(expected) and "reconnect" not in resyncs


@pytest.mark.parametrize("venue", VENUES)
async def test_silence_is_stale_then_reconnects(redis_server: EmbeddedRedis, venue: str) -> None:
    staleness = {
        "transport_idle_s": 1.0,
        "book_idle_s": 0.5,
        "trades_idle_s": 0.5,
        "bbo_idle_s": 0.5,
        "reconnect_after": 2.0,
    }
    async with running_stack(redis_server.url, SYMBOLS, venue=venue, staleness=staleness) as stack:
        await wait_for(lambda: trades(stack, "BTC-USDT"), 5, "first trade")
        stack.server.silence(3.0)
        await wait_for(lambda: stack.subscriber.statuses("stale"), 5, "a stale status")
        await wait_for(lambda: stack.subscriber.statuses("disconnected"), 5, "a reconnect")
        seen = len(trades(stack, "BTC-USDT"))
        await wait_for(
            lambda: len(trades(stack, "BTC-USDT")) > seen + 5, 10, "trades after the silence"
        )
        reconnects = stack.worker.stats.connections[0].reconnects
        assert reconnects["data_idle"] + reconnects["transport_idle"] >= 1


@pytest.mark.parametrize("venue", VENUES)
async def test_unknown_and_malformed_frames_are_counted(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await wait_for(lambda: trades(stack, "BTC-USDT"), 5, "first trade")
        stats = stack.worker.stats.connections[0]
        stack.server.send_malformed()
        await wait_for(lambda: stats.parse_errors >= 2, 5, "parse errors counted")
        seen = len(trades(stack, "BTC-USDT"))
        await wait_for(lambda: len(trades(stack, "BTC-USDT")) > seen + 5, 5, "more trades")
        assert sum(stats.reconnects.values()) == 0
        assert stack.subscriber.statuses("book_reset") == []


@pytest.mark.parametrize("venue", VENUES)
async def test_reconnect_resubscribes_and_resyncs(redis_server: EmbeddedRedis, venue: str) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await books_settled(stack, SYMBOLS)
        stack.server.resume()
        stack.server.drop_connections()
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: sum(stats.reconnects.values()) >= 1, 10, "a reconnect")
        await wait_for(
            lambda: len(stack.subscriber.statuses("subscribed")) >= 2, 10, "subscribed again"
        )
        resets = stack.subscriber.statuses("book_reset")
        assert sorted(r["symbol"] for r in resets) == SYMBOLS
        assert {r["reason"] for r in resets} == {"reconnect"}
        await books_settled(stack, SYMBOLS)
