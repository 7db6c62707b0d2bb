"""The traffic simulator: deterministic, realistic, valid where it should be and broken where it should be."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import EVENT_ADAPTER, EVENT_MODELS
from services.simulate import (
    CRM_SOURCE,
    WEB_SOURCE,
    SimulatedEvent,
    SimulationConfig,
    simulate,
    summarize,
    write_jsonl,
)
from services.simulate_crm import BERLIN, CAMPAIGNS, next_business_moment

DEFAULT = SimulationConfig()
DEFECTS = {"not_json", "missing_field", "unknown_type", "unknown_stage", "wrong_type", "naive_time"}


@pytest.fixture(scope="module")
def default_events() -> list[SimulatedEvent]:
    return list(simulate(DEFAULT))


@pytest.fixture(scope="module")
def stories(default_events: list[SimulatedEvent]) -> dict[str, list[dict[str, Any]]]:
    """Distinct valid events per subject, in event-time order."""
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in default_events:
        if event.kind in ("valid", "late"):
            parsed = orjson.loads(event.value)
            parsed["at"] = datetime.fromisoformat(parsed["time"])
            by_subject[parsed["subject"]].append(parsed)
    return {subject: sorted(events, key=lambda e: e["at"]) for subject, events in by_subject.items()}


def _is_valid(value: bytes) -> bool:
    try:
        EVENT_ADAPTER.validate_json(value)
    except ValidationError:
        return False
    return True


def _check_stream(events: list[SimulatedEvent]) -> None:
    """Properties every simulated stream has, whatever the config."""
    arrivals = [event.arrival for event in events]
    assert arrivals == sorted(arrivals)
    seen: set[bytes] = set()
    malformed: set[bytes] = set()
    for event in events:
        assert event.kind in ("valid", "duplicate", "late", "malformed")
        assert b"\n" not in event.value
        if event.kind == "malformed":
            assert not _is_valid(event.value), event.value
            assert event.value not in malformed and event.value not in seen
            malformed.add(event.value)
            continue
        parsed = EVENT_ADAPTER.validate_json(event.value)
        assert event.type == parsed.type and event.key == parsed.subject.encode()
        assert event.arrival >= parsed.time
        expected_subject = parsed.data.visitor_id if parsed.type == "web.visit" else parsed.data.lead_id
        assert parsed.subject == expected_subject
        assert parsed.source == (WEB_SOURCE if parsed.type.startswith("web.") else CRM_SOURCE)
        assert (event.value in seen) == (event.kind == "duplicate"), event.value
        seen.add(event.value)


def test_default_run_is_large_and_has_every_type_and_kind(default_events: list[SimulatedEvent]) -> None:
    summary = summarize(default_events)
    assert summary.total == len(default_events) > 10_000
    # every type but the owners' absences: the simulated CRM has no calendar (and no owners file)
    assert set(summary.by_type) == set(EVENT_MODELS) - {"crm.owner_away"}
    assert min(summary.duplicates, summary.late, summary.malformed) > 0
    assert summary.valid == sum(summary.by_type.values())
    assert summary.total == summary.valid + summary.duplicates + summary.malformed
    assert {event.defect for event in default_events if event.kind == "malformed"} == DEFECTS


def test_default_run_keeps_the_contract(default_events: list[SimulatedEvent]) -> None:
    _check_stream(default_events)


def test_ids_are_unique_within_their_source(default_events: list[SimulatedEvent]) -> None:
    keys = Counter(
        (parsed["source"], parsed["id"])
        for parsed in (orjson.loads(e.value) for e in default_events if e.kind in ("valid", "late"))
    )
    assert keys.most_common(1)[0][1] == 1


def test_times_carry_an_offset_and_start_with_the_window(default_events: list[SimulatedEvent]) -> None:
    times = [orjson.loads(e.value)["time"] for e in default_events if e.kind != "malformed"]
    assert all(t[-6:] in ("+00:00", "+01:00") and len(t) == 29 for t in times)
    assert min(datetime.fromisoformat(t) for t in times) >= DEFAULT.start


def test_late_events_arrive_minutes_to_hours_after_they_happened(default_events: list[SimulatedEvent]) -> None:
    lags = [
        e.arrival - datetime.fromisoformat(orjson.loads(e.value)["time"]) for e in default_events if e.kind == "late"
    ]
    assert min(lags) >= timedelta(minutes=5) and max(lags) <= timedelta(hours=3)
    # Late means out of order: something that happened later arrived earlier.
    position = {id(e): n for n, e in enumerate(default_events)}
    late = next(e for e in default_events if e.kind == "late")
    happened = datetime.fromisoformat(orjson.loads(late.value)["time"])
    assert any(default_events[n].arrival > happened for n in range(position[id(late)]))


def test_the_same_config_gives_the_same_bytes(default_events: list[SimulatedEvent]) -> None:
    again = list(simulate(SimulationConfig()))
    assert [e.value for e in again] == [e.value for e in default_events]
    assert again == default_events
    other = simulate(SimulationConfig(seed=7, visitors=200))
    assert [e.value for e in other] != [e.value for e in simulate(SimulationConfig(seed=8, visitors=200))]


def test_stages_move_forward_backward_sideways_and_skip(stories: dict[str, list[dict[str, Any]]]) -> None:
    moves = {
        subject: [e["data"]["stage"] for e in events if e["type"] == "crm.lifecycle_changed"]
        for subject, events in stories.items()
    }
    pairs = Counter(pair for stages in moves.values() for pair in itertools.pairwise(stages))
    assert {("lead", "mql"), ("mql", "sal"), ("sal", "sql"), ("mql", "sql")} <= set(pairs)
    assert pairs[("sql", "sal")] + pairs[("sal", "mql")] > 0  # backward moves
    assert any(stages[i] == "recycled" and "mql" in stages[i:] for stages in moves.values() for i in range(len(stages)))
    reasons = {
        e["data"]["stage"]: e["data"].get("reason")
        for events in stories.values()
        for e in events
        if e["type"] == "crm.lifecycle_changed" and e["data"]["stage"] in ("recycled", "disqualified")
    }
    assert reasons.keys() == {"recycled", "disqualified"} and all(reasons.values())


def test_deals_are_created_proposed_and_won_or_lost(stories: dict[str, list[dict[str, Any]]]) -> None:
    deals = [e["data"] for events in stories.values() for e in events if e["type"] == "crm.deal_changed"]
    assert {d["stage"] for d in deals} == {"created", "proposal", "won", "lost"}
    assert {d["currency"] for d in deals} == {"EUR", "USD"}
    assert all(d["amount"].endswith(".00") and float(d["amount"]) >= 0 for d in deals)


def test_human_follow_ups_come_sometimes_fast_sometimes_slow(stories: dict[str, list[dict[str, Any]]]) -> None:
    waits = []
    for events in stories.values():
        stages = [e for e in events if e["type"] == "crm.lifecycle_changed"]
        mql = next((e["at"] for e in stages if e["data"]["stage"] == "mql"), None)
        human = [e for e in events if e["type"] == "crm.activity_logged" and not e["data"]["automated"]]
        if mql is not None and human:
            waits.append(human[0]["at"] - mql)
            assert human[0]["data"]["owner_id"].startswith("rep-")
    assert min(waits) >= timedelta(minutes=10)
    assert any(w < timedelta(hours=4) for w in waits) and any(w > timedelta(days=1) for w in waits)


def test_sales_work_happens_mostly_in_business_hours(stories: dict[str, list[dict[str, Any]]]) -> None:
    moments = [
        e["at"]
        for events in stories.values()
        for e in events
        if e["type"] == "crm.lifecycle_changed" and e["data"]["stage"] in ("sal", "sql", "disqualified")
    ]
    inside = sum(next_business_moment(moment) == moment for moment in moments)
    assert inside / len(moments) > 0.75


def test_first_visits_carry_campaigns_from_a_small_set(stories: dict[str, list[dict[str, Any]]]) -> None:
    first_visits = [events[0]["data"] for events in stories.values() if events[0]["type"] == "web.visit"]
    campaigns = {(d["utm_source"], d["utm_medium"], d["utm_campaign"]) for d in first_visits if "utm_source" in d}
    assert campaigns == set(CAMPAIGNS)
    assert 0.3 < sum("utm_source" in d for d in first_visits) / len(first_visits) < 0.6


def test_next_business_moment_skips_nights_and_weekends() -> None:
    friday_evening = datetime(2026, 11, 6, 18, 30, tzinfo=BERLIN)
    assert next_business_moment(friday_evening) == datetime(2026, 11, 9, 9, 0, tzinfo=BERLIN)
    tuesday_noon = datetime(2026, 11, 3, 12, 0, tzinfo=BERLIN)
    assert next_business_moment(tuesday_noon) is tuesday_noon


def test_write_jsonl_writes_every_line_and_returns_the_summary(tmp_path: Path) -> None:
    config = SimulationConfig(seed=3, visitors=300, malformed_rate=0.05)
    path = tmp_path / "events.jsonl"
    summary = write_jsonl(config, path, progress=True)
    assert path.read_bytes() == b"".join(e.value + b"\n" for e in simulate(config))
    assert summary == summarize(simulate(config))
    assert summary.total == len(path.read_bytes().splitlines())


def test_simulate_is_lazy() -> None:
    started = time.perf_counter()
    first = next(simulate(SimulationConfig(visitors=10_000_000)))
    assert time.perf_counter() - started < 2 and first.type == "web.visit"


def test_empty_and_instant_windows() -> None:
    assert list(simulate(SimulationConfig(visitors=0))) == []
    instant = list(simulate(SimulationConfig(days=0, visitors=20)))
    assert instant and instant[0].arrival == DEFAULT.start


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("visit_to_lead", 1.5),
        ("late_rate", -0.01),
        ("human_followup_rate", float("nan")),
        ("visitors", -1),
        ("days", 2.5),
        ("duplicate_rate", "0.1"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        SimulationConfig(**{name: value})  # type: ignore[arg-type]


def test_config_rejects_a_naive_start() -> None:
    with pytest.raises(ValueError, match="start"):
        SimulationConfig(start=datetime(2026, 11, 2, 8, 0))  # noqa: DTZ001 - naive on purpose


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    visitors=st.integers(min_value=0, max_value=150),
    anomaly=st.floats(min_value=0, max_value=0.3),
    days=st.integers(min_value=0, max_value=30),
)
def test_any_seed_gives_a_well_formed_stream(seed: int, visitors: int, anomaly: float, days: int) -> None:
    config = SimulationConfig(
        seed=seed,
        visitors=visitors,
        days=days,
        start=datetime(2027, 3, 26, 23, 0, tzinfo=UTC),  # spans the switch to summer time
        visit_to_lead=0.5,
        duplicate_rate=anomaly,
        late_rate=anomaly,
        malformed_rate=anomaly,
        backward_rate=anomaly,
    )
    events = list(simulate(config))
    _check_stream(events)
    assert summarize(events).valid >= visitors
