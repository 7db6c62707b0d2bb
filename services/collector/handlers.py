"""`POST /v1/events`: CloudEvents in (structured, batch or binary mode), per-event answers out."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from services.collector.cloudevents import BodyError, Item, from_binary, is_binary, split_structured
from services.collector.deadletter import DeadLetter, Sender, dead_letter
from services.collector.door import address_gate, body_of, keep, key_gate, refuse_caller, sender_of
from services.collector.intake import Accepted, Outcome, Rejected, answer, check_all, status_of
from services.collector.keys import Client, origin_problem
from services.collector.responses import BodyUnread, error, json_response, kafka_unavailable, presented_key
from services.collector.signing import SIGNATURE_HEADER, signature_problem
from services.collector.state import COLLECTOR

ROUTE = "/v1/events"


async def _refused(
    request: web.Request, sender: Sender, label: str, reason: str, response: web.Response
) -> web.Response:
    request.app[COLLECTOR].metrics.auth_failures.labels(label).inc()
    return await refuse_caller(request, sender, reason, response)


async def authenticate(request: web.Request, sender: Sender) -> Client | web.Response:
    """Return the client a request's key belongs to, or the 401/403 answer (the body kept as a dead letter)."""
    key, in_url = presented_key(request)
    if not key:
        message = "missing API key: send Authorization: Bearer <key>"
        answer = error(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})
        return await _refused(request, sender, "missing_key", "missing API key", answer)
    client = request.app[COLLECTOR].config.keys.identify(key)
    if client is None:
        message = "invalid API key"
        return await _refused(request, sender, "invalid_key", message, error(401, "unauthorized", message))
    if in_url and not client.grant.browser:
        message = "this key may not be sent in the URL; send Authorization: Bearer <key>"
        answer = error(401, "unauthorized", message)
        return await _refused(request, sender.named(client.name), "key_in_url", message, answer)
    problem = origin_problem(client.grant, request.headers.get("Origin"))
    if problem:
        return await _refused(request, sender.named(client.name), "origin", problem, error(403, "forbidden", problem))
    return client


def _items(request: web.Request, body: bytes) -> list[Item]:
    if is_binary(request.headers):
        return [Item(from_binary(request.headers, body))]
    return split_structured(body, request.headers.get("Content-Type"))


def _signature(request: web.Request, client: Client, body: bytes) -> str | None:
    """Return why a signed key's request does not carry its signature, or None (also for unsigned keys)."""
    if client.grant.hmac_secret is None:
        return None
    collector = request.app[COLLECTOR]
    secret = client.grant.hmac_secret.get_secret_value()
    header = request.headers.get(SIGNATURE_HEADER)
    max_age = collector.config.settings.signature_max_age
    return signature_problem(secret, header, body, request.headers.items(), collector.clock(), max_age)


async def post_events(request: web.Request) -> web.Response:
    """Check the caller, read and validate one CloudEvent or a batch, produce; answer per event."""
    sender = sender_of(request, ROUTE)
    blocked = address_gate(request, sender)
    if blocked is not None:
        return blocked
    client = await authenticate(request, sender)
    if isinstance(client, web.Response):
        return client
    sender = sender.named(client.name)
    over = key_gate(request.app[COLLECTOR], client.name, sender.address if client.grant.browser else None)
    if over is not None:
        return over
    try:
        body = await body_of(request)
    except BodyUnread as exc:
        return exc.response
    problem = _signature(request, client, body)
    if problem:
        request.app[COLLECTOR].metrics.auth_failures.labels("signature").inc()
        request.app[COLLECTOR].limits.failed(sender.address)
        return await keep(request, body, problem, sender, error(401, "bad_signature", problem))
    return await _events(request, body, client, sender)


async def _events(request: web.Request, body: bytes, client: Client, sender: Sender) -> web.Response:
    collector = request.app[COLLECTOR]
    try:
        items = _items(request, body)
    except BodyError as exc:
        return await keep(request, body, str(exc), sender, error(exc.status, exc.code, str(exc)))
    limit = collector.config.settings.max_batch
    if len(items) > limit:
        message = f"the batch holds {len(items)} events; at most {limit}"
        return await keep(request, body, message, sender, error(413, "batch_too_large", message))
    checked = check_all(items, client, collector.config.names, collector.accepted_times())
    if any(isinstance(o, Accepted) for o in checked) and not collector.gate.ready:
        return kafka_unavailable()
    outcomes = await collector.produce(checked)
    collector.count(outcomes)
    kept = await collector.dead_letter(_rejected(items, outcomes, sender))
    status = status_of(outcomes)
    return json_response(status, answer(outcomes, kept), {"Retry-After": "5"} if status == 503 else None)


def _rejected(items: Sequence[Item], outcomes: Sequence[Outcome], sender: Sender) -> list[DeadLetter]:
    """Return a dead letter per rejected event: its own bytes, its index in the request, the reason."""
    return [
        dead_letter(items[o.index].raw or b"", o.reason, sender, {"index": str(o.index)})
        for o in outcomes
        if isinstance(o, Rejected)
    ]
