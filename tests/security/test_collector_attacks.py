"""Attacks on the real `leadflow collector` process and broker: each is refused, kept as a dead letter, harmless."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from services.collector.hubspot_signature import signature_v3
from services.collector.signing import sign, sign_v1
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.test_collector_kafka import HUBSPOT_SECRET, visit
from tests.security.collector_attacker import (
    BROWSER_KEY,
    HMAC_SECRET,
    SERVER_KEY,
    SIGNED_KEY,
    call,
    read_topic,
    start_collector,
)
from tests.unit.factories import T0, envelope
from tests.unit.test_hubspot_mapping import LIFECYCLE

pytestmark = pytest.mark.integration

DATA = b'{"lead_id": "lead-7", "stage": "sql"}'
CE = {
    "ce-specversion": "1.0",
    "ce-id": "b1",
    "ce-source": "/crm/x",
    "ce-type": "crm.lifecycle_changed",
    "ce-time": "2026-11-02T09:00:00+00:00",
    "ce-subject": "lead-7",
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def test_a_captured_signed_request_sent_again_with_another_id_or_time_is_refused(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    collector = start_collector(worker_env, tmp_path)
    prefix = worker_env["LEADFLOW_TOPIC_PREFIX"]
    try:
        headers = {**bearer(SIGNED_KEY), **CE}
        captured = {**headers, "X-Leadflow-Signature": sign(HMAC_SECRET, int(time.time()), DATA, headers.items())}
        url = f"{collector.url}/v1/events"
        assert call(url, DATA, captured).status == 200
        replays = [
            {**captured, "ce-id": "b2"},
            {**captured, "ce-time": "2031-01-01T00:00:00+00:00"},
            {**captured, "ce-subject": "lead-8"},
            # the older body-only signature does not vouch for ce-* headers
            {**headers, "ce-id": "b3", "X-Leadflow-Signature": sign_v1(HMAC_SECRET, int(time.time()), DATA)},
        ]
        answers = [call(url, DATA, replay) for replay in replays]
        assert [(a.status, a.body["error"]) for a in answers] == [(401, "bad_signature")] * 4
    finally:
        collector.stop()
    stored = [json.loads(m.value) for m in read_topic(kafka, prefix + "leadflow.stages", 1)]
    assert [(e["id"], e["time"], e["subject"]) for e in stored] == [("b1", "2026-11-02T09:00:00+00:00", "lead-7")]
    # dead letters have no key, so they spread over partitions: compared in a stable order
    dead = read_topic(kafka, prefix + "leadflow.deadletter", 4)
    seen = sorted(
        (m.headers["ce_id"], m.headers["ce_time"], m.headers["ce_subject"], m.headers["reason"]) for m in dead
    )
    mismatch, v1_refused = "X-Leadflow-Signature does not match", "X-Leadflow-Signature v1 signs the body only"
    assert [(i, t[:4], s, r[: len(mismatch)]) for i, t, s, r in seen] == [
        ("b1", "2026", "lead-8", mismatch),
        ("b1", "2031", "lead-7", mismatch),
        ("b2", "2026", "lead-7", mismatch),
        ("b3", "2026", "lead-7", v1_refused[: len(mismatch)]),
    ]
    assert seen[3][3].startswith(v1_refused)
    assert {(m.headers["key"], m.value) for m in dead} == {("crm-signed", DATA)}


def test_a_burst_over_a_keys_rate_is_answered_429_with_retry_after(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    collector = start_collector(worker_env, tmp_path, LEADFLOW_COLLECTOR_RATE_LIMIT="20/minute")
    try:
        bodies = [json.dumps(visit(f"burst-{i}")).encode() for i in range(60)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda b: call(f"{collector.url}/v1/events", b, bearer(SERVER_KEY)), bodies))
        after = call(f"{collector.url}/v1/events", bodies[0], bearer(SERVER_KEY))
    finally:
        collector.stop()
    statuses = [a.status for a in answers]
    assert (statuses.count(200), statuses.count(429), after.status) == (20, 40, 429)
    waits = [int(a.headers["Retry-After"]) for a in answers if a.status == 429]
    assert all(1 <= w <= 60 for w in waits), waits
    assert {a.body["error"] for a in answers if a.status == 429} == {"rate_limited"}
    visits = read_topic(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.visits", 20)
    assert len(visits) == 20  # the refused 40 were never read, nor written anywhere


def test_guessing_keys_is_slowed_to_the_failure_budget_of_the_address(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    collector = start_collector(worker_env, tmp_path, LEADFLOW_COLLECTOR_FAILURE_LIMIT="10/minute")
    body = json.dumps(visit("guess")).encode()
    try:
        started = time.monotonic()
        guesses = [call(f"{collector.url}/v1/events", body, bearer(f"lf_crm_guess_{i:04d}")) for i in range(200)]
        spent = time.monotonic() - started
        right_key = call(f"{collector.url}/v1/events", body, bearer(SERVER_KEY))
    finally:
        collector.stop()
    statuses = [g.status for g in guesses]
    assert statuses == [401] * 10 + [429] * 190, statuses
    # even the right key is refused now, so a guess that hits cannot be told from one that misses
    assert (right_key.status, right_key.body["error"]) == (429, "rate_limited")
    assert 1 <= int(right_key.headers["Retry-After"]) <= 60
    print(f"200 guesses answered in {spent:.2f} s; 10 were checked, the rest refused for up to a minute")
    dead = read_topic(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.deadletter", 10)
    assert [(m.headers["key"], m.headers["reason"], m.value) for m in dead] == [
        ("unknown", "invalid API key", body)
    ] * 10


def test_every_refused_event_is_on_the_dead_letter_topic_with_its_key_and_reason(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    stage = envelope(
        "crm.lifecycle_changed", "lead-1", {"lead_id": "lead-1", "stage": "mql"}, T0, id="s1", source="/web/shop.test"
    )
    no_url = visit("v2")
    del no_url["data"]["url"]
    collector = start_collector(worker_env, tmp_path)
    try:
        events = f"{collector.url}/v1/events"
        beacon = {"Content-Type": "text/plain"}
        mixed = call(f"{events}?key={BROWSER_KEY}", json.dumps([visit("v1"), stage, no_url]).encode(), beacon)
        unreadable = call(events, b"{not json", bearer(SERVER_KEY))
        no_key = call(events, b'{"anything": 1}', {"Content-Type": "application/json"})
    finally:
        collector.stop()
    assert (mixed.status, mixed.body["accepted"], mixed.body["deadlettered"]) == (207, 1, 2)
    assert (unreadable.status, no_key.status) == (400, 401)
    dead = read_topic(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.deadletter", 4)
    found = sorted((m.headers["key"], m.headers.get("index", ""), m.headers["reason"][:30], m.value) for m in dead)
    assert found == [
        ("crm", "", "the body is not JSON: unexpect", b"{not json"),
        ("unknown", "", "missing API key", b'{"anything": 1}'),
        ("website", "1", "type crm.lifecycle_changed is ", json.dumps(stage, separators=(",", ":")).encode()),
        ("website", "2", "data.url: Field required", json.dumps(no_url, separators=(",", ":")).encode()),
    ]
    assert {(m.headers["source"], m.headers["route"]) for m in dead} == {("collector", "/v1/events")}


def hubspot_call(url: str, deliveries: list[dict[str, Any]]) -> Any:
    body = json.dumps(deliveries).encode()
    stamp = str(int(time.time() * 1000))
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature_v3(HUBSPOT_SECRET, "POST", url, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return call(url, body, headers)


def test_a_hubspot_stage_that_maps_to_nothing_is_dead_lettered_and_counted(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    collector = start_collector(worker_env, tmp_path)
    unknown = {**LIFECYCLE, "eventId": 99, "propertyValue": "custom-stage-1234"}
    try:
        answer = hubspot_call(f"{collector.url}/v1/hubspot", [LIFECYCLE, unknown])
    finally:
        collector.stop()
    assert (answer.status, answer.body["accepted"], answer.body["rejected"], answer.body["deadlettered"]) == (
        200,
        1,
        1,
        1,
    )
    [letter] = read_topic(kafka, worker_env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.deadletter", 1)
    assert json.loads(letter.value) == unknown
    assert (letter.headers["key"], letter.headers["index"], letter.headers["route"]) == ("hubspot", "1", "/v1/hubspot")
    assert letter.headers["reason"].startswith("unknown lifecyclestage value 'custom-stage-1234'")
