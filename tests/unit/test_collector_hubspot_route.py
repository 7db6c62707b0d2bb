"""`POST /v1/hubspot`: signature checks and per-delivery answers, exactly, with a fake way to Kafka."""

from __future__ import annotations

from typing import Any

import orjson

from services.collector.hubspot_signature import signature_v3
from tests.unit.test_collector_app import NOW, Answer, FakeGate, call, calls, config
from tests.unit.test_hubspot_mapping import CONTACT_CREATED, LIFECYCLE

URL = "https://collector.example.com/v1/hubspot"


def hubspot(gate: FakeGate, body: bytes, secret: str = "hubspot-secret", age_ms: int = 1000, **cfg: Any) -> Answer:
    stamp = str(int(NOW * 1000) - age_ms)
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature_v3(secret, "POST", URL, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-Version": "v3",
    }
    return call(gate, "POST", "/v1/hubspot", config(**cfg) if cfg else None, data=body, headers=headers)


def test_signed_deliveries_are_mapped_and_answered_per_delivery() -> None:
    gate = FakeGate()
    unknown = {**LIFECYCLE, "eventId": 2, "propertyValue": "1234567"}
    body = orjson.dumps([LIFECYCLE, CONTACT_CREATED, unknown, {"eventId": "x"}])
    answer = hubspot(gate, body, max_batch=10)
    assert (answer.status, answer.body) == (
        200,
        {
            "accepted": 1,
            "ignored": 1,
            "rejected": 2,
            "failed": 0,
            "deadlettered": 2,
            "results": [
                {
                    "index": 0,
                    "eventId": 3816279340,
                    "id": "hubspot:33:contact.propertyChange:1246965:3816279340",
                    "status": "accepted",
                },
                {
                    "index": 1,
                    "eventId": 3816279480,
                    "status": "ignored",
                    "reason": "contact.creation is not a leadflow event",
                },
                {
                    "index": 2,
                    "eventId": 2,
                    "id": None,
                    "status": "rejected",
                    "reason": "unknown lifecyclestage value '1234567': map it in LEADFLOW_COLLECTOR_HUBSPOT_STAGE_MAP",
                },
                {
                    "index": 3,
                    "eventId": None,
                    "id": None,
                    "status": "rejected",
                    "reason": "not a HubSpot delivery: eventId: Input should be a valid integer, "
                    "unable to parse string as an integer",
                },
            ],
        },
    )
    [(topic, key, value)] = gate.sent
    assert (topic, key) == ("t.leadflow.stages", b"hubspot-contact-1246965")
    assert orjson.loads(value)["data"] == {
        "lead_id": "hubspot-contact-1246965",
        "stage": "lead",
        "reason": "hubspot lifecyclestage=subscriber",
    }
    assert [(orjson.loads(value), headers["index"], headers["key"]) for value, headers in gate.dead] == [
        (unknown, "2", "hubspot"),
        ({"eventId": "x"}, "3", "hubspot"),
    ]
    assert gate.dead[0][1]["reason"].startswith("unknown lifecyclestage value '1234567'")


def test_unmapped_deliveries_not_kept_are_sent_again() -> None:
    """A delivery that maps to nothing is answered 200 only once it is on the dead-letter topic."""
    unknown = {**LIFECYCLE, "eventId": 2, "propertyValue": "1234567"}
    answer = hubspot(FakeGate(failing=True), orjson.dumps([unknown]))
    assert (answer.status, answer.body["deadlettered"], answer.body["rejected"]) == (503, 0, 1)
    assert answer.headers["Retry-After"] == "5"
    down = hubspot(FakeGate(up=False), orjson.dumps([unknown]))
    assert (down.status, down.body["error"]) == (503, "kafka_unavailable")


def test_bad_signature() -> None:
    gate = FakeGate()
    answer = hubspot(gate, orjson.dumps([LIFECYCLE]), secret="someone-else")
    assert (answer.status, answer.body) == (
        401,
        {"error": "bad_signature", "message": "X-HubSpot-Signature-v3 does not match"},
    )
    [(value, headers)] = gate.dead
    assert orjson.loads(value) == [LIFECYCLE] and gate.sent == []
    assert (headers["key"], headers["reason"], headers["route"]) == (
        "unknown",
        "X-HubSpot-Signature-v3 does not match",
        "/v1/hubspot",
    )


def test_old_timestamp() -> None:
    answer = hubspot(FakeGate(), orjson.dumps([LIFECYCLE]), age_ms=5 * 60 * 1000 + 1)
    assert (answer.status, answer.body) == (
        401,
        {"error": "bad_signature", "message": "X-HubSpot-Request-Timestamp is older than 5 minutes"},
    )


def test_unsigned() -> None:
    answer = call(FakeGate(), "POST", "/v1/hubspot", data=orjson.dumps([LIFECYCLE]))
    assert (answer.status, answer.body) == (
        401,
        {"error": "bad_signature", "message": "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp"},
    )


def test_adapter_off_without_a_secret() -> None:
    answer = hubspot(FakeGate(), b"[]", hubspot_client_secret=None)
    assert (answer.status, answer.body) == (
        404,
        {"error": "not_found", "message": "the HubSpot adapter is off: set LEADFLOW_COLLECTOR_HUBSPOT_CLIENT_SECRET"},
    )


def test_kafka_down_asks_hubspot_to_retry() -> None:
    gate = FakeGate(up=False)
    answer = hubspot(gate, orjson.dumps([LIFECYCLE]))
    assert (answer.status, answer.body) == (
        503,
        {"error": "kafka_unavailable", "message": "Kafka is unavailable; nothing was accepted, retry later"},
    )
    assert gate.sent == []


def test_not_an_array() -> None:
    answer = hubspot(FakeGate(), orjson.dumps(LIFECYCLE))
    assert (answer.status, answer.body) == (
        400,
        {"error": "invalid_body", "message": "expected the JSON array of deliveries HubSpot sends"},
    )


def test_only_signed_deliveries_spend_hubspots_budget_and_over_it_hubspot_is_told_to_retry() -> None:
    body = orjson.dumps([LIFECYCLE])
    stamp = str(int(NOW * 1000) - 1000)
    signed = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature_v3("hubspot-secret", "POST", URL, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    unsigned = ("POST", "/v1/hubspot", {"data": body})
    answers = calls(
        FakeGate(),
        [unsigned, unsigned, ("POST", "/v1/hubspot", {"data": body, "headers": signed})] * 2,
        config(rate_limit="1/minute"),
    )
    assert [a.status for a in answers] == [401, 401, 200, 401, 401, 503]
    assert (answers[5].body["error"], 1 <= int(answers[5].headers["Retry-After"]) <= 60) == ("rate_limited", True)
