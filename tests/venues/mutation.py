"""Hypothesis machinery shared by the venue fuzz tests: arbitrary input, and valid frames decoded,
mutated at random places (a node replaced by an arbitrary JSON value, or deleted) and encoded
again. Each venue supplies its own sample frames, its own extra leaf values (ids, symbols,
enum strings that reach deeper into its parser) and its own assertions on the protocol's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from feedgate.protocol.base import Action, CountParseError, VenueProtocol

P = TypeVar("P", bound=VenueProtocol)

# Anything at all as a frame: bytes (not necessarily UTF-8) or text.
ARBITRARY_FRAMES: st.SearchStrategy[str | bytes] = st.one_of(
    st.binary(max_size=200), st.text(max_size=200)
)

# Signed 64-bit low end to unsigned 64-bit high end: what orjson can still encode.
INT64_INTEGERS: st.SearchStrategy[int] = st.integers(-(2**63), 2**64 - 1)


def fuzz_settings(max_examples: int) -> settings:
    """Examples may be slow (a whole book is synced first): no deadline, no too_slow check."""
    return settings(
        max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


def json_values(
    *extra_leaves: st.SearchStrategy[Any],
    integers: st.SearchStrategy[int] = INT64_INTEGERS,
    key_size: int = 3,
) -> st.SearchStrategy[Any]:
    """Small JSON values: scalars (plus ``extra_leaves``) nested in lists and dicts, 6 leaves at
    most, 3 items per container at most, dict keys of at most ``key_size`` characters."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        integers,
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
        *extra_leaves,
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=key_size), inner, max_size=3)
        ),
        max_leaves=6,
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node of a decoded JSON value as a path of keys and indexes; ``()`` is the root."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def mutate(
    root: Any,
    path: tuple[Any, ...],
    replacement: Any,
    delete: bool,
    *,
    pop_from_lists: bool = False,
) -> Any:
    """Replace the node at ``path`` with ``replacement``, in place; with ``delete``, remove it
    instead when its parent is a dict (or a list, with ``pop_from_lists``). Returns the root,
    which is ``replacement`` itself when ``path`` is empty."""
    if not path:
        return replacement
    parent = root
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    elif delete and pop_from_lists and isinstance(parent, list):
        parent.pop(path[-1])
    else:
        parent[path[-1]] = replacement
    return root


def draw_mutated(
    data: st.DataObject,
    frame: Any,
    values: st.SearchStrategy[Any],
    *,
    pop_from_lists: bool = False,
) -> Any:
    """``frame`` (decoded, changed in place) after 1 to 3 mutations at drawn paths, each putting
    a value drawn from ``values`` there or (a drawn coin) deleting the node."""
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(frame)))
        frame = mutate(
            frame, path, data.draw(values), data.draw(st.booleans()), pop_from_lists=pop_from_lists
        )
    return frame


def on_frame_checked(
    proto: P, frame: str | bytes, now: int, state: Callable[[P], object]
) -> list[Action]:
    """``proto.on_frame(frame, now)``, asserting it returns a list and, when that list counts a
    parse error, that ``state(proto)`` is what it was before the frame."""
    before = state(proto)
    actions = proto.on_frame(frame, now)
    assert isinstance(actions, list)
    if any(isinstance(a, CountParseError) for a in actions):
        assert state(proto) == before
    return actions
