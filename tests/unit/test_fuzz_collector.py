"""Fuzzing `POST /v1/events`: no 5xx but the documented 503, one result per event, only accepted ones produced."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.collector.cloudevents import JSON_TYPES
from tests.unit.test_collector_app import Answer, FakeGate, bearer, call, config, lifecycle, visit
from tests.unit.test_fuzz_validate import JSON_VALUES, TEXT, unicode_envelopes, wrong_envelopes

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
ROOMY = config(max_body_bytes=400_000, max_batch=50)
GATES = st.sampled_from(["up", "down", "failing"])
CONTENT_TYPES = st.one_of(
    st.sampled_from([*JSON_TYPES, "application/json; charset=utf-8", "APPLICATION/JSON", "text/html", "", "a/b;c"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
)
EVENTS = st.one_of(
    st.builds(lambda n: lifecycle(f"l{n}"), st.integers(0, 9)),
    st.builds(lambda n: visit(f"v{n}"), st.integers(0, 9)),
    wrong_envelopes(),
    unicode_envelopes(),
    JSON_VALUES,
)


def _gate(state: str) -> FakeGate:
    return FakeGate(up=state != "down", failing=state == "failing")


def _encode(document: Any) -> bytes:
    """Encode as JSON; a lone surrogate (orjson refuses it) as its `\\ud800` escape."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document).encode()


def _post(gate: FakeGate, body: bytes, headers: dict[str, str]) -> Answer:
    return call(gate, "POST", "/v1/events", ROOMY, data=body, headers={**bearer(), **headers})


def _assert_answered(answer: Answer, gate: FakeGate, submitted: int | None) -> None:
    """No 5xx but the documented 503; per-event results that add up; only accepted events produced."""
    assert answer.status < 500 or answer.status == 503, answer.body
    body = answer.body
    assert isinstance(body, dict), body
    if "results" not in body:
        assert "error" in body and gate.sent == []
        assert answer.status != 503 or body["error"] == "kafka_unavailable"
        return
    results = body["results"]
    if submitted is not None:
        assert len(results) == submitted
    assert [r["index"] for r in results] == list(range(len(results)))
    assert body["accepted"] + body["rejected"] + body["failed"] == len(results)
    for status in ("accepted", "rejected", "failed"):
        assert body[status] == sum(r["status"] == status for r in results)
    assert all(r["reason"] for r in results if r["status"] != "accepted")
    produced = [orjson.loads(value)["id"] for _, _, value in gate.sent]
    assert produced == [r["id"] for r in results if r["status"] == "accepted"]
    assert (answer.status == 503) == (body["failed"] > 0)


def _submitted(body: bytes) -> int | None:
    """Return how many events a structured body holds, or None when it is not a JSON object or array."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, dict):
        return 1
    return len(document) if isinstance(document, list) else None


@FUZZ
@given(st.binary(max_size=3000), CONTENT_TYPES, GATES)
def test_random_bodies_and_content_types(body: bytes, content_type: str, state: str) -> None:
    gate = _gate(state)
    _assert_answered(_post(gate, body, {"Content-Type": content_type}), gate, _submitted(body))


@FUZZ
@given(st.lists(EVENTS, max_size=60) | EVENTS, st.sampled_from(JSON_TYPES), GATES)
def test_random_batches(document: Any, content_type: str, state: str) -> None:
    gate = _gate(state)
    body = _encode(document)
    _assert_answered(_post(gate, body, {"Content-Type": content_type}), gate, _submitted(body))


HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["id", "source", "type", "time", "subject", "x"]), HEADER_VALUES),
    st.sampled_from(["1.0", "0.3", ""]),
    st.one_of(st.binary(max_size=500), JSON_VALUES.map(_encode)),
    st.sampled_from(["application/json", "application/cloudevents+json", "text/plain", ""]),
    GATES,
)
def test_binary_mode(attributes: dict[str, str], version: str, body: bytes, content_type: str, state: str) -> None:
    gate = _gate(state)
    headers = {"ce-specversion": version, "Content-Type": content_type, **{f"ce-{k}": v for k, v in attributes.items()}}
    _assert_answered(_post(gate, body, headers), gate, None)


@pytest.mark.parametrize("field", ["id", "source", "subject", "time", "type"])
@pytest.mark.parametrize("batch", [False, True])
def test_a_100_kb_field(field: str, batch: bool) -> None:
    gate = FakeGate()
    event = {**lifecycle(), field: "\u202e" * 50_000}
    body = orjson.dumps([event, lifecycle("ok")] if batch else event)
    answer = _post(gate, body, {})
    _assert_answered(answer, gate, 2 if batch else 1)
    assert answer.body["rejected"] == 1


@FUZZ
@given(TEXT)
def test_unicode_text_bodies(text: str) -> None:
    gate = FakeGate()
    body = text.encode("utf-8", "surrogatepass")
    _assert_answered(_post(gate, body, {"Content-Type": "text/plain;charset=UTF-8"}), gate, _submitted(body))


@pytest.mark.parametrize("depth", [100, 254, 1000, 5000])
def test_deep_nesting_in_a_single_event(depth: int) -> None:
    gate = FakeGate()
    body = b'{"id":"d","x":' + b"[" * depth + b"]" * depth + b"}"
    _assert_answered(_post(gate, body, {}), gate, 1)


@pytest.mark.parametrize("mode", ["batch", "binary"])
def test_deep_nesting_in_a_batch_or_binary_event(mode: str) -> None:
    gate = FakeGate()
    deep = b"[" * 300 + b"]" * 300
    if mode == "batch":
        answer = _post(gate, b'[{"id":"d","x":' + deep + b"}]", {})
    else:
        answer = _post(gate, deep, {"ce-specversion": "1.0", "ce-id": "d"})
    _assert_answered(answer, gate, None)


def test_a_time_at_the_edge_of_datetime() -> None:
    gate = FakeGate()
    event = {**lifecycle(), "time": "9999-12-31T23:30:00-01:00"}
    _assert_answered(_post(gate, orjson.dumps(event), {}), gate, 1)
