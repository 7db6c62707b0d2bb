"""The collector's own settings (LEADFLOW_COLLECTOR_*), and what they load at start-up: keys, HubSpot tables."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.settings import ConfigError, Settings, load_settings
from pipelines.topics import TopicNames
from schemas.events import MAX_EVENT_BYTES
from services.collector.hubspot_table import DEFAULT_TABLE, StageTable, load_deal_contacts, load_stage_table
from services.collector.keys import KeyRing, load_keyring
from services.collector.ratelimit import parse_rate

PREFIX = "LEADFLOW_COLLECTOR_"


def _check_public_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError("expected the URL HubSpot calls, e.g. https://collector.example.com")
    return value.rstrip("/") if value else value


def _check_rate(value: str) -> str:
    parse_rate(value)
    return value


def _check_networks(value: str) -> str:
    for item in filter(None, (part.strip() for part in value.split(","))):
        ip_network(item, strict=False)  # ValueError names the item
    return value


Rate = Annotated[str, AfterValidator(_check_rate)]


class CollectorSettings(BaseSettings):
    """Configuration of `leadflow collector`; see docs/collector.md."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8088, ge=1, le=65535)
    keys_file: Path | None = None
    max_body_bytes: int = Field(default=MAX_EVENT_BYTES, ge=1024, le=64 * 1_048_576)
    max_batch: int = Field(default=500, ge=1, le=10_000)
    produce_timeout: float = Field(default=4.0, gt=0, le=60)
    signature_max_age: int = Field(default=300, ge=10, le=3600)
    rate_limit: Rate = "100/second"
    failure_limit: Rate = "20/minute"
    read_timeout: float = Field(default=10.0, gt=0, le=300)
    trusted_proxies: Annotated[str, AfterValidator(_check_networks)] = ""
    public_url: Annotated[str | None, AfterValidator(_check_public_url)] = None
    hubspot_client_secret: SecretStr | None = None
    hubspot_stage_map: Path | None = None
    hubspot_deals_file: Path | None = None
    hubspot_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


@dataclass(frozen=True)
class CollectorConfig:
    """Everything the collector needs, loaded and checked once at start-up."""

    settings: CollectorSettings
    leadflow: Settings
    keys: KeyRing
    stage_table: StageTable
    deal_contacts: dict[int, int]

    @property
    def proxies(self) -> list[str]:
        """Return the addresses or networks of the trusted reverse proxy (empty: callers connect directly)."""
        return [p.strip() for p in self.settings.trusted_proxies.split(",") if p.strip()]

    @property
    def names(self) -> TopicNames:
        """Return the deployment's topic names."""
        return TopicNames(self.leadflow.topic_prefix)


def load_collector_settings(**overrides: Any) -> CollectorSettings:
    """Build the collector settings from the environment (and flags), or raise ConfigError with one line."""
    try:
        return CollectorSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        shown = "***" if field == "hubspot_client_secret" else repr(first.get("input"))
        raise ConfigError(f"{PREFIX}{field.upper()}: {first['msg']} (got {shown})") from None


def read_document(path: Path, variable: str) -> Any:
    """Read a YAML or JSON file (JSON is YAML), or raise ConfigError naming the variable."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{PREFIX}{variable}: cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{PREFIX}{variable}: {path} is not UTF-8 (byte {exc.start}: {exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{PREFIX}{variable}: {path} is not YAML/JSON ({str(exc).splitlines()[0]})") from None


def _loaded(variable: str, path: Path, loader: Any) -> Any:
    try:
        return loader(read_document(path, variable))
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{variable}: {path}: {exc}") from None


def load_collector_config(**overrides: Any) -> CollectorConfig:
    """Load every setting and file the collector needs, or raise ConfigError with one clear line."""
    settings = load_collector_settings(**overrides)
    leadflow = load_settings()
    if settings.keys_file is None and settings.hubspot_client_secret is None:
        raise ConfigError(
            f"{PREFIX}KEYS_FILE: not set, and no {PREFIX}HUBSPOT_CLIENT_SECRET either: nothing would be accepted"
        )
    keys = _loaded("KEYS_FILE", settings.keys_file, load_keyring) if settings.keys_file else KeyRing(())
    table = DEFAULT_TABLE
    if settings.hubspot_stage_map is not None:
        table = _loaded("HUBSPOT_STAGE_MAP", settings.hubspot_stage_map, load_stage_table)
    deals: dict[int, int] = {}
    if settings.hubspot_deals_file is not None:
        deals = _loaded("HUBSPOT_DEALS_FILE", settings.hubspot_deals_file, load_deal_contacts)
    return CollectorConfig(settings, leadflow, keys, table, deals)
