"""The collector's doors, exactly, with a fake way to Kafka: refusals kept, signatures over identity, limits."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from services.collector.signing import sign
from tests.unit.test_collector_app import (
    HMAC_SECRET,
    NOW,
    SIGNED_KEY,
    WEB_KEY,
    FakeGate,
    bearer,
    call,
    calls,
    config,
    lifecycle,
    visit,
)


def test_refused_callers_are_dead_lettered_with_the_key_they_presented() -> None:
    gate = FakeGate()
    body = orjson.dumps(visit())
    wrong = call(gate, "POST", "/v1/events", data=body, headers=bearer("lf_crm_wrong"))
    foreign = {"Origin": "http://evil.test", "Content-Type": "text/plain"}
    call(gate, "POST", f"/v1/events?key={WEB_KEY}", data=body, headers=foreign)
    assert wrong.status == 401 and gate.sent == []
    assert [(v, h["key"], h["reason"], h["source"], h["route"]) for v, h in gate.dead] == [
        (body, "unknown", "invalid API key", "collector", "/v1/events"),
        (body, "website", "origin http://evil.test is not allowed for this key", "collector", "/v1/events"),
    ]


def binary_headers(key: str, **attributes: str) -> dict[str, str]:
    ce = {"specversion": "1.0", "id": "b1", "source": "/crm/x", "type": "crm.lifecycle_changed", **attributes}
    headers = {f"ce-{name}": value for name, value in ce.items()}
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}


def test_a_signed_binary_request_replayed_with_another_id_or_time_is_refused() -> None:
    body = b'{"lead_id": "lead-1", "stage": "sql"}'
    original = binary_headers(SIGNED_KEY, time="2026-11-02T09:00:00+00:00", subject="lead-1")
    signed = original | {"X-Leadflow-Signature": sign(HMAC_SECRET, int(NOW), body, original.items())}
    gate = FakeGate()
    answers = calls(
        gate,
        [
            ("POST", "/v1/events", {"data": body, "headers": signed}),
            ("POST", "/v1/events", {"data": body, "headers": signed | {"ce-id": "b2"}}),
            ("POST", "/v1/events", {"data": body, "headers": signed | {"ce-time": "2031-01-01T00:00:00+00:00"}}),
        ],
    )
    assert [a.status for a in answers] == [200, 401, 401]
    assert len(gate.sent) == 1 and orjson.loads(gate.sent[0][2])["id"] == "b1"
    assert [(h["ce_id"], h["ce_time"][:4], h["key"]) for _, h in gate.dead] == [
        ("b2", "2026", "signed"),
        ("b1", "2031", "signed"),
    ]


def test_a_key_over_its_rate_is_answered_429_with_retry_after() -> None:
    requests = [
        ("POST", "/v1/events", {"data": orjson.dumps(lifecycle(str(i))), "headers": bearer()}) for i in range(4)
    ]
    answers = calls(FakeGate(), requests, config(rate_limit="3/minute"))
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert answers[3].body["error"] == "rate_limited" and 1 <= int(answers[3].headers["Retry-After"]) <= 60


def test_an_address_past_its_failures_is_refused_even_with_a_good_key() -> None:
    bad = ("POST", "/v1/events", {"data": b"{}", "headers": bearer("lf_crm_guess")})
    good = ("POST", "/v1/events", {"data": orjson.dumps(lifecycle()), "headers": bearer()})
    gate = FakeGate()
    answers = calls(gate, [bad, bad, good], config(failure_limit="2/minute"))
    assert [a.status for a in answers] == [401, 401, 429]
    assert gate.sent == [] and len(gate.dead) == 2


def test_a_body_that_does_not_arrive_in_time_is_answered_408() -> None:
    async def trickle() -> Any:
        yield b"["
        await asyncio.sleep(2)
        yield b"]"

    answer = call(FakeGate(), "POST", "/v1/events", config(read_timeout=0.3), data=trickle(), headers=bearer())
    assert (answer.status, answer.body["error"], answer.headers.get("Connection")) == (408, "body_timeout", "close")


def test_behind_a_trusted_proxy_the_client_is_the_address_it_forwards() -> None:
    gate = FakeGate()
    forwarded = bearer("lf_crm_wrong") | {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    answers = calls(
        gate,
        [
            ("POST", "/v1/events", {"data": b"{}", "headers": forwarded}),
            ("POST", "/v1/events", {"data": b"{}", "headers": bearer()}),  # around the proxy
            ("GET", "/healthz", {}),
        ],
        config(trusted_proxies="127.0.0.1, ::1"),
    )
    assert [a.status for a in answers] == [401, 400, 200]
    assert [h["address"] for _, h in gate.dead] == ["203.0.113.9"]
