"""Make-before-break: replace a slot's connection before the venue cuts it, without a gap.

Venues end connections on schedule (Binance after 24 h, exchanges.md §1.8) and announce
maintenance (Binance ``serverShutdown``, OKX notice 64008). A plain reconnect then loses the
trades of the gap and resets every book. Instead, when the connection's lifetime is nearly up
(``RotationPolicy.after_s``) or the protocol asks (``Rotate``):

1. a replacement opens (through the venue's connect limiter, like any connect attempt), with a
   fresh protocol instance that ``carry_over``s from the old one, and subscribes the same topics;
2. the old connection keeps publishing meanwhile; the replacement publishes nothing: its trades
   (and other id-bearing messages) are held in an ``OverlapMerge``, its books sync on their own;
3. once it is ready (subscribed, every book synced, and data seen or ``quiet_wait_s`` passed),
   the switch, in one synchronous step: the old connection's output stops; a ``rotated`` status;
   ``on_handover`` publishes each book whole (a ``book_snapshot`` on the same channel, so
   ``seq`` continues and subscribers need no reset) and the bbo; the held messages the old
   connection never published go out; the old socket closes quietly (its close-time
   ``book_reset``/``disconnected`` are not published: nothing was lost);
4. for ``grace_s`` the replacement's messages are still checked against the ids the old one
   published (it may have lagged behind); duplicates dropped are counted in
   ``feedgate_duplicates_dropped_total``.

Failure never loses both: a replacement that is not ready within ``ready_timeout_s``, fails to
connect, closes or is itself told to go, is dropped and tried again later (``retry_s``,
doubling) while the old connection serves on. When the old connection closes first, a
replacement that is already subscribed takes over at once (books still syncing are reset);
otherwise the slot reconnects as it always did. Outcomes: ``feedgate_rotations_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from feedgate import redact
from feedgate.events import Bbo, Event, Status, StatusEvent
from feedgate.protocol.base import Action, Emit
from feedgate.protocol.overlap import OverlapMerge, overlap_key
from feedgate.runtime.session import EndSession, Session, drop, now_us

if TYPE_CHECKING:
    from feedgate.runtime.connection import ConnectionRunner

log = logging.getLogger(__name__)

DUPLICATES = "feedgate_duplicates_dropped_total"


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    after_s: float | None = None
    """Replace the connection this long after it opened (a little earlier, by up to ``jitter``
    of it, so a worker's connections do not all rotate at once); None: only when asked."""
    ready_timeout_s: float = 300.0
    """A replacement not ready by then is dropped (REST snapshots for hundreds of books under
    the venue's weight budget can take minutes)."""
    quiet_wait_s: float = 5.0
    """Subscribed and synced but no data yet (illiquid symbols): switch after this long."""
    grace_s: float = 10.0
    retry_s: float = 5.0
    retry_cap_s: float = 120.0
    jitter: float = 0.05
    window: int = 10_000
    """Ids remembered and messages held per stream (a symbol's trades) while overlapping."""


def _touch(bbo: Bbo) -> tuple[str | None, ...]:
    return (bbo.bid_price, bbo.bid_size, bbo.ask_price, bbo.ask_size)


class _Overlap:
    """One replacement attempt: the sinks of both sessions and what is merged between them."""

    def __init__(self, runner: ConnectionRunner, old: Session, reason: str, window: int) -> None:
        self.old = old
        self.reason = reason
        self.publish = runner.publisher.submit
        self.forward = old.sink
        """Where the old connection's output went before: the publisher, or the dedup of a
        switch whose grace period is not over yet (that filter must stay in place)."""
        self.candidate: Session | None = None
        self.merge: OverlapMerge[Event] = OverlapMerge(window, window)
        self.changed = asyncio.Event()
        self.data_seen = False
        self.switched = False
        self.failed: str | None = None
        self.counted = 0  # duplicates already added to the metric
        self.last_bbo: dict[str | None, tuple[str | None, ...]] = {}

    def fail(self, why: str) -> None:
        if self.failed is None and not self.switched:
            self.failed = why
        self.changed.set()

    def from_old(self, event: Event) -> None:
        """The old connection's sink while overlapping: published, and remembered."""
        key = overlap_key(event)
        if key is not None:
            self.merge.old(key[0], key[1])
        elif type(event) is Bbo:
            self.last_bbo[event.symbol] = _touch(event)
        self.forward(event)

    def from_candidate(self, event: Event) -> None:
        """The replacement's sink before the switch: nothing is published. Statuses are its
        own business (it is not the slot's connection yet); books are published whole at the
        handover; id-bearing messages are held until the old connection publishes them."""
        if type(event) is Status:
            if event.event is StatusEvent.BOOK_SYNCED:
                self.changed.set()
            return
        if not self.data_seen:
            self.data_seen = True
            self.changed.set()
        key = overlap_key(event)
        if key is not None:
            self.merge.new(key[0], key[1], event)
            if self.merge.overflow:
                self.changed.set()

    def after_switch(self, event: Event) -> None:
        """The replacement's sink during the grace period: what the old one published is not
        published again."""
        key = overlap_key(event)
        if key is None or self.merge.new(key[0], key[1], event):
            self.publish(event)


class Rotator:
    """Schedules and carries out the rotations of one connection slot."""

    def __init__(self, runner: ConnectionRunner, policy: RotationPolicy) -> None:
        self.runner = runner
        self.policy = policy
        self.overlap: _Overlap | None = None
        self._rng = random.Random()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._rotating: tuple[Session, str] | None = None  # (old session, reason) of _task
        self._grace: asyncio.TimerHandle | None = None
        self._retired: set[asyncio.Task[EndSession]] = set()

    # -- triggers ---------------------------------------------------------------------------------

    def started(self, session: Session) -> None:
        """``session`` became the slot's connection: its lifetime counts from its opening."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        after = self.policy.after_s
        if after is None or self.runner.make_protocol is None:
            return
        loop = asyncio.get_running_loop()
        at = session.opened_at + after * (1.0 - self.policy.jitter * self._rng.random())
        self._timer = loop.call_at(at, self.request, session, "lifetime")

    def request(self, session: Session, reason: str) -> None:
        """Replace ``session`` (the lifetime timer, or the venue's ``Rotate``)."""
        overlap = self.overlap
        if overlap is not None and session is overlap.candidate:
            overlap.fail(f"the replacement was told to go too ({reason})")
            return
        if session is not self.runner.active or session.end is not None:
            return
        if self._task is not None and not self._task.done():
            if self.overlap is not None:
                return  # one replacement at a time: the one under way serves this request
            self._task.cancel()  # waiting to retry after a failure: this one may not wait
        if self.runner.make_protocol is None:
            session.finish(EndSession(reason))  # cannot build a replacement: reconnect
            return
        log.info("%s: rotating (%s)", self.runner.connection_id, reason)
        self._rotating = (session, reason)
        self._task = asyncio.create_task(self._rotate(session, reason))

    def changed(self) -> None:
        if self.overlap is not None:
            self.overlap.changed.set()

    def ending(self, session: Session, end: EndSession) -> None:
        """A session's read loop ended (before its teardown publishes anything)."""
        overlap = self.overlap
        if overlap is not None and session is overlap.candidate:
            overlap.fail(f"the replacement closed ({end.reason})")
            return
        if session is not self.runner.active:
            return  # the old connection of a finished rotation
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rotating, self._rotating = self._rotating, None
        if rotating is None or rotating[0] is not session or end.reason == "rotated":
            return
        if self._task is not None:
            self._task.cancel()
        candidate = overlap.candidate if overlap is not None else None
        if (
            overlap is not None and overlap.failed is None and not end.fatal
            and candidate is not None and candidate.subscribed and candidate.end is None
        ):  # fmt: skip
            log.info(
                "%s: closed (%s) before the switch: switching now",
                self.runner.connection_id, end.reason,
            )  # fmt: skip
            self._switch(overlap)
            return
        if overlap is not None:
            self._abandon(overlap, f"the old connection closed first ({end.reason})")
        # no replacement could take over in time: the slot reconnects as it always did
        self.runner.stats.rotations[(rotating[1], "fallback")] += 1

    def stop(self) -> None:
        for handle in (self._timer, self._grace):
            if handle is not None:
                handle.cancel()
        if self._task is not None:
            self._task.cancel()
        if self.overlap is not None:
            self._abandon(self.overlap, "stopping")

    async def drain(self) -> None:
        """Wait (briefly) for dropped replacements to close their sockets."""
        tasks = [t for t in (self._task, *self._retired) if t is not None and not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=3.0)

    # -- one rotation -----------------------------------------------------------------------------

    async def _rotate(self, old: Session, reason: str) -> None:
        """Attempts until one switches, while ``old`` serves; failures back off."""
        failures = 0
        while old is self.runner.active and old.end is None:
            why = await self._attempt(old, reason)
            if why is None:
                return
            failures += 1
            self.runner.stats.rotations[(reason, "failed")] += 1
            delay = min(self.policy.retry_cap_s, self.policy.retry_s * 2 ** (failures - 1))
            log.warning(
                "%s: replacement failed (%s); the old connection serves on, retry in %.1f s",
                self.runner.connection_id, why, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)

    async def _attempt(self, old: Session, reason: str) -> str | None:
        """One replacement: None when it switched, else why it was dropped."""
        runner = self.runner
        assert runner.make_protocol is not None
        protocol = runner.make_protocol()
        overlap = self.overlap = _Overlap(runner, old, reason, self.policy.window)
        # from the carry-over on, what the old one publishes is remembered: the replacement
        # knows what came before (its copy of the protocol state), the window what came after
        protocol.carry_over(old.protocol)
        old.sink = overlap.from_old
        try:
            try:
                transport = await runner.open_transport(protocol)
            except Exception as exc:  # refused, timed out, unreachable: the old one serves on
                url = protocol.connect_url()  # the error may quote it, keys and all
                overlap.fail(f"connect failed: {str(exc).replace(url, redact.endpoint(url))}")
                self._abandon(overlap, overlap.failed or "")
                return overlap.failed
            if overlap.failed is not None:  # the old one closed or the slot stopped meanwhile
                await transport.close()
                return overlap.failed
            candidate = Session(runner, protocol, transport, primary=False, sink=drop)
            candidate.sink = overlap.from_candidate
            overlap.candidate = candidate
            self._keep(candidate.start())
            return await self._until_switched(overlap, candidate)
        except asyncio.CancelledError:
            if not overlap.switched:
                self._abandon(overlap, "cancelled")
            raise

    async def _until_switched(self, overlap: _Overlap, candidate: Session) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.ready_timeout_s
        while True:
            if overlap.switched:
                return None
            if overlap.failed is not None:
                break
            now = loop.time()
            wake = deadline
            if candidate.subscribed and (overlap.merge.overflow or self._ready(overlap, now)):
                self._switch(overlap)
                return None
            if candidate.subscribed and not overlap.data_seen:
                wake = min(wake, candidate.subscribed_at + self.policy.quiet_wait_s)
            if now >= deadline:
                overlap.fail(f"not ready within {self.policy.ready_timeout_s:g} s")
                break
            overlap.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(overlap.changed.wait(), max(wake - now, 0.01))
        self._abandon(overlap, overlap.failed or "")
        return overlap.failed

    def _ready(self, overlap: _Overlap, now: float) -> bool:
        candidate = overlap.candidate
        assert candidate is not None
        if candidate.protocol.unsynced_books():
            return False
        return overlap.data_seen or now >= candidate.subscribed_at + self.policy.quiet_wait_s

    def _switch(self, overlap: _Overlap) -> None:
        """Publishing moves from the old connection to the replacement, in one step."""
        old, new = overlap.old, overlap.candidate
        assert new is not None
        runner = self.runner
        overlap.switched = True
        self.overlap = None
        self._rotating = None
        old.sink = drop
        old.primary = False
        new.primary = True
        new.stale = set(old.stale)  # what subscribers were told is stale, it judges from here
        runner.promote(new)
        now = now_us()
        overlap.publish(Status(
            runner.exchange, StatusEvent.ROTATED, runner.connection_id, overlap.reason, now,
        ))  # fmt: skip
        new.sink = overlap.after_switch
        new.carry_out(self._handover(overlap, new.protocol.on_handover(now)))
        for event in overlap.merge.switch():
            overlap.publish(event)
        self._count(overlap)
        runner.stats.rotations[(overlap.reason, "switched")] += 1
        old.finish(EndSession("rotated"))
        if old.task is not None:
            self._keep(old.task)
        self._grace = asyncio.get_running_loop().call_later(
            self.policy.grace_s, self._end_grace, overlap, new
        )
        self.started(new)
        log.info("%s: switched to the replacement (%s)", runner.connection_id, overlap.reason)

    @staticmethod
    def _handover(overlap: _Overlap, actions: list[Action]) -> list[Action]:
        """Drop a handover bbo equal to the last one the old connection published."""
        out: list[Action] = []
        for action in actions:
            event = action.event if type(action) is Emit else None
            if type(event) is Bbo and overlap.last_bbo.get(event.symbol) == _touch(event):
                continue
            out.append(action)
        return out

    def _keep(self, task: asyncio.Task[EndSession]) -> None:
        """Sessions that are not (or no longer) the slot's are still closing: hold on to their
        tasks, so the slot's stop can wait for them."""
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    def _end_grace(self, overlap: _Overlap, new: Session) -> None:
        publish = self.runner.publisher.submit
        if new.sink == overlap.after_switch:
            new.sink = publish
        elif self.overlap is not None and self.overlap.forward == overlap.after_switch:
            self.overlap.forward = publish  # a newer rotation wraps it: unwrap
        self._count(overlap)

    def _count(self, overlap: _Overlap) -> None:
        n = overlap.merge.duplicates - overlap.counted
        if n:
            overlap.counted += n
            self.runner.venue_metrics.count(DUPLICATES, (self.runner.exchange,), n)

    def _abandon(self, overlap: _Overlap, why: str) -> None:
        """Drop the replacement; the old connection publishes as before."""
        overlap.fail(why)
        if self.overlap is overlap:
            self.overlap = None
        candidate = overlap.candidate
        if candidate is not None:
            candidate.sink = drop
            candidate.finish(EndSession("rotation_abandoned"))
        if overlap.old.sink == overlap.from_old:
            overlap.old.sink = overlap.forward
