"""Configuration (design §2.4): a TOML file plus ``FEEDGATE_`` environment overrides.

Nested fields use ``__`` in the environment (``FEEDGATE_REDIS__URL``); the environment wins over
the file. A bad config raises ``ConfigError`` listing every problem with its field path; the CLI
turns that into exit code 2 before anything starts.
"""

from __future__ import annotations

import os
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
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from feedgate import redact
from feedgate.channels import MARKET_CHANNELS, split_symbol
from feedgate.errors import ConfigError
from feedgate.protocol.base import ConnectionSpec, Topic
from feedgate.runtime.redis_target import SCHEMES, parse_redis_url
from feedgate.runtime.transport import TransportKind, picows_available
from feedgate.secrets import Secret
from feedgate.tls import TlsOptions
from feedgate.venues import available_venues, get_venue
from feedgate.venues.spec import VenueSpec

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


def _venue_of(info: ValidationInfo) -> VenueSpec | None:
    """The feed's venue, for the checks that depend on it: None when ``exchange`` failed."""
    exchange = info.data.get("exchange")
    return get_venue(exchange) if exchange is not None else None


class FeedSettings(BaseModel):
    """A feed's checks each belong to the field they judge, so they all run and a feed with
    several problems lists every one (a model validator would run only once all fields passed).
    Those that depend on the venue run once ``exchange`` is known (``info.data`` holds the
    fields validated before, in declaration order)."""

    model_config = ConfigDict(extra="forbid")

    exchange: str
    channels: list[str] = Field(min_length=1)
    """Channel kinds this feed publishes; which ones a venue offers is in its ``VenueSpec``."""
    symbols: list[str] = Field(default_factory=list, validate_default=True)
    """Canonical ``BASE-QUOTE`` symbols; required except for sources without instruments."""
    options: dict[str, Any] = Field(default_factory=dict, validate_default=True)
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

    @field_validator("channels")
    @classmethod
    def _offered(cls, channels: list[str], info: ValidationInfo) -> list[str]:
        venue = _venue_of(info)
        if venue is None:
            return channels
        problems = []
        unsupported = sorted(set(channels) - venue.channels - venue.private_channels)
        if unsupported:
            problems.append(f"{venue.name} does not offer channels {unsupported}")
        private = set(channels) & venue.private_channels
        if private and set(channels) - venue.private_channels:
            problems.append(
                f"private channels {sorted(private)} need a feed of their own (own credentials "
                "and connection, published only on private:*)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return channels

    @field_validator("symbols")
    @classmethod
    def _canonical(cls, symbols: list[str], info: ValidationInfo) -> list[str]:
        problems = []
        for symbol in symbols:
            try:
                split_symbol(symbol)
            except ValueError as exc:
                problems.append(str(exc))
        if len(set(symbols)) != len(symbols):
            problems.append("symbols are listed twice")
        venue = _venue_of(info)
        if venue is not None and venue.symbolless and symbols:
            problems.append(f"{venue.name} has no instruments: leave symbols out")
        if venue is not None and not venue.symbolless and not symbols:
            problems.append(f"{venue.name} needs at least one symbol")
        if problems:
            raise ValueError("; ".join(problems))
        return symbols

    @field_validator("options")
    @classmethod
    def _venue_options(cls, options: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        venue = _venue_of(info)
        if venue is None:
            return options
        try:
            validated = venue.options_type.model_validate(options)
        except ValidationError as exc:
            raise ValueError("bad options: " + "; ".join(_problems(exc, "options"))) from None
        # keep the validated values: secrets become SecretStr, so no repr shows them
        return {key: getattr(validated, key) for key in options}

    @field_validator("rotate_after")
    @classmethod
    def _before_the_venue_cuts(
        cls, rotate_after: float | None, info: ValidationInfo
    ) -> float | None:
        if rotate_after is not None and 0 < rotate_after < 1:
            raise ValueError("at least 1 second (or 0 to never rotate)")
        venue = _venue_of(info)
        lifetime = venue.limits.max_connection_lifetime_s if venue is not None else None
        if rotate_after and lifetime is not None and rotate_after >= lifetime:
            raise ValueError(
                f"{rotate_after:g} s is not before {venue.name if venue else ''}'s connection "
                f"lifetime of {lifetime:g} s (leave room for the replacement to sync)"
            )
        return rotate_after

    @model_validator(mode="after")
    def _protocol_accepts(self) -> FeedSettings:
        """What only the venue's protocol knows (Upbit: private channels need both keys) would
        otherwise fail in every worker after start, and again after each restart: build it
        once here, as a worker would (protocols are pure: nothing connects)."""
        venue = get_venue(self.exchange)
        symbols = [""] if venue.symbolless else self.symbols
        topics = tuple(Topic(c, s) for s in symbols for c in self.channels)
        mapping = {s: self.venue_symbols.get(s) or venue.venue_symbol(s) for s in self.symbols}
        spec = ConnectionSpec("config-check", topics, mapping)
        venue.make_protocol(spec, self.venue_options())  # a ValueError names the problem
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
    transport: TransportKind = "auto"
    """The venue WebSocket client: ``picows`` (frames parsed in C, the fast path),
    ``websockets`` (pure Python, the reference), or ``auto``: picows when it is installed.
    ``FEEDGATE_TRANSPORT`` sets it from the environment, as every setting."""

    @field_validator("feeds")
    @classmethod
    def _one_feed_per_channel(cls, feeds: list[FeedSettings]) -> list[FeedSettings]:
        """Two feeds publishing one market channel (the same kind, exchange and symbol) would
        interleave two streams under one ``seq``, and two books into one: refused. Bybit spot
        and linear both publish as ``bybit``, so they cannot carry the same symbol."""
        first: dict[str, int] = {}
        problems = []
        for index, feed in enumerate(feeds):
            venue = get_venue(feed.exchange)
            if venue.symbolless:
                continue
            for kind in feed.channels:
                if kind in venue.private_channels:
                    continue  # private:* channels are per account and have their own checks
                for symbol in feed.symbols:
                    channel = MARKET_CHANNELS[kind](feed.exchange, symbol)
                    earlier = first.setdefault(channel, index)
                    if earlier != index:
                        problems.append(f"feeds {earlier} and {index} both publish {channel}")
        if problems:
            raise ValueError("; ".join(problems))
        return feeds

    @field_validator("transport")
    @classmethod
    def _transport_installed(cls, kind: TransportKind) -> TransportKind:
        if kind == "picows" and not picows_available():
            raise ValueError("picows is not installed (pip install picows), use auto or websockets")
        return kind

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
        return _Environment(settings_cls), init_settings, file_secret_settings


class _Environment(EnvSettingsSource):
    """The ``FEEDGATE_`` variables. One that should hold JSON (``FEEDGATE_FEEDS``,
    ``FEEDGATE_REDIS``) and does not is passed on as text, for validation to report with every
    other problem: pydantic-settings would raise at once, with a traceback and no field."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return value


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
        source = "" if prefix else _variable(item["loc"])
        out.append(f"{where}: {item['msg']}" + (f" (from {source})" if source else ""))
    return out


def _variable(loc: tuple[int | str, ...]) -> str | None:
    """The ``FEEDGATE_`` variable that set the field at ``loc`` (or the object holding it), if
    one is set: the environment wins over the file, so a problem there is the variable's."""
    names = {name.upper() for name in os.environ}
    for end in range(len(loc), 0, -1):
        name = "FEEDGATE_" + "__".join(str(part) for part in loc[:end]).upper()
        if name in names:
            return name
    return None


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
