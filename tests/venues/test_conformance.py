"""Every venue through the same cases (design §3.1), end to end over its simulator:
subscribe, trades, book sync, gap → reset, silence → reconnect, unknown frame counted,
reconnect resubscribes. A new venue folder is picked up here without changing this file; the
cases that apply follow the channels its ``VenueSpec`` offers (announcement and on-chain sources
have no trades or books)."""

from __future__ import annotations

import pytest

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.venues import available_venues, get_venue
from tests.conftest import wait_for
from tests.runtime.harness import Stack, books_settled, data_messages, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
VENUES = available_venues()
BOOK_VENUES = [v for v in VENUES if "book" in get_venue(v).channels]
DELTA_BOOK_VENUES = [v for v in BOOK_VENUES if get_venue(v).book_model == "deltas"]
TRADE_VENUES = [v for v in VENUES if "trades" in get_venue(v).channels]
MARKET = {"trades", "book", "bbo"}


def trades(stack: Stack, symbol: str) -> list[dict]:
    return stack.subscriber.messages[f"trades:{stack.worker.settings.feeds[0].exchange}:{symbol}"]


@pytest.mark.parametrize("venue", VENUES)
async def test_subscribes_and_delivers_in_seq_order(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await wait_for(lambda: data_messages(stack.subscriber) >= 20, 10, "20 data messages")
        events = [m["event"] for m in stack.subscriber.statuses()]
        assert events[:2] == ["connected", "subscribed"]
        assert stack.worker.stats.connections[0].up
        for channel, messages in list(stack.subscriber.messages.items()):
            assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1)), channel
        assert stack.subscriber.statuses("book_reset") == []


@pytest.mark.parametrize("venue", TRADE_VENUES)
async def test_trades_are_published_once(redis_server: EmbeddedRedis, venue: str) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await wait_for(
            lambda: all(len(trades(stack, s)) >= 10 for s in SYMBOLS), 10, "10 trades per symbol"
        )
        for symbol in SYMBOLS:
            got = trades(stack, symbol)
            assert len({m["id"] for m in got}) == len(got), "a trade was published twice"
            assert all(m["side"] in ("buy", "sell", "unknown") for m in got)


@pytest.mark.parametrize("venue", BOOK_VENUES)
async def test_books_equal_the_venue_book(redis_server: EmbeddedRedis, venue: str) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await books_settled(stack, SYMBOLS)
        for symbol in SYMBOLS:
            assert stack.subscriber.messages[f"book:{venue}:{symbol}"][0]["type"] == "book_snapshot"


@pytest.mark.parametrize("venue", DELTA_BOOK_VENUES)
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
        "transport_idle_s": 1.0, "book_idle_s": 0.5, "trades_idle_s": 0.5, "bbo_idle_s": 0.5,
        "reconnect_after": 2.0,
    }  # fmt: skip
    market = bool(MARKET & get_venue(venue).channels)
    async with running_stack(redis_server.url, SYMBOLS, venue=venue, staleness=staleness) as stack:
        await wait_for(lambda: data_messages(stack.subscriber) > 0, 5, "first data")
        stack.server.silence(3.0)
        if market:  # quiet announcement or chain feeds are not stale, only dead sockets are
            await wait_for(lambda: stack.subscriber.statuses("stale"), 5, "a stale status")
        await wait_for(lambda: stack.subscriber.statuses("disconnected"), 5, "a reconnect")
        seen = data_messages(stack.subscriber)
        await wait_for(
            lambda: data_messages(stack.subscriber) > seen + 5, 10, "data after the silence"
        )
        reconnects = stack.worker.stats.connections[0].reconnects
        assert reconnects["data_idle"] + reconnects["transport_idle"] >= 1


@pytest.mark.parametrize("venue", VENUES)
async def test_unknown_and_malformed_frames_are_counted(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        await wait_for(lambda: data_messages(stack.subscriber) > 0, 5, "first data")
        stats = stack.worker.stats.connections[0]
        stack.server.send_malformed()
        await wait_for(lambda: stats.parse_errors >= 2, 5, "parse errors counted")
        seen = data_messages(stack.subscriber)
        await wait_for(lambda: data_messages(stack.subscriber) > seen + 5, 5, "more data")
        assert sum(stats.reconnects.values()) == 0
        assert stack.subscriber.statuses("book_reset") == []


@pytest.mark.parametrize("venue", VENUES)
async def test_reconnect_resubscribes_and_resyncs(redis_server: EmbeddedRedis, venue: str) -> None:
    books = venue in BOOK_VENUES
    async with running_stack(redis_server.url, SYMBOLS, venue=venue) as stack:
        if books:
            await books_settled(stack, SYMBOLS)
            stack.server.resume()
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        stack.server.drop_connections()
        await wait_for(lambda: sum(stats.reconnects.values()) >= 1, 10, "a reconnect")
        await wait_for(
            lambda: len(stack.subscriber.statuses("subscribed")) >= 2, 10, "subscribed again"
        )
        seen = data_messages(stack.subscriber)
        await wait_for(lambda: data_messages(stack.subscriber) > seen + 5, 10, "data again")
        if books:
            resets = stack.subscriber.statuses("book_reset")
            assert sorted(r["symbol"] for r in resets) == SYMBOLS
            assert {r["reason"] for r in resets} == {"reconnect"}
            await books_settled(stack, SYMBOLS)
