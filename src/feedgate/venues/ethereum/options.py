"""Ethereum feed options (the ``options`` table of a ``[[feeds]]`` entry with exchange = ethereum).

Filters follow exchanges.md §8: ``address`` is one address or an array; ``topics`` is a
positional array of at most 4 entries, each ``null`` (wildcard), a topic, or an array of
alternatives.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from feedgate.secrets import Secret

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TOPIC = re.compile(r"^0x[0-9a-fA-F]{64}$")

Topic = str | list[str] | None


class LogFilter(BaseModel):
    """One ``logs`` subscription's filter (§8): one ``eth_subscribe`` request each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str | list[str] | None = None
    """A contract address or a list of them; None = any contract."""
    topics: list[Topic] = Field(default_factory=list, max_length=4)
    """Positional: None (any), a 32-byte topic, or a list of alternatives (§8, ≤ 4)."""

    @field_validator("address")
    @classmethod
    def _addresses(cls, value: str | list[str] | None) -> str | list[str] | None:
        for address in [value] if isinstance(value, str) else value or []:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not a 0x-prefixed 20-byte hex address")
        return value

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: list[Topic]) -> list[Topic]:
        for entry in value:
            for topic in [entry] if isinstance(entry, str) else entry or []:
                if not _TOPIC.match(topic):
                    raise ValueError(f"{topic!r} is not a 0x-prefixed 32-byte hex topic")
        return value

    def params(self) -> dict[str, object]:
        """The ``eth_subscribe`` filter object, omitting what is not set."""
        out: dict[str, object] = {}
        if self.address is not None:
            out["address"] = self.address
        if self.topics:
            out["topics"] = list(self.topics)
        return out


class EthereumOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_url: Secret = SecretStr("ws://localhost:8546")
    """The node's WebSocket JSON-RPC endpoint, used as given (pub/sub needs WS or IPC, §8).
    A secret: node providers put the API key in the url (``wss://…/v3/KEY``), so it takes
    ``{ env = "NAME" }`` or ``{ file = "PATH" }`` too and never shows in a repr or log."""
    rest_url: str = "http://localhost:8545"
    """Unused (no instrument list); accepted so every feed can be pointed at a simulator."""
    network: str = Field(default="ethereum", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Names the channels: ``onchain:{network}:heads`` and ``onchain:{network}:logs``."""
    log_filters: list[LogFilter] = Field(default_factory=list)
    """One ``logs`` subscription per filter; none = one unfiltered subscription (every log)."""
    keepalive_s: float | None = Field(default=20.0, gt=0)
    """Send ``eth_blockNumber`` this often so a quiet logs-only feed still hears from the node
    (nodes send no pings of their own); None = off."""
