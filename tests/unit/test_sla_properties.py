"""Properties of SLA clocks and their publication over random histories of one lead (contract §3)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.agreements import load_agreement
from pipelines.core.calendar import parse_within
from pipelines.core.compaction import LIMITS, HistoryLimits
from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.model import Event
from pipelines.core.sla import BREACHED, JUST_AFTER, MET, WARNING, Clock, Judge
from pipelines.core.steps import sla_step
from tests.unit.factories import activity_event, deal_event, form_event, owner_event, parse, stage_event

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
AGREEMENT = load_agreement(Path(__file__).resolve().parents[2] / "agreements" / "2026-H2.yaml")
JUDGE = Judge([AGREEMENT])
WITHIN = {h.name: parse_within(h.within, JUDGE.calendar(AGREEMENT).day_seconds) for h in AGREEMENT.handoffs}
LEAD = "L1"
STAGES = ("lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost")
DEAL_STAGES = ("created", "proposal", "won", "lost")
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
LAST = datetime(2027, 1, 1, tzinfo=UTC) - timedelta(minutes=1)

# A history starts somewhere in Nov-Dec 2026; its events follow within hours (so stops race deadlines)
# or days (so clocks cross nights, weekends and the Christmas holidays).
starts = st.integers(min_value=0, max_value=58 * 24 * 60).map(lambda m: NOV_1 + timedelta(minutes=m))
offsets = st.one_of(
    st.integers(min_value=0, max_value=8 * 60),
    st.integers(min_value=0, max_value=12 * 24 * 60),
).map(lambda m: timedelta(minutes=m))
what = st.one_of(
    st.tuples(st.just("stage"), st.sampled_from(STAGES)),
    st.tuples(st.just("stage"), st.sampled_from(("mql", "sql"))),  # the starting stages, more often
    st.tuples(st.just("deal"), st.sampled_from(DEAL_STAGES)),
    st.tuples(st.just("activity"), st.booleans()),
    st.tuples(st.just("activity"), st.just(False)),  # human activities, the usual stop, more often
    st.tuples(st.just("owner"), st.sampled_from(["rep-1", "rep-2"])),
)
# Most histories open with an MQL, so that clocks start before the random moves that may stop them.
openings = st.sampled_from([[(("stage", "mql"), timedelta(0))], [(("stage", "lead"), timedelta(0))], []])


def histories_of(kinds: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[Any]:
    """Histories whose events after the opening are of these kinds."""
    rest = st.lists(st.tuples(kinds, offsets), min_size=1, max_size=14)
    return st.tuples(starts, st.builds(lambda first, later: first + later, openings, rest))


histories = histories_of(what)


@functools.lru_cache(maxsize=8192)
def _event(kind: str, param: Any, moment: datetime, number: int) -> Event:
    event_id = f"e{number}"
    if kind == "stage":
        raw = stage_event(LEAD, param, moment, id=event_id)
    elif kind == "deal":
        raw = deal_event(LEAD, param, moment, id=event_id)
    elif kind == "activity":
        raw = activity_event(LEAD, moment, automated=param, id=event_id)
    elif kind == "form":
        raw = form_event(LEAD, param, moment, id=event_id)
    else:
        raw = owner_event(LEAD, param, moment, id=event_id)
    return parse(raw)


def events_of(history: tuple[datetime, list[tuple[tuple[str, Any], timedelta]]]) -> list[Event]:
    start, specs = history
    return [_event(kind, param, min(start + offset, LAST), n) for n, ((kind, param), offset) in enumerate(specs)]


def state_of(events: list[Event]) -> LeadState:
    state: LeadState | None = None
    for event in events:
        state, _ = apply_event(state, event)
    assert state is not None
    return state


def clocks_of(events: list[Event]) -> tuple[Clock, ...]:
    return snapshot(state_of(events), JUDGE).clocks


def arranged(events: list[Event], order: list[int]) -> list[Event]:
    return [events[i] for i in order]


# forms and automated activities too: the moves after which a state carries its clocks over
histories_with_forms = histories_of(st.one_of(what, st.tuples(st.just("form"), st.sampled_from(["V1", "V2"]))))


def assert_carried_as_derived(events: list[Event], limits: HistoryLimits = LIMITS) -> None:
    """Apply the events one by one; after each, what the state carried over is what its moves derive afresh."""
    state: LeadState | None = None
    for event in events:
        state, _new = apply_event(state, event, limits)
        derived = snapshot(state, JUDGE)  # keeps what it derives on the state, for the next one to carry over
        afresh = snapshot(LeadState(state.lead_id, state.moves, state.revision, state.visitors, state.compacted), JUDGE)
        assert (derived.lifecycle, derived.clocks) == (afresh.lifecycle, afresh.clocks)


@PROPERTY
@given(histories_with_forms, st.data())
def test_what_a_state_carries_over_is_what_its_moves_derive(history: Any, data: st.DataObject) -> None:
    events = events_of(history)
    assert_carried_as_derived(arranged(events, data.draw(st.permutations(range(len(events))))))


@PROPERTY
@given(histories, st.data())
def test_any_arrival_order_gives_the_same_clocks(history: Any, data: st.DataObject) -> None:
    events = events_of(history)
    expected = clocks_of(events)
    order = data.draw(st.permutations(range(len(events))))
    assert clocks_of(arranged(events, order)) == expected
    assert clocks_of(events[::-1]) == expected


@PROPERTY
@given(histories)
def test_every_clock_is_consistent(history: Any) -> None:
    clocks = clocks_of(events_of(history))
    assert len({(c.handoff, c.episode) for c in clocks}) == len(clocks)
    for clock in clocks:
        assert clock.deadline >= clock.started_at
        if clock.warn_at is not None:
            assert clock.started_at <= clock.warn_at < clock.deadline
        assert clock.met == (clock.stopped_at is not None and clock.stopped_at <= clock.deadline)
        assert (clock.stopped_at is None) == (clock.business_seconds is None)
        if clock.stopped_at is not None and clock.business_seconds is not None:
            assert clock.stopped_at >= clock.started_at
            assert clock.business_seconds >= 0
            if clock.met:
                assert clock.business_seconds <= WITHIN[clock.handoff]
            else:
                assert clock.business_seconds >= WITHIN[clock.handoff]


def _probes(clock: Clock, extra: list[datetime]) -> list[datetime]:
    marks = [clock.started_at, clock.deadline, clock.deadline + JUST_AFTER, *extra]
    if clock.warn_at is not None:
        marks.append(clock.warn_at)
    if clock.stopped_at is not None:
        marks += [clock.stopped_at - JUST_AFTER, clock.stopped_at, clock.stopped_at + JUST_AFTER]
    return sorted(marks)


@PROPERTY
@given(histories, st.lists(offsets, max_size=6))
def test_status_only_moves_from_open_to_met_or_breached(history: Any, jitter: list[timedelta]) -> None:
    for clock in clocks_of(events_of(history)):
        probes = _probes(clock, [clock.started_at + j for j in jitter])
        seen = [clock.status(p) for p in probes]
        settled = [s for s in seen if s != "open"]
        assert seen == ["open"] * (len(seen) - len(settled)) + settled
        final = "met" if clock.met else "breached"
        assert set(settled) <= {final}
        assert clock.status(clock.deadline + timedelta(days=400)) == final


@PROPERTY
@given(histories, st.lists(offsets, max_size=8))
def test_publishing_at_increasing_instants_publishes_every_marker_once(history: Any, steps: list[timedelta]) -> None:
    events = events_of(history)
    state = state_of(events)
    clocks = snapshot(state, JUDGE).clocks
    start = history[0]
    after_all = max((c.deadline for c in clocks), default=start) + timedelta(days=1)
    published: frozenset[str] = frozenset()
    markers: list[str] = []
    for now in [*sorted(start + s for s in steps), after_all]:
        effects = sla_step(state, published, JUDGE, now)
        assert all(e.at <= now for e in effects.events)
        assert [e.at for e in effects.events] == sorted(e.at for e in effects.events)
        markers += [e.clock.marker(e.kind) for e in effects.events]
        assert effects.published == published | {e.clock.marker(e.kind) for e in effects.events}
        assert effects.next_due is None or effects.next_due > now
        published = effects.published
    assert len(markers) == len(set(markers))
    for clock in clocks:
        assert (clock.marker(MET) in published) != (clock.marker(BREACHED) in published)
        assert (clock.marker(MET) in published) == clock.met
        assert (clock.marker(WARNING) in published) == (WARNING in clock.moments())
    assert sla_step(state, published, JUDGE, after_all).events == ()


@PROPERTY
@given(histories, st.data())
def test_publishing_while_events_arrive_late_still_settles_every_clock(history: Any, data: st.DataObject) -> None:
    events = events_of(history)
    order = data.draw(st.permutations(range(len(events))))
    state: LeadState | None = None
    published: frozenset[str] = frozenset()
    markers: list[str] = []
    now = history[0]
    for event in arranged(events, order):
        state, _ = apply_event(state, event)
        now = max(now, event.time)  # the wall clock never goes back; events may arrive late
        effects = sla_step(state, published, JUDGE, now)
        markers += [e.clock.marker(e.kind) for e in effects.events]
        published = effects.published
    assert state is not None
    clocks = snapshot(state, JUDGE).clocks
    after_all = max((c.deadline for c in clocks), default=now) + timedelta(days=1)
    markers += [e.clock.marker(e.kind) for e in sla_step(state, published, JUDGE, after_all).events]
    assert len(markers) == len(set(markers))
    for clock in clocks:
        assert clock.marker(MET) in markers or clock.marker(BREACHED) in markers
        if clock.met:
            assert clock.marker(MET) in markers
