"""HeartbeatPolicy: transport idle → reconnect; data idle → stale once, recovered, reconnect."""

from __future__ import annotations

from feedgate.protocol.heartbeat import HeartbeatPolicy, HeartbeatReport

POLICY = HeartbeatPolicy(
    transport_idle_s=30.0, data_idle_s={"book": 10.0, "trades": 60.0}, reconnect_after=3.0
)


def test_transport_idle_means_reconnect() -> None:
    stale: set[str] = set()
    assert POLICY.check(129.9, 100.0, {"book": 129.0}, stale).reconnect is None
    report = POLICY.check(130.0, 100.0, {"book": 129.0}, stale)
    assert report == HeartbeatReport("transport_idle")


def test_data_idle_is_stale_once_then_recovered() -> None:
    stale: set[str] = set()
    last = {"book": 100.0, "trades": 100.0}
    assert POLICY.check(109.9, 109.9, last, stale) == HeartbeatReport(None)
    first = POLICY.check(110.0, 110.0, last, stale)
    assert first == HeartbeatReport(None, stale=("book",))
    assert stale == {"book"}
    again = POLICY.check(115.0, 115.0, last, stale)
    assert again == HeartbeatReport(None), "stale is reported once, not every tick"
    last["book"] = 116.0
    back = POLICY.check(117.0, 117.0, last, stale)
    assert back == HeartbeatReport(None, recovered=("book",))
    assert stale == set()
    assert POLICY.check(118.0, 118.0, last, stale) == HeartbeatReport(None)


def test_channels_have_their_own_thresholds() -> None:
    stale: set[str] = set()
    last = {"book": 100.0, "trades": 100.0}
    report = POLICY.check(125.0, 125.0, last, stale)
    assert report.stale == ("book",)  # trades may be quiet for 60 s
    report = POLICY.check(160.0, 160.0, {"book": 159.0, "trades": 100.0}, stale)
    assert report == HeartbeatReport(None, stale=("trades",), recovered=("book",))
    assert stale == {"trades"}


def test_long_data_silence_reconnects_after_reconnect_after_thresholds() -> None:
    stale: set[str] = set()
    last = {"book": 100.0, "trades": 100.0}
    assert POLICY.check(129.9, 129.9, last, stale).reconnect is None
    assert stale == {"book"}  # reported stale once, at the first check past 10 s
    report = POLICY.check(130.0, 130.0, last, stale)  # 3 x 10 s of silence on book
    assert report.reconnect == "data_idle"
    assert report.stale == ()  # not reported twice


def test_a_late_check_reports_stale_channels_along_with_the_reconnect() -> None:
    """A check delayed past the transport threshold (a busy loop) still tells subscribers which
    channels went quiet before the connection is replaced."""
    stale: set[str] = set()
    report = POLICY.check(1000.0, 900.0, {"book": 900.0, "trades": 990.0}, stale)
    assert report.reconnect == "transport_idle"
    assert report.stale == ("book",) and stale == {"book"}


def test_channels_without_a_threshold_are_not_judged() -> None:
    stale: set[str] = set()
    report = POLICY.check(10_000.0, 10_000.0, {"bbo": 0.0}, stale)
    assert report == HeartbeatReport(None)
    assert stale == set()


def test_defaults_are_generous_for_quiet_markets() -> None:
    policy = HeartbeatPolicy()
    stale: set[str] = set()
    report = policy.check(200.0, 199.0, {"book": 171.0, "trades": 0.0}, stale)
    assert report == HeartbeatReport(None)
    assert policy.check(300.0, 299.0, {"book": 299.0, "trades": 0.0}, stale).stale == ("trades",)


def test_ping_schedule_fires_once_per_interval_and_resets() -> None:
    from feedgate.protocol.heartbeat import PingSchedule

    schedule = PingSchedule(20.0)
    t0 = 1_000_000_000
    assert not schedule.due(t0)  # the clock starts at the first tick after connecting
    assert not schedule.due(t0 + 19_999_999)
    assert schedule.due(t0 + 20_000_000)
    assert not schedule.due(t0 + 20_000_001)
    assert schedule.due(t0 + 40_000_000)
    schedule.reset()
    assert not schedule.due(t0 + 50_000_000)
    assert schedule.due(t0 + 70_000_000)
