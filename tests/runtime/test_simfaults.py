"""The simulator's faults added for make-before-break tests, over real loopback sockets: a forced
connection lifetime (with the venue's notice first), refused connects, failing REST, closing one
connection, and the record of trade ids sent."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from feedgate.runtime.simserver import Lifetime
from tests.runtime.test_simserver import BTC, make_server, recv_until, until


async def test_forced_lifetime_sends_the_notice_then_closes_each_connection_on_time() -> None:
    async with make_server() as server:
        loop = asyncio.get_running_loop()
        # no subscriptions: a client that does not read its data would not see the close frame
        async with connect(server.ws_url + "/stream") as first:
            server.force_lifetime(Lifetime(0.6, notice_s=0.3))  # applies to open ones too
            opened = loop.time()
            async with connect(server.ws_url + "/stream") as second:
                notice = await recv_until(second, lambda m: m.get("stream") == "!serverShutdown")
                noticed = loop.time() - opened
                async with asyncio.timeout(2):
                    await first.wait_closed()
                    await second.wait_closed()
                lived = loop.time() - opened
    assert notice["data"]["e"] == "serverShutdown" and 0.2 <= noticed < 0.6
    assert first.close_code == second.close_code == 1001 and 0.55 <= lived < 1.5
    assert server.stats.lifetime_closes == 2


async def test_lifetime_off_again_spares_new_connections() -> None:
    async with make_server() as server:
        server.force_lifetime(Lifetime(0.2))
        server.force_lifetime(None)
        async with connect(server.ws_url + "/stream") as ws:
            await asyncio.sleep(0.4)  # longer than the lifetime that no longer applies
            async with asyncio.timeout(2):
                await (await ws.ping())  # still open: the server answers
        assert server.stats.lifetime_closes == 0


async def test_refused_connections_and_failing_rest() -> None:
    async with make_server() as server, aiohttp.ClientSession() as http:
        async with connect(server.ws_url + BTC) as kept:
            server.refuse_connections(503)
            with pytest.raises(InvalidStatus) as refused:
                await connect(server.ws_url + BTC)
            assert refused.value.response.status_code == 503
            assert await recv_until(kept, lambda m: "stream" in m)  # the open one serves on
            url = f"{server.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5"
            async with http.get(url) as response:
                assert response.status == 200
            server.fail_rest(503)
            async with http.get(url) as response:
                assert response.status == 503
            server.fail_rest(None)
            server.refuse_connections(None)
            async with connect(server.ws_url + BTC):
                pass
        assert server.stats.refused_connections == 1


async def test_close_one_closes_only_that_connection() -> None:
    async with (
        make_server() as server,
        connect(server.ws_url + "/stream") as old,
        connect(server.ws_url + BTC) as new,
    ):
        await until(lambda: server.stats.open_connections == 2)
        server.close_one(0, code=1001, reason="going")
        async with asyncio.timeout(2):
            await old.wait_closed()
        assert old.close_code == 1001
        assert await recv_until(new, lambda m: "stream" in m)


async def test_recorded_trade_ids_are_those_written_to_an_open_connection() -> None:
    async with make_server() as server:
        server.record_trades()
        await asyncio.sleep(0.1)  # nobody connected: trades are generated but not sent
        assert server.trades_sent == {}
        received: list[str] = []
        async with connect(server.ws_url + BTC) as ws:
            while len(received) < 20:
                message = orjson.loads(await ws.recv())
                if message["stream"] == "btcusdt@trade":
                    received.append(str(message["data"]["t"]))
            server.silence(None)
            await asyncio.sleep(0.05)
            sent = dict(server.trades_sent or {})
        assert list(sent) == ["BTCUSDT"]  # only subscribed streams, only @trade ids
        assert sent["BTCUSDT"][: len(received)] == received
