"""Kraken end to end over its simulator (simulator → worker → real Redis → subscriber), for what
the shared conformance cases do not cover: a flipped checksum, and a refused subscription."""

from __future__ import annotations

from feedgate.runtime.redis_server import EmbeddedRedis
from tests.conftest import wait_for
from tests.runtime.harness import books_settled, running_stack

SYMBOLS = ["BTC-USDT", "ETH-USDT"]


async def test_checksum_flip_resyncs_that_book_only(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, SYMBOLS, venue="kraken") as stack:
        await books_settled(stack, SYMBOLS)
        stack.server.resume()
        other = stack.subscriber.messages["book:kraken:ETH-USDT"]
        before = len(other)
        stack.server.checksum_flip(stack.sim.venue_symbol("BTC-USDT"))
        await wait_for(lambda: stack.subscriber.statuses("book_reset"), 5, "a book_reset")
        await books_settled(stack, SYMBOLS)
        resets = stack.subscriber.statuses("book_reset")
        assert [(r["symbol"], r["reason"]) for r in resets] == [("BTC-USDT", "checksum")]
        log = stack.subscriber.log
        at = next(i for i, (_, m) in enumerate(log) if m.get("event") == "book_reset")
        first = next(m for ch, m in log[at:] if ch == "book:kraken:BTC-USDT")
        assert first["type"] == "book_snapshot" and first["depth"] == 10
        assert all(m["type"] == "book_delta" for m in other[before:])
        stats = stack.worker.stats.connections[0]
        assert dict(stats.resyncs) == {"checksum": 1} and sum(stats.reconnects.values()) == 0
        book = stack.worker.runners[0].protocol._book_routes["BTC/USDT"]  # type: ignore[attr-defined]
        assert (book.price_dp, book.qty_dp, book.inferred) == (2, 8, False), "from AssetPairs"


async def test_unlisted_symbol_is_rejected_and_the_rest_flows(redis_server: EmbeddedRedis) -> None:
    symbols = ["BTC-USDT", "NOPE-USDT"]
    # validate_symbols off: the venue itself refuses the pair (§3.2), not the instrument list
    async with running_stack(
        redis_server.url, symbols, venue="kraken", venue_lists=["BTC-USDT"], validate_symbols=False
    ) as stack:
        await wait_for(lambda: stack.subscriber.statuses("subscribed"), 10, "subscribed")
        await wait_for(
            lambda: len(stack.subscriber.messages["trades:kraken:BTC-USDT"]) >= 5, 10, "trades"
        )
        await books_settled(stack, ["BTC-USDT"])
        rejected = stack.subscriber.statuses("rejected")
        assert {r["symbol"] for r in rejected} == {"NOPE-USDT"}
        assert {r["reason"] for r in rejected} == {
            "trade: Currency pair not supported NOPE/USDT",
            "book: Currency pair not supported NOPE/USDT",
        }
        assert stack.worker.stats.connections[0].up
