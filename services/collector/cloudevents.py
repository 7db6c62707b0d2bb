"""Pure converters from HTTP bodies to CloudEvents structured-mode JSON bytes, one per event (no aiohttp here).

Structured mode: a JSON object, or a JSON array of them (batch). Binary mode (CloudEvents HTTP binding):
the attributes in `ce-*` headers, the body is `data`. A single structured event is passed on byte for byte;
events of a batch or of binary mode are re-encoded, so JSON numbers beyond double precision should be sent
as strings there (the schema accepts `amount` as a string).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

import orjson

JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json", "text/plain")


class BodyError(Exception):
    """The body cannot be read as events at all: the message says why (an HTTP 400 or 415)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Item:
    """One element of a body: its JSON bytes (None if they cannot be had), and why it is no event, if it is not."""

    raw: bytes | None
    problem: str | None = None


def media_type(content_type: str | None) -> str:
    """Return the lower-case media type of a Content-Type header, without parameters."""
    return (content_type or "").split(";")[0].strip().lower()


def is_binary(headers: Mapping[str, str]) -> bool:
    """Say whether a request carries a CloudEvent in binary mode (a `ce-specversion` header)."""
    return "ce-specversion" in {k.lower() for k in headers}


def split_structured(body: bytes, content_type: str | None) -> list[Item]:
    """Split a structured-mode body (one event or a JSON array of events) into items."""
    kind = media_type(content_type)
    if kind and kind not in JSON_TYPES:
        raise BodyError(415, "unsupported_media_type", f"Content-Type {kind} is not one of {', '.join(JSON_TYPES)}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if isinstance(document, dict):
        return [Item(body)]
    if not isinstance(document, list):
        raise BodyError(400, "invalid_body", "expected a CloudEvent object or a JSON array of them")
    if not document:
        raise BodyError(400, "empty_batch", "the batch holds no event")
    return [_item(e) for e in document]


def _item(element: object) -> Item:
    """One batch element as its own JSON bytes, or why it cannot be."""
    try:
        raw = orjson.dumps(element)
    except orjson.JSONEncodeError:
        return Item(None, "nested too deeply")
    return Item(raw) if isinstance(element, dict) else Item(raw, "not a JSON object")


def from_binary(headers: Mapping[str, str], body: bytes) -> bytes:
    """Turn a binary-mode request (ce-* headers, body = data) into structured-mode JSON bytes."""
    document: dict[str, object] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("ce-") and len(lower) > 3:
            # the HTTP binding percent-encodes header values outside printable ASCII
            document[lower[3:]] = unquote(value)
    kind = media_type(headers.get("Content-Type") or headers.get("content-type"))
    if body:
        if kind and not (kind == "application/json" or kind.endswith("+json")):
            raise BodyError(415, "unsupported_media_type", f"binary-mode data must be JSON, got {kind}")
        try:
            document["data"] = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, "invalid_json", f"the body (the event's data) is not JSON: {exc}") from None
    if kind:
        document.setdefault("datacontenttype", kind)
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        raise BodyError(400, "invalid_json", "the body (the event's data) is nested too deeply") from None
