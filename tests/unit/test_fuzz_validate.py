"""Fuzzing `parse_event` and the replay accounting: any input is an Event or an Invalid, never an exception."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.agreements import load_agreements
from pipelines.core.model import Event, Invalid
from pipelines.core.sla import Judge
from pipelines.core.validate import parse_event
from pipelines.replay import Replayer, ReplayStats
from pipelines.topics import INPUT_TOPICS, TOPIC_BY_TYPE

REPO = Path(__file__).resolve().parents[2]
JUDGE = Judge(load_agreements(REPO / "agreements"))
FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
STREAMS = settings(FUZZ, max_examples=100)

# every troublesome kind of character: NUL, controls, RTL marks, lone surrogates, astral planes
NASTY = st.sampled_from(["\x00", "\x1f", "\u202e", "\u200f", "\ufeff", "\ud800", "\udfff", "\U0001f600", "é", "a"])
TEXT = st.text(st.one_of(st.characters(), NASTY), max_size=40)
SAFE_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
TYPES = list(TOPIC_BY_TYPE)
FIELDS = ["specversion", "id", "source", "type", "time", "subject", "data"]


LEAD_DATA: dict[str, dict[str, Any]] = {
    "web.form_submitted": {"visitor_id": "vis-1", "form_id": "demo"},
    "crm.lifecycle_changed": {"stage": "mql"},
    "crm.owner_assigned": {"owner_id": "owner-1"},
    "crm.activity_logged": {"kind": "call", "automated": False},
    "crm.deal_changed": {"deal_id": "deal-1", "stage": "won", "amount": "1200.50", "currency": "EUR"},
}


def _data(event_type: str, subject: str) -> dict[str, Any]:
    """Return a valid `data` object of a type for a subject (lead or visitor id)."""
    if event_type == "web.visit":
        return {"visitor_id": subject, "url": "https://shop.test/?utm_source=news", "utm_source": "news"}
    if event_type == "crm.owner_away":
        return {"owner_id": subject, "from": "2026-11-03T00:00:00+01:00", "to": "2026-11-04T00:00:00+01:00"}
    return {"lead_id": subject, **LEAD_DATA[event_type]}


def _envelope(event_type: str, subject: str, id: str, time: str = "2026-11-02T09:15:00.123+01:00") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": id,
        "source": "/crm/hubspot",
        "type": event_type,
        "time": time,
        "subject": subject,
        "data": _data(event_type, subject),
    }


def _encode(document: Any, ascii_only: bool = True) -> bytes:
    """Encode as JSON; lone surrogates become `\\ud800` escapes, or CESU-8 bytes when not `ascii_only`."""
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _assert_sane(result: Event | Invalid, raw: bytes) -> None:
    """An Invalid keeps the raw bytes and says why; an Event parses again to itself."""
    assert isinstance(result, Event | Invalid)
    if isinstance(result, Invalid):
        assert result.raw == raw and result.reason.strip()
    else:
        assert parse_event(result.payload) == result
        assert result.time.tzinfo is not None


def _checked(raw: bytes, topic: str | None = None) -> Event | Invalid:
    result = parse_event(raw, topic)
    _assert_sane(result, raw)
    return result


@st.composite
def wrong_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope with one field (top-level or in `data`) replaced by any JSON value, or removed."""
    document = _envelope(draw(st.sampled_from(TYPES)), "lead-1", "e-1")
    target = document if draw(st.booleans()) else document["data"]
    field = draw(st.sampled_from([*sorted(target), "extra"]))
    if draw(st.integers(0, 4)) == 0:
        target.pop(field, None)
    else:
        target[field] = draw(JSON_VALUES)
    return document


@st.composite
def unicode_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope whose every string field may hold NUL, controls, RTL marks or surrogates."""
    event_type = draw(st.sampled_from(TYPES))
    subject = draw(TEXT)
    document = _envelope(event_type, subject, draw(TEXT))
    document["source"] = draw(TEXT)
    data = document["data"]
    for key, value in list(data.items()):
        if isinstance(value, str) and key not in ("lead_id", "visitor_id") and draw(st.booleans()):
            data[key] = draw(TEXT)
    return document


# hypothesis takes naive bounds; years 1 and 9999 are left to test_times_at_the_edges_of_datetime
EARLIEST = datetime(2, 1, 1, tzinfo=UTC).replace(tzinfo=None)
LATEST = datetime(9998, 12, 31, 23, 59, tzinfo=UTC).replace(tzinfo=None)
OFFSET = re.compile(r"([Zz]|[+-]\d{2}:\d{2})$")
BAD_TIMES = st.one_of(
    st.sampled_from(
        [
            "2026-13-45T09:00:00Z",
            "2026-02-30T09:00:00Z",
            "2026-11-02T25:61:61Z",
            "2026-11-02T09:00:00",
            "2026-11-02 09:00:00",
            "0000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "2026-11-02T09:00:00+24:00",
            "2026-11-02T09:00:00+99:99",
            "2026-11-02T09:00:00.1234567890123456789Z",
            "1762074000",
            "",
        ]
    ),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?\Z"),
    st.datetimes(min_value=EARLIEST, max_value=LATEST).map(lambda d: d.isoformat()),
    st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers() | st.floats() | st.none() | st.lists(st.integers(), max_size=3),
)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    _checked(raw)


@FUZZ
@given(JSON_VALUES, st.booleans(), st.sampled_from([None, *INPUT_TOPICS, "nope"]))
def test_random_json_values(document: Any, ascii_only: bool, topic: str | None) -> None:
    _checked(_encode(document, ascii_only), topic)


@FUZZ
@given(wrong_envelopes(), st.sampled_from([None, *INPUT_TOPICS]))
def test_envelopes_with_wrong_types(document: dict[str, Any], topic: str | None) -> None:
    _checked(_encode(document), topic)


@FUZZ
@given(unicode_envelopes(), st.booleans())
def test_unicode_in_every_field(document: dict[str, Any], ascii_only: bool) -> None:
    _checked(_encode(document, ascii_only))


@FUZZ
@given(st.sampled_from(TYPES), BAD_TIMES)
def test_bad_times(event_type: str, time: Any) -> None:
    document = _envelope(event_type, "lead-1", "e-1")
    document["time"] = time
    result = _checked(_encode(document))
    if isinstance(time, str) and not OFFSET.search(time):
        assert isinstance(result, Invalid)  # a time without its offset is ambiguous


@pytest.mark.parametrize("time", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_times_at_the_edges_of_datetime(time: str) -> None:
    document = _envelope("crm.lifecycle_changed", "lead-1", "e-1", time)
    _checked(_encode(document))


@pytest.mark.parametrize("field", FIELDS)
def test_a_100_kb_string_in_each_field(field: str) -> None:
    document = _envelope("crm.lifecycle_changed", "lead-1", "e-1")
    document[field] = "x" * 100_000
    assert isinstance(_checked(_encode(document)), Invalid)


@pytest.mark.parametrize("field", ["lead_id", "reason", "owner_id", "extra"])
def test_a_100_kb_string_in_data(field: str) -> None:
    document = _envelope("crm.lifecycle_changed", "lead-1", "e-1")
    document["data"][field] = "\u202e" * 100_000
    assert isinstance(_checked(_encode(document)), Invalid | Event)


@pytest.mark.parametrize("opener,closer", [(b"[", b"]"), (b'{"a":', b"}")])
@pytest.mark.parametrize("where", ["top", "id", "data", "extension"])
def test_1000_levels_of_nesting(opener: bytes, closer: bytes, where: str) -> None:
    deep = opener * 1000 + b"0" + closer * 1000
    head = b'{"specversion":"1.0","source":"/crm/x","type":"crm.owner_assigned","time":"2026-11-02T09:00:00Z",'
    body = b'"subject":"lead-1","data":{"lead_id":"lead-1","owner_id":"o"'
    raw = {
        "top": deep,
        "id": head + b'"id":' + deep + b"," + body + b"}}",
        "data": head + b'"id":"e",' + body + b',"x":' + deep + b"}}",
        "extension": head + b'"id":"e",' + body + b'},"x":' + deep + b"}",
    }[where]
    assert isinstance(_checked(raw), Invalid)


class CollectingStore:
    """A store that keeps every inserted row, by table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Sequence[Any]]] = {}

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self.rows.setdefault(table, []).extend(rows)

    def close(self) -> None:
        pass


@st.composite
def valid_lines(draw: st.DrawFn) -> bytes:
    """A valid event from a small pool of leads, visitors, ids and minutes, so that duplicates happen."""
    event_type = draw(st.sampled_from(TYPES))
    prefix = "vis" if event_type == "web.visit" else "lead"
    subject = f"{prefix}-{draw(st.integers(1, 3))}"
    # an id names one event: the same id always comes with the same type and subject
    id = f"{event_type}/{subject}/{draw(st.integers(1, 4))}"
    minute = draw(st.integers(0, 59))
    return _encode(_envelope(event_type, subject, id, f"2026-11-02T09:{minute:02d}:00+01:00"))


LINES = st.one_of(
    valid_lines(),
    valid_lines(),
    st.binary(max_size=200),
    wrong_envelopes().map(_encode),
    unicode_envelopes().map(_encode),
)


def _one_meaning_per_key(lines: list[bytes]) -> list[bytes]:
    """Keep lines whose key is new, or that repeat a lead event of the same type and subject.

    Left out: a repeated visit (the replay does not count it as a duplicate, see the xfail below) and a key
    reused by another type or subject (two events, one row in the store).
    """
    meaning: dict[tuple[str, str], tuple[str, str]] = {}
    kept = []
    for raw in lines:
        parsed = parse_event(raw)
        if isinstance(parsed, Event):
            if parsed.key in meaning and (
                parsed.type == "web.visit" or meaning[parsed.key] != (parsed.type, parsed.subject)
            ):
                continue
            meaning[parsed.key] = (parsed.type, parsed.subject)
        kept.append(raw)
    return kept


def _replayed(lines: list[bytes]) -> tuple[ReplayStats, CollectingStore]:
    store = CollectingStore()
    replayer = Replayer(store, datetime(2026, 12, 1, tzinfo=UTC), "replay:fuzz", JUDGE)
    for number, raw in enumerate(lines, start=1):
        replayer.feed(raw, number)
    return replayer.finish(), store


@STREAMS
@given(st.lists(LINES, max_size=40).map(_one_meaning_per_key))
def test_replay_accounts_for_every_line_once(lines: list[bytes]) -> None:
    stats, store = _replayed(lines)
    parsed = [parse_event(raw) for raw in lines]
    keys = {p.key for p in parsed if isinstance(p, Event)}
    assert stats.lines == len(lines) == stats.valid + stats.invalid
    assert stats.invalid == sum(isinstance(p, Invalid) for p in parsed)
    assert len(store.rows.get("dead_letters", [])) == stats.invalid
    assert len(store.rows.get("events", [])) == len(keys)
    assert len(keys) + stats.duplicates == stats.valid


def test_replay_counts_a_repeated_visit_as_a_duplicate() -> None:
    visit = _encode(_envelope("web.visit", "vis-1", "v-1"))
    stats, store = _replayed([visit, visit])
    assert (stats.valid, stats.duplicates, len(store.rows["events"])) == (2, 1, 1)
