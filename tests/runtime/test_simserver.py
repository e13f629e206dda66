"""The simulator server over real loopback sockets: streams, control, REST, keepalive, faults."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feedgate.runtime.simapi import frame_text_batch
from feedgate.runtime.simserver import SimServer, run_simulator
from feedgate.venues.binance.sim import BinanceSession, BinanceSim, StreamEvent

Server = SimServer[BinanceSession, StreamEvent]
BTC = "/stream?streams=btcusdt@trade/btcusdt@depth@100ms&timeUnit=MICROSECOND"


async def until(predicate: Callable[[], bool], within_s: float = 2.0) -> None:
    """Wait for a condition, polling; fails the test after ``within_s`` seconds."""
    for _ in range(int(within_s / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not met in time")


async def recv_json(ws: ClientConnection) -> Any:
    async with asyncio.timeout(2.0):
        return orjson.loads(await ws.recv())


async def recv_until(ws: ClientConnection, match: Callable[[Any], bool], limit: int = 500) -> Any:
    async with asyncio.timeout(2.0):
        for _ in range(limit):
            message = orjson.loads(await ws.recv())
            if match(message):
                return message
    raise AssertionError("no matching frame")


def make_server(**kwargs: Any) -> Server:
    sim = BinanceSim.from_canonical(["BTC-USDT", "ETH-USDT"], seed=5)
    options: dict[str, Any] = {"trade_rate": 200.0, "depth_interval_ms": 20.0}
    options.update(kwargs)
    return SimServer(sim, **options)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with make_server() as srv:
        yield srv


async def test_combined_stream_delivers_trades_and_depth(server: Server) -> None:
    async with connect(server.ws_url + BTC) as ws:
        trade = await recv_until(ws, lambda m: m["stream"] == "btcusdt@trade")
        depth = await recv_until(ws, lambda m: m["stream"] == "btcusdt@depth@100ms")
    assert trade["data"]["e"] == "trade" and trade["data"]["s"] == "BTCUSDT"
    assert trade["data"]["E"] > 10**15  # timeUnit=MICROSECOND (§1.1)
    assert depth["data"]["e"] == "depthUpdate" and depth["data"]["U"] <= depth["data"]["u"]
    assert server.stats.connections_accepted == 1 and server.stats.frames_sent >= 2


async def test_raw_stream_in_milliseconds(server: Server) -> None:
    async with connect(server.ws_url + "/ws/ethusdt@aggTrade") as ws:
        message = await recv_json(ws)
    assert message["e"] == "aggTrade" and message["s"] == "ETHUSDT"
    assert 10**12 < message["E"] < 10**13


async def test_depth_stream_is_continuous_and_matches_rest(server: Server) -> None:
    async with connect(server.ws_url + "/stream") as ws, aiohttp.ClientSession() as http:
        await ws.send('{"method":"SUBSCRIBE","params":["ethusdt@depth@100ms"],"id":1}')
        assert await recv_json(ws) == {"result": None, "id": 1}
        first = (await recv_json(ws))["data"]
        url = f"{server.rest_url}/api/v3/depth?symbol=ETHUSDT&limit=5000"
        async with http.get(url) as response:
            snapshot = await response.json()
        assert snapshot["lastUpdateId"] >= first["U"]  # §1.7 step 4
        previous = first["u"]
        for _ in range(10):
            data = (await recv_json(ws))["data"]
            assert data["U"] == previous + 1
            previous = data["u"]


async def test_subscribe_ack_then_frames_of_the_new_stream(server: Server) -> None:
    async with connect(server.ws_url + "/stream") as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":42}')
        assert await recv_json(ws) == {"result": None, "id": 42}
        trade = await recv_json(ws)
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":43}')
        listing = await recv_until(ws, lambda m: m.get("id") == 43)
        await ws.send("not json")
        error = await recv_until(ws, lambda m: "code" in m)
    assert trade["stream"] == "ethusdt@trade"
    assert listing == {"result": ["ethusdt@trade"], "id": 43}
    assert error["code"] == 3
    assert server.stats.client_messages >= 3


async def test_rest_depth_and_exchange_info(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=10") as r:
            assert r.status == 200 and r.content_type == "application/json"
            depth = await r.json()
        async with http.get(f"{server.rest_url}/api/v3/depth?symbol=XYZ") as r:
            assert r.status == 400
            assert await r.json() == {"code": -1121, "msg": "Invalid symbol."}
        async with http.get(f"{server.rest_url}/api/v3/exchangeInfo") as r:
            info = await r.json()
        async with http.get(f"{server.rest_url}/api/v3/nothing") as r:
            assert r.status == 404
    assert len(depth["bids"]) == 10 and len(depth["asks"]) == 10
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert server.stats.http_requests == 4


async def test_unknown_path_is_rejected(server: Server) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with connect(server.ws_url + "/nowhere"):
            pass
    assert info.value.response.status_code == 404
    assert server.stats.connection_attempts == 1 and server.stats.connections_accepted == 0


async def test_drop_connections_closes_abruptly(server: Server) -> None:
    async with connect(server.ws_url + BTC) as ws:
        await recv_json(ws)
        assert server.drop_connections() == 1
        with pytest.raises(ConnectionClosed) as info:
            async with asyncio.timeout(2):
                while True:
                    await ws.recv()
    assert info.value.rcvd is None  # no close frame: the TCP connection just died
    await until(lambda: server.stats.open_connections == 0)


async def test_close_all_sends_the_close_code(server: Server) -> None:
    async with connect(server.ws_url + BTC) as ws:
        await recv_json(ws)
        assert server.close_all(4000, "test close") == 1
        async with asyncio.timeout(2):
            await ws.wait_closed()
    assert ws.close_code == 4000 and ws.close_reason == "test close"


async def test_silence_stops_everything_until_it_ends(server: Server) -> None:
    async with connect(server.ws_url + BTC) as ws:
        await recv_json(ws)
        server.silence(None)
        with pytest.raises(TimeoutError):  # drain what was in flight, then expect nothing
            async with asyncio.timeout(2):
                while True:
                    async with asyncio.timeout(0.1):
                        await ws.recv()
        sent = server.stats.frames_sent
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await ws.recv()
        assert server.stats.frames_sent == sent and server.silenced
        server.silence(0.05)  # a timed silence ends by itself
        assert (await recv_json(ws))["stream"].startswith("btcusdt@")
        assert not server.silenced


async def test_malformed_and_shutdown_frames_arrive(server: Server) -> None:
    async with connect(server.ws_url + "/stream?streams=btcusdt@depth@100ms") as ws:
        server.send_malformed()
        server.server_shutdown()
        texts: list[str] = []
        async with asyncio.timeout(2):
            while not any("serverShutdown" in t for t in texts):
                texts.append(str(await ws.recv()))
    assert "this is not json {" in texts
    assert any('"e":"mystery"' in t for t in texts)
    shutdown = orjson.loads(next(t for t in texts if "serverShutdown" in t))
    assert shutdown["stream"] == "!serverShutdown" and 10**12 < shutdown["data"]["E"] < 10**13


async def test_rate_limit_violation_disconnects(server: Server) -> None:
    async with connect(server.ws_url + "/stream") as ws:
        for i in range(7):  # §1.9: more than 5 messages in a second
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
        async with asyncio.timeout(2):
            await ws.wait_closed()
    assert ws.close_code == 1008
    assert server.stats.rate_limit_violations == 1


async def test_skip_update_ids_shows_as_a_gap_on_the_wire(server: Server) -> None:
    async with connect(server.ws_url + "/ws/btcusdt@depth@100ms") as ws:
        previous = (await recv_json(ws))["u"]
        server.skip_update_ids("BTCUSDT", 5)
        gap = await recv_json(ws)
    assert gap["U"] > previous + 1


async def test_keepalive_pings_answered_keep_the_connection() -> None:
    async with make_server(ping_interval_s=0.3, pong_timeout_s=0.2) as srv:
        async with connect(srv.ws_url + BTC, ping_interval=None) as ws:
            for _ in range(300):  # the client library answers pings for us: ~1 s
                await recv_json(ws)
                if srv.stats.client_messages >= 3:
                    break
            assert ws.state.name == "OPEN"
        assert srv.stats.pong_timeouts == 0 and srv.stats.client_messages >= 3


async def test_client_that_never_pongs_is_disconnected() -> None:
    async with make_server(ping_interval_s=0.1, pong_timeout_s=0.2) as srv:
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        async with asyncio.timeout(2):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            frames = await reader.read(-1)  # everything until the server closes
        writer.close()
        assert frames[0] == 0x89  # a ping frame (§1.8) ...
        assert b"\x88" in frames and b"Pong timeout" in frames  # ... then a close frame
        assert srv.stats.pong_timeouts == 1


async def test_saturation_mode_streams_as_fast_as_the_client_reads() -> None:
    async with make_server(trade_rate=None, depth_interval_ms=1000.0) as srv:
        url = srv.ws_url + "/stream?streams=btcusdt@trade/ethusdt@trade"
        # close_timeout: with unread frames queued the client stops reading and never sees the
        # close echo; do not wait the default 10 s for it
        async with connect(url, close_timeout=0.2) as ws:
            ids: dict[str, list[int]] = {"BTCUSDT": [], "ETHUSDT": []}
            for _ in range(5000):
                data = (await recv_json(ws))["data"]
                ids[data["s"]].append(data["t"])
        assert all(len(v) > 1000 for v in ids.values())
        assert all(v == sorted(v) for v in ids.values())
        assert srv.stats.frames_sent >= 5000


def test_frame_encoding_lengths() -> None:
    small, medium, large = b"x" * 125, b"y" * 126, b"z" * 70_000
    data = frame_text_batch([small, medium, large])
    assert data[:2] == b"\x81\x7d" and data[127:131] == b"\x81\x7e\x00\x7e"
    assert data[257:267] == b"\x81\x7f" + (70_000).to_bytes(8, "big")
    assert len(data) == 2 + 125 + 4 + 126 + 10 + 70_000


async def test_run_simulator_serves_until_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(run_simulator("binance", "127.0.0.1", 0, ["BTC-USDT"], 100.0))
    printed: list[str] = []

    def has_url() -> bool:
        printed.append(capsys.readouterr().out)
        return "ws=" in "".join(printed) or task.done()

    await until(has_url)
    match = re.search(r"ws=(\S+)", "".join(printed))
    assert match is not None and not task.done()
    async with connect(match.group(1) + "/ws/btcusdt@trade") as ws:
        assert (await recv_json(ws))["s"] == "BTCUSDT"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
