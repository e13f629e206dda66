"""Every venue through the same cases (design §3.1), end to end over its simulator:
subscribe, trades, book sync, gap → reset, silence → reconnect, unknown frame counted,
reconnect resubscribes, make-before-break rotation (forced lifetime, shutdown notice) without
losing or repeating a trade. A new venue folder is picked up here without changing this file; the
cases that apply follow the channels its ``VenueSpec`` offers (announcement and on-chain sources
have no trades or books)."""

from __future__ import annotations

import importlib
from itertools import pairwise

import pytest

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.simserver import Lifetime
from feedgate.venues import available_venues, get_venue
from tests.conftest import wait_for
from tests.runtime.harness import Stack, books_settled, data_messages, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
VENUES = available_venues()
BOOK_VENUES = [v for v in VENUES if "book" in get_venue(v).channels]
DELTA_BOOK_VENUES = [v for v in BOOK_VENUES if get_venue(v).book_model == "deltas"]
TRADE_VENUES = [v for v in VENUES if "trades" in get_venue(v).channels]
MARKET = {"trades", "book", "bbo"}
# venues whose simulator names the trade ids it sends (simapi OPTIONAL_FEATURES ``trade_ids``)
ROTATION_VENUES = [
    v for v in TRADE_VENUES
    if hasattr(importlib.import_module(f"feedgate.venues.{v}.sim").make_simulator([]), "trade_ids")
]  # fmt: skip


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


async def settled_trades(stack: Stack, books: bool) -> dict[str, list[str]]:
    """Stop the venue (books settled first, where there are books) and wait until every trade
    the simulator sent is published; returns the published ids per venue symbol."""
    if books:
        await books_settled(stack, SYMBOLS)
    else:
        stack.server.silence(None)
    sent = stack.server.trades_sent
    assert sent is not None

    def published() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for symbol in SYMBOLS:
            for m in trades(stack, symbol):
                out.setdefault(m["venue_symbol"], []).append(m["id"])
        return out

    await wait_for(
        lambda: {s: set(i) for s, i in published().items()} == {s: set(i) for s, i in sent.items()},
        5, "every trade sent published",
    )  # fmt: skip
    got = published()
    for venue_symbol, ids in got.items():
        assert len(ids) == len(set(ids)), f"{venue_symbol}: a trade was published twice"
        assert len(ids) == len(sent[venue_symbol]) > 0
    return got


def assert_seamless(stack: Stack) -> None:
    """No subscriber noticed a connection change: no reset, no disconnect, no seq jump."""
    for event in ("book_reset", "disconnected", "connected"):
        assert len(stack.subscriber.statuses(event)) == (event == "connected"), event
    for channel, messages in list(stack.subscriber.messages.items()):
        assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1)), channel
    assert sum(stack.worker.stats.connections[0].reconnects.values()) == 0


@pytest.mark.parametrize("venue", ROTATION_VENUES)
async def test_forced_lifetime_is_met_by_make_before_break_rotations(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    """The venue ends every connection 3 s after it opened; the feed rotates after 1 s. Each
    replacement subscribes and syncs while the old one publishes: every trade the venue sent is
    published exactly once, books go on (no reset) and equal the venue's at the end."""
    books = venue in BOOK_VENUES
    async with running_stack(
        redis_server.url, SYMBOLS, venue=venue, rotate_after=1.0, record_trades=True
    ) as stack:
        stack.server.force_lifetime(Lifetime(3.0))
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.rotations[("lifetime", "switched")] >= 2, 15, "2 rotations")
        await settled_trades(stack, books)
        switched = stats.rotations[("lifetime", "switched")]
        statuses = stack.subscriber.statuses
        await wait_for(lambda: len(statuses("rotated")) == switched, 5, "a status per switch")
        assert {r["reason"] for r in statuses("rotated")} == {"lifetime"}
        assert_seamless(stack)
        assert stack.server.stats.lifetime_closes == 0  # every one was replaced in time
        assert stack.server.stats.connections_accepted >= 3
        # each connection lived its rotate_after (less at most the 5 % jitter), not less
        attempts = stack.server.stats.attempt_times
        assert min(b - a for a, b in pairwise(attempts)) >= 0.9, attempts
        assert stats.up and set(stats.rotations) == {("lifetime", "switched")}


@pytest.mark.parametrize("venue", ROTATION_VENUES)
async def test_shutdown_notice_rotates_instead_of_reconnecting(
    redis_server: EmbeddedRedis, venue: str
) -> None:
    books = venue in BOOK_VENUES
    async with running_stack(redis_server.url, SYMBOLS, venue=venue, record_trades=True) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up and data_messages(stack.subscriber) > 10, 10, "data")
        (session,) = stack.server.sessions()
        if not stack.sim.shutdown_frames(session, 0):
            pytest.skip(f"{venue} announces no shutdown on the socket")
        stack.server.server_shutdown()
        await wait_for(lambda: stats.rotations[("server_shutdown", "switched")] == 1, 10, "switch")
        # the gateway closed the old connection itself, once the replacement delivered
        await wait_for(lambda: stack.server.stats.open_connections == 1, 5, "old one closed")
        seen = data_messages(stack.subscriber)
        await wait_for(lambda: data_messages(stack.subscriber) > seen + 10, 5, "data after it")
        await settled_trades(stack, books)
        await wait_for(lambda: stack.subscriber.statuses("rotated"), 5, "a rotated status")
        (rotated,) = stack.subscriber.statuses("rotated")
        assert rotated["reason"] == "server_shutdown"
        assert_seamless(stack)
