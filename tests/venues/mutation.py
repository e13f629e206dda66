"""Hypothesis machinery of the venue fuzz tests (``test_fuzz.py``): arbitrary input, real frames
decoded, mutated at random places and encoded again, and frames no venue can read.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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


# -- structure-aware mutations -------------------------------------------------------------------

DEEP = "<deeply nested>"
"""A leaf that ``encode`` writes as a list nested 1,000 deep: orjson reads up to 1,024 levels,
while ``repr``/``str`` of such a value, in an error message, exceed Python's recursion limit."""
_DEEP_JSON = "[" * 1000 + "]" * 1000

NASTY = (
    "NaN", "nan", "Infinity", "-Infinity", "inf", "-1", "-0.5", "-0", "0", "1e400", "1e3",
    "9" * 400, "abc", "", " 1", "1_000", "+1", "0x1f", "١٢٣", "\U0001d7e3", "\x00", "\u202e",
    "é" * 50,
    2**63 - 1, -(2**63), 2**64 - 1, 10**30, 2**70, -1, 0, 1e308, -1e308, 5e-324,
    float("nan"), float("inf"), True, False, None, [], {}, DEEP,
)  # fmt: skip
"""Values a broken venue could put where a price, size, id, time or name goes: non-numbers,
out-of-range and non-ASCII numbers, integers past 64 bits, NaN/Infinity (written as the bare
tokens no JSON parser must accept), wrong types, empty values and deep nesting."""


def encode(frame: Any) -> str:
    """A decoded frame as text again, with stdlib json: unlike orjson it writes integers beyond
    64 bits and NaN/Infinity tokens, as a broken venue could. ``DEEP`` leaves become deep lists."""
    return json.dumps(frame, ensure_ascii=False).replace(json.dumps(DEEP), _DEEP_JSON)


def node(root: Any, path: tuple[Any, ...]) -> Any:
    """The node at ``path`` (see ``paths``)."""
    for step in path:
        root = root[step]
    return root


def swapped(value: Any) -> list[Any]:
    """``value`` as other JSON types: text ↔ number, null, wrapped in a list or an object, a
    container's items in the other kind of container."""
    out: list[Any] = [None, [value], {"v": value}]
    if isinstance(value, str):
        try:
            out.append(float(value) if math.isfinite(float(value)) else len(value))
        except ValueError:
            out.append(len(value))
    elif isinstance(value, bool):
        out += [int(value), str(value).lower()]
    elif isinstance(value, int | float):
        out += [str(value), -value, value * 10**20]
    elif isinstance(value, list):
        out.append({str(i): item for i, item in enumerate(value)})
    elif isinstance(value, dict):
        out.append(list(value.values()))
    return out


MUTATIONS = ("delete", "swap", "pool", "nasty", "deep", "arbitrary", "empty")


def draw_structural(data: st.DataObject, frame: Any, pool: list[Any]) -> Any:
    """``frame`` (decoded, changed in place) after 1 to 3 mutations at drawn nodes: deleted (a
    key, or a list item), its type swapped (``swapped``), or replaced by a value seen in the
    venue's valid frames (``pool``: ids, names, enum strings that reach deeper into the parser),
    a ``NASTY`` value, a ``DEEP`` one, an arbitrary JSON value or an empty one."""
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths(frame)), label="path")
        kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        if kind == "delete":
            frame = mutate(frame, path, {}, True, pop_from_lists=True)
            continue
        if kind == "swap":
            new = data.draw(st.sampled_from(swapped(node(frame, path))))
        elif kind == "pool":
            new = data.draw(st.sampled_from(pool))
        elif kind == "nasty":
            new = data.draw(st.sampled_from(NASTY))
        elif kind == "deep":
            new = DEEP
        elif kind == "arbitrary":
            new = data.draw(json_values(integers=st.integers(-(2**70), 2**70)))
        else:
            new = data.draw(st.sampled_from(["", [], {}]))
        frame = mutate(frame, path, new, False)
    return frame


def leaves(value: Any) -> list[Any]:
    """Every scalar in a decoded JSON value (the dict keys included)."""
    if isinstance(value, dict):
        return [*value, *(x for v in value.values() for x in leaves(v))]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


_NUMBER = re.compile(r"(?<=[:\[,])-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?=[,\]}])")


@st.composite
def unreadable(draw: st.DrawFn, valid: list[bytes]) -> str | bytes:
    """A frame no venue can read: bytes or text that is not a JSON object, a valid frame cut
    short, one with a number written as NaN/Infinity/1e999 (not JSON), one with a byte that is
    not UTF-8, or nothing at all."""
    kind = draw(st.sampled_from(["arbitrary", "cut", "token", "utf8", "empty"]), label="garbage")
    if kind == "arbitrary":
        return draw(ARBITRARY_FRAMES.filter(lambda f: not is_object(f)))
    if kind == "empty":
        return draw(st.sampled_from([b"", "", b" ", "\n"]))
    frame = draw(st.sampled_from(valid))
    if kind == "cut":
        return frame[: draw(st.integers(0, len(frame) - 1))]
    if kind == "utf8":
        at = draw(st.integers(0, len(frame)))
        return frame[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + frame[at:]
    text = frame.decode()
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text[:-1]
    number = draw(st.sampled_from(numbers))
    token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "0x10", "+1", "01"]))
    return text[: number.start()] + token + text[number.end() :]


def is_object(frame: str | bytes) -> bool:
    """True when ``frame`` parses (as orjson, every protocol's parser, does) to a JSON object."""
    try:
        return type(orjson.loads(frame)) is dict
    except orjson.JSONDecodeError:
        return False
