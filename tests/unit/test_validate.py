"""From raw bytes to a core Event, or to Invalid with a reason that names the problem (contract §1)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pipelines.core.model import Event, Invalid
from pipelines.core.validate import MAX_REASON, parse_event
from pipelines.topics import TOPIC_BY_TYPE
from tests.unit.factories import T0, encode, examples, parse, topic_of

EXAMPLES = examples()
REQUIRED = ("specversion", "id", "source", "type", "time", "subject", "data")


def doc(event_type: str = "crm.lifecycle_changed", **changes: Any) -> dict[str, Any]:
    """A valid example envelope of a type, with top-level changes (None deletes the attribute)."""
    document = copy.deepcopy(EXAMPLES[event_type])
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def with_data(event_type: str, **changes: Any) -> dict[str, Any]:
    """A valid example envelope with `data` changes (None deletes the field)."""
    document = doc(event_type)
    for key, value in changes.items():
        if value is None:
            document["data"].pop(key, None)
        else:
            document["data"][key] = value
    return document


def invalid(raw: bytes, topic: str | None = None) -> str:
    result = parse_event(raw, topic)
    assert isinstance(result, Invalid), f"expected Invalid, got {result}"
    assert result.raw == raw
    assert result.reason and len(result.reason) <= MAX_REASON
    return result.reason


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_example_is_valid_on_its_topic(event_type: str) -> None:
    raw = encode(EXAMPLES[event_type])
    event = parse(raw, TOPIC_BY_TYPE[event_type])
    assert (event.type, event.payload, event.key) == (event_type, raw, (EXAMPLES[event_type]["source"], event.id))
    assert topic_of(raw) == TOPIC_BY_TYPE[event_type]


def test_every_field_reaches_the_core_event() -> None:
    visit = parse(encode(EXAMPLES["web.visit"]))
    assert (visit.subject, visit.visitor_id, visit.lead_id, visit.url) == ("V1", "V1", None, "https://www.example.com/")
    assert (visit.referrer, visit.utm_source, visit.utm_medium, visit.utm_campaign) == (
        "https://search.example/",
        "newsletter",
        "email",
        "autumn",
    )
    form = parse(encode(EXAMPLES["web.form_submitted"]))
    assert (form.lead_id, form.visitor_id, form.subject) == ("L1", "V1", "L1")
    stage = parse(encode(EXAMPLES["crm.lifecycle_changed"]))
    assert (stage.stage, stage.reason, stage.owner_id, stage.lifecycle_stage) == ("mql", "scored", "rep-1", "mql")
    owner = parse(encode(EXAMPLES["crm.owner_assigned"]))
    assert (owner.lead_id, owner.owner_id, owner.lifecycle_stage) == ("L1", "rep-1", None)
    activity = parse(encode(EXAMPLES["crm.activity_logged"]))
    assert (activity.activity_kind, activity.automated, activity.owner_id) == ("meeting", False, "rep-1")
    deal = parse(encode(EXAMPLES["crm.deal_changed"]))
    assert (deal.deal_id, deal.deal_stage, deal.amount, deal.currency) == ("D1", "won", Decimal("12500.50"), "USD")
    assert deal.lifecycle_stage == "customer"


# --- what cannot be read at all -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"nope", b"{", b'{"specversion": "1.0",}', b"\x00"])
def test_not_json(raw: bytes) -> None:
    assert "not JSON" in invalid(raw)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00", encode(doc()).replace(b'"scored"', b'"sc\xc3\x28ored"')])
def test_invalid_utf8(raw: bytes) -> None:
    assert "not JSON" in invalid(raw)


@pytest.mark.parametrize("raw", [b"[]", b'"event"', b"42", b"null", b"true"])
def test_not_an_object(raw: bytes) -> None:
    assert "object" in invalid(raw)


# --- the envelope ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attribute", [a for a in REQUIRED if a != "type"])
@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_a_missing_envelope_attribute_is_named(event_type: str, attribute: str) -> None:
    reason = invalid(encode(doc(event_type, **{attribute: None})))
    assert f"{attribute}: Field required" in reason


def test_a_missing_type_is_named() -> None:
    assert "type" in invalid(encode(doc(type=None)))


def test_every_problem_is_named_at_once() -> None:
    reason = invalid(encode(doc(id=None, source=None, time="yesterday")))
    assert "id:" in reason and "source:" in reason and "time:" in reason


@pytest.mark.parametrize("attribute", ["id", "source", "subject"])
def test_empty_identifiers_are_rejected(attribute: str) -> None:
    assert f"{attribute}:" in invalid(encode(doc(**{attribute: ""})))


@pytest.mark.parametrize("version", ["0.3", "1", "2.0", 1.0, 1])
def test_wrong_specversion(version: object) -> None:
    assert "specversion" in invalid(encode(doc(specversion=version)))


@pytest.mark.parametrize("event_type", ["crm.unknown", "web.Visit", "", "sla.met", 7])
def test_unknown_type(event_type: object) -> None:
    reason = invalid(encode(doc(type=event_type)))
    assert "type" in reason


def test_an_id_that_is_not_a_string_is_rejected() -> None:
    assert "id:" in invalid(encode(doc(id=17)))


@pytest.mark.parametrize(
    "time",
    ["2026-11-02T10:15:30", "2026-11-02T10:15:30.123", "2026-11-02", "yesterday", "2026-13-02T10:15:30Z", ""],
)
def test_time_without_offset_or_not_a_time(time: str) -> None:
    assert "time:" in invalid(encode(doc(time=time)))


@pytest.mark.parametrize("time", [1793610930, 1793610930.5, "1793610930"], ids=["int", "float", "digits"])
def test_time_as_a_unix_number_is_not_rfc3339(time: object) -> None:
    # contract §1: `time` is RFC 3339 with offset; a bare number has no offset and is no RFC 3339 text.
    assert "time:" in invalid(encode(doc(time=time)))


def test_time_is_converted_to_utc_and_truncated_to_milliseconds() -> None:
    event = parse(encode(doc(time="2026-11-02T10:15:30.123999+01:00")))
    assert event.time == datetime(2026, 11, 2, 9, 15, 30, 123000, tzinfo=UTC)
    assert event.time.utcoffset() is not None and event.time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02T09:00:00Z", T0),
        ("2026-11-02T09:00:00.000+00:00", T0),
        ("2026-11-02T04:00:00-05:00", T0),
        ("2026-11-02T14:30:00.0009+05:30", T0.replace(microsecond=0)),
        ("2026-11-02T09:00:00.5Z", T0.replace(microsecond=500000)),
        ("2026-11-02T09:00:00.123456789Z", T0.replace(microsecond=123000)),
        ("2026-11-02t09:00:00z", T0),
        ("2026-11-02T09:00:00-00:00", T0),
    ],
)
def test_times_of_any_offset_become_the_same_utc_instant(text: str, expected: datetime) -> None:
    assert parse(encode(doc(time=text))).time == expected


def test_subject_must_equal_the_lead_id() -> None:
    reason = invalid(encode(doc("crm.deal_changed", subject="L2")))
    assert "subject" in reason and "lead_id" in reason and "L2" in reason


def test_subject_must_equal_the_visitor_id_of_a_visit() -> None:
    reason = invalid(encode(doc("web.visit", subject="L1")))
    assert "subject" in reason and "visitor_id" in reason


def test_a_form_subject_is_the_lead_not_the_visitor() -> None:
    reason = invalid(encode(doc("web.form_submitted", subject="V1")))
    assert "subject" in reason and "lead_id" in reason


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_an_event_on_the_wrong_topic(event_type: str) -> None:
    raw = encode(EXAMPLES[event_type])
    wrong = next(t for t in sorted(set(TOPIC_BY_TYPE.values())) if t != TOPIC_BY_TYPE[event_type])
    reason = invalid(raw, wrong)
    assert event_type in reason and TOPIC_BY_TYPE[event_type] in reason and wrong in reason


def test_subject_and_topic_problems_are_named_together() -> None:
    reason = invalid(encode(doc("crm.deal_changed", subject="L2")), "leadflow.visits")
    assert "subject" in reason and "leadflow.deals" in reason


# --- data -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("web.visit", "visitor_id"),
        ("web.visit", "url"),
        ("web.form_submitted", "visitor_id"),
        ("web.form_submitted", "lead_id"),
        ("web.form_submitted", "form_id"),
        ("crm.lifecycle_changed", "lead_id"),
        ("crm.lifecycle_changed", "stage"),
        ("crm.owner_assigned", "lead_id"),
        ("crm.owner_assigned", "owner_id"),
        ("crm.activity_logged", "lead_id"),
        ("crm.activity_logged", "kind"),
        ("crm.activity_logged", "automated"),
        ("crm.deal_changed", "deal_id"),
        ("crm.deal_changed", "lead_id"),
        ("crm.deal_changed", "stage"),
        ("crm.deal_changed", "amount"),
        ("crm.deal_changed", "currency"),
    ],
)
def test_a_missing_data_field_is_named(event_type: str, field: str) -> None:
    assert f"data.{field}: Field required" in invalid(encode(with_data(event_type, **{field: None})))


@pytest.mark.parametrize("data", [[], "x", None, 3])
def test_data_must_be_an_object(data: object) -> None:
    document = doc()
    document["data"] = data
    assert "data" in invalid(encode(document))


@pytest.mark.parametrize("stage", ["MQL", "won", "prospect", "", "opportunity "])
def test_unknown_stage(stage: str) -> None:
    assert "data.stage" in invalid(encode(with_data("crm.lifecycle_changed", stage=stage)))


@pytest.mark.parametrize("stage", ["closed", "opportunity", "WON"])
def test_unknown_deal_stage(stage: str) -> None:
    assert "data.stage" in invalid(encode(with_data("crm.deal_changed", stage=stage)))


@pytest.mark.parametrize("kind", ["sms", "Call", ""])
def test_unknown_activity_kind(kind: str) -> None:
    assert "data.kind" in invalid(encode(with_data("crm.activity_logged", kind=kind)))


@pytest.mark.parametrize("automated", ["false", "true", 0, 1, None])
def test_automated_must_be_a_json_boolean(automated: object) -> None:
    document = with_data("crm.activity_logged")
    document["data"]["automated"] = automated
    assert "data.automated" in invalid(encode(document))


@pytest.mark.parametrize("amount", [-1, "-0.01", -0.5, "NaN", "Infinity", "ten", "1.1234567", True])
def test_bad_amount(amount: object) -> None:
    assert "data.amount" in invalid(encode(with_data("crm.deal_changed", amount=amount)))


@pytest.mark.parametrize("currency", ["eur", "EURO", "EU", "", "€", 978])
def test_bad_currency(currency: object) -> None:
    assert "data.currency" in invalid(encode(with_data("crm.deal_changed", currency=currency)))


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1234.56", Decimal("1234.56")),
        (1234.56, Decimal("1234.56")),
        (0, Decimal(0)),
        ("0.000001", Decimal("0.000001")),
        (20000, Decimal(20000)),
        (0.1, Decimal("0.1")),
    ],
)
def test_amount_as_string_or_number_is_a_decimal(amount: object, expected: Decimal) -> None:
    event = parse(encode(with_data("crm.deal_changed", amount=amount)))
    assert isinstance(event.amount, Decimal) and event.amount == expected


def test_a_string_where_a_string_is_required_is_strict() -> None:
    assert "data.lead_id" in invalid(encode(with_data("crm.owner_assigned", lead_id=7)))


def test_extra_attributes_and_data_fields_are_kept() -> None:
    document = with_data("crm.lifecycle_changed", score=87, tags=["a", "b"])
    document["traceparent"] = "00-abc-def-01"
    document["datacontenttype"] = "application/json"
    raw = encode(document)
    event = parse(raw, "leadflow.stages")
    assert isinstance(event, Event)
    kept = orjson.loads(event.payload)
    assert kept["traceparent"] == "00-abc-def-01" and kept["data"]["score"] == 87
    assert event.payload == raw


def test_the_topic_is_not_checked_when_not_given() -> None:
    assert isinstance(parse_event(encode(EXAMPLES["crm.deal_changed"])), Event)


def test_a_long_reason_is_cut() -> None:
    document = doc()
    document["subject"] = "x" * 600
    document["data"]["lead_id"] = "y" * 600
    reason = invalid(encode(document), "leadflow.visits")
    assert len(reason) <= MAX_REASON
