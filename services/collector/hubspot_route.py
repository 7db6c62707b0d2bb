"""`POST /v1/hubspot`: HubSpot webhook deliveries, signature-checked, mapped to leadflow events and produced."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from services.collector.cloudevents import Item
from services.collector.deadletter import DeadLetter, Sender, dead_letter
from services.collector.door import address_gate, body_of, keep, key_gate, sender_of
from services.collector.hubspot import Delivery, Mapped, Skipped, Translation, map_delivery
from services.collector.hubspot_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, v3_problem
from services.collector.intake import Accepted, Failed, Outcome, Rejected, check_event
from services.collector.responses import BodyUnread, error, json_response, kafka_unavailable
from services.collector.state import COLLECTOR, Collector

Answered = Outcome | Skipped
ROUTE = "/v1/hubspot"
HUBSPOT = "hubspot"  # the name HubSpot's deliveries go by: in rate limits and dead letters


Parsed = Delivery | str


def _deliveries(body: bytes) -> list[tuple[bytes, Parsed]] | str:
    """Parse HubSpot's JSON array into (element bytes, delivery or why it is not one); a string if no array."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"the body is not JSON: {exc}"
    if not isinstance(document, list):
        return "expected the JSON array of deliveries HubSpot sends"
    return [(orjson.dumps(element), _delivery(element)) for element in document]


def _delivery(element: object) -> Parsed:
    try:
        return Delivery.model_validate(element)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return f"not a HubSpot delivery: {'.'.join(map(str, first['loc'])) or 'item'}: {first['msg']}"


def _translate(collector: Collector, deliveries: list[Parsed]) -> list[Translation | str]:
    """Learn from every delivery first (an association may come in the same request), then map each."""
    config = collector.config
    for delivery in deliveries:
        if isinstance(delivery, Delivery):
            collector.book.learn(delivery, config.stage_table)
    currency = config.settings.hubspot_currency
    return [
        map_delivery(d, config.stage_table, collector.book, currency) if isinstance(d, Delivery) else d
        for d in deliveries
    ]


def _check(index: int, translation: Translation | str, collector: Collector) -> Answered:
    if isinstance(translation, str):
        return Rejected(index, None, translation)
    if isinstance(translation, Mapped):
        item = Item(orjson.dumps(translation.event))
        return check_event(index, item, None, collector.config.names, collector.accepted_times())
    if isinstance(translation, Skipped):
        return translation
    return Rejected(index, None, translation.reason)


def _result(index: int, delivery: Parsed, outcome: Answered) -> dict[str, Any]:
    result: dict[str, Any] = {"index": index, "eventId": delivery.event_id if isinstance(delivery, Delivery) else None}
    if isinstance(outcome, Skipped):
        return {**result, "status": "ignored", "reason": outcome.reason}
    result = {**result, "id": outcome.id}
    if isinstance(outcome, Accepted):
        return {**result, "status": "accepted"}
    return {**result, "status": "rejected" if isinstance(outcome, Rejected) else "failed", "reason": outcome.reason}


def _signature_problem(request: web.Request, collector: Collector, secret: str, body: bytes) -> str | None:
    public = collector.config.settings.public_url
    uri = f"{public}{request.path_qs}" if public else str(request.url)
    headers = request.headers
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    return v3_problem(secret, request.method, uri, body, signature, timestamp, collector.clock() * 1000)


async def post_hubspot(request: web.Request) -> web.Response:
    """Check HubSpot's v3 signature, map every delivery, produce the events; answer per delivery."""
    collector = request.app[COLLECTOR]
    secret = collector.config.settings.hubspot_client_secret
    if secret is None:
        return error(404, "not_found", "the HubSpot adapter is off: set LEADFLOW_COLLECTOR_HUBSPOT_CLIENT_SECRET")
    sender = sender_of(request, ROUTE)
    # HubSpot sends a delivery again after a 5xx, not after a 4xx: every budget it may meet answers 503
    blocked = address_gate(request, sender, status=503)
    if blocked is not None:
        return blocked
    try:
        body = await body_of(request)
    except BodyUnread as exc:
        return exc.response
    problem = _signature_problem(request, collector, secret.get_secret_value(), body)
    if problem:
        collector.metrics.auth_failures.labels("hubspot_signature").inc()
        collector.limits.failed(sender.address)
        return await keep(request, body, problem, sender, error(401, "bad_signature", problem))
    # spent only once the signature holds, so that no stranger can use up HubSpot's budget
    over = key_gate(collector, HUBSPOT, None, status=503)
    return over or await _deliver(request, body, sender.named(HUBSPOT))


async def _deliver(request: web.Request, body: bytes, sender: Sender) -> web.Response:
    collector = request.app[COLLECTOR]
    parsed = _deliveries(body)
    if isinstance(parsed, str):
        code = "invalid_json" if parsed.startswith("the body is not JSON") else "invalid_body"
        return await keep(request, body, parsed, sender, error(400, code, parsed))
    limit = collector.config.settings.max_batch
    if len(parsed) > limit:
        message = f"{len(parsed)} deliveries; at most {limit}"
        return await keep(request, body, message, sender, error(413, "batch_too_large", message))
    deliveries = [d for _, d in parsed]
    checked = [_check(i, t, collector) for i, t in enumerate(_translate(collector, deliveries))]
    letters = _refused(parsed, checked, sender)
    if (letters or any(isinstance(o, Accepted) for o in checked)) and not collector.gate.ready:
        return kafka_unavailable()  # HubSpot retries: nothing is lost, nothing is half kept
    events = await collector.produce([o for o in checked if not isinstance(o, Skipped)])
    by_index = {o.index: o for o in events}
    answered: list[Answered] = [o if isinstance(o, Skipped) else by_index[o.index] for o in checked]
    kept = await collector.dead_letter(letters)
    return _answer(collector, deliveries, answered, kept, len(letters) - kept)


def _refused(parsed: list[tuple[bytes, Parsed]], checked: list[Answered], sender: Sender) -> list[DeadLetter]:
    """Return a dead letter per refused delivery: its own JSON, its index in the request, the reason."""
    return [
        dead_letter(parsed[o.index][0], o.reason, sender, {"index": str(o.index)})
        for o in checked
        if isinstance(o, Rejected)
    ]


def _answer(
    collector: Collector, deliveries: list[Parsed], answered: list[Answered], kept: int, lost: int
) -> web.Response:
    for outcome in answered:
        kind = {Accepted: "mapped", Skipped: "ignored", Rejected: "rejected", Failed: "failed"}[type(outcome)]
        collector.metrics.hubspot.labels(kind).inc()
    collector.count([o for o in answered if not isinstance(o, Skipped)])
    results = [_result(i, d, o) for i, (d, o) in enumerate(zip(deliveries, answered, strict=True))]
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "ignored", "rejected", "failed")}
    # a refused delivery is answered 200 only once it is on the dead-letter topic: else HubSpot must send it again
    retry = counts["failed"] > 0 or lost > 0
    body = {**counts, "deadlettered": kept, "results": results}
    return json_response(503 if retry else 200, body, {"Retry-After": "5"} if retry else None)
