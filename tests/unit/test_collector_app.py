"""The collector's HTTP answers, exactly, with a fake way to Kafka: auth, limits, batches, Kafka down."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from pipelines.settings import Settings
from services.collector.app import build_app
from services.collector.hubspot_table import DEFAULT_TABLE
from services.collector.kafka import KafkaDown
from services.collector.keys import hash_key, load_keyring
from services.collector.settings import CollectorConfig, CollectorSettings
from services.collector.signing import sign
from tests.unit.factories import T0, envelope

WEB_KEY = "lf_website_0123456789abcdefghijklmnop"
CRM_KEY = "lf_crm_0123456789abcdefghijklmnopqrstu"
SIGNED_KEY = "lf_signed_0123456789abcdefghijklmnopq"
HMAC_SECRET = "hmac-secret-for-tests"
NOW = 1_800_000_000.0
KEYS = {
    "website": {
        "key_sha256": hash_key(WEB_KEY),
        "browser": True,
        "types": ["web.visit", "web.form_submitted"],
        "sources": ["/web/*"],
        "origins": ["http://shop.test"],
    },
    "crm": {"key_sha256": hash_key(CRM_KEY)},
    "signed": {"key_sha256": hash_key(SIGNED_KEY), "hmac_secret": HMAC_SECRET},
}


@dataclass
class FakeGate:
    """Kafka as the tests want it: up, down, or failing writes; records what was sent, dead letters apart."""

    up: bool = True
    failing: bool = False
    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    dead: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.up

    async def check(self) -> bool:
        return self.up

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        if self.failing or not self.up:
            raise KafkaDown("Kafka did not confirm the write (KafkaTimeoutError)")
        if topic == "t.leadflow.deadletter":
            self.dead.append((value, {k: v.decode() for k, v in headers}))
        else:
            self.sent.append((topic, key, value))


def config(**settings: Any) -> CollectorConfig:
    values: dict[str, Any] = {
        "max_body_bytes": 2048,
        "max_batch": 3,
        "public_url": "https://collector.example.com",
        "hubspot_client_secret": SecretStr("hubspot-secret"),
        **settings,
    }
    return CollectorConfig(
        CollectorSettings(**values), Settings(topic_prefix="t."), load_keyring(KEYS), DEFAULT_TABLE, {}
    )


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def call(gate: FakeGate, method: str, path: str, cfg: CollectorConfig | None = None, **request: Any) -> Answer:
    """Run one request against a fresh app on a loopback test server."""
    return calls(gate, [(method, path, request)], cfg)[0]


def calls(
    gate: FakeGate, requests: list[tuple[str, str, dict[str, Any]]], cfg: CollectorConfig | None = None
) -> list[Answer]:
    async def run() -> list[Answer]:
        app = build_app(cfg or config(), gate, clock=lambda: NOW)
        async with TestClient(TestServer(app)) as client:
            answers = []
            for method, path, request in requests:
                response = await client.request(method, path, **request)
                raw = await response.read()
                is_json = response.content_type == "application/json"
                answers.append(Answer(response.status, orjson.loads(raw) if is_json else raw, dict(response.headers)))
            return answers

    return asyncio.run(run())


def visit(id: str = "v1", source: str = "/web/shop.test", **data: Any) -> dict[str, Any]:
    fields = {"visitor_id": "vis-1", "url": "http://shop.test/?utm_source=news", **data}
    return envelope("web.visit", "vis-1", fields, T0, id=id, source=source)


def lifecycle(id: str = "l1") -> dict[str, Any]:
    return envelope(
        "crm.lifecycle_changed", "lead-1", {"lead_id": "lead-1", "stage": "mql"}, T0, id=id, source="/crm/x"
    )


def bearer(key: str = CRM_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def test_missing_key() -> None:
    answer = call(FakeGate(), "POST", "/v1/events", data=orjson.dumps(visit()))
    assert (answer.status, answer.body) == (
        401,
        {"error": "unauthorized", "message": "missing API key: send Authorization: Bearer <key>"},
    )
    assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_wrong_key() -> None:
    answer = call(FakeGate(), "POST", "/v1/events", data=orjson.dumps(visit()), headers=bearer("lf_crm_wrong"))
    assert (answer.status, answer.body) == (401, {"error": "unauthorized", "message": "invalid API key"})


def test_server_key_in_the_url_is_refused() -> None:
    answer = call(FakeGate(), "POST", f"/v1/events?key={CRM_KEY}", data=orjson.dumps(lifecycle()))
    assert (answer.status, answer.body) == (
        401,
        {"error": "unauthorized", "message": "this key may not be sent in the URL; send Authorization: Bearer <key>"},
    )


def test_browser_key_from_a_foreign_origin() -> None:
    headers = {"Origin": "http://evil.test", "Content-Type": "text/plain;charset=UTF-8"}
    answer = call(FakeGate(), "POST", f"/v1/events?key={WEB_KEY}", data=orjson.dumps(visit()), headers=headers)
    assert (answer.status, answer.body) == (
        403,
        {"error": "forbidden", "message": "origin http://evil.test is not allowed for this key"},
    )


def test_beacon_from_the_allowed_origin_is_accepted() -> None:
    gate = FakeGate()
    headers = {"Origin": "http://shop.test", "Content-Type": "text/plain;charset=UTF-8"}
    answer = call(gate, "POST", f"/v1/events?key={WEB_KEY}", data=orjson.dumps(visit()), headers=headers)
    assert (answer.status, answer.body) == (
        200,
        {
            "accepted": 1,
            "rejected": 0,
            "failed": 0,
            "deadlettered": 0,
            "results": [{"index": 0, "id": "v1", "status": "accepted"}],
        },
    )
    assert gate.sent == [("t.leadflow.visits", b"vis-1", orjson.dumps(visit()))]


def signed_call(gate: FakeGate, body: bytes, signature: str | None) -> Answer:
    headers = bearer(SIGNED_KEY) | ({"X-Leadflow-Signature": signature} if signature else {})
    return call(gate, "POST", "/v1/events", data=body, headers=headers)


def test_signed_key_needs_a_good_signature() -> None:
    body = orjson.dumps(lifecycle())
    assert signed_call(FakeGate(), body, sign(HMAC_SECRET, int(NOW), body)).status == 200
    bad = signed_call(FakeGate(), body, sign("not-the-secret", int(NOW), body))
    assert (bad.status, bad.body) == (
        401,
        {"error": "bad_signature", "message": "X-Leadflow-Signature does not match"},
    )
    missing = signed_call(FakeGate(), body, None)
    assert (missing.status, missing.body) == (
        401,
        {"error": "bad_signature", "message": "missing X-Leadflow-Signature: this key requires signed requests"},
    )
    stale = signed_call(FakeGate(), body, sign(HMAC_SECRET, int(NOW) - 301, body))
    assert (stale.status, stale.body) == (
        401,
        {
            "error": "bad_signature",
            "message": "X-Leadflow-Signature timestamp is more than 300 s away from the collector's clock",
        },
    )


def test_oversize_body() -> None:
    gate = FakeGate()
    big = orjson.dumps([visit(url="http://shop.test/" + "x" * 3000)])
    expected = (413, {"error": "body_too_large", "message": "the body exceeds 2048 bytes"})
    answer = call(gate, "POST", "/v1/events", data=big, headers=bearer())
    assert (answer.status, answer.body) == expected

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(4):
            yield b" " * 1000

    streamed = call(gate, "POST", "/v1/events", data=chunks(), headers=bearer())
    assert (streamed.status, streamed.body) == expected
    assert gate.sent == []


def test_oversize_batch() -> None:
    body = orjson.dumps([lifecycle(str(i)) for i in range(4)])
    answer = call(FakeGate(), "POST", "/v1/events", data=body, headers=bearer())
    assert (answer.status, answer.body) == (
        413,
        {"error": "batch_too_large", "message": "the batch holds 4 events; at most 3"},
    )


def test_mixed_batch_answers_per_event() -> None:
    gate = FakeGate()
    no_url = visit("v2")
    del no_url["data"]["url"]
    body = orjson.dumps([visit("v1"), no_url, 42])
    answer = call(gate, "POST", "/v1/events", data=body, headers=bearer())
    assert (answer.status, answer.body) == (
        207,
        {
            "accepted": 1,
            "rejected": 2,
            "failed": 0,
            "deadlettered": 2,
            "results": [
                {"index": 0, "id": "v1", "status": "accepted"},
                {"index": 1, "id": "v2", "status": "rejected", "reason": "data.url: Field required"},
                {"index": 2, "id": None, "status": "rejected", "reason": "not a JSON object"},
            ],
        },
    )
    assert [(t, k) for t, k, _ in gate.sent] == [("t.leadflow.visits", b"vis-1")]
    assert [(orjson.loads(value), headers["reason"], headers["index"]) for value, headers in gate.dead] == [
        (no_url, "data.url: Field required", "1"),
        (42, "not a JSON object", "2"),
    ]
    assert {headers["key"] for _, headers in gate.dead} == {"crm"}


def test_browser_key_may_not_send_crm_events() -> None:
    headers = {"Content-Type": "text/plain"}
    answer = call(FakeGate(), "POST", f"/v1/events?key={WEB_KEY}", data=orjson.dumps(lifecycle()), headers=headers)
    assert (answer.status, answer.body) == (
        422,
        {
            "accepted": 0,
            "rejected": 1,
            "failed": 0,
            "deadlettered": 1,
            "results": [
                {
                    "index": 0,
                    "id": "l1",
                    "status": "rejected",
                    "reason": "type crm.lifecycle_changed is not allowed for key website",
                }
            ],
        },
    )


def test_binary_mode() -> None:
    gate = FakeGate()
    headers = {
        "Authorization": f"Bearer {CRM_KEY}",
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-source": "/crm/x",
        "ce-type": "crm.lifecycle_changed",
        "ce-time": "2026-11-02T09:00:00+00:00",
        "ce-subject": "lead-1",
    }
    answer = call(gate, "POST", "/v1/events", data=b'{"lead_id": "lead-1", "stage": "sql"}', headers=headers)
    assert answer.status == 200, answer.body
    topic, key, value = gate.sent[0]
    assert (topic, key, orjson.loads(value)["data"]["stage"]) == ("t.leadflow.stages", b"lead-1", "sql")


def test_unreadable_bodies() -> None:
    answers = calls(
        FakeGate(),
        [
            ("POST", "/v1/events", {"data": b"{nope", "headers": bearer()}),
            ("POST", "/v1/events", {"data": b"[]", "headers": bearer()}),
            (
                "POST",
                "/v1/events",
                {"data": b"a=1", "headers": bearer() | {"Content-Type": "application/x-www-form-urlencoded"}},
            ),
            ("POST", "/v1/events", {"data": b"{}", "headers": bearer() | {"Content-Encoding": "gzip"}}),
        ],
    )
    assert [(a.status, a.body["error"]) for a in answers] == [
        (400, "invalid_json"),
        (400, "empty_batch"),
        (415, "unsupported_media_type"),
        (415, "unsupported_encoding"),
    ]


def test_kafka_down_refuses_with_503() -> None:
    gate = FakeGate(up=False)
    answer = call(gate, "POST", "/v1/events", data=orjson.dumps([visit(), lifecycle()]), headers=bearer())
    assert (answer.status, answer.body) == (
        503,
        {"error": "kafka_unavailable", "message": "Kafka is unavailable; nothing was accepted, retry later"},
    )
    assert answer.headers["Retry-After"] == "5" and gate.sent == []


def test_writes_kafka_does_not_confirm_are_failed() -> None:
    answer = call(FakeGate(failing=True), "POST", "/v1/events", data=orjson.dumps(lifecycle()), headers=bearer())
    assert (answer.status, answer.body) == (
        503,
        {
            "accepted": 0,
            "rejected": 0,
            "failed": 1,
            "deadlettered": 0,
            "results": [
                {
                    "index": 0,
                    "id": "l1",
                    "status": "failed",
                    "reason": "Kafka did not confirm the write (KafkaTimeoutError)",
                }
            ],
        },
    )


def test_health_readiness_metrics_snippet_and_unknown_routes() -> None:
    up = calls(
        FakeGate(),
        [
            ("GET", "/healthz", {}),
            ("GET", "/readyz", {}),
            ("POST", "/v1/events", {"data": orjson.dumps(lifecycle()), "headers": bearer()}),
            ("GET", "/metrics", {}),
            ("GET", "/v1/snippet.js", {}),
            ("GET", "/nowhere", {}),
            ("GET", "/v1/events", {}),
        ],
    )
    health, ready, _, metrics, snippet, missing, wrong_method = up
    assert (health.status, health.body) == (200, {"status": "ok"})
    assert (ready.status, ready.body) == (200, {"status": "ready", "kafka": "ok"})
    text = metrics.body.decode()
    assert 'leadflow_collector_events_total{outcome="accepted",type="crm.lifecycle_changed"} 1.0' in text
    assert 'leadflow_collector_requests_total{route="/v1/events",status="200"} 1.0' in text
    assert snippet.status == 200 and snippet.headers["Content-Type"].startswith("text/javascript")
    assert b"navigator.sendBeacon" in snippet.body
    assert (missing.status, missing.body) == (404, {"error": "not_found", "message": "Not Found"})
    assert (wrong_method.status, wrong_method.body["error"]) == (405, "method_not_allowed")
    down = call(FakeGate(up=False), "GET", "/readyz")
    assert (down.status, down.body) == (503, {"status": "unavailable", "kafka": "unavailable"})
