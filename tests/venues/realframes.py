"""Real frames of each venue, the seeds that the fuzz tests mutate: what its simulator sent in a
session, a sample of its recorded session in ``../shared/captures`` (when present: a fresh
checkout has none, and the simulator's frames still cover every shape the protocol reads), and
the documentation samples its tests quote."""

from __future__ import annotations

import base64
import importlib
import json
from functools import cache
from typing import Any

from tests.conftest import CAPTURES
from tests.venues.mutation import is_object

CAPTURE_SAMPLE = 40
"""Frames taken from a capture: the first few of each shape, with every list cut to 3 items
(the shape is what matters, and mutating a 1,000-level book is slow)."""


def shrunk(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shrunk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shrunk(v) for v in value[:3]]
    return value


def _shape(msg: dict[str, Any]) -> tuple[str, ...]:
    names = [str(msg.get(key))[:12] for key in ("e", "stream", "topic", "channel", "type", "ty")]
    return (*sorted(msg), *names)


def _capture_messages(venue: str) -> list[Any]:
    if venue == "kraken":  # the .jsonl.zst is Kraken v1, not the v2 API feedgate speaks
        path = CAPTURES / "kraken-v2-book.json"
        if not path.exists():
            return []
        book = json.loads(path.read_text())
        return [book["init"], *book["updates"][:CAPTURE_SAMPLE]]
    path = CAPTURES / f"{venue}.jsonl.zst"
    try:
        import zstandard
    except ImportError:
        return []
    if not path.exists():
        return []
    with path.open("rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    out = []
    for line in text.splitlines()[1:]:
        record = json.loads(line)
        if record["t"] == "recv":
            raw = record.get("data") or base64.b64decode(record["b64"]).decode()
            out.append(json.loads(raw))
    return out


@cache
def capture_frames(venue: str) -> tuple[bytes, ...]:
    per_shape: dict[tuple[str, ...], int] = {}
    out: list[bytes] = []
    for msg in _capture_messages(venue):
        if not isinstance(msg, dict):
            continue
        shape = _shape(msg)
        per_shape[shape] = per_shape.get(shape, 0) + 1
        if per_shape[shape] <= 3 and len(out) < CAPTURE_SAMPLE:
            out.append(json.dumps(shrunk(msg)).encode())
    return tuple(out)


@cache
def doc_frames(venue: str) -> tuple[bytes, ...]:
    """The documentation and capture samples the venue's own tests define as module constants
    (``frames.py``, ``docframes.py``, ``test_protocol.py``), those that are JSON objects."""
    out: list[bytes] = []
    for name in ("frames", "docframes", "test_protocol"):
        try:
            module = importlib.import_module(f"tests.venues.{venue}.{name}")
        except ModuleNotFoundError:
            continue
        for attr, value in vars(module).items():
            if attr.isupper() and isinstance(value, str | bytes) and is_object(value):
                out.append(value.encode() if isinstance(value, str) else value)
    return tuple(dict.fromkeys(out))
