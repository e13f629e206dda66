"""Split topics over connections under a venue's per-connection limit, deterministically.

The same config always yields the same connection ids and contents, so metrics labels
(``connection="binance-03"``) stay stable across restarts and a restarted worker resumes exactly
its share. All topics of one symbol stay on one connection (a book and its trades then share a
socket's fate and ordering).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from feedgate.protocol.base import ConnectionSpec, Topic


def plan_connections(
    exchange: str, topics: Iterable[Topic], per_connection: int
) -> list[ConnectionSpec]:
    if per_connection < 1:
        raise ValueError("per_connection must be at least 1")
    ordered = sorted(set(topics), key=lambda t: (t.symbol, t.channel))
    plans: list[list[Topic]] = [[]]
    for _symbol, group in groupby(ordered, key=lambda t: t.symbol):
        symbol_topics = list(group)
        if len(symbol_topics) > per_connection:
            raise ValueError(
                f"{exchange}: one symbol needs {len(symbol_topics)} topics, "
                f"more than {per_connection} per connection"
            )
        if len(plans[-1]) + len(symbol_topics) > per_connection:
            plans.append([])
        plans[-1].extend(symbol_topics)
    return [
        ConnectionSpec(connection_id=f"{exchange}-{index:02d}", topics=tuple(chunk))
        for index, chunk in enumerate(plans)
        if chunk
    ]


def owner(slot: int, shards: int, workers: int) -> tuple[int, int]:
    """Which (shard, worker) runs the ``slot``-th connection of the whole plan.

    Round-robin over shards first, then over the workers of a shard, so every shard and every
    worker gets within one connection of the same count, and the answer depends only on the
    slot: a restarted worker resumes exactly its share. ``slot`` counts connections in config
    order (feeds in file order, each feed's plan in order)."""
    if shards < 1 or workers < 1:
        raise ValueError("shard and worker counts must be at least 1")
    return slot % shards, (slot // shards) % workers
