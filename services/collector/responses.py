"""Small HTTP helpers of the collector: JSON answers, error answers, and a body read within its limits."""

from __future__ import annotations

import asyncio
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


class BodyUnread(Exception):
    """The body was not read in full (too large, compressed, or too slow): `response` says so to the client."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


def too_many(wait: int, message: str, status: int = 429) -> web.Response:
    """Return the rate-limited answer (429 unless said otherwise), with the seconds to wait in Retry-After."""
    return error(status, "rate_limited", f"{message}; retry after {wait} s", {"Retry-After": str(wait)})


async def _chunks(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise BodyUnread(error(413, "body_too_large", f"the body exceeds {limit} bytes"))
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """Read the body within `limit` bytes and `timeout` seconds in all, or raise BodyUnread with the answer."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        message = f"Content-Encoding {encoding} is not accepted; send plain bodies"
        raise BodyUnread(error(415, "unsupported_encoding", message))
    if request.content_length is not None and request.content_length > limit:
        raise BodyUnread(error(413, "body_too_large", f"the body exceeds {limit} bytes"))
    try:
        async with asyncio.timeout(timeout):
            return await _chunks(request, limit)
    except TimeoutError:
        slow = error(408, "body_timeout", f"the body did not arrive within {timeout:g} s")
        slow.force_close()  # a client this slow may be holding the connection on purpose
        raise BodyUnread(slow) from None


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
