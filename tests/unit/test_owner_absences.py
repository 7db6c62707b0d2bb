"""Owners' absences sent as `crm.owner_away` events (contract §1, §3): validated at the door, counted by every
judge as if the owners file listed them, once per event and at most MAX_ABSENCES per owner; an owner away for
the next ten years leaves the clock on the agreement's hours instead of failing the lead."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import absences, owner_absences
from pipelines.core import sla
from pipelines.core.lead import apply_event, snapshot
from pipelines.core.messages import from_check_message, is_restate, to_check_message, to_restate_message
from pipelines.core.model import Event, Invalid
from pipelines.core.sla import Judge
from pipelines.core.validate import parse_event
from schemas.agreement import Agreement
from schemas.owners import OwnersFile
from tests.unit.factories import away_event, form_event, stage_event
from tests.unit.test_owner_calendars import BERLIN, OWNERS, _agreement, _clock, at

MONDAY_3PM = at(BERLIN, 2026, 11, 2, 15)  # rep-01 works 13-17 Berlin and, in OWNERS, is away all Tuesday
PLAIN = OwnersFile.model_validate(
    {"owners": [{**o.model_dump(by_alias=True), "away": []} for o in OWNERS.owners]}
)  # the same owners with no absence in the file


def _away(owner: str, start: datetime, end: datetime, id: str = "a-1", subject: str | None = None) -> Event | Invalid:
    raw = away_event(owner, start, end, MONDAY_3PM, id=id)
    if subject is not None:
        raw = raw.replace(f'"subject":"{owner}"'.encode(), f'"subject":"{subject}"'.encode())
    return parse_event(raw, "leadflow.owners")


def test_a_valid_absence_becomes_an_event_with_its_span() -> None:
    event = _away("rep-01", at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 4))
    assert isinstance(event, Event) and event.owner_id == "rep-01" and event.lead_id is None
    assert (event.away_from, event.away_to) == (at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 4))


@pytest.mark.parametrize(
    ("start", "end", "subject", "reason"),
    [
        (at(BERLIN, 2026, 11, 4), at(BERLIN, 2026, 11, 3), None, "to must be after from"),
        (at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 3), None, "to must be after from"),
        (at(BERLIN, 2026, 1, 1), at(BERLIN, 2027, 1, 3), None, "an absence lasts at most 366 days"),
        (at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 4), "rep-02", "subject: must equal data.owner_id ('rep-01')"),
    ],
)
def test_a_bad_absence_is_refused_with_the_reason(
    start: datetime, end: datetime, subject: str | None, reason: str
) -> None:
    refused = _away("rep-01", start, end, subject=subject)
    assert isinstance(refused, Invalid) and reason in refused.reason


def test_an_absence_belongs_on_the_owners_topic_only() -> None:
    raw = away_event("rep-01", at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 4), MONDAY_3PM, id="a-1")
    refused = parse_event(raw, "leadflow.stages")
    assert isinstance(refused, Invalid) and "belongs on topic leadflow.owners" in refused.reason


def test_an_absence_from_an_event_moves_the_deadline_as_the_files_does() -> None:
    mql = (stage_event("lead-1", "mql", MONDAY_3PM, id="m", owner_id="rep-01"),)
    with_file, judge = Judge([_agreement()], OWNERS), Judge([_agreement()], PLAIN)
    assert _clock(judge, *mql)[0] == at(BERLIN, 2026, 11, 3, 15)  # 2h Monday, 2h Tuesday from 13:00
    absence = _away("rep-01", at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 4))
    assert isinstance(absence, Event)
    assert owner_absences.count_absence(judge, absence)  # the cached timing of that clock is forgotten
    assert _clock(judge, *mql)[0] == _clock(with_file, *mql)[0] == at(BERLIN, 2026, 11, 4, 15)
    assert not owner_absences.count_absence(judge, absence)  # the same event again changes nothing


def test_a_state_judged_before_an_absence_derives_its_clocks_again_after_it() -> None:
    judge = Judge([_agreement()], PLAIN)
    mql, form = (
        parse_event(stage_event("lead-1", "mql", MONDAY_3PM, id="m", owner_id="rep-01")),
        parse_event(form_event("lead-1", "vis-1", MONDAY_3PM + timedelta(minutes=5), id="f")),
    )
    assert isinstance(mql, Event) and isinstance(form, Event)
    state, _new = apply_event(None, mql)
    assert snapshot(state, judge).clocks[0].deadline == at(BERLIN, 2026, 11, 3, 15)
    later, _new = apply_event(state, form)  # carries the clocks of `state` over
    absence = _away("rep-01", at(BERLIN, 2026, 11, 3), at(BERLIN, 2026, 11, 4))
    assert isinstance(absence, Event) and owner_absences.count_absence(judge, absence)
    assert snapshot(state, judge).clocks[0].deadline == at(BERLIN, 2026, 11, 4, 15)
    assert snapshot(later, judge).clocks[0].deadline == at(BERLIN, 2026, 11, 4, 15)


def test_an_owner_has_at_most_max_absences_from_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sla, "MAX_ABSENCES", 2)
    judge = Judge([_agreement()], PLAIN)
    day = at(BERLIN, 2026, 11, 3)
    outcomes = [judge.add_absence("rep-01", ("/cal", f"a-{n}"), day, day + timedelta(hours=1)) for n in range(3)]
    assert outcomes == ["counted", "counted", "full"]
    assert judge.add_absence("rep-01", ("/cal", "a-0"), day, day + timedelta(hours=1)) == "known"


def test_an_owner_away_for_the_next_ten_years_leaves_the_clock_on_the_agreements_hours() -> None:
    judge = Judge([_agreement()], PLAIN)
    begin = at(BERLIN, 2026, 11, 2)
    for n in range(12):  # twelve absences of a year each, end to end: past the ten years a calendar is searched
        judge.add_absence(
            "rep-01", ("/cal", f"year-{n}"), begin + timedelta(days=366 * n), begin + timedelta(days=366 * (n + 1))
        )
    mql = stage_event("lead-1", "mql", MONDAY_3PM, id="m", owner_id="rep-01")
    assert _clock(judge, mql)[0] == at(BERLIN, 2026, 11, 3, 11)  # the agreement's 09-17: 2h Monday, 2h Tuesday


SPANS = st.lists(
    st.tuples(st.integers(0, 24 * 14), st.integers(1, 24 * 5)), min_size=1, max_size=5
)  # (hours after Monday 00:00 Berlin, length in hours)


@settings(deadline=None, max_examples=80)
@given(spans=SPANS, late=st.booleans())
def test_absences_from_events_count_as_the_same_absences_in_the_file(spans: list[tuple[int, int]], late: bool) -> None:
    monday = at(BERLIN, 2026, 11, 2)
    away = [(monday + timedelta(hours=h), monday + timedelta(hours=h + n)) for h, n in spans]
    in_file = OwnersFile.model_validate(
        {"owners": [{**OWNERS.owners[0].model_dump(by_alias=True), "away": [{"from": a, "to": b} for a, b in away]}]}
    )
    judge = Judge([_agreement()], PLAIN)
    mql = stage_event("lead-1", "mql", MONDAY_3PM, id="m", owner_id="rep-01")
    if late:  # judged before the absences arrive, then again after: nothing of the first judgment remains
        _clock(judge, mql)
    for n, (a, b) in enumerate(away):
        judge.add_absence("rep-01", ("/cal", f"a-{n}"), a, b)
    assert _clock(judge, mql) == _clock(Judge([_agreement()], in_file), mql)


def test_a_restate_is_a_check_that_says_so() -> None:
    restate, check = to_restate_message("lead-1"), to_check_message("lead-1", 5)
    assert from_check_message(restate.value) == "lead-1" and restate.key == b"lead-1"
    assert is_restate(restate.value) and not is_restate(check.value) and not is_restate(b"not json")


def test_the_leads_restated_are_those_that_ever_had_the_owner() -> None:
    def lead(name: str, owner: str) -> object:
        event = parse_event(stage_event(name, "mql", MONDAY_3PM, id=f"m-{name}", owner_id=owner))
        assert isinstance(event, Event)
        return apply_event(None, event)[0]

    states = [lead("lead-1", "rep-01"), lead("lead-2", "rep-02"), lead("lead-3", "rep-01")]
    assert list(absences.ever_owned_by(states, "rep-01")) == ["lead-1", "lead-3"]  # type: ignore[arg-type]


def test_steps_that_find_no_business_time_of_the_owner_count_the_agreements_hours_too() -> None:
    ladder = _agreement().model_dump(by_alias=True)
    ladder["handoffs"][0]["escalate"] = [{"after": "1h", "to": "manager"}]
    judge = Judge([Agreement.model_validate(ladder)], PLAIN)
    begin = at(BERLIN, 2026, 11, 3, 15, 30)  # just after the deadline (Tuesday 15:00), before the step
    for n in range(12):
        judge.add_absence(
            "rep-01", ("/cal", f"year-{n}"), begin + timedelta(days=366 * n), begin + timedelta(days=366 * (n + 1))
        )
    state = apply_event(None, _event(stage_event("lead-1", "mql", MONDAY_3PM, id="m", owner_id="rep-01")))[0]
    (clock,) = snapshot(state, judge).clocks
    assert clock.deadline == at(BERLIN, 2026, 11, 3, 11)  # the whole clock on the agreement's 09-17
    assert [at_ for _kind, at_ in clock.escalations] == [at(BERLIN, 2026, 11, 3, 12)]


def _event(raw: bytes) -> Event:
    event = parse_event(raw)
    assert isinstance(event, Event)
    return event
