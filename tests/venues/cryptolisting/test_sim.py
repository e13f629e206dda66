"""The cryptolisting.ws simulator, pure: sessions, keys, frames as §7.1 shapes them."""

from __future__ import annotations

import orjson
import pytest

from feedgate.venues.cryptolisting.sim import (
    DEMO_KEY,
    PROBE,
    CryptolistingSim,
    Session,
    SimKey,
    make_simulator,
)
from feedgate.venues.cryptolisting.simcontent import FREE_TIER_TITLE, LISTING_TYPES, PUBLISHERS

NOW = 1_760_000_000_000_000
HEX_KEY = "dsk_" + "ab" * 32


def session(sim: CryptolistingSim, path: str = "/", key: str = DEMO_KEY) -> Session:
    s = sim.open_session(path, {"x-api-key": key})
    assert s is not None
    assert sim.render(s, PROBE) is not None  # the welcome
    return s


def test_publishers_from_symbols() -> None:
    assert make_simulator(["BTC-USDT"]).symbols == list(PUBLISHERS)
    assert make_simulator(["upbit"]).symbols == ["upbit"]
    assert make_simulator([]).gateway_options["api_key"] == DEMO_KEY
    assert len(DEMO_KEY) == 68 and int(DEMO_KEY[4:], 16) >= 0


def test_key_checks() -> None:
    sim = make_simulator([])
    with pytest.raises(PermissionError, match="missing"):
        sim.open_session("/", {})
    with pytest.raises(PermissionError, match="invalid"):
        sim.open_session("/", {"x-api-key": HEX_KEY})
    assert sim.open_session("/nope", {"x-api-key": DEMO_KEY}) is None


def test_welcome_first_then_announcements() -> None:
    sim = make_simulator([], seed=1)
    s = sim.open_session("/", {"x-api-key": DEMO_KEY})
    assert s is not None
    events = sim.trade_events("binance", NOW, 3)
    frames = [sim.render(s, e) for e in events]
    assert orjson.loads(frames[0] or b"")["type"] == "welcome"
    for frame in frames[1:]:
        msg = orjson.loads(frame or b"")
        assert msg["type"] == "announcement" and msg["publisher"] == "binance"
        assert msg["listingType"] in LISTING_TYPES
        assert msg["detectedTimestampUs"] <= msg["dispatchTimestampUs"] <= NOW
        assert "publishTimestampUs" not in msg and msg["abnormalDetectionLatency"] is False
    assert sim.render(s, PROBE) is None


def test_cex_filter_and_allowed_set() -> None:
    sim = make_simulator([])
    sim.add_key(HEX_KEY, SimKey(allowed_cex="binance,upbit"))
    s = session(sim, "/?cex=upbit,bithumb", HEX_KEY)
    assert sim.subscriptions(s) == ["upbit"]
    assert sim.render(s, sim.trade_events("bithumb", NOW, 1)[0]) is None
    assert sim.render(s, sim.trade_events("upbit", NOW, 1)[0]) is not None
    empty = session(sim, "/?cex=bithumb", HEX_KEY)  # empty intersection still connects
    assert sim.subscriptions(empty) == []


def test_legacy_key_and_free_tier() -> None:
    sim = make_simulator([])
    sim.add_key(HEX_KEY, SimKey(tier="free", allowed_cex=["binance"], legacy=True))
    s = sim.open_session("/", {"x-api-key": HEX_KEY})
    assert s is not None
    welcome = orjson.loads(sim.render(s, PROBE) or b"")
    assert welcome["maxConnections"] == 5 and welcome["allowedCex"] == ["binance"]
    seen = set()
    for event in sim.trade_events("binance", NOW, 60):
        msg = orjson.loads(sim.render(s, event) or b"")
        assert "publishTimestampUs" in msg
        seen.add(msg["listingType"])
        if msg["listingType"] != "not_listing":
            assert (msg["ticker"], msg["title"]) == ("", FREE_TIER_TITLE)
    assert len(seen) > 3


def test_test_request_and_rate_limit() -> None:
    sim = make_simulator([])
    s = session(sim)
    sim.tick_events(NOW)
    (reply,) = sim.on_client_text(s, '{"type":"test"}')
    assert orjson.loads(reply)["type"] == "test_announcement"
    sim.tick_events(NOW + 30_000_000)
    (limited,) = sim.on_client_text(s, '{"type":"test"}')
    assert orjson.loads(limited) == {"type": "error", "error": "test_rate_limited"}
    sim.tick_events(NOW + 61_000_000)
    assert orjson.loads(sim.on_client_text(s, '{"type":"test"}')[0])["type"] == "test_announcement"
    assert sim.on_client_text(s, "garbage") == [] and sim.test_requests == 3


def test_replay_recent_resends_the_same_frames() -> None:
    sim = make_simulator(["binance"])
    s = session(sim)
    first = [sim.render(s, e) for e in sim.trade_events("binance", NOW, 4)]
    replayed = sim.replay_recent(2)
    batch = [sim.render(s, e) for e in sim.trade_events("binance", NOW + 1000, 1)]
    assert batch[:2] == first[2:] and len(replayed) == 2 and len(batch) == 3


def test_fixed_frames_and_unused_hooks() -> None:
    sim = make_simulator([])
    s = session(sim)
    assert sim.periodic_frames(s, NOW) == [b'{"type":"heartbeat"}']
    assert len(sim.saturation_frames(s, NOW, 6)) == 6
    assert len(sim.malformed_frames()) >= 2 and sim.shutdown_frames(s, NOW) == []
    assert sim.venue_symbol("binance") == "binance" and sim.http_get("/x") is None
    sim.skip_update_ids("binance", 3)
    with pytest.raises(NotImplementedError):
        sim.true_book("binance")
    assert sim.binary_frames and sim.wants_headers and sim.periodic_interval_s == 30.0
