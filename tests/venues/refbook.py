"""Independent reference books for the capture replays: plain dicts keyed by ``Decimal`` price
holding the venue's ``(price, size)`` text untouched, built without any of feedgate's book code.
"""

from __future__ import annotations

from decimal import Decimal

from feedgate.events import Level

Side = dict[Decimal, Level]


def set_level(side: Side, price: str, size: str) -> None:
    """Absolute size at ``price``; a zero size (in any spelling) deletes the level."""
    if Decimal(size) == 0:
        side.pop(Decimal(price), None)
    else:
        side[Decimal(price)] = (price, size)


def best_first(bids: Side, asks: Side) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """The levels best first: bids from the highest price down, asks from the lowest up."""
    return (
        tuple(bids[p] for p in sorted(bids, reverse=True)),
        tuple(asks[p] for p in sorted(asks)),
    )
