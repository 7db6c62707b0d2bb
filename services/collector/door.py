"""The steps every collector route takes around its events.

The caller's address, its budgets, the body read within its limits, and refusals kept on the dead-letter topic.
"""

from __future__ import annotations

from aiohttp import web

from services.collector.deadletter import UNKNOWN_KEY, Sender, whole_request
from services.collector.responses import BodyUnread, read_body, too_many
from services.collector.state import COLLECTOR, Collector


def sender_of(request: web.Request, route: str) -> Sender:
    """Return who sent a request (no key recognised yet) and where to; the address a trusted proxy vouches for."""
    return Sender(UNKNOWN_KEY, route, request.remote or "unknown")


def address_gate(request: web.Request, sender: Sender, status: int = 429) -> web.Response | None:
    """Return the rate-limited answer when the caller's address has used up its failed attempts, else None."""
    collector = request.app[COLLECTOR]
    wait = collector.limits.address_blocked(sender.address)
    if wait is None:
        return None
    collector.metrics.rate_limited.labels("address").inc()
    return too_many(wait, "too many failed attempts from this address", status)


def key_gate(collector: Collector, name: str, address: str | None, status: int = 429) -> web.Response | None:
    """Return the rate-limited answer when a key is over its rate (browser keys: at this address), else None."""
    wait = collector.limits.key_over(name, address)
    if wait is None:
        return None
    collector.metrics.rate_limited.labels("key").inc()
    return too_many(wait, f"key {name} is over its rate limit", status)


async def body_of(request: web.Request) -> bytes:
    """Read the body within the collector's size and time limits, or raise BodyUnread with the answer."""
    settings = request.app[COLLECTOR].config.settings
    return await read_body(request, settings.max_body_bytes, settings.read_timeout)


async def keep(request: web.Request, body: bytes, reason: str, sender: Sender, answer: web.Response) -> web.Response:
    """Dead-letter a request refused whole (its body, its `ce-*` headers) and return the answer."""
    letter = whole_request(body, reason, sender, request.headers.items())
    await request.app[COLLECTOR].dead_letter([letter])
    return answer


async def refuse_caller(request: web.Request, sender: Sender, reason: str, answer: web.Response) -> web.Response:
    """Spend a failed attempt of the caller's address, then read the body and keep it with the reason."""
    request.app[COLLECTOR].limits.failed(sender.address)
    try:
        body = await body_of(request)
    except BodyUnread as exc:
        if exc.response.status == 408:
            answer.force_close()
        return answer
    return await keep(request, body, reason, sender, answer)
