"""TLS and password settings are checked at start: missing or unusable files, TLS options with
a plain url, and the like stop the process with exit code 2 and every problem listed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from feedgate.client import Subscriber, TlsOptions
from feedgate.errors import ConfigError
from feedgate.settings import build_settings
from feedgate.tail import tls_options
from tests.security.pki import Pki

FEEDGATE = [sys.executable, "-m", "feedgate.cli"]
FEED = {"exchange": "binance", "channels": ["trades"], "symbols": ["BTC-USDT"]}


def problems(redis: dict[str, object]) -> str:
    with pytest.raises(ConfigError) as info:
        build_settings({"redis": redis, "feeds": [FEED]})
    return "\n".join(info.value.problems)


def test_good_tls_settings_give_the_options_and_a_context(pki: Pki) -> None:
    settings = build_settings({
        "redis": {
            "url": "rediss://redis:6380/0", "tls_ca_file": str(pki.ca),
            "tls_cert_file": str(pki.client_cert), "tls_key_file": str(pki.client_key),
        },
        "feeds": [FEED],
    })  # fmt: skip
    tls = settings.redis.tls()
    assert tls == TlsOptions(str(pki.ca), str(pki.client_cert), str(pki.client_key), True)
    assert tls.context().verify_mode.name == "CERT_REQUIRED"
    plain = build_settings({"redis": {"url": "redis://redis:6379/0"}, "feeds": [FEED]})
    assert plain.redis.tls() is None
    system_store = build_settings({"redis": {"url": "rediss://redis:6380/0"}, "feeds": [FEED]})
    assert system_store.redis.tls() == TlsOptions()


def test_every_missing_file_is_listed(tmp_path: Path) -> None:
    text = problems({
        "url": "rediss://redis:6380/0", "tls_ca_file": str(tmp_path / "ca.pem"),
        "tls_cert_file": str(tmp_path / "client.pem"), "tls_key_file": str(tmp_path / "key.pem"),
    })  # fmt: skip
    for name, file in (("ca", "ca.pem"), ("cert", "client.pem"), ("key", "key.pem")):
        assert f"redis.tls_{name}_file: Value error, file {tmp_path / file} does not exist" in text


def test_unusable_combinations_are_refused(pki: Pki, tmp_path: Path) -> None:
    assert "url is not rediss://" in problems({
        "url": "redis://redis:6379/0", "tls_ca_file": str(pki.ca),
    })  # fmt: skip
    assert "url is not rediss://" in problems({"tls_ca_file": str(pki.ca)})
    assert "needs its certificate" in problems({
        "url": "rediss://redis:6380/0", "tls_key_file": str(pki.client_key),
    })  # fmt: skip
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    assert "the TLS files cannot be used" in problems({
        "url": "rediss://redis:6380/0", "tls_ca_file": str(garbage),
    })  # fmt: skip
    assert "the TLS files cannot be used" in problems({
        "url": "rediss://redis:6380/0", "tls_cert_file": str(pki.client_cert),
        "tls_key_file": str(pki.server_key),  # not this certificate's key
    })  # fmt: skip
    assert "password is set but url is not" in problems({"password": "x"})


def test_the_cli_exits_2_listing_the_missing_files(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(f"""
[redis]
url = "rediss://redis:6380/0"
tls_ca_file = "{tmp_path / "nope-ca.pem"}"
tls_cert_file = "{tmp_path / "nope-cert.pem"}"
[[feeds]]
exchange = "binance"
channels = ["trades"]
symbols = ["BTC-USDT"]
""")
    result = subprocess.run(
        [*FEEDGATE, "run", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "redis.tls_ca_file" in result.stderr and "nope-ca.pem does not exist" in result.stderr
    assert "redis.tls_cert_file" in result.stderr and "nope-cert.pem" in result.stderr
    tail = subprocess.run(
        [*FEEDGATE, "tail", "x", "--url", "redis://h:1/0", "--tls-ca", str(tmp_path / "n.pem")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert tail.returncode == 2
    assert "--tls-ca: file" in tail.stderr and "need a rediss:// --url" in tail.stderr


def test_clients_refuse_tls_options_with_a_plain_url(pki: Pki) -> None:
    with pytest.raises(ValueError, match="need a rediss:// url"):
        Subscriber("redis://h:1/0", patterns=["trades:*"], tls=TlsOptions(str(pki.ca)))
    assert tls_options("rediss://h:1/0", None, None, None) is None
    assert tls_options("rediss://h:1/0", str(pki.ca), None, None) == TlsOptions(str(pki.ca))
