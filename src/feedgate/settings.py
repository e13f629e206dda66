"""Configuration (design §2.4): a TOML file plus ``FEEDGATE_`` environment overrides.

Nested fields use ``__`` in the environment (``FEEDGATE_REDIS__URL``); the environment wins over
the file. A bad config raises ``ConfigError`` listing every problem with its field path; the CLI
turns that into exit code 2 before anything starts.
"""

from __future__ import annotations

import ssl
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from feedgate import redact
from feedgate.channels import split_symbol
from feedgate.errors import ConfigError
from feedgate.runtime.redis_target import SCHEMES, parse_redis_url
from feedgate.secrets import Secret
from feedgate.tls import TlsOptions
from feedgate.venues import available_venues, get_venue

TLS_SCHEMES = ("rediss://", "rediss+cluster://")


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file {path} does not exist")
    return path


ExistingFile = Annotated[Path, AfterValidator(_existing_file)]


class RedisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    """``redis://host:port/db`` (``rediss://`` for TLS, ``user:password@`` for ACL users), or a
    cluster's seeds ``redis+cluster://host1:7000,host2:7001``. None starts a private embedded
    server (demo and tests)."""
    cluster: bool = False
    """Publish to a Redis Cluster with sharded Pub/Sub (``SPUBLISH``); implied by a
    ``redis+cluster://`` url."""
    max_queue: int = Field(default=200_000, ge=1000)
    """Messages held while Redis is slow or down; beyond it the oldest are dropped (counted)."""
    password: Secret | None = None
    """The ACL user's password (``{ env = "NAME" }`` or ``{ file = "PATH" }``); overrides a
    password in ``url``, so the url can sit in plain config."""
    tls_ca_file: ExistingFile | None = None
    """With ``rediss://``: PEM CA bundle that signed the server's certificate (default: the
    system's trust store)."""
    tls_cert_file: ExistingFile | None = None
    """With ``rediss://``: client certificate, for a server with ``tls-auth-clients yes``."""
    tls_key_file: ExistingFile | None = None
    """Its private key (unencrypted PEM), unless it is in ``tls_cert_file``."""
    tls_verify_hostname: bool = True
    """Check that the server's certificate names the host in ``url``."""

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(SCHEMES):
            raise ValueError("must start with " + ", ".join(SCHEMES))
        return url

    @model_validator(mode="after")
    def _cluster(self) -> RedisSettings:
        if self.url is not None:
            _, self.cluster = parse_redis_url(self.url, self.cluster)  # raises on a bad url
        return self

    @model_validator(mode="after")
    def _tls_and_password(self) -> RedisSettings:
        if self.password is not None and self.url is None:
            raise ValueError("password is set but url is not: the embedded Redis needs none")
        files = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        tls = self.tls()
        if tls is None:
            if any(files) or not self.tls_verify_hostname:
                raise ValueError("tls_* options are set but url is not rediss:// (TLS)")
            return self
        try:
            tls.context()  # a certificate that does not load stops the start, not each connect
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError(f"the TLS files cannot be used: {exc}") from None
        return self

    def tls(self) -> TlsOptions | None:
        """How to reach a ``rediss://`` server (None for plain ``redis://`` or no url)."""
        if self.url is None or not self.url.startswith(TLS_SCHEMES):
            return None
        return TlsOptions(
            ca_file=str(self.tls_ca_file) if self.tls_ca_file else None,
            cert_file=str(self.tls_cert_file) if self.tls_cert_file else None,
            key_file=str(self.tls_key_file) if self.tls_key_file else None,
            verify_hostname=self.tls_verify_hostname,
        )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # the url may carry the ACL user's password: repr (and str) show it masked
        for name, value in super().__repr_args__():
            yield name, redact.redis_url(value) if name == "url" and value else value


StreamedKind = Literal["trades", "announcements", "onchain"]
STREAMED_BY_DEFAULT: tuple[StreamedKind, ...] = ("trades", "announcements")


class StreamsSettings(BaseModel):
    """The optional Redis Streams mirror: a consumer that was away replays what it missed."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    maxlen: int = Field(default=10_000, ge=100)
    """Entries kept per stream (approximately: ``XADD … MAXLEN ~``)."""
    channels: list[StreamedKind] = Field(default_factory=lambda: list(STREAMED_BY_DEFAULT))
    """Which kinds of channel get a stream (key = the channel's name)."""


class MetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    """``/metrics`` and ``/healthz``; 0 picks a free port, worker i serves ``port + i``."""


class StalenessSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport_idle_s: float = Field(default=60.0, gt=0)
    trades_idle_s: float = Field(default=300.0, gt=0)
    book_idle_s: float = Field(default=60.0, gt=0)
    bbo_idle_s: float = Field(default=60.0, gt=0)
    reconnect_after: float = Field(default=3.0, ge=1.0)


class FeedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exchange: str
    channels: list[str] = Field(min_length=1)
    """Channel kinds this feed publishes; which ones a venue offers is in its ``VenueSpec``."""
    symbols: list[str] = Field(default_factory=list)
    """Canonical ``BASE-QUOTE`` symbols; required except for sources without instruments."""
    options: dict[str, Any] = Field(default_factory=dict)
    validate_symbols: bool = True
    """Check symbols against the venue's instrument list; unknown ones are rejected (status)."""
    venue_symbols: dict[str, str] = Field(default_factory=dict)
    """Pinned canonical → venue symbol mappings (skip the instrument list for these)."""
    staleness: StalenessSettings = Field(default_factory=StalenessSettings)
    rotate_after: float | None = Field(default=None, ge=0)
    """Seconds after which a connection is replaced make-before-break (a new one subscribed
    and delivering before the old one closes; no loss, no duplicates, no book reset). Unset:
    the venue's default (Binance 82800, 23 h, before its 24 h cut; others never); 0 never.
    Venue shutdown notices (Binance ``serverShutdown``, OKX 64008) rotate regardless."""

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, exchange: str) -> str:
        if exchange not in available_venues():
            raise ValueError(
                f"unknown exchange {exchange!r}; known: {', '.join(available_venues())}"
            )
        return exchange

    @field_validator("symbols")
    @classmethod
    def _canonical(cls, symbols: list[str]) -> list[str]:
        problems = []
        for symbol in symbols:
            try:
                split_symbol(symbol)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols are listed twice")
        return symbols

    @model_validator(mode="after")
    def _venue_checks(self) -> FeedSettings:
        venue = get_venue(self.exchange)
        if venue.symbolless and self.symbols:
            raise ValueError(f"{self.exchange} has no instruments: leave symbols out")
        if not venue.symbolless and not self.symbols:
            raise ValueError(f"{self.exchange} needs at least one symbol")
        private = set(self.channels) & venue.private_channels
        if private and set(self.channels) - venue.private_channels:
            raise ValueError(
                f"private channels {sorted(private)} need a feed of their own (own credentials "
                "and connection, published only on private:*)"
            )
        unsupported = sorted(set(self.channels) - venue.channels - venue.private_channels)
        if unsupported:
            raise ValueError(f"{self.exchange} does not offer channels {unsupported}")
        try:
            validated = venue.options_type.model_validate(self.options)
        except ValidationError as exc:
            raise ValueError("bad options: " + "; ".join(_problems(exc, "options"))) from None
        if self.rotate_after is not None and 0 < self.rotate_after < 1:
            raise ValueError("rotate_after: at least 1 second (or 0 to never rotate)")
        lifetime = venue.limits.max_connection_lifetime_s
        if self.rotate_after and lifetime is not None and self.rotate_after >= lifetime:
            raise ValueError(
                f"rotate_after: {self.rotate_after:g} s is not before {self.exchange}'s "
                f"connection lifetime of {lifetime:g} s (leave room for the replacement to sync)"
            )
        # keep the validated values: secrets become SecretStr, so no repr shows them
        self.options = {key: getattr(validated, key) for key in self.options}
        return self

    def rotation_after_s(self) -> float | None:
        """The effective rotation age: ``rotate_after``, else the venue's; None never."""
        if self.rotate_after is None:
            return get_venue(self.exchange).rotate_after_s
        return self.rotate_after or None

    def venue_options(self) -> Any:
        return get_venue(self.exchange).options_type.model_validate(self.options)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FEEDGATE_", env_nested_delimiter="__", extra="forbid"
    )

    redis: RedisSettings = Field(default_factory=RedisSettings)
    streams: StreamsSettings = Field(default_factory=StreamsSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    feeds: list[FeedSettings] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the file's values come in as init kwargs; the environment must win over them
        return env_settings, init_settings, file_secret_settings


def _problems(error: ValidationError, prefix: str = "") -> list[str]:
    out = []
    for item in error.errors():
        where = (
            ".".join(
                [prefix, *(str(part) for part in item["loc"])]
                if prefix
                else [str(part) for part in item["loc"]]
            )
            or "(top level)"
        )
        out.append(f"{where}: {item['msg']}")
    return out


def build_settings(data: dict[str, Any]) -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def load_settings(path: str | Path | None) -> Settings:
    """Read the TOML file (if any) and the environment; raise ConfigError listing all problems."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError([f"config file {path} does not exist"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return build_settings(data)
