"""Per-source API keys (stored as SHA-256 hashes, compared in constant time) and what each may send."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from schemas.events import EVENT_MODELS
from services.collector.ratelimit import parse_rate

HEX64 = r"^[0-9a-f]{64}$"


class Grant(BaseModel):
    """What one source's key may do: which event types and CloudEvent sources, from where, signed or not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_sha256: Annotated[str, Field(pattern=HEX64)]
    hmac_secret: SecretStr | None = None
    browser: bool = False
    types: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    origins: tuple[str, ...] | None = None
    rate_limit: str | None = None

    @field_validator("rate_limit")
    @classmethod
    def _readable_rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = sorted(set(value or ()) - set(EVENT_MODELS))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {sorted(EVENT_MODELS)}")
        return value


@dataclass(frozen=True)
class Client:
    """A caller identified by its key: the source name of the key file and its grant."""

    name: str
    grant: Grant


@dataclass(frozen=True)
class KeyRing:
    """Every configured key, by source name."""

    clients: tuple[Client, ...]

    def identify(self, presented: str) -> Client | None:
        """Return the client whose key hash matches; every entry is compared, in constant time each."""
        digest = hash_key(presented)
        found: Client | None = None
        for client in self.clients:
            if hmac.compare_digest(digest, client.grant.key_sha256):
                found = client
        return found


def hash_key(key: str) -> str:
    """Return the SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(source: str) -> str:
    """Return a fresh random key (256 bits) that names its source for the humans who handle it."""
    return f"lf_{source}_{secrets.token_urlsafe(32)}"


def load_keyring(document: Any) -> KeyRing:
    """Build the key ring from a parsed key file (`{source: {key_sha256: ..., ...}}`); ValueError if it is wrong."""
    if not isinstance(document, Mapping) or not document:
        raise ValueError("expected a mapping of source name to {key_sha256: ..., ...}")
    clients = []
    for name, entry in document.items():
        try:
            clients.append(Client(str(name), Grant.model_validate(entry)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (name, *first["loc"]))
            raise ValueError(f"{where}: {first['msg']}") from None
    hashes = [c.grant.key_sha256 for c in clients]
    if len(set(hashes)) != len(hashes):
        raise ValueError("two sources share one key hash; give every source its own key")
    return KeyRing(tuple(clients))


def _matches(value: str, patterns: tuple[str, ...]) -> bool:
    """Say whether a value is one of the patterns (`prefix*` matches by prefix)."""
    return any(value.startswith(p[:-1]) if p.endswith("*") else value == p for p in patterns)


def event_problem(grant: Grant, client_name: str, event_type: str, source: str) -> str | None:
    """Return why this key may not send an event of this type and source, or None when it may."""
    if grant.types is not None and event_type not in grant.types:
        return f"type {event_type} is not allowed for key {client_name}"
    if grant.sources is not None and not _matches(source, grant.sources):
        return f"source {source} is not allowed for key {client_name}"
    return None


def origin_problem(grant: Grant, origin: str | None) -> str | None:
    """Return why a browser's Origin is refused for this key, or None (no list, or no Origin header)."""
    if grant.origins is None or origin is None or origin in grant.origins:
        return None
    return f"origin {origin} is not allowed for this key"
