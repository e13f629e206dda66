from __future__ import annotations

from pathlib import Path

import pytest

from feedgate.errors import ConfigError
from feedgate.settings import load_settings

GOOD = """
[redis]
url = "redis://localhost:6379/0"

[[feeds]]
exchange = "binance"
channels = ["trades", "book"]
symbols = ["BTC-USDT", "ETH-USDT"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.redis.url == "redis://localhost:6379/0"
    feed = settings.feeds[0]
    assert (feed.exchange, feed.channels, feed.symbols) == (
        "binance",
        ["trades", "book"],
        ["BTC-USDT", "ETH-USDT"],
    )
    assert feed.venue_options().trade_stream == "trade"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDGATE_REDIS__URL", "redis://redis:6380/1")
    monkeypatch.setenv("FEEDGATE_METRICS__PORT", "9999")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.redis.url == "redis://redis:6380/1"
    assert settings.metrics.port == 9999


def test_every_problem_is_listed_with_its_field(tmp_path: Path) -> None:
    bad = """
[redis]
url = "http://nope"

[[feeds]]
exchange = "nosuchvenue"
channels = ["trades"]
symbols = ["BTCUSDT"]

[[feeds]]
exchange = "binance"
channels = ["candles"]
symbols = ["BTC-USDT"]
[feeds.options]
snapshot_limit = 99999
"""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    text = "\n".join(info.value.problems)
    assert "redis.url" in text and "redis://" in text
    assert "feeds.0.exchange" in text and "nosuchvenue" in text
    assert "feeds.0.symbols" in text and "BTCUSDT" in text
    assert "feeds.1.channels: Value error, binance does not offer channels ['candles']" in text
    assert "feeds.1.options: Value error, bad options: options.snapshot_limit" in text
    assert len(info.value.problems) == 5


def test_bad_venue_option_names_the_option(tmp_path: Path) -> None:
    bad = GOOD + '\n[feeds.options]\nsnapshot_limit = 99999\ntrade_stream = "x"\n'
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    text = "\n".join(info.value.problems)
    assert "options.snapshot_limit" in text and "options.trade_stream" in text


def test_unknown_keys_and_bad_toml_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="typo"):
        load_settings(write(tmp_path, GOOD + "\ntypo = 1\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[[feeds]\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_secrets_come_from_literals_env_or_files_and_never_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import BaseModel, ValidationError

    from feedgate.secrets import Secret

    class Options(BaseModel):
        key: Secret

    monkeypatch.setenv("FG_TEST_KEY", "from-env")
    (tmp_path / "k").write_text("from-file\n")
    assert Options(key="literal").key.get_secret_value() == "literal"  # type: ignore[arg-type]
    assert Options.model_validate({"key": {"env": "FG_TEST_KEY"}}).key.get_secret_value() == (
        "from-env"
    )
    loaded = Options.model_validate({"key": {"file": str(tmp_path / "k")}})
    assert loaded.key.get_secret_value() == "from-file"
    assert "from-file" not in repr(loaded) and "from-file" not in str(loaded)
    with pytest.raises(ValidationError, match="FG_MISSING is not set"):
        Options.model_validate({"key": {"env": "FG_MISSING"}})
    with pytest.raises(ValidationError, match="cannot read secret file"):
        Options.model_validate({"key": {"file": str(tmp_path / "none")}})


def test_symbols_are_required_for_markets(tmp_path: Path) -> None:
    bad = '[[feeds]]\nexchange = "binance"\nchannels = ["trades"]\n'
    with pytest.raises(ConfigError, match="binance needs at least one symbol"):
        load_settings(write(tmp_path, bad))


def test_two_feeds_may_not_publish_one_channel(tmp_path: Path) -> None:
    """Bybit spot and linear both publish as ``bybit``: the same symbol in both is refused, as
    is any market channel two feeds would share; other kinds or symbols of one venue are fine."""
    overlapping = """
[[feeds]]
exchange = "bybit"
channels = ["trades", "book"]
symbols = ["BTC-USDT", "ETH-USDT"]
[[feeds]]
exchange = "bybit"
channels = ["book"]
symbols = ["SOL-USDT", "ETH-USDT"]
[feeds.options]
category = "linear"
"""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, overlapping))
    assert info.value.problems == [
        "feeds: Value error, feeds 0 and 1 both publish book:bybit:ETH-USDT"
    ]
    apart = overlapping.replace('channels = ["book"]\nsymbols = ["SOL-USDT", "ETH-USDT"]',
                                'channels = ["trades"]\nsymbols = ["SOL-USDT"]')  # fmt: skip
    assert [f.symbols for f in load_settings(write(tmp_path, apart)).feeds] == [
        ["BTC-USDT", "ETH-USDT"],
        ["SOL-USDT"],
    ]


def test_every_market_channel_has_a_name_for_the_overlap_check() -> None:
    """The overlap check names a feed's channels through ``MARKET_CHANNELS``: a market venue
    offering a kind it does not know would fail there instead of being checked."""
    from feedgate.channels import MARKET_CHANNELS
    from feedgate.venues import available_venues, get_venue

    markets = [get_venue(name) for name in available_venues() if not get_venue(name).symbolless]
    assert markets
    for venue in markets:
        assert venue.channels <= MARKET_CHANNELS.keys(), venue.name


def test_private_channels_need_a_feed_of_their_own(tmp_path: Path) -> None:
    mixed = (
        '[[feeds]]\nexchange = "upbit"\nchannels = ["trades", "my_order"]\nsymbols = ["BTC-KRW"]\n'
    )
    with pytest.raises(ConfigError, match=r"private channels \['my_order'\] need a feed"):
        load_settings(write(tmp_path, mixed))


def test_rotate_after_defaults_to_the_venue_and_can_be_set_or_turned_off() -> None:
    from feedgate.settings import build_settings

    def feed(exchange: str, symbol: str, **extra: object) -> dict[str, object]:
        return {"exchange": exchange, "channels": ["trades"], "symbols": [symbol], **extra}

    settings = build_settings({"feeds": [
        feed("binance", "BTC-USDT"), feed("okx", "BTC-USDT"),
        feed("binance", "ETH-USDT", rotate_after=3600),
        feed("binance", "SOL-USDT", rotate_after=0), feed("okx", "ETH-USDT", rotate_after=600.5),
    ]})  # fmt: skip
    assert [f.rotation_after_s() for f in settings.feeds] == [82800.0, None, 3600.0, None, 600.5]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-1, "greater than or equal to 0"),
        (0.5, "at least 1 second"),
        (86400, "not before binance's connection lifetime of 86400 s"),
        ("soon", "valid number"),
    ],
)
def test_rotate_after_is_validated(value: object, problem: str) -> None:
    from feedgate.settings import build_settings

    with pytest.raises(ConfigError) as info:
        build_settings({"feeds": [{
            "exchange": "binance", "channels": ["trades"], "symbols": ["BTC-USDT"],
            "rotate_after": value,
        }]})  # fmt: skip
    assert problem in str(info.value) and "feeds.0" in str(info.value)


def test_a_feed_lists_every_problem_not_only_the_first(tmp_path: Path) -> None:
    """Each check belongs to its field, so a bad symbol does not hide a bad channel or option
    (nor a blank or a non-ASCII letter pass as canonical: symbols name channels)."""
    bad = """
[[feeds]]
exchange = "binance"
channels = ["trades", "candles"]
symbols = [" BTC-USDT", "ÉTH-USDT", "BTC-USDT", "BTC-USDT"]
[feeds.options]
snapshot_limit = "many"
bogus = 1
"""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, bad))
    problems = info.value.problems
    assert problems == [
        "feeds.0.channels: Value error, binance does not offer channels ['candles']",
        "feeds.0.symbols: Value error, symbol ' BTC-USDT' is not canonical BASE-QUOTE uppercase;"
        " symbol 'ÉTH-USDT' is not canonical BASE-QUOTE uppercase; symbols are listed twice",
        "feeds.0.options: Value error, bad options: options.snapshot_limit: Input should be a"
        " valid integer, unable to parse string as an integer; options.bogus: Extra inputs are"
        " not permitted",
    ]


def test_what_only_the_protocol_knows_fails_at_load_not_in_the_workers(tmp_path: Path) -> None:
    private = '[[feeds]]\nexchange = "upbit"\nchannels = ["my_order"]\nsymbols = ["BTC-KRW"]\n'
    with pytest.raises(ConfigError, match="private channels need access_key and secret_key"):
        load_settings(write(tmp_path, private))


def test_a_problem_set_by_the_environment_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDGATE_REDIS__MAX_QUEUE", "abc")
    monkeypatch.setenv("FEEDGATE_STREAMS", "{not json")
    monkeypatch.setenv("FEEDGATE_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, GOOD))
    text = "\n".join(info.value.problems)
    assert "redis.max_queue: Input should be a valid integer" in text
    assert "(from FEEDGATE_REDIS__MAX_QUEUE)" in text
    assert (
        "streams: Input should be a valid dictionary" in text and "(from FEEDGATE_STREAMS)" in text
    )
    assert "log_level: Input should be" in text and "(from FEEDGATE_LOG_LEVEL)" in text
    assert len(info.value.problems) == 3
