"""Upbit feed options (the ``options`` table of a ``[[feeds]]`` entry with exchange = upbit)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from feedgate.secrets import Secret

REGION_HOSTS = {
    "kr": "wss://api.upbit.com",
    "sg": "wss://sg-api.upbit.com",
    "id": "wss://id-api.upbit.com",
    "th": "wss://th-api.upbit.com",
}
"""§4.1 WebSocket hosts; the public path is ``/websocket/v1``, the private ``…/v1/private``."""
REST_HOSTS = {
    "kr": "https://api.upbit.com",
    "sg": "https://sg-api.upbit.com",
    "id": "https://id-api.upbit.com",
    "th": "https://th-api.upbit.com",
}
"""REST hosts for ``GET /v1/market/all`` (the KR host is in the 2021 capture; the global
hosts are UNCONFIRMED: exchanges.md gives only their WebSocket URLs)."""


class UpbitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: Literal["kr", "sg", "id", "th"] = "kr"
    """§4.1: Korea (``api.upbit.com``) or the global Singapore/Indonesia/Thailand hosts."""
    ws_url: str | None = None
    """WebSocket base overriding the region's host (``/websocket/v1[/private]`` is appended)."""
    rest_url: str | None = None
    """REST base overriding the region's host (instrument list ``/v1/market/all``)."""
    format: Literal["DEFAULT", "SIMPLE"] = "SIMPLE"
    """§4.2 format object; SIMPLE's abbreviated keys make frames about half the size. The parser
    reads both whatever is asked for (the key set of each frame says which it is)."""
    depth: Literal[1, 5, 15, 30] | None = None
    """§4.2 orderbook ``"{code}.{count}"``; None = no suffix, the venue default of 30 pairs."""
    is_only_realtime: bool = False
    """§4.2: true = no initial snapshot (the first book then arrives with the next change)."""
    topics_per_connection: int = Field(default=60, ge=1, le=1000)
    """Feed topics (one symbol's trades, book or bbo) per connection; 1 with a trades-only feed
    is one symbol per connection. No per-connection code limit is documented (UNCONFIRMED)."""
    ping_interval_s: float = Field(default=60.0, gt=0, le=110)
    """§4.5: the text ``PING`` keeps the socket alive; the venue closes after ~120 s idle."""
    access_key: Secret | None = None
    """Private streams (``my_order``, ``my_asset``): the API access key (literal, env or file)."""
    secret_key: Secret | None = None
    """The API secret key signing the JWT; it never leaves this process."""
    account: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """The account name in ``private:upbit:{account}:{kind}`` channels."""
    jwt_algorithm: Literal["HS512", "HS256"] = "HS512"
    """JWT signature; Upbit documents HS512 (HS256 accepted by older API versions)."""
