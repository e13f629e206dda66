"""Which subscribe/unsubscribe request a Bybit reply answers (exchanges.md §6.2).

Every request we send carries a ``req_id`` and the spot ack echoes it. The documented failure
sample has no ``req_id`` and the linear ack in the 2026 capture echoes an empty one, so a reply
without a usable id is matched, in this order, to the pending request whose topic its
``ret_msg`` names, else the oldest pending request of the same ``op`` (the venue answers a
socket's requests in order; UNCONFIRMED, but it is what the capture shows).
"""

from __future__ import annotations

from dataclasses import dataclass

from feedgate.venues.bybit.wire import named_topics


@dataclass(slots=True)
class Request:
    req_id: str
    op: str  # "subscribe" or "unsubscribe"
    args: list[str]
    initial: bool
    """Part of the connection's opening subscriptions: the connection counts as subscribed once
    every initial request is answered. Resync requests are not."""


class Ledger:
    """Pending requests of one connection, in the order they were sent."""

    __slots__ = ("_next", "_pending")

    def __init__(self) -> None:
        self._pending: dict[str, Request] = {}
        self._next = 1

    def clear(self) -> None:
        """A new socket: nothing sent on the old one will be answered."""
        self._pending.clear()

    def new(self, op: str, args: list[str], *, initial: bool) -> Request:
        req_id = f"{'unsub' if op == 'unsubscribe' else 'sub'}-{self._next}"
        self._next += 1
        request = self._pending[req_id] = Request(req_id, op, args, initial)
        return request

    def next_id(self, prefix: str) -> str:
        """A fresh id for a request that is not tracked (``ping``)."""
        req_id = f"{prefix}-{self._next}"
        self._next += 1
        return req_id

    def match(self, op: str, req_id: object, ret_msg: str) -> Request | None:
        """Pop the request this reply answers, or None (an answer to nothing we are waiting
        for: a second answer, or one to a request of an earlier socket)."""
        if type(req_id) is str and req_id:
            request = self._pending.get(req_id)
            if request is None or request.op != op:
                return None
            return self._pending.pop(req_id)
        same_op = [r for r in self._pending.values() if r.op == op]
        if not same_op:
            return None
        named = [r for r in same_op if named_topics(ret_msg, r.args)] if ret_msg else []
        chosen = named[0] if named else same_op[0]
        return self._pending.pop(chosen.req_id)

    def initial_pending(self) -> bool:
        return any(r.initial for r in self._pending.values())

    def __len__(self) -> int:
        return len(self._pending)
