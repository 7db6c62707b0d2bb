"""Small HTTP helpers of the collector: JSON answers, error answers, and a body read within its limit."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """Return a JSON response."""
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Return an error answer: `{"error": code, "message": message}`."""
    return json_response(status, {"error": code, "message": message}, headers)


def kafka_unavailable() -> web.Response:
    """Return the 503 answer given when Kafka cannot keep what was sent."""
    message = "Kafka is unavailable; nothing was accepted, retry later"
    return error(503, "kafka_unavailable", message, {"Retry-After": "5"})


async def read_body(request: web.Request, limit: int) -> bytes | web.Response:
    """Read the body, or return the 413/415 answer when it is too large or encoded."""
    too_large = error(413, "body_too_large", f"the body exceeds {limit} bytes")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return error(415, "unsupported_encoding", f"Content-Encoding {encoding} is not accepted; send plain bodies")
    if request.content_length is not None and request.content_length > limit:
        return too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)


def presented_key(request: web.Request, browser_ok: bool = True) -> tuple[str | None, bool]:
    """Return the API key a request presents and whether it came in the URL (`?key=`, for browsers)."""
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip(), False
    if "X-Leadflow-Key" in request.headers:
        return request.headers["X-Leadflow-Key"].strip(), False
    if browser_ok and "key" in request.query:
        return request.query["key"], True
    return None, False
