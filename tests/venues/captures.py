"""The recorded venue sessions in ``../shared/captures`` (see its README.md): where they are,
skipping when they are absent, and reading a ``<venue>.jsonl.zst`` session."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CAPTURES

__all__ = ["CAPTURES", "capture_marker", "read_capture", "received", "us"]


def capture_marker(name: str) -> pytest.MarkDecorator:
    """Skip (a module: ``pytestmark = capture_marker(...)``) when capture ``name`` is absent."""
    path = CAPTURES / name
    return pytest.mark.skipif(
        not path.exists(),
        reason=f"no capture {name} at {path} (a fresh checkout has no ../shared/captures)",
    )


def read_capture(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header line and the records of the zstd-compressed JSON Lines session ``name``;
    skips when the ``zstandard`` package is missing."""
    zstandard = pytest.importorskip("zstandard")
    with (CAPTURES / name).open("rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read().decode()
    lines = [json.loads(line) for line in text.splitlines() if line]
    header, records = lines[0], lines[1:]
    assert header["t"] == "header", f"{name}: the first line is not the header"
    return header, records


def received(records: list[dict[str, Any]]) -> list[tuple[float, dict[str, Any], str]]:
    """Every ``recv`` record (text frames), in order, as ``(ts, decoded JSON, raw text)``."""
    return [(r["ts"], json.loads(r["data"]), r["data"]) for r in records if r["t"] == "recv"]


def us(seconds: float) -> int:
    """A record's ``ts`` (epoch seconds, a float) in integer microseconds."""
    return round(seconds * 1_000_000)
