"""Bodies to events (structured, batch, binary mode) and the per-event checks and answers."""

from __future__ import annotations

import orjson
import pytest

from pipelines.topics import TopicNames
from services.collector.cloudevents import BodyError, Item, from_binary, is_binary, split_structured
from services.collector.intake import Accepted, Failed, Rejected, answer, check_all, check_event, status_of
from services.collector.keys import Client, Grant
from tests.unit.factories import T0, envelope, rfc3339

NAMES = TopicNames("p.")
WEB = Client("website", Grant(key_sha256="a" * 64, types=("web.visit",), sources=("/web/*",)))


def visit(id: str = "v1", **data: object) -> dict[str, object]:
    fields = {"visitor_id": "vis-1", "url": "https://www.example.com/?utm_source=x", **data}
    return envelope("web.visit", "vis-1", fields, T0, id=id, source="/web/www.example.com")


def test_a_single_event_passes_byte_for_byte() -> None:
    raw = b'{"specversion": "1.0",  "id": "x"}'
    assert split_structured(raw, "application/cloudevents+json; charset=utf-8") == [Item(raw)]


def test_a_batch_splits_and_marks_non_objects() -> None:
    items = split_structured(orjson.dumps([visit(), 3]), "application/json")
    assert items[0].raw is not None and orjson.loads(items[0].raw) == visit()
    assert items[1] == Item(b"3", "not a JSON object")  # its bytes kept, for the dead-letter topic


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{nope", "application/json", 400, "invalid_json"),
        (b'"text"', "application/json", 400, "invalid_body"),
        (b"[]", "application/json", 400, "empty_batch"),
        (b"{}", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_unreadable_bodies(body: bytes, content_type: str, status: int, code: str) -> None:
    with pytest.raises(BodyError) as caught:
        split_structured(body, content_type)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_binary_mode_becomes_structured() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "b1",
        "ce-source": "/web/www.example.com",
        "ce-type": "web.visit",
        "ce-time": rfc3339(T0),
        "ce-subject": "vis-%C3%A9",
        "Content-Type": "application/json",
    }
    assert is_binary(headers) and not is_binary({"Content-Type": "application/json"})
    document = orjson.loads(from_binary(headers, b'{"visitor_id": "vis-\xc3\xa9", "url": "https://e.com/"}'))
    assert document["subject"] == "vis-é" and document["data"]["visitor_id"] == "vis-é"
    assert document["datacontenttype"] == "application/json" and document["id"] == "b1"
    with pytest.raises(BodyError):
        from_binary({**headers, "Content-Type": "text/csv"}, b"a,b")


def test_check_event_accepts_with_topic_and_key() -> None:
    raw = orjson.dumps(visit())
    assert check_event(0, Item(raw), WEB, NAMES) == Accepted(0, "v1", "web.visit", "p.leadflow.visits", b"vis-1", raw)


def test_check_event_gives_every_reason() -> None:
    bad = visit(url=5)
    del bad["time"]
    outcome = check_event(2, Item(orjson.dumps(bad)), WEB, NAMES)
    assert isinstance(outcome, Rejected) and outcome.index == 2 and outcome.id == "v1"
    assert "time: Field required" in outcome.reason and "data.url: Input should be a valid string" in outcome.reason


def test_check_event_applies_the_grant() -> None:
    form = envelope(
        "web.form_submitted",
        "lead-1",
        {"visitor_id": "vis-1", "lead_id": "lead-1", "form_id": "f"},
        T0,
        id="f1",
        source="/web/www.example.com",
    )
    outcome = check_event(0, Item(orjson.dumps(form)), WEB, NAMES)
    assert outcome == Rejected(0, "f1", "type web.form_submitted is not allowed for key website")
    assert isinstance(check_event(0, Item(orjson.dumps(form)), None, NAMES), Accepted)


def test_status_and_answer() -> None:
    ok = Accepted(0, "a", "web.visit", "t", b"k", b"v")
    no = Rejected(1, None, "why")
    lost = Failed(2, "c", "Kafka did not confirm the write")
    cases: list[list[Accepted | Rejected | Failed]] = [[ok], [ok, no], [no], [ok, lost]]
    assert [status_of(x) for x in cases] == [200, 207, 422, 503]
    assert answer([no, ok], 1) == {
        "accepted": 1,
        "rejected": 1,
        "failed": 0,
        "deadlettered": 1,
        "results": [
            {"index": 0, "id": "a", "status": "accepted"},
            {"index": 1, "id": None, "status": "rejected", "reason": "why"},
        ],
    }


def test_check_all_keeps_order() -> None:
    items = split_structured(orjson.dumps([visit("a"), {"x": 1}, visit("c")]), None)
    assert [type(o).__name__ for o in check_all(items, WEB, NAMES)] == ["Accepted", "Rejected", "Accepted"]
