"""The Upbit simulator, pure: requests (§4.2), errors (§4.6), PING (§4.5), formats, JWT."""

from __future__ import annotations

import orjson
import pytest

from feedgate.events import BookSnapshot, Trade
from feedgate.protocol.base import ConnectionSpec, Topic
from feedgate.venues.upbit import wire
from feedgate.venues.upbit.auth import make_jwt
from feedgate.venues.upbit.options import UpbitOptions
from feedgate.venues.upbit.protocol import UpbitProtocol
from feedgate.venues.upbit.sim import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, make_simulator
from tests.venues.actions import of_type

NOW = 1_700_000_000_000_000


def request(*types: dict[str, object], fmt: str = "SIMPLE") -> str:
    return orjson.dumps([{"ticket": "t"}, *types, {"format": fmt}]).decode()


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("not json", "WRONG_FORMAT"),
        ('{"ticket":"t"}', "WRONG_FORMAT"),
        ('[{"type":"trade","codes":["USDT-BTC"]}]', "NO_TICKET"),
        ('[{"ticket":"t"},{"format":"SIMPLE"}]', "NO_TYPE"),
        ('[{"ticket":"t"},{"type":"trade","codes":[]}]', "NO_CODES"),
        ('[{"ticket":"t"},{"type":"candle","codes":["USDT-BTC"]}]', "INVALID_PARAM"),
        ('[{"ticket":"t"},{"type":"myOrder"}]', "INVALID_PARAM"),
        ('[{"ticket":"t"},{"type":"trade","codes":["USDT-BTC"]},{"format":"X"}]', "INVALID_PARAM"),
    ],
)
def test_bad_requests_get_error_frames(text: str, name: str) -> None:
    sim = make_simulator(["BTC-USDT"])
    session = sim.open_session("/websocket/v1")
    assert session is not None
    (reply,) = sim.on_client_text(session, text)
    assert orjson.loads(reply)["error"]["name"] == name
    assert sim.subscriptions(session) == []


def test_ping_answers_status_up_then_every_10_s() -> None:
    sim = make_simulator(["BTC-USDT"])
    session = sim.open_session("/websocket/v1")
    assert session is not None
    assert sim.periodic_frames(session, NOW) == []  # nothing before a PING
    assert sim.on_client_text(session, "PING") == [wire.STATUS_UP]
    assert sim.periodic_frames(session, NOW) == []
    assert sim.periodic_frames(session, NOW + 10_000_000) == [wire.STATUS_UP]


def test_idle_clock_follows_client_frames() -> None:
    sim = make_simulator(["BTC-USDT"])
    session = sim.open_session("/websocket/v1")
    assert session is not None
    sim.tick_events(NOW)
    sim.on_client_text(session, "PING")
    assert not sim.idle_expired(session, NOW + 119_000_000)
    assert sim.idle_expired(session, NOW + 120_000_000)


@pytest.mark.parametrize("fmt", ["DEFAULT", "SIMPLE"])
def test_frames_parse_back_and_books_equal_true_book(fmt: str) -> None:
    sim = make_simulator(["BTC-USDT", "ETH-USDT"], seed=7)
    session = sim.open_session("/websocket/v1")
    assert session is not None
    codes = ["USDT-BTC", "USDT-ETH"]
    snapshots = sim.on_client_text(
        session, request({"type": "trade", "codes": codes}, {"type": "orderbook", "codes": codes},
                         fmt=fmt),
    )  # fmt: skip
    assert len(snapshots) == 2 and sim.subscriptions(session)
    topics = tuple(Topic(c, s) for s in ("BTC-USDT", "ETH-USDT") for c in ("trades", "book"))
    p = UpbitProtocol(ConnectionSpec("upbit-00", topics), UpbitOptions(format=fmt))  # type: ignore[arg-type]
    for _ in range(20):
        events = sim.tick_events(NOW) + sim.trade_events("USDT-BTC", NOW, 3)
        for frame in filter(None, (sim.render(session, e) for e in events)):
            assert (b'"ty":' in frame) == (fmt == "SIMPLE")
            p.on_frame(frame, NOW)
    frame = sim.render(session, sim.tick_events(NOW, ["USDT-BTC"])[0])
    assert frame is not None
    (snap,) = of_type(p.on_frame(frame, NOW), BookSnapshot)
    _, bids, asks = sim.true_book("USDT-BTC")
    assert [(float(p), float(s)) for p, s in snap.bids] == [(float(p), float(s)) for p, s in bids]
    assert [(float(p), float(s)) for p, s in snap.asks] == [(float(p), float(s)) for p, s in asks]
    trades = of_type(p.on_frame(sim.saturation_frames(session, NOW, 1)[0], NOW), Trade)
    assert trades and trades[0].side in ("buy", "sell")


def test_depth_suffix_truncates_and_skip_withholds_images() -> None:
    sim = make_simulator(["BTC-USDT"])
    session = sim.open_session("/websocket/v1")
    assert session is not None
    sim.on_client_text(session, request({"type": "orderbook", "codes": ["USDT-BTC.5"]}))
    frame = sim.render(session, sim.tick_events(NOW)[0])
    assert frame is not None and len(orjson.loads(frame)["obu"]) == 5
    sim.skip_update_ids("USDT-BTC", 3)
    assert [sim.tick_events(NOW) for _ in range(3)] == [[], [], []]
    assert len(sim.tick_events(NOW)) == 1


def test_private_path_checks_the_jwt() -> None:
    sim = make_simulator(["BTC-KRW"])
    with pytest.raises(PermissionError, match="missing"):
        sim.open_session("/websocket/v1/private", {})
    bad = {"authorization": "Bearer " + make_jwt(DEMO_ACCESS_KEY, "not-the-secret")}
    with pytest.raises(PermissionError, match="bad signature"):
        sim.open_session("/websocket/v1/private", bad)
    good = {"authorization": "Bearer " + make_jwt(DEMO_ACCESS_KEY, DEMO_SECRET_KEY)}
    session = sim.open_session("/websocket/v1/private", good)
    assert session is not None and session.private
    assert sim.on_client_text(session, request({"type": "myOrder", "codes": ["KRW-BTC"]},
                                               {"type": "myAsset"})) == []  # fmt: skip
    kinds = [orjson.loads(f)["ty"] for f in sim.periodic_frames(session, NOW)]
    assert kinds == ["myOrder", "myAsset"]
    assert sim.open_session("/nope") is None


def test_market_list_in_the_captured_shape() -> None:
    sim = make_simulator(["BTC-KRW", "ETH-USDT"])
    result = sim.http_get("/v1/market/all")
    assert result is not None and result[0] == 200
    assert wire.parse_markets(result[1]) == {"BTC-KRW": "KRW-BTC", "ETH-USDT": "USDT-ETH"}
    assert sim.http_get("/v1/other") is None
