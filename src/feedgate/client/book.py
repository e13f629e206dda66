"""``BookFollower``: a local order book that is never wrong, from the gateway's channel and key.

The procedure of docs/schema.md ("Following a book"): subscribe to ``book:{exchange}:{symbol}``
and ``feedgate:status`` first, then read the ``book:{exchange}:{symbol}`` key (a whole
``book_snapshot`` whose ``seq`` is the last delta it includes), then apply the messages whose
``seq`` follows it. The key is a checkpoint the gateway refreshes within ``key_refresh_s`` of a
change, so right after subscribing it may miss changes published just before: the follower
marks the book ``valid`` only once that is ruled out, by the next delta following the key's
``seq``, a delta the key already includes, or a second read of the key once it is fresh.

Any jump in ``seq`` (gateway drops, Redis cutting a slow subscriber), a lost subscription, a
decrease (gateway restart) or a ``book_reset`` status invalidates the book: the follower re-reads
the key (or waits for the gateway's next ``book_snapshot`` while it resyncs) and rebuilds.
While ``valid`` is False the book must not be used.

    async with BookFollower(url, "binance", "BTC-USDT") as book:
        await book.synced()
        print(book.best_bid(), book.best_ask())
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from decimal import Decimal
from enum import Enum
from types import TracebackType

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from feedgate.client.messages import BookDelta, BookSnapshot, Level, SchemaError, Status, decode
from feedgate.client.subscriber import Delivery, Subscriber, redis_client
from feedgate.tls import TlsOptions

log = logging.getLogger(__name__)

STATUS_CHANNEL = "feedgate:status"
RELOAD_POLL_S = 0.05
MAX_POLL_S = 0.5
MAX_BUFFERED = 10_000  # deltas kept while waiting for a snapshot (the oldest go first)
KEY_REFRESH_S = 2.5  # the gateway's checkpoint interval (1 s) + its tick (1 s) + a margin


class State(Enum):
    WAITING = "waiting"  # no book: the next book_snapshot (key or message) loads one
    CONFIRMING = "confirming"  # loaded from the key; not yet known to include everything
    VALID = "valid"


class BookFollower:
    def __init__(
        self,
        url: str,
        exchange: str,
        symbol: str,
        *,
        key_refresh_s: float = KEY_REFRESH_S,
        tls: TlsOptions | None = None,
    ) -> None:
        self.url = url
        self.exchange = exchange
        self.symbol = symbol
        self.channel = f"book:{exchange}:{symbol}"
        self.key_refresh_s = key_refresh_s
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.seq = 0
        self.state = State.WAITING
        self.resyncs: Counter[str] = Counter()  # by reason: gap, restart, reconnected, book_reset
        self._subscriber = Subscriber(
            url, channels=[self.channel, STATUS_CHANNEL], on_reconnect=self._resubscribed, tls=tls
        )
        self._keys = redis_client(url, tls)
        self._buffer: deque[BookDelta] = deque()  # deltas received while WAITING
        self._subscribed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._loader: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()
        self._changed = asyncio.Event()

    # -- reading the book -------------------------------------------------------------------------

    @property
    def valid(self) -> bool:
        return self.state is State.VALID

    @property
    def reconnects(self) -> int:
        return self._subscriber.reconnects

    def best_bid(self) -> Level | None:
        return (price := max(self.bids), self.bids[price]) if self.valid and self.bids else None

    def best_ask(self) -> Level | None:
        return (price := min(self.asks), self.asks[price]) if self.valid and self.asks else None

    def levels(self, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        """Bids descending and asks ascending, best first (empty while not valid)."""
        if not self.valid:
            return [], []
        return sorted(self.bids.items(), reverse=True)[:depth], sorted(self.asks.items())[:depth]

    async def synced(self, timeout: float | None = None) -> None:
        """Wait until the book is valid."""
        async with asyncio.timeout(timeout):
            await self._synced.wait()

    async def changed(self, timeout: float | None = None) -> None:
        """Wait for the next change (an applied message or a reset)."""
        self._changed.clear()
        async with asyncio.timeout(timeout):
            await self._changed.wait()

    # -- running ----------------------------------------------------------------------------------

    async def __aenter__(self) -> BookFollower:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        if isinstance(self._keys, RedisCluster):
            await self._keys.initialize()
        await self._subscriber.connect()  # subscribed before the key is read: nothing slips by
        self._resubscribed(count=False)
        self._task = asyncio.create_task(self._follow(), name=f"follow {self.channel}")

    async def stop(self) -> None:
        for task in (self._task, self._loader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._subscriber.close()
        await self._keys.aclose()

    async def _follow(self) -> None:
        async for delivery in self._subscriber:
            self.apply(delivery)

    def _resubscribed(self, count: bool = True) -> None:
        """A new subscription: what went by before it is unknown, so start over from the key."""
        self._subscribed_at = asyncio.get_running_loop().time()
        self._invalidate("reconnected" if count else None)
        self._start_loader(self._load_after_subscribing())

    def _start_loader(self, coro: object) -> None:
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
        self._loader = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]

    # -- the procedure ----------------------------------------------------------------------------

    def apply(self, delivery: Delivery) -> None:
        """One delivery from the book or status channel."""
        message = delivery.message
        if delivery.channel == STATUS_CHANNEL:
            if (
                isinstance(message, Status)
                and message.event == "book_reset"
                and message.exchange == self.exchange
                and message.symbol == self.symbol
            ):
                # the gateway deleted the key; its next book_snapshot message rebuilds us
                self._invalidate("book_reset")
            return
        if isinstance(message, BookSnapshot):
            self._load(message, State.VALID)  # published after we subscribed: complete
        elif isinstance(message, BookDelta):
            restarted = delivery.gap is not None and delivery.gap.reason == "restart"
            self._delta(message, restarted)

    def _delta(self, message: BookDelta, restarted: bool = False) -> None:
        if self.state is State.WAITING:
            # kept until a snapshot is loaded: the deltas after it are applied from here
            self._buffer.append(message)
            if len(self._buffer) > MAX_BUFFERED:
                self._buffer.popleft()
        elif restarted:
            self._resync("restart", message)
        elif message.seq <= self.seq:
            # already in the snapshot read from the key; and since it was published after we
            # subscribed, that snapshot holds everything from before too
            self._confirm()
        elif message.seq == self.seq + 1:
            for side, levels in ((self.bids, message.bids), (self.asks, message.asks)):
                for price, size in levels:
                    if size:
                        side[price] = size
                    else:
                        side.pop(price, None)
            self.seq = message.seq
            self._confirm()
            self._changed.set()
        else:
            self._resync("gap", message)

    def _confirm(self) -> None:
        if self.state is State.CONFIRMING:
            self.state = State.VALID
            self._synced.set()

    def _load(self, snapshot: BookSnapshot, state: State) -> None:
        self.bids = dict(snapshot.bids)
        self.asks = dict(snapshot.asks)
        self.seq = snapshot.seq
        self.state = state
        if state is State.VALID:
            self._synced.set()
        self._changed.set()
        buffered, self._buffer = self._buffer, deque()
        for delta in buffered:  # a gap among them starts over, buffering the rest again
            self._delta(delta)

    def _invalidate(self, reason: str | None) -> None:
        if reason is not None and self.state is not State.WAITING:
            self.resyncs[reason] += 1
        self.state = State.WAITING
        self._buffer.clear()
        self.bids, self.asks = {}, {}
        self._synced.clear()
        self._changed.set()

    def _resync(self, reason: str, revealed_by: BookDelta) -> None:
        self._invalidate(reason)
        self._buffer.append(revealed_by)
        self._start_loader(self._reload_after_gap())

    async def _read_key(self) -> BookSnapshot | None:
        """The key's snapshot; None while it is absent (the gateway is resyncing, or Redis lost
        it in a restart) or unreadable (Redis is down: the caller polls again)."""
        try:
            raw = await self._keys.get(self.channel)
        except (RedisError, OSError) as exc:
            log.info("reading %s failed (%s): retrying", self.channel, exc)
            return None
        if raw is None:
            return None
        try:
            snapshot = decode(raw)
        except SchemaError as exc:
            log.warning("the %s key does not follow the schema: %s", self.channel, exc)
            return None
        return snapshot if isinstance(snapshot, BookSnapshot) else None

    async def _load_after_subscribing(self) -> None:
        """Load the key now (to be confirmed by the next delta); once the key is surely fresh,
        read it until it is there: if no message has proven the book complete by then, that
        key holds everything published before the subscription."""
        snapshot = await self._read_key()
        if snapshot is not None and self.state is State.WAITING:
            self._load(snapshot, State.CONFIRMING)
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._subscribed_at + self.key_refresh_s - loop.time()))
        delay = RELOAD_POLL_S
        while not self.valid:
            snapshot = await self._read_key()
            if (
                snapshot is not None
                and not self.valid
                and (self.state is State.WAITING or snapshot.seq >= self.seq)
            ):
                self._load(snapshot, State.VALID)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL_S)

    async def _reload_after_gap(self) -> None:
        """Deltas since the gap are buffered: a key at least as new as the one before the first
        of them, followed by them, is the whole book. Poll until the key is that new (or the
        gateway's next ``book_snapshot`` message comes first)."""
        delay = RELOAD_POLL_S
        while self.state is State.WAITING:
            snapshot = await self._read_key()
            if snapshot is not None:
                if self._buffer:
                    usable = snapshot.seq >= self._buffer[0].seq - 1
                else:
                    seen = self._subscriber.tracker.last(self.channel)
                    usable = seen is None or snapshot.seq >= seen
                if usable:
                    self._load(snapshot, State.VALID)
                    return
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL_S)
