"""`POST /v1/hubspot`: HubSpot webhook deliveries, signature-checked, mapped to leadflow events and produced."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from services.collector.cloudevents import Item
from services.collector.hubspot import Delivery, Mapped, Skipped, Translation, map_delivery
from services.collector.hubspot_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, v3_problem
from services.collector.intake import Accepted, Failed, Outcome, Rejected, check_event
from services.collector.responses import error, json_response, kafka_unavailable, read_body
from services.collector.state import COLLECTOR, Collector

Answered = Outcome | Skipped


def _deliveries(body: bytes) -> list[Delivery | str] | web.Response:
    """Parse the JSON array HubSpot sends into deliveries (or, per element, why it is not one)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return error(400, "invalid_json", f"the body is not JSON: {exc}")
    if not isinstance(document, list):
        return error(400, "invalid_body", "expected the JSON array of deliveries HubSpot sends")
    parsed: list[Delivery | str] = []
    for element in document:
        try:
            parsed.append(Delivery.model_validate(element))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            parsed.append(f"not a HubSpot delivery: {'.'.join(map(str, first['loc'])) or 'item'}: {first['msg']}")
    return parsed


def _translate(collector: Collector, deliveries: list[Delivery | str]) -> list[Translation | str]:
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


def _result(index: int, delivery: Delivery | str, outcome: Answered) -> dict[str, Any]:
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
    body = await read_body(request, collector.config.settings.max_body_bytes)
    if isinstance(body, web.Response):
        return body
    problem = _signature_problem(request, collector, secret.get_secret_value(), body)
    if problem:
        collector.metrics.auth_failures.labels("hubspot_signature").inc()
        return error(401, "bad_signature", problem)
    deliveries = _deliveries(body)
    if isinstance(deliveries, web.Response):
        return deliveries
    if len(deliveries) > collector.config.settings.max_batch:
        return error(
            413, "batch_too_large", f"{len(deliveries)} deliveries; at most {collector.config.settings.max_batch}"
        )
    checked = [_check(i, t, collector) for i, t in enumerate(_translate(collector, deliveries))]
    if any(isinstance(o, Accepted) for o in checked) and not collector.gate.ready:
        return kafka_unavailable()
    events = await collector.produce([o for o in checked if not isinstance(o, Skipped)])
    by_index = {o.index: o for o in events}
    answered: list[Answered] = [o if isinstance(o, Skipped) else by_index[o.index] for o in checked]
    return _answer(collector, deliveries, answered)


def _answer(collector: Collector, deliveries: list[Delivery | str], answered: list[Answered]) -> web.Response:
    for outcome in answered:
        kind = {Accepted: "mapped", Skipped: "ignored", Rejected: "rejected", Failed: "failed"}[type(outcome)]
        collector.metrics.hubspot.labels(kind).inc()
    collector.count([o for o in answered if not isinstance(o, Skipped)])
    results = [_result(i, d, o) for i, (d, o) in enumerate(zip(deliveries, answered, strict=True))]
    counts = {s: sum(r["status"] == s for r in results) for s in ("accepted", "ignored", "rejected", "failed")}
    failed = counts["failed"] > 0
    return json_response(
        503 if failed else 200, {**counts, "results": results}, {"Retry-After": "5"} if failed else None
    )
