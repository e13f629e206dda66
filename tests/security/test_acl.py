"""deploy/redis/users.acl, unchanged, on a real server: each user does its job and nothing else.

``feedgate`` publishes (public and private channels) and writes its keys and streams;
``consumer`` subscribes to the public channels and reads their keys and streams; ``private``
subscribes to ``private:*`` only; the default user is off. Each user's job is done by the real
code (the gateway's worker, ``feedgate.client``); everything else is refused by Redis.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import hiredis
import pytest
from redis.exceptions import AuthenticationError

from feedgate.client import Bbo, BookFollower, Delivery, Private, Status, Subscriber, Trade
from feedgate.client.blocking import latest
from feedgate.client.replay import replay
from feedgate.runtime.cluster_map import read_reply
from feedgate.runtime.redis_link import pack
from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.redis_target import RedisTarget
from feedgate.runtime.worker import Worker
from feedgate.settings import build_settings
from feedgate.venues.upbit.sim import DEMO_SECRET_KEY
from tests.conftest import wait_for
from tests.security.conftest import user_url
from tests.security.feeds import ACCOUNT, feed, private_upbit_feed, simulators

BOOK, BBO, TRADES = "book:binance:BTC-USDT", "bbo:binance:BTC-USDT", "trades:binance:BTC-USDT"
PRIVATE = f"private:upbit:{ACCOUNT}:my_order"
PUBLIC_PATTERNS = ["trades:*", "book:*", "bbo:*", "announcements:*", "onchain:*"]
# what no user but an administrator may run
ADMIN_COMMANDS: list[tuple[str, ...]] = [
    ("KEYS", "*"), ("SCAN", "0"), ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "maxmemory", "1"), ("ACL", "LIST"), ("ACL", "SETUSER", "x", "on"),
    ("EVAL", "return 1", "0"), ("CLIENT", "LIST"), ("CLIENT", "KILL", "USER", "consumer"),
    ("MONITOR",), ("INFO",), ("SHUTDOWN",), ("REPLICAOF", "NO", "ONE"),
]  # fmt: skip


async def permitted(url: str, *command: str) -> bool:
    """Run one command on a fresh connection: True if Redis ran it, False if it said NOPERM.
    Raw RESP, so that subscribing commands are just commands (one reply, then hang up)."""
    target = RedisTarget.from_url(url)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        auth = (b"AUTH", (target.username or "default").encode(), (target.password or "").encode())
        writer.write(pack(auth) + pack(tuple(part.encode() for part in command)))
        parser = hiredis.Reader()
        replies = [await asyncio.wait_for(read_reply(reader, parser), 5) for _ in range(2)]
    finally:
        writer.close()
    if isinstance(replies[0], hiredis.ReplyError):
        raise AuthenticationError(str(replies[0]))
    reply = replies[1]
    if isinstance(reply, hiredis.ReplyError):
        if str(reply).startswith("NOPERM"):
            return False
        raise AssertionError(f"{command}: {reply}")
    return True


async def refusals(url: str, commands: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The commands Redis did *not* refuse (the test wants none)."""
    return [command for command in commands if await permitted(url, *command)]


async def collect(subscriber: Subscriber, into: list[Delivery]) -> None:
    async for delivery in subscriber:
        into.append(delivery)


async def first(deliveries: AsyncIterator[Delivery]) -> Delivery:
    async for delivery in deliveries:
        return delivery
    raise AssertionError("the replay ended without a delivery")


async def test_nobody_gets_in_without_a_password(acl_server: EmbeddedRedis) -> None:
    with socket.create_connection((acl_server.host, acl_server.port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(64).startswith(b"-NOAUTH")  # the default user is off
    for user in ("default", "feedgate", "consumer", "private"):
        with pytest.raises(AuthenticationError):
            await permitted(user_url(acl_server, user, "wrong-password"), "PING")


async def test_each_user_does_its_job_with_the_real_code(acl_server: EmbeddedRedis) -> None:
    """The worker publishes as ``feedgate`` (trades, books, bbo, streams, statuses, a private
    account stream) without one refused command; ``consumer`` follows the public side with
    ``Subscriber``, ``BookFollower``, ``replay`` and ``latest``; ``private`` gets the account's
    stream."""
    consumer, private = user_url(acl_server, "consumer"), user_url(acl_server, "private")
    public_seen: list[Delivery] = []
    private_seen: list[Delivery] = []
    async with simulators(("binance", ["BTC-USDT"]), ("upbit", ["BTC-KRW"])) as (binance, upbit):
        settings = build_settings({
            "redis": {"url": user_url(acl_server, "feedgate")},
            "streams": {"enabled": True},
            "metrics": {"port": 0},
            "feeds": [
                feed(binance, "binance", ["BTC-USDT"]), private_upbit_feed(upbit, DEMO_SECRET_KEY)
            ],
        })  # fmt: skip
        assert settings.redis.url is not None
        worker = Worker(settings, redis_url=settings.redis.url)
        async with (
            Subscriber(consumer, patterns=["trades:*", "bbo:binance:*", "feedgate:status"]) as pub,
            Subscriber(private, patterns=["private:*"]) as priv,
        ):
            readers = [
                asyncio.create_task(collect(pub, public_seen)),
                asyncio.create_task(collect(priv, private_seen)),
            ]
            await worker.start()
            try:
                async with BookFollower(consumer, "binance", "BTC-USDT") as book:
                    await book.synced(timeout=15)
                    assert book.best_bid() is not None and book.best_ask() is not None

                def kinds(seen: list[Delivery]) -> set[type]:
                    return {type(d.message) for d in seen}

                await wait_for(lambda: {Trade, Bbo, Status} <= kinds(public_seen), 10, "public")
                await wait_for(lambda: Private in kinds(private_seen), 10, "the account stream")
                assert {d.channel for d in private_seen} <= {
                    PRIVATE, f"private:upbit:{ACCOUNT}:my_asset"
                }  # fmt: skip
                assert not [d for d in public_seen if d.channel.startswith("private:")]
                replayed = await asyncio.wait_for(first(replay(consumer, TRADES, since="-")), 10)
                assert isinstance(replayed.message, Trade)  # read back from the stream (XRANGE)
                assert isinstance(await asyncio.to_thread(latest, consumer, BBO), Bbo)
                stats = worker.stats.publisher
                assert stats.redis_up and stats.publish_errors == 0, "a refused command"
                assert not sum(stats.dropped.values())
            finally:
                await worker.stop()
                for task in readers:
                    task.cancel()
                await asyncio.gather(*readers, return_exceptions=True)


async def test_the_gateway_user_only_publishes_and_writes_its_keys(
    acl_server: EmbeddedRedis,
) -> None:
    url = user_url(acl_server, "feedgate")
    for command in [
        ("PUBLISH", TRADES, "m"), ("PUBLISH", PRIVATE, "m"), ("PUBLISH", "feedgate:status", "m"),
        ("SET", BOOK, "{}"), ("DEL", BOOK), ("SET", BBO, "{}"),
        ("XADD", TRADES, "MAXLEN", "~", "100", "*", "m", "{}"), ("CLIENT", "SETNAME", "x"),
    ]:  # fmt: skip
        assert await permitted(url, *command), command
    assert not await refusals(url, [
        ("GET", BOOK), ("GET", BBO), ("XRANGE", TRADES, "-", "+"), ("GET", PRIVATE),
        ("SET", PRIVATE, "x"), ("SET", "elsewhere", "x"), ("DEL", "elsewhere"),
        ("PUBLISH", "elsewhere", "m"), ("SUBSCRIBE", TRADES), ("PSUBSCRIBE", "trades:*"),
        ("SSUBSCRIBE", TRADES), ("SUBSCRIBE", PRIVATE), *ADMIN_COMMANDS,
    ])  # fmt: skip


async def test_the_consumer_only_subscribes_and_reads_the_public_side(
    acl_server: EmbeddedRedis,
) -> None:
    url = user_url(acl_server, "consumer")
    for command in [
        *(("PSUBSCRIBE", pattern) for pattern in PUBLIC_PATTERNS),
        ("PSUBSCRIBE", "trades:binance:*"), ("PSUBSCRIBE", "bbo:okx:*"),
        ("SUBSCRIBE", TRADES), ("SUBSCRIBE", "feedgate:status"), ("SUBSCRIBE", "onchain:x:logs"),
        ("GET", BOOK), ("GET", BBO), ("XRANGE", TRADES, "-", "+"),
    ]:  # fmt: skip
        assert await permitted(url, *command), command
    assert not await refusals(url, [
        # a pattern is allowed only as listed: "*" (or any other) would match private:*
        ("PSUBSCRIBE", "*"), ("PSUBSCRIBE", "private:*"), ("PSUBSCRIBE", "private:upbit:*"),
        ("PSUBSCRIBE", "*:*"), ("PSUBSCRIBE", "[pt]*"), ("PSUBSCRIBE", "trades:*:*"),
        ("SUBSCRIBE", PRIVATE), ("SSUBSCRIBE", PRIVATE), ("SUBSCRIBE", "elsewhere"),
        ("GET", PRIVATE), ("GET", "elsewhere"), ("PUBLISH", TRADES, "m"), ("SPUBLISH", TRADES, "m"),
        ("PUBLISH", PRIVATE, "m"), ("SET", BOOK, "x"), ("DEL", BOOK),
        ("XADD", TRADES, "*", "m", "x"), *ADMIN_COMMANDS,
    ])  # fmt: skip


async def test_the_private_consumer_only_subscribes_to_private_channels(
    acl_server: EmbeddedRedis,
) -> None:
    url = user_url(acl_server, "private")
    for command in [("PSUBSCRIBE", "private:*"), ("SUBSCRIBE", PRIVATE)]:
        assert await permitted(url, *command), command
    refused: list[tuple[str, ...]] = [
        ("PSUBSCRIBE", "*"), ("PSUBSCRIBE", "trades:*"), ("SUBSCRIBE", TRADES),
        ("SUBSCRIBE", "feedgate:status"), ("GET", BOOK), ("GET", PRIVATE),
        ("PUBLISH", PRIVATE, "m"), ("SET", PRIVATE, "x"), *ADMIN_COMMANDS,
    ]  # fmt: skip
    assert not await refusals(url, refused)


def test_the_shipped_passwords_are_hashes_of_the_documented_examples() -> None:
    """No clear-text password in the file, and the README's example passwords are the ones
    the hashes are of (so the docs cannot drift from the file)."""
    import hashlib

    from tests.security.conftest import ACL_FILE, PASSWORDS, ROOT

    text = ACL_FILE.read_text()
    assert ">" not in text, "a clear-text password in users.acl"
    readme = (ROOT / "deploy" / "redis" / "README.md").read_text()
    for user, password in PASSWORDS.items():
        digest = hashlib.sha256(password.encode()).hexdigest()
        line = next(line for line in text.splitlines() if line.startswith(f"user {user} "))
        assert f" #{digest} " in line and password in readme, user
