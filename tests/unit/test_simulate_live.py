"""Live traffic for the demo: which events at which times, judged by the real core under the demo's agreements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise, takewhile
from pathlib import Path

import orjson
import pytest

from pipelines.agreements import load_agreements
from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.model import Event, EventTimes
from pipelines.core.sla import BREACHED, MET, WARNING, Judge, due_events
from pipelines.core.validate import parse_event
from services.demo_agreements import write_demo_agreements
from services.simulate import SimulatedEvent, SimulationConfig, simulate
from services.simulate_live import LivePace, live_events, schedule, split_at

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # a Saturday: office hours would start no clock today
NOT_AHEAD = EventTimes(datetime(2000, 1, 1, tzinfo=UTC), timedelta(0))


def _until(events: Iterable[SimulatedEvent], end: datetime) -> list[SimulatedEvent]:
    return list(takewhile(lambda e: e.arrival < end, events))


def _parsed(event: SimulatedEvent, at: datetime) -> Event:
    parsed = parse_event(event.value, accepted=NOT_AHEAD.at(at))
    assert isinstance(parsed, Event), (parsed, event.value)
    return parsed


def _published(events: list[SimulatedEvent], judge: Judge, now: datetime) -> Counter[str]:
    """What a worker judging on the wall clock has published by `now`, from the events it has read by then."""
    states: dict[str, LeadState] = {}
    for event in events:
        parsed = _parsed(event, event.arrival)
        if parsed.type != "web.visit":
            states[parsed.subject], _changed = apply_event(states.get(parsed.subject), parsed)
    kinds: Counter[str] = Counter()
    for lead_id, state in states.items():
        clocks = snapshot(state, judge).clocks
        kinds.update(e.kind for e in due_events(lead_id, clocks, frozenset(), now))
    return kinds


def test_same_seed_and_start_give_the_same_events() -> None:
    first = [e.value for e in islice(live_events(START, LivePace()), 200)]
    assert first == [e.value for e in islice(live_events(START, LivePace()), 200)]
    assert first != [e.value for e in islice(live_events(START, LivePace(seed=7)), 200)]


def test_every_event_arrives_at_its_own_time_in_order_and_is_valid_then() -> None:
    events = _until(live_events(START, LivePace()), START + timedelta(hours=1))
    assert [e.arrival for e in events] == sorted(e.arrival for e in events)
    assert events[0].arrival > START
    for event in events:
        parsed = _parsed(event, event.arrival)  # refused if dated even a millisecond after it is sent
        assert event.arrival - parsed.time < timedelta(milliseconds=1)
        assert event.kind == "valid"


def test_a_human_pace() -> None:
    events = _until(live_events(START, LivePace()), START + timedelta(hours=1))
    types = Counter(e.type for e in events)
    visitors = {orjson.loads(e.value)["subject"] for e in events if e.type == "web.visit"}
    mqls = [e for e in events if b'"stage":"mql"' in e.value]
    assert 150 <= len(visitors) <= 330  # one every 15 s on average
    assert 40 <= len(mqls) <= 120
    assert 400 <= len(events) <= 1500, types  # a few events a minute, not a flood
    gaps = [(b.arrival - a.arrival).total_seconds() for a, b in pairwise(events)]
    assert max(gaps) < 180


@pytest.mark.parametrize("hour", range(0, 24, 2))
@pytest.mark.parametrize("day", [START, START + timedelta(days=2)])  # a Saturday and a Monday
def test_a_clock_runs_warns_breaches_and_is_met_within_five_minutes_at_any_hour(
    tmp_path: Path, day: datetime, hour: int
) -> None:
    start = day.replace(hour=hour, minute=37)
    judge = Judge(load_agreements(write_demo_agreements(tmp_path, start, 2)))
    events = _until(live_events(start, LivePace(seed=hour)), start + timedelta(minutes=5))
    published = _published(events, judge, start + timedelta(minutes=5))
    assert published[WARNING] >= 2 and published[BREACHED] >= 1 and published[MET] >= 2, published
    running = _published(events, judge, start + timedelta(seconds=50))
    assert not running[BREACHED] and not running[WARNING]  # at first the clocks only run


def test_a_one_minute_promise_breaches_within_two_minutes(tmp_path: Path) -> None:
    judge = Judge(load_agreements(write_demo_agreements(tmp_path, START, 1)))
    pace = LivePace(promise=timedelta(minutes=1))
    events = _until(live_events(START, pace), START + timedelta(minutes=2))
    assert _published(events, judge, START + timedelta(minutes=2))[BREACHED] >= 1


def test_over_an_hour_some_mqls_are_followed_up_in_time_and_some_not(tmp_path: Path) -> None:
    judge = Judge(load_agreements(write_demo_agreements(tmp_path, START, 2)))
    events = _until(live_events(START, LivePace()), START + timedelta(hours=1))
    published = _published(events, judge, START + timedelta(hours=1))
    judged = published[MET] + published[BREACHED]
    assert 0.2 <= published[BREACHED] / judged <= 0.6, published
    assert published[WARNING] > published[BREACHED]  # late ones warn too, and so do some met after the warning


# -- the backfill, then live -----------------------------------------------------------------------


def test_the_backfill_sends_nothing_dated_after_its_start_and_later_events_wait_for_their_time() -> None:
    now = START
    config = replace(SimulationConfig(), visitors=400, days=14, start=now - timedelta(days=14))
    arrived, later = split_at(simulate(config), now)
    assert later, "stories that run past now (follow-ups, deals) are held back"
    assert all(e.arrival <= now for e in arrived) and all(e.arrival > now for e in later)
    planned = list(takewhile(lambda p: p[0] < now + timedelta(days=60), schedule(arrived, later, [], now, 150.0)))
    assert len(planned) == len(arrived) + len(later)
    assert [due for due, _ in planned] == sorted(due for due, _ in planned)
    for due, event in planned:
        if event.kind != "malformed":
            _parsed(event, due)  # never sent ahead of its time
    backfill = [due for due, event in planned if event.arrival <= now]
    assert backfill[-1] - backfill[0] == timedelta(seconds=(len(arrived) - 1) / 150.0)


def test_live_events_interleave_with_the_backfill_from_the_start() -> None:
    config = replace(SimulationConfig(), visitors=300, days=14, start=START - timedelta(days=14))
    arrived, later = split_at(simulate(config), START)
    planned = schedule(arrived, later, live_events(START, LivePace()), START, 5.0)
    first_minute = list(takewhile(lambda p: p[0] < START + timedelta(minutes=1), planned))
    live = [event for _due, event in first_minute if event.key.startswith((b"lead-live-", b"v-live-"))]
    assert len(live) >= 10  # the opening leads are on their way while the backfill is still being sent
    assert all(due >= event.arrival for due, event in first_minute if event in live)
