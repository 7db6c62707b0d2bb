"""`leadflow_native` only ever accepts: what it decodes, the pydantic models accept too, with the same values."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import leadflow_native
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pipelines.core.model import Event, Origin, TimeRange
from pipelines.core.rows import EVENT_COLUMNS, to_event_row
from pipelines.core.validate import parse_event, to_event
from schemas.events import EVENT_ADAPTER, RFC3339
from tests.unit.factories import examples

EXAMPLES = examples()
FAST_TYPES = ["web.visit", "web.form_submitted", "crm.lifecycle_changed", "crm.owner_assigned", "crm.activity_logged"]
DIFFERENTIAL = settings(
    max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)

# strings at and around every length limit, in one- and two-code-unit characters
SIZES = [0, 1, 511, 512, 513, 4095, 4096, 4097]
EDGE_TEXT = [c * n for n, c in itertools.product(SIZES, ["a", "é", "\U0001f600"])]
NASTY = st.sampled_from(["\x00", "\x1f", "\u202e", "\ufeff", "\ud800", "\udfff", "\U0001f600", "é", "a", '"', "\\"])
TEXT = st.text(st.one_of(st.characters(), NASTY), max_size=12) | st.sampled_from(EDGE_TEXT)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
# RFC 3339 and near misses: every part at and past its range, fractions of up to twelve digits, every offset form
TIMES = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.sampled_from(["2026", "0001", "9999", "0000", "26"]),
    st.sampled_from(["11", "02", "13", "00"]),
    st.sampled_from(["02", "29", "31", "00"]),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["09", "00", "23", "24"]),
    st.sampled_from(["15", "59", "60"]),
    st.sampled_from(["00", "59", "60", "61"]),
    st.sampled_from(["", ".", ".1", ".123", ".123456", ".9999995", ".1234567", ".999999999999"]),
    st.sampled_from(["Z", "z", "+00:00", "-00:00", "+01:00", "+23:59", "-23:59", "+24:00", "+00:60", "+0100", ""]),
) | st.text(max_size=30)
FIELD_VALUES = JSON_VALUES | TIMES | st.sampled_from(["1.0", "mql", "lead", "call", "note", "web.visit", "v-1", "L1"])


DECODER = leadflow_native.EventDecoder(Event)


def _assert_same_as_pydantic(raw: bytes) -> None:
    """If the native decoder takes `raw`, pydantic takes it too, and both give the same core event."""
    native = DECODER.decode(raw)
    if native is None:
        return
    try:
        model = EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        pytest.fail(f"the native decoder took what pydantic refuses: {raw!r}: {exc}")
    expected = to_event(model, raw, model.time)
    assert native == expected
    assert [type(v) for v in native] == [type(v) for v in expected]  # True is not 1, a str not a StrEnum
    assert native.time.tzinfo is expected.time.tzinfo
    assert native.payload is raw


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """An example event of a fast type with fields replaced, removed or added, encoded in any of several ways."""
    document: dict[str, Any] = copy.deepcopy(EXAMPLES[draw(st.sampled_from(FAST_TYPES))])
    for _ in range(draw(st.integers(0, 3))):
        data = document.get("data")
        target = draw(st.sampled_from([document, data] if isinstance(data, dict) else [document]))
        key = draw(st.sampled_from([*target, "extra", "type", "lead_id", "stage", "automated"]))
        action = draw(st.sampled_from(["set", "set", "drop"]))
        if action == "drop":
            target.pop(key, None)
        else:
            target[key] = draw(FIELD_VALUES)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):  # a key given twice: the later one counts in both decodings, or neither takes it
        key = draw(st.sampled_from(["id", "type", "time", "subject", "data", "specversion"]))
        text = text[:-1] + f', "{key}": {json.dumps(draw(FIELD_VALUES))}}}'
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 0:  # a byte changed anywhere: broken UTF-8, broken JSON, a changed value
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


@DIFFERENTIAL
@given(mutated())
def test_what_the_native_decoder_takes_pydantic_takes_alike(raw: bytes) -> None:
    """Generated and mutated events of every common type: never an event pydantic refuses, never another value."""
    _assert_same_as_pydantic(raw)


@DIFFERENTIAL
@given(TIMES)
def test_a_time_is_decoded_only_as_the_contract_decodes_it(text: str) -> None:
    """Every time the native decoder takes matches RFC3339 and equals pydantic's value, in UTC."""
    document = copy.deepcopy(EXAMPLES["web.visit"])
    document["time"] = text
    raw = json.dumps(document).encode("utf-8", "surrogatepass")
    if DECODER.decode(raw) is not None:
        assert RFC3339.match(text)
    _assert_same_as_pydantic(raw)


@pytest.mark.parametrize("event_type", FAST_TYPES)
def test_every_field_at_its_limits_is_decoded_alike(event_type: str) -> None:
    """Each field of the envelope and of `data` set to text at and around every length limit, and to null."""
    example = EXAMPLES[event_type]
    places = [(None, key) for key in example if key != "data"] + [("data", key) for key in example["data"]]
    for (parent, key), value in itertools.product(places, [*EDGE_TEXT, None]):
        document = copy.deepcopy(example)
        (document if parent is None else document[parent])[key] = value
        _assert_same_as_pydantic(json.dumps(document, ensure_ascii=False).encode())


@pytest.mark.parametrize("event_type", FAST_TYPES)
def test_the_common_types_take_the_native_decoder(event_type: str) -> None:
    """A valid event of a common type is decoded natively, to the same event pydantic gives (not left to it)."""
    raw = json.dumps(EXAMPLES[event_type]).encode()
    assert DECODER.decode(raw) is not None
    _assert_same_as_pydantic(raw)
    assert isinstance(parse_event(raw), Event)


def test_a_visit_is_flattened_field_by_field() -> None:
    """A visit's event is built by position: every field lands where its name says."""
    document = EXAMPLES["web.visit"]
    raw = json.dumps(document).encode()
    event = parse_event(raw)
    assert isinstance(event, Event)
    data = document["data"]
    named = {name: data[name] for name in ("visitor_id", "url", "referrer", "utm_source", "utm_medium", "utm_campaign")}
    assert {name: getattr(event, name) for name in named} == named
    assert (event.source, event.id, event.type, event.subject, event.payload) == (
        document["source"], document["id"], "web.visit", document["subject"], raw,
    )  # fmt: skip
    others = set(Event._fields) - {*named, "source", "id", "type", "time", "subject", "payload"}
    assert all(getattr(event, name) is None for name in others)


@pytest.mark.parametrize(
    "tail",
    [
        b', "x": "\xff"}',  # an unknown field is skipped, its UTF-8 checked all the same
        b', "x": "\xed\xa0\x80"}',  # a surrogate in UTF-8 form
        b', "x": NaN}',
        b', "x": [1,]}',
        b', "id": ""}',
        b', "type": "crm.deal_changed"}',
        b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than serde_json recurses
        b', "subject": "someone else"}',
        b', "specversion": "1.1"}',
        b', "data": null}',
    ],
)
def test_what_pydantic_refuses_is_left_to_pydantic(tail: bytes) -> None:
    """Cases that could differ: the native decoder leaves them, and pydantic's reasons stand."""
    raw = json.dumps(EXAMPLES["web.visit"]).encode()[:-1] + tail
    assert DECODER.decode(raw) is None
    assert parse_event(raw) == parse_event(raw)  # judged by pydantic, alike each time
    _assert_same_as_pydantic(raw)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-02T09:15:00.9999995+00:00",  # over six fraction digits: others round, pydantic truncates
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "2026-11-02T09:15Z",  # no seconds
        "2026-11-02T09:15:00+01:00\n",  # the regular expression's `$` takes a final newline
    ],
)
def test_unusual_times_are_left_to_pydantic(text: str) -> None:
    """Times in a form the native decoder does not take are judged by the pydantic models."""
    document = copy.deepcopy(EXAMPLES["web.visit"])
    document["time"] = text
    raw = json.dumps(document).encode()
    assert DECODER.decode(raw) is None
    _assert_same_as_pydantic(raw)


class _Plain(tuple):  # type: ignore[type-arg]
    __slots__ = ()
    _fields = Event._fields


class _WithDict(tuple):  # type: ignore[type-arg]  # no __slots__: its instances carry a __dict__
    _fields = Event._fields


class _Short(tuple):  # type: ignore[type-arg]
    __slots__ = ()
    _fields = ("source",)


@pytest.mark.parametrize("given", [tuple, int, Origin, _WithDict, _Short])
def test_the_decoder_refuses_a_class_it_cannot_fill(given: type) -> None:
    """Only a tuple class of Event's fields and layout: its instances are filled slot by slot."""
    with pytest.raises(TypeError, match="named tuple of 24 fields"):
        leadflow_native.EventDecoder(given)


def test_the_decoder_fills_any_class_of_the_event_s_layout() -> None:
    raw = json.dumps(EXAMPLES["crm.activity_logged"]).encode()
    plain = leadflow_native.EventDecoder(_Plain).decode(raw)
    assert type(plain) is _Plain
    assert tuple(plain) == tuple(DECODER.decode(raw) or ())


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_an_event_s_row_is_its_fields_and_origin(event_type: str) -> None:
    """`to_event_row` (Rust) gives the `events` columns: empty text for no lead or visitor, the payload as text."""
    raw = json.dumps(EXAMPLES[event_type], ensure_ascii=False).encode()
    event = parse_event(raw)
    assert isinstance(event, Event)
    row = to_event_row(event, Origin("leadflow.crm", 3, 41))
    expected = {
        "source": event.source, "id": event.id, "type": event.type, "time": event.time, "subject": event.subject,
        "lead_id": event.lead_id or "", "visitor_id": event.visitor_id or "", "payload": raw.decode(),
        "topic": "leadflow.crm", "partition": 3, "offset": 41,
    }  # fmt: skip
    assert dict(zip(EVENT_COLUMNS, row, strict=True)) == expected


def test_an_event_row_refuses_what_is_not_an_event() -> None:
    event = parse_event(json.dumps(EXAMPLES["web.visit"]).encode())
    assert isinstance(event, Event)
    with pytest.raises(UnicodeDecodeError):
        to_event_row(event._replace(payload=b"\xff"), Origin("t", 0, 1))
    with pytest.raises(TypeError):
        to_event_row(event[:5], Origin("t", 0, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_event_row(event, ("t", 0))  # type: ignore[arg-type]


@pytest.mark.parametrize(("offset_us", "taken"), [(0, True), (999, True), (1000, False)])
def test_the_time_range_is_judged_on_the_time_as_kept_whichever_decoder_takes_the_event(
    offset_us: int, taken: bool
) -> None:
    """A time past the latest accepted by less than a millisecond is kept as the latest, by either decoder."""
    latest = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    accepted = TimeRange(latest - timedelta(days=1), latest)
    document = copy.deepcopy(EXAMPLES["web.visit"])
    document["time"] = (latest + timedelta(microseconds=offset_us)).isoformat()
    native = json.dumps(document).encode()
    document["extra"] = [[]] * 40  # 43 brackets in all: left to the pydantic models
    slow = json.dumps(document).encode()
    assert DECODER.decode(native) is not None and DECODER.decode(slow) is None
    for raw in (native, slow):
        result = parse_event(raw, accepted=accepted)
        assert isinstance(result, Event) is taken, result


def test_text_many_events_carry_is_one_string_object_and_the_values_stay_right() -> None:
    """Sources, pages, campaigns, owners, stages and kinds are shared; past the bound, every value is still its own."""
    decoder = leadflow_native.EventDecoder(Event)
    first, second = (
        decoder.decode(json.dumps({**EXAMPLES["web.visit"], "id": f"visit-{n}"}).encode()) for n in range(2)
    )
    assert first is not None and second is not None
    for name in ("source", "url", "referrer", "utm_source", "utm_medium", "utm_campaign"):
        assert getattr(first, name) is getattr(second, name), name
    assert first.id is not second.id
    for n in range(5000):  # more sources than are kept: the cache is emptied and filled again
        document = {**EXAMPLES["crm.owner_assigned"], "source": f"/crm/{n}"}
        document["data"] = {**document["data"], "owner_id": f"owner-{n % 7}"}
        event = decoder.decode(json.dumps(document).encode())
        assert event is not None and (event.source, event.owner_id) == (f"/crm/{n}", f"owner-{n % 7}")
