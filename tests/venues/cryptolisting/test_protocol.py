"""cryptolisting.ws protocol, pure: §7.1 frames and a time in, actions out."""

from __future__ import annotations

import orjson
import pytest

from feedgate.events import Announcement, Status, StatusEvent
from feedgate.protocol.base import (
    ConnectionSpec,
    Count,
    CountParseError,
    Observe,
    Send,
    Subscribed,
    Topic,
)
from feedgate.venues.cryptolisting import VENUE
from feedgate.venues.cryptolisting.options import CryptolistingOptions
from feedgate.venues.cryptolisting.protocol import CryptolistingProtocol
from feedgate.venues.cryptolisting.sim import DEMO_KEY
from tests.venues.actions import of_type
from tests.venues.cryptolisting.frames import (
    ANNOUNCEMENT_NEW,
    ANNOUNCEMENT_OLD,
    WELCOME_NEW,
    WELCOME_OLD,
)

T0 = 1710345000010000  # µs, just after the §7.1 examples' dispatch time
SEC = 1_000_000


def make(**options: object) -> CryptolistingProtocol:
    spec = ConnectionSpec("cryptolisting-00", (Topic("announcements", ""),))
    return CryptolistingProtocol(
        spec, CryptolistingOptions.model_validate({"api_key": DEMO_KEY, **options})
    )


def welcomed(**options: object) -> CryptolistingProtocol:
    proto = make(**options)
    proto.on_open(T0)
    proto.on_frame(WELCOME_NEW, T0)
    return proto


def test_url_and_key_header() -> None:
    assert make().connect_url() == "wss://cryptolisting.ws"
    assert (
        make(cex=["Binance", "upbit"]).connect_url() == "wss://cryptolisting.ws?cex=binance,upbit"
    )
    assert make().connect_headers(T0) == [("X-API-Key", DEMO_KEY)]
    assert make().on_open(T0) == []  # the server speaks first


def test_api_key_from_env_and_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CL_KEY", DEMO_KEY)
    options = CryptolistingOptions.model_validate({"api_key": {"env": "CL_KEY"}})
    assert options.api_key.get_secret_value() == DEMO_KEY
    assert DEMO_KEY not in repr(options) and DEMO_KEY not in str(options.model_dump())


@pytest.mark.parametrize("frame", [WELCOME_OLD, WELCOME_NEW])
def test_welcome_both_versions_subscribe_then_smoke_test(frame: bytes) -> None:
    proto = make()
    actions = proto.on_frame(frame, T0)
    assert isinstance(actions[0], Subscribed)
    (status,) = of_type(actions, Status)
    assert (status.event, status.reason) == (StatusEvent.SUBSCRIBED, "tier=premium allowedCex=*")
    assert actions[-1] == Send('{"type":"test"}')
    assert proto.welcome is not None and proto.welcome.expires_in_s == 2592000


def test_allowed_cex_as_string_or_list() -> None:
    for allowed in ("binance,upbit", ["binance", "upbit"]):
        proto = make()
        msg = {**orjson.loads(WELCOME_NEW), "allowedCex": allowed}
        proto.on_frame(orjson.dumps(msg), T0)
        assert proto.welcome is not None
        assert proto.welcome.allowed_cex == ("binance", "upbit")


def test_announcement_older_docs() -> None:
    actions = welcomed().on_frame(ANNOUNCEMENT_OLD, T0)
    (a,) = of_type(actions, Announcement)
    assert (a.exchange, a.publisher, a.listing_type) == ("cryptolisting", "binance", "spot_listing")
    assert a.tickers == ("ABC", "DEF", "GHI") and a.title == "Binance Will List ABC, DEF and GHI"
    assert (a.publish_ts, a.detected_ts, a.dispatch_ts) == (
        1710345000000000, 1710345000005000, 1710345000006000,
    )  # fmt: skip
    assert a.ts == a.publish_ts and a.recv_ts == T0 and not a.is_test and a.url is None
    (obs,) = [x for x in actions if isinstance(x, Observe)]
    assert obs == Observe(
        "feedgate_announcement_dispatch_latency_seconds", ("cryptolisting", "binance"), 0.004
    )


def test_announcement_newer_docs_without_publish_time() -> None:
    (a,) = of_type(welcomed().on_frame(ANNOUNCEMENT_NEW, T0), Announcement)
    assert a.tickers == ("TOKEN",) and a.publish_ts is None
    assert a.ts == a.detected_ts == 1710345000005000


def test_free_tier_empty_ticker_is_an_empty_list() -> None:
    msg = {**orjson.loads(ANNOUNCEMENT_NEW), "ticker": "", "title": "Upgrade to see it"}
    (a,) = of_type(welcomed().on_frame(orjson.dumps(msg), T0), Announcement)
    assert a.tickers == () and a.title == "Upgrade to see it"


def test_new_fields_and_unknown_listing_types_pass() -> None:
    msg = {**orjson.loads(ANNOUNCEMENT_NEW), "listingType": "launchpool", "newField": [1]}
    (a,) = of_type(welcomed().on_frame(orjson.dumps(msg), T0), Announcement)
    assert a.listing_type == "launchpool"


def test_text_frames_work_too() -> None:
    assert of_type(welcomed().on_frame(ANNOUNCEMENT_NEW.decode(), T0), Announcement)


def test_duplicates_are_dropped_and_counted() -> None:
    proto = welcomed()
    assert of_type(proto.on_frame(ANNOUNCEMENT_OLD, T0), Announcement)
    proto.on_close(T0)
    proto.on_open(T0 + SEC)
    proto.on_frame(WELCOME_OLD, T0 + SEC)  # a reconnect, and the source sends it again
    again = proto.on_frame(ANNOUNCEMENT_OLD, T0 + SEC)
    assert again == [Count("feedgate_duplicates_dropped_total", ("cryptolisting",))]
    assert of_type(proto.on_frame(ANNOUNCEMENT_NEW, T0), Announcement)


def test_dedup_memory_is_bounded() -> None:
    proto = welcomed(dedup_capacity=2)
    base = orjson.loads(ANNOUNCEMENT_NEW)
    frames = [orjson.dumps({**base, "detectedTimestampUs": T0 + i}) for i in range(3)]
    for frame in frames:
        assert of_type(proto.on_frame(frame, T0), Announcement)
    assert len(proto.recent) == 2
    assert of_type(proto.on_frame(frames[0], T0), Announcement), "evicted: published again"
    assert not of_type(proto.on_frame(frames[2], T0), Announcement)


def test_smoke_check_ok() -> None:
    proto = welcomed()
    test = {**orjson.loads(ANNOUNCEMENT_NEW), "type": "test_announcement"}
    actions = proto.on_frame(orjson.dumps(test), T0 + SEC)
    assert Count("feedgate_smoke_checks_total", ("cryptolisting", "ok")) in actions
    (a,) = of_type(actions, Announcement)
    assert a.is_test and a.publisher == "binance"
    assert not [x for x in actions if isinstance(x, Observe)]
    assert proto.on_tick(T0 + 60 * SEC) == []
    # a second copy of the same test is published, not taken for a duplicate
    assert of_type(proto.on_frame(orjson.dumps(test), T0 + 2 * SEC), Announcement)


def test_test_announcement_with_unknown_payload_still_counts() -> None:
    proto = welcomed()
    actions = proto.on_frame(b'{"type":"test_announcement"}', T0 + SEC)
    (a,) = of_type(actions, Announcement)
    assert a.is_test and a.publisher == "test"
    assert Count("feedgate_smoke_checks_total", ("cryptolisting", "ok")) in actions


def test_smoke_check_timeout_is_a_stale_status() -> None:
    proto = welcomed(smoke_timeout_s=5)
    assert proto.on_tick(T0 + 4 * SEC) == []
    actions = proto.on_tick(T0 + 5 * SEC)
    assert actions[0] == Count("feedgate_smoke_checks_total", ("cryptolisting", "timeout"))
    (status,) = of_type(actions, Status)
    assert status.event is StatusEvent.STALE
    assert status.reason == "smoke check: no test_announcement within 5s"
    assert proto.on_tick(T0 + 6 * SEC) == []


def test_one_test_per_minute_across_reconnects() -> None:
    proto = welcomed()
    for at in (10 * SEC, 59 * SEC):
        proto.on_close(T0 + at)
        proto.on_open(T0 + at)
        actions = proto.on_frame(WELCOME_NEW, T0 + at)
        assert not [x for x in actions if isinstance(x, Send)]
        assert proto.on_tick(T0 + at + 30 * SEC) == [], "no check pending, no timeout"
    proto.on_close(T0 + 61 * SEC)
    proto.on_open(T0 + 61 * SEC)
    assert Send('{"type":"test"}') in proto.on_frame(WELCOME_NEW, T0 + 61 * SEC)


def test_smoke_check_can_be_off() -> None:
    proto = make(smoke_check=False)
    assert not [x for x in proto.on_frame(WELCOME_NEW, T0) if isinstance(x, Send)]


def test_test_rate_limited_error_ends_the_check_without_a_timeout() -> None:
    proto = welcomed()
    actions = proto.on_frame(b'{"type":"error","error":"test_rate_limited"}', T0)
    assert actions == [Count("feedgate_smoke_checks_total", ("cryptolisting", "rate_limited"))]
    assert proto.on_tick(T0 + 60 * SEC) == []


@pytest.mark.parametrize(
    "frame",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1,2]",
        b'{"type":"listing_digest_v9"}',  # unknown type: counted, not fatal
        b'{"type":"announcement","title":"x"}',
        b'{"type":"error","error":"something_else"}',
        b'{"type":"welcome","tier":1}',
    ],
)
def test_bad_frames_are_counted(frame: bytes) -> None:
    actions = welcomed().on_frame(frame, T0)
    assert len(actions) == 1 and isinstance(actions[0], CountParseError)


def test_heartbeat_is_quiet() -> None:
    assert welcomed().on_frame(b'{"type":"heartbeat"}', T0) == []


def test_venue_spec() -> None:
    assert VENUE.symbolless and VENUE.channels == frozenset({"announcements"})
    assert VENUE.parse_instruments(b"{}") == {}
    options = CryptolistingOptions.model_validate({"api_key": DEMO_KEY})
    assert VENUE.topics_per_connection(options) == 1
    assert isinstance(VENUE.make_protocol(ConnectionSpec("c", ()), options), CryptolistingProtocol)
