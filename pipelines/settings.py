"""The one settings object of a leadflow process, read from the environment and validated at start-up."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.core.model import EventTimes


class ConfigError(Exception):
    """Invalid configuration: the message names the variable and what is wrong."""


def _check_store(value: str) -> str:
    if value.startswith("chdb:"):
        if not value[len("chdb:") :]:
            raise ValueError("chdb: needs a path, e.g. chdb:./data/chdb")
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected chdb:PATH or http(s)://user:password@host:port/database")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    return value


def _check_bootstrap(value: str) -> str:
    for server in value.split(","):
        host, _, port = server.strip().rpartition(":")
        if not host or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
    return value


def _seconds_or_iso(value: object) -> object:
    """Read a duration given as a number of seconds ("900") as well as in ISO 8601 ("PT15M")."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


def _check_token(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    token = value.get_secret_value()
    if not 32 <= len(token) <= 512 or not all(c.isascii() and c.isprintable() and not c.isspace() for c in token):
        raise ValueError("expected 32 to 512 visible ASCII characters, e.g. from `openssl rand -base64 48`")
    return value


def _check_grafana_token(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    token = value.get_secret_value()
    # it travels in an HTTP header: visible ASCII only, so it can neither break the header nor add one
    if not 16 <= len(token) <= 1024 or not all(c.isascii() and c.isprintable() and not c.isspace() for c in token):
        raise ValueError("expected a Grafana service-account token (glsa_…): 16 to 1024 visible ASCII characters")
    return value


class Settings(BaseSettings):
    """Configuration of every leadflow command; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="LEADFLOW_", frozen=True, extra="ignore")

    kafka_bootstrap: Annotated[str, AfterValidator(_check_bootstrap)] = "127.0.0.1:9092"
    store: Annotated[str, AfterValidator(_check_store)] = "chdb:./data/chdb"
    agreements: Path = Path("./agreements")
    owners: Path = Path("./owners.yaml")  # owners' calendars and teams; none: every clock counts its agreement's hours
    topic_prefix: str = ""
    partitions: int = Field(default=8, ge=1, le=1024)
    replication: int = Field(default=1, ge=1, le=16)
    app_id: str = Field(default="leadflow", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    state_dir: Path = Path("./data/faust")
    sink_batch_rows: int = Field(default=20_000, ge=1)
    sink_interval: float = Field(default=1.0, gt=0, le=60)
    log_level: str = Field(default="WARNING", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    earliest_event_time: AwareDatetime = datetime(2000, 1, 1, tzinfo=UTC)
    max_clock_skew: Duration = Field(default=timedelta(minutes=15), ge=timedelta(0))
    # a lead's or visitor's state larger than this is not written (Kafka refuses messages over about 1 MB)
    max_state_bytes: int = Field(default=900_000, ge=1024, le=100_000_000)
    store_token: Annotated[SecretStr | None, AfterValidator(_check_token)] = None
    store_query_timeout: float = Field(default=30.0, gt=0, le=3600)
    store_query_memory: int = Field(default=2 * 1024**3, ge=64 * 1024**2)
    store_query_result_rows: int = Field(default=1_000_000, ge=1)
    grafana_token: Annotated[SecretStr | None, AfterValidator(_check_grafana_token)] = None

    @property
    def event_times(self) -> EventTimes:
        """Return the event times every door accepts."""
        return EventTimes(self.earliest_event_time.astimezone(UTC), self.max_clock_skew)

    @property
    def chdb_path(self) -> Path | None:
        """Return the embedded store's directory, or None for a ClickHouse server."""
        if not self.store.startswith("chdb:"):
            return None
        return Path(self.store[len("chdb:") :]).resolve()

    def server(self) -> tuple[str, str, int, str, SecretStr, str]:
        """Return (scheme, host, port, user, password, database) of a ClickHouse server store."""
        parts = urlsplit(self.store)
        secure = parts.scheme == "https"
        database = parts.path.strip("/") or "default"
        password = SecretStr(unquote(parts.password or ""))
        port = parts.port or (8443 if secure else 8123)
        return parts.scheme, parts.hostname or "", port, unquote(parts.username or "default"), password, database


_SECRETS = frozenset({"store_token", "grafana_token"})


def _redacted(value: object) -> object:
    """Hide the password of a URL before it is shown."""
    if not isinstance(value, str):
        return value
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", value)


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (and flag overrides), or raise ConfigError with one clear line."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        shown = _redacted(first.get("input")) if field == "store" else first.get("input")
        if field in _SECRETS:
            shown = "***"  # a secret is never echoed
        raise ConfigError(f"LEADFLOW_{field.upper()}: {first['msg']} (got {shown!r})") from None
