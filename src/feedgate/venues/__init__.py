"""Venue adapters, one folder each. A folder's package exports ``VENUE``, a ``VenueSpec``.

Adding a venue means adding one folder here (and its tests): discovery is by package name, so
nothing else in feedgate changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedgate.venues.spec import VenueSpec


@cache
def available_venues() -> tuple[str, ...]:
    return tuple(
        sorted(
            m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and not m.name.startswith("_")
        )
    )


def get_venue(name: str) -> VenueSpec:
    if name not in available_venues():
        raise KeyError(f"unknown exchange {name!r}; known: {', '.join(available_venues())}")
    module = importlib.import_module(f"{__name__}.{name}")
    spec: VenueSpec = module.VENUE
    return spec
