"""`POST /v1/events`: CloudEvents in (structured, batch or binary mode), per-event answers out."""

from __future__ import annotations

from aiohttp import web

from services.collector.cloudevents import BodyError, Item, from_binary, is_binary, split_structured
from services.collector.intake import Accepted, answer, check_all, status_of
from services.collector.keys import SIGNATURE_HEADER as SIGNATURE
from services.collector.keys import Client, origin_problem, signature_problem
from services.collector.responses import error, json_response, kafka_unavailable, presented_key, read_body
from services.collector.state import COLLECTOR, Collector


def _refused(collector: Collector, reason: str, response: web.Response) -> web.Response:
    collector.metrics.auth_failures.labels(reason).inc()
    return response


def authenticate(request: web.Request, collector: Collector) -> Client | web.Response:
    """Return the client a request's key belongs to, or the 401/403 answer."""
    key, in_url = presented_key(request)
    if not key:
        message = "missing API key: send Authorization: Bearer <key>"
        return _refused(collector, "missing_key", error(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"}))
    client = collector.config.keys.identify(key)
    if client is None:
        return _refused(collector, "invalid_key", error(401, "unauthorized", "invalid API key"))
    if in_url and not client.grant.browser:
        message = "this key may not be sent in the URL; send Authorization: Bearer <key>"
        return _refused(collector, "key_in_url", error(401, "unauthorized", message))
    problem = origin_problem(client.grant, request.headers.get("Origin"))
    if problem:
        return _refused(collector, "origin", error(403, "forbidden", problem))
    return client


def _items(request: web.Request, body: bytes) -> list[Item]:
    if is_binary(request.headers):
        return [Item(from_binary(request.headers, body))]
    return split_structured(body, request.headers.get("Content-Type"))


async def post_events(request: web.Request) -> web.Response:
    """Validate and produce one CloudEvent or a batch; answer per event."""
    collector = request.app[COLLECTOR]
    settings = collector.config.settings
    client = authenticate(request, collector)
    if isinstance(client, web.Response):
        return client
    body = await read_body(request, settings.max_body_bytes)
    if isinstance(body, web.Response):
        return body
    if client.grant.hmac_secret is not None:
        secret = client.grant.hmac_secret.get_secret_value()
        header = request.headers.get(SIGNATURE)
        problem = signature_problem(secret, header, body, collector.clock(), settings.signature_max_age)
        if problem:
            return _refused(collector, "signature", error(401, "bad_signature", problem))
    try:
        items = _items(request, body)
    except BodyError as exc:
        return error(exc.status, exc.code, str(exc))
    if len(items) > settings.max_batch:
        return error(413, "batch_too_large", f"the batch holds {len(items)} events; at most {settings.max_batch}")
    checked = check_all(items, client, collector.config.names, collector.accepted_times())
    if any(isinstance(o, Accepted) for o in checked) and not collector.gate.ready:
        return kafka_unavailable()
    outcomes = await collector.produce(checked)
    collector.count(outcomes)
    status = status_of(outcomes)
    return json_response(status, answer(outcomes), {"Retry-After": "5"} if status == 503 else None)
