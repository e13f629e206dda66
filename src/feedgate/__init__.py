"""feedgate: a Redis fan-out ingestion gateway for crypto market data."""

from __future__ import annotations

__version__ = "0.1.0"
SCHEMA_VERSION = 1
