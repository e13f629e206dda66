"""A venue that sends too much, end to end over a real simulator on loopback: frames and messages
larger than the venue's ``max_frame_bytes`` are refused by the transport before they are
buffered (websockets checks ``max_size`` against each frame header and the message so far),
counted as ``feedgate_reconnects_total{reason="frame_too_large"}``, and followed by a reconnect
with backoff; the worker carries on. A frame the protocol raises on costs one session
(``protocol_error``), not the connection."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest
from websockets.asyncio.server import ServerConnection, serve

from feedgate.runtime.redis_server import EmbeddedRedis
from feedgate.runtime.transport import TransportKind, TransportOptions, open_websocket
from feedgate.venues import get_venue
from feedgate.venues.binance.protocol import BinanceProtocol
from tests.conftest import wait_for
from tests.runtime.harness import Stack, data_messages, running_stack

SYMBOLS = ["BTC-USDT"]
LIMIT = get_venue("binance").max_frame_bytes


async def flowing(stack: Stack) -> None:
    seen = data_messages(stack.subscriber)
    await wait_for(lambda: data_messages(stack.subscriber) > seen + 5, 10, "data flowing")


async def test_one_byte_over_the_limit_is_refused_counted_and_reconnected(
    redis_server: EmbeddedRedis,
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, channels=["trades"]) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        # exactly the limit: read and handed to the protocol, which counts the unknown shape
        assert stack.server.send_oversized(LIMIT) == 1
        await wait_for(lambda: stats.parse_errors == 1, 5, "the frame at the limit parsed")
        assert sum(stats.reconnects.values()) == 0
        stack.server.send_oversized(LIMIT + 1)
        await wait_for(lambda: stats.reconnects["frame_too_large"] == 1, 5, "refused")
        await wait_for(lambda: stats.up, 5, "subscribed again")
        await flowing(stack)
        assert stats.parse_errors == 1 and dict(stats.reconnects) == {"frame_too_large": 1}
        metrics = generate_latest(stack.worker.registry).decode()
        assert 'feedgate_reconnects_total{exchange="binance",reason="frame_too_large"} 1.0' in (
            metrics
        )


@pytest.mark.parametrize("fault", ["fragmented", "announced"])
async def test_an_oversized_message_or_frame_header_is_refused_before_it_is_read(
    redis_server: EmbeddedRedis, fault: str
) -> None:
    """Four fragments, each a quarter of the limit and a bit: only their sum is too large.
    A header announcing a terabyte, followed by a kilobyte: refused on the header alone, at once
    (a client that read frames whole before judging them would wait for the rest)."""
    async with running_stack(redis_server.url, SYMBOLS, channels=["trades"]) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        if fault == "fragmented":
            stack.server.send_oversized(LIMIT + 4096, fragments=4)
        else:
            stack.server.announce_frame(2**40)
        await wait_for(lambda: stats.reconnects["frame_too_large"] == 1, 2, "refused")
        await wait_for(lambda: stats.up, 5, "subscribed again")
        await flowing(stack)
        assert dict(stats.reconnects) == {"frame_too_large": 1} and stats.parse_errors == 0


async def test_a_venue_that_keeps_sending_them_is_reconnected_with_growing_backoff(
    redis_server: EmbeddedRedis,
) -> None:
    async with running_stack(redis_server.url, SYMBOLS, channels=["trades"]) as stack:
        stats, attempts = stack.worker.stats.connections[0], stack.server.stats.attempt_times
        for n in (1, 2):
            await wait_for(lambda n=n: stats.up and len(attempts) == n, 5, f"session {n} up")
            stack.server.announce_frame(LIMIT + 1)
            await wait_for(lambda n=n: stats.reconnects["frame_too_large"] == n, 2, "refused")
        await wait_for(lambda: stats.up and len(attempts) == 3, 5, "session 3 up")
        # Backoff: 0.5 s then 1 s, each shortened by up to half (jitter); no reset, as no
        # session was stable
        first, second = attempts[1] - attempts[0], attempts[2] - attempts[1]
        assert first >= 0.25 and second >= 0.5, (first, second)
        await flowing(stack)


async def test_a_frame_the_protocol_raises_on_costs_one_session(
    redis_server: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``on_frame`` must never raise (the fuzz tests hold every venue to it); should a bug make
    it, the runner counts a parse error and starts the session over instead of dying. (Patched
    on the class before the start: a session takes the bound method once, when it opens.)"""
    armed: list[bool] = []
    real = BinanceProtocol.on_frame

    def broken_once(self: BinanceProtocol, frame: str | bytes, recv_ts: int) -> list[Any]:
        if armed:
            armed.clear()
            raise RuntimeError("a protocol bug")
        return real(self, frame, recv_ts)

    monkeypatch.setattr(BinanceProtocol, "on_frame", broken_once)
    async with running_stack(redis_server.url, SYMBOLS, channels=["trades"]) as stack:
        stats = stack.worker.stats.connections[0]
        await wait_for(lambda: stats.up, 5, "subscribed")
        armed.append(True)
        await wait_for(lambda: stats.reconnects["protocol_error"] == 1, 5, "the session ended")
        await wait_for(lambda: stats.up, 5, "subscribed again")
        await flowing(stack)
        assert not armed, "the broken frame was handed to the protocol"
        assert stats.parse_errors == 1 and stack.worker.runners[0].stats.state == "subscribed"


@pytest.mark.parametrize("kind", ["websockets", "picows"])
async def test_the_transport_never_negotiates_compression(kind: TransportKind) -> None:
    """No permessage-deflate, even with a server offering it: a small compressed message could
    inflate past ``max_size`` only after being buffered whole, so there is none to inflate."""
    negotiated: list[Any] = []

    async def handler(conn: ServerConnection) -> None:
        offered = conn.request.headers.get("Sec-WebSocket-Extensions") if conn.request else "?"
        negotiated.append((offered, conn.protocol.extensions))
        await conn.send("x" * 100)
        await conn.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        options = TransportOptions(kind=kind)
        transport = await open_websocket(f"ws://127.0.0.1:{port}", options)
        got: list[str | bytes] = []
        transport.start(got.append)
        await wait_for(lambda: got == ["x" * 100], 5, "the message")
        await transport.close()
    assert negotiated == [(None, [])]
