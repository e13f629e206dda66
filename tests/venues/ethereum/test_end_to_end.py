"""Ethereum end to end: node simulator → worker → real Redis → subscriber (exchanges.md §8)."""

from __future__ import annotations

from feedgate.runtime.redis_server import EmbeddedRedis
from tests.conftest import wait_for
from tests.runtime.harness import running_stack

LOGS, HEADS = "onchain:ethereum:logs", "onchain:ethereum:heads"
GAPS = ("feedgate_onchain_gaps_total", ("ethereum", "ethereum"))


async def test_reorg_publishes_removed_logs_then_the_replacements(
    redis_server: EmbeddedRedis,
) -> None:
    async with running_stack(redis_server.url, [], venue="ethereum") as stack:
        messages = stack.subscriber.messages
        await wait_for(lambda: len(messages[LOGS]) >= 5, 10, "logs")
        stack.sim.reorg(1)
        await wait_for(lambda: any(m["removed"] for m in messages[LOGS]), 5, "a removed log")
        logs = messages[LOGS]
        at = next(i for i, m in enumerate(logs) if m["removed"])
        removed = [m for m in logs[at:] if m["removed"]]
        key = {(m["tx_hash"], m["log_index"]) for m in removed}
        await wait_for(
            lambda: (
                {(m["tx_hash"], m["log_index"]) for m in messages[LOGS][at:] if not m["removed"]}
                >= key
            ),
            5,
            "the replacement logs",
        )
        dropped_hash = removed[0]["block_hash"]
        replacements = [
            m
            for m in messages[LOGS][at:]
            if (m["tx_hash"], m["log_index"]) in key and not m["removed"]
        ]
        assert all(m["block_hash"] != dropped_hash for m in replacements)
        assert all(m["block_number"] == removed[0]["block_number"] for m in replacements)
        assert all(m["payload"]["removed"] is True for m in removed)
        assert all(m["type"] == "onchain" and m["kind"] == "logs" for m in logs)
        heads = [m for m in messages[HEADS] if m["block_number"] == removed[0]["block_number"]]
        assert len({m["block_hash"] for m in heads}) == 2  # the dropped head and its replacement
        for channel in (LOGS, HEADS):
            assert [m["seq"] for m in messages[channel]] == list(
                range(1, len(messages[channel]) + 1)
            )


async def test_reconnect_resubscribes_and_reports_the_gap(redis_server: EmbeddedRedis) -> None:
    async with running_stack(redis_server.url, [], venue="ethereum") as stack:
        messages = stack.subscriber.messages
        await wait_for(lambda: len(messages[HEADS]) >= 3, 10, "heads")
        stack.server.drop_connections()
        await wait_for(lambda: stack.subscriber.statuses("recovered"), 10, "a gap status")
        [status] = stack.subscriber.statuses("recovered")
        log = stack.subscriber.log
        down = next(i for i, (_, m) in enumerate(log) if m.get("event") == "disconnected")
        last = max(m["block_number"] for ch, m in log[:down] if ch == HEADS)
        assert status["reason"].startswith(f"blocks {last}..")
        assert status["reason"].endswith(f"may be missing (last seen {last})")
        assert len(stack.subscriber.statuses("subscribed")) == 2
        assert stack.worker.stats.venue.counters[GAPS] == 1
        seen = len(messages[LOGS])
        await wait_for(lambda: len(messages[LOGS]) > seen + 5, 10, "logs again")
