"""Which Coinbase subscribe messages are still unanswered, and which one an error frame answers.

exchanges.md §2.2: one channel per subscribe message; the acknowledgement is a ``subscriptions``
message listing *every* subscription of the connection (cumulative, captured); the error frame's
shape is UNCONFIRMED and names no request (``{"type":"error","message":"failure to subscribe"}``).
So a message counts as answered when an acknowledgement lists all of its products, and an error
answers the oldest message not answered yet (the venue handles one socket's messages in order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_PENDING = 256
"""Unanswered messages remembered; older ones are forgotten (an ack that never lists a product
must not make the list grow without bound)."""


@dataclass(frozen=True, slots=True)
class Request:
    """One subscribe message: a channel and its products (none for ``heartbeats``)."""

    channel: str
    products: tuple[str, ...]


class Ledger:
    __slots__ = ("_acked", "_pending")

    def __init__(self) -> None:
        self._pending: list[Request] = []
        self._acked: dict[str, frozenset[str]] = {}

    def reset(self) -> None:
        """A new connection: nothing sent, nothing acknowledged."""
        self._pending.clear()
        self._acked = {}

    def sent(self, request: Request) -> None:
        self._pending.append(request)
        if len(self._pending) > MAX_PENDING:
            del self._pending[0]

    @property
    def pending(self) -> tuple[Request, ...]:
        return tuple(self._pending)

    def on_ack(self, subscriptions: Mapping[str, frozenset[str]]) -> None:
        """§2.2 acknowledgement: the connection's subscriptions now; answers what it covers."""
        self._acked = dict(subscriptions)
        self._pending = [r for r in self._pending if self.unconfirmed(r) is not None]

    def unconfirmed(self, request: Request) -> tuple[str, ...] | None:
        """The request's products the last acknowledgement does not list; None when it lists the
        channel with all of them (the request is answered)."""
        have = self._acked.get(request.channel)
        if have is None:
            return request.products
        missing = tuple(p for p in request.products if p not in have)
        return missing or None

    def answer_error(self) -> Request | None:
        """An error frame arrived: it answers the oldest unanswered message (None: no message
        is waiting, so the error is not about a subscription of ours)."""
        return self._pending.pop(0) if self._pending else None
