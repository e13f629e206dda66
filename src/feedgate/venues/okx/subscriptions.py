"""OKX subscribe/unsubscribe requests in flight, and the hourly request budget (§5.2, §5.7).

OKX answers every arg of a request on its own (an ack ``{"event": "subscribe", "arg": {…}}`` or an
``error`` event) and echoes the request ``id`` when one was sent (§5.2; recordings from 2022 carry
no ``id``, so an ack is also matched by its ``arg``). A request is answered when each of its args
was acked or rejected.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from feedgate.venues.okx import wire

Arg = tuple[str, str]
"""(channel, instId)."""

HOUR_US = 3_600_000_000


@dataclass(slots=True)
class Request:
    op: str
    initial: bool
    """Part of the connection's first subscription (decides when the connection counts as up);
    False for a book's unsubscribe/subscribe resync."""
    pending: set[Arg] = field(default_factory=set)


class Subscriptions:
    """Requests of one connection, by id (``"1"``, ``"2"``, …: §5.2 allows ≤ 32 alphanumerics)."""

    __slots__ = ("_next_id", "_ops", "_pending", "ops_per_hour")

    def __init__(self, ops_per_hour: int) -> None:
        self.ops_per_hour = ops_per_hour
        self._pending: dict[str, Request] = {}
        self._ops: deque[int] = deque()
        self._next_id = 1

    def reset(self) -> None:
        """A new connection: nothing in flight, a fresh budget (§5.7 counts per connection)."""
        self._pending.clear()
        self._ops.clear()

    def request(self, op: str, args: list[Arg], now: int, *, initial: bool) -> str:
        """Register a request and return its frame (§5.2)."""
        request_id = str(self._next_id)
        self._next_id += 1
        self._pending[request_id] = Request(op, initial, set(args))
        self._ops.append(now)
        return wire.request_frame(op, args, request_id)

    def budget_left(self, now: int) -> int:
        """Requests still allowed in the hour ending at ``now`` (§5.7: 480 per hour)."""
        ops = self._ops
        while ops and ops[0] <= now - HOUR_US:
            ops.popleft()
        return self.ops_per_hour - len(ops)

    def acked(self, request_id: object, op: str, arg: Arg) -> Request | None:
        """One arg was acked; returns its request (None when it matches nothing we sent)."""
        request = self._pending.get(request_id) if type(request_id) is str else None
        if request is None or arg not in request.pending:
            request = next(
                (r for r in self._pending.values() if r.op == op and arg in r.pending), None
            )
            if request is None:
                return None
        request.pending.discard(arg)
        self._prune()
        return request

    def get(self, request_id: object) -> Request | None:
        return self._pending.get(request_id) if type(request_id) is str else None

    def drop(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    def forget(self, inst_id: str) -> None:
        """Every arg of ``inst_id`` counts as answered (it was rejected)."""
        for request in self._pending.values():
            request.pending = {arg for arg in request.pending if arg[1] != inst_id}
        self._prune()

    def initial_pending(self) -> bool:
        return any(r.initial for r in self._pending.values())

    def _prune(self) -> None:
        for request_id in [k for k, r in self._pending.items() if not r.pending]:
            del self._pending[request_id]
