"""Simulated venues and the feed entries that point the gateway at them, for the security
tests' gateways (public market data, an API-keyed source and a private account stream)."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from typing import Any

from feedgate.runtime.simserver import SimServer
from feedgate.venues import get_venue
from feedgate.venues.upbit.sim import DEMO_ACCESS_KEY

ACCOUNT = "desk1"


def feed(
    server: SimServer[Any, Any], venue: str, symbols: list[str], **extra: Any
) -> dict[str, Any]:
    spec = get_venue(venue)
    return {
        "exchange": venue,
        "channels": extra.pop("channels", sorted(spec.channels)),
        "symbols": [] if spec.symbolless else symbols,
        "options": {
            "ws_url": server.ws_url,
            "rest_url": server.rest_url,
            **getattr(server.sim, "gateway_options", {}),
            **extra.pop("options", {}),
        },
        **extra,
    }


def private_upbit_feed(server: SimServer[Any, Any], secret: object) -> dict[str, Any]:
    """Upbit's private order and asset streams of account ``desk1`` (``private:upbit:desk1:*``);
    ``secret`` is the secret key as the config gives it (a literal or ``{ env = … }``)."""
    options = {"access_key": DEMO_ACCESS_KEY, "secret_key": secret, "account": ACCOUNT}
    return feed(server, "upbit", ["BTC-KRW"], channels=["my_asset", "my_order"], options=options)


@contextlib.asynccontextmanager
async def simulators(*venues: tuple[str, list[str]]) -> AsyncIterator[list[SimServer[Any, Any]]]:
    servers: list[SimServer[Any, Any]] = []
    try:
        for seed, (venue, symbols) in enumerate(venues):
            module = importlib.import_module(f"feedgate.venues.{venue}.sim")
            server: SimServer[Any, Any] = SimServer(
                module.make_simulator(symbols, seed=seed + 3), trade_rate=50.0, depth_interval_ms=50
            )
            await server.start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            await server.stop()
