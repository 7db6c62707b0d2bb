"""SLA handoff clocks on hand-computed instants: met, breached, warned, business time, jumps, episodes.

Every instant below is Europe/Berlin wall time under the committed agreement 2026-H2: Mon-Fri 09:00-17:00,
holidays Dec 24-26; mql_follow_up within 4h (warning at 3h), sql_to_opportunity within 5d (40 business hours).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.core.sla import (
    BREACHED,
    JUST_AFTER,
    MET,
    WARNING,
)
from pipelines.core.steps import sla_step
from tests.unit.factories import (
    deal_event,
    lead_state,
    owner_event,
    stage_event,
)
from tests.unit.sla_cases import (
    HOUR,
    JUDGE,
    LEAD,
    MQL,
    NOTHING,
    SQL,
    berlin,
    clocks_of,
    human,
    mql_at,
    only_clock,
    robot,
    statuses,
)

# --- mql_follow_up: met, breached, open --------------------------------------------------------------


def test_a_human_activity_before_the_deadline_meets_the_clock() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10)), human(berlin(2026, 11, 2, 11, 15, 30))])
    assert clock.handoff == MQL and clock.agreement == "2026-H2" and clock.episode == 1
    assert clock.started_at == berlin(2026, 11, 2, 10)
    assert clock.deadline == berlin(2026, 11, 2, 14)
    assert clock.warn_at == berlin(2026, 11, 2, 13)
    assert clock.stopped_at == berlin(2026, 11, 2, 11, 15, 30)
    assert clock.business_seconds == 4530.0
    assert clock.met is True
    assert clock.moments() == {MET: berlin(2026, 11, 2, 11, 15, 30)}


def test_an_automated_activity_does_not_stop_the_clock() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10)), robot(berlin(2026, 11, 2, 10, 30))])
    assert clock.stopped_at is None and clock.business_seconds is None and clock.met is False
    automated_then_human = only_clock(
        [mql_at(berlin(2026, 11, 2, 10)), robot(berlin(2026, 11, 2, 10, 30)), human(berlin(2026, 11, 2, 12))]
    )
    assert automated_then_human.stopped_at == berlin(2026, 11, 2, 12)
    assert automated_then_human.business_seconds == 2 * HOUR


def test_a_stop_exactly_at_the_deadline_is_met() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10)), human(berlin(2026, 11, 2, 14))])
    assert clock.met is True
    assert clock.business_seconds == 4 * HOUR
    assert clock.moments() == {WARNING: berlin(2026, 11, 2, 13), MET: berlin(2026, 11, 2, 14)}
    assert clock.status(berlin(2026, 11, 2, 14)) == "met"


def test_a_stop_after_the_deadline_is_breached_but_still_recorded() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10)), human(berlin(2026, 11, 2, 15, 30))])
    assert clock.met is False
    assert clock.stopped_at == berlin(2026, 11, 2, 15, 30)
    assert clock.business_seconds == 5.5 * HOUR
    assert clock.moments() == {WARNING: berlin(2026, 11, 2, 13), BREACHED: berlin(2026, 11, 2, 14) + JUST_AFTER}
    instants = [berlin(2026, 11, 2, 13, 59), berlin(2026, 11, 2, 14, 30), berlin(2026, 11, 2, 16), berlin(2026, 12, 1)]
    assert statuses(clock, instants) == ["open", "breached", "breached", "breached"]


def test_without_a_stop_the_clock_is_open_until_its_deadline_then_breached() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10))])
    deadline = berlin(2026, 11, 2, 14)
    instants = [berlin(2026, 11, 2, 10), deadline - JUST_AFTER, deadline, deadline + JUST_AFTER, berlin(2026, 11, 3)]
    assert statuses(clock, instants) == ["open", "open", "open", "breached", "breached"]
    assert clock.moments() == {WARNING: berlin(2026, 11, 2, 13), BREACHED: deadline + JUST_AFTER}


def test_a_met_clock_is_open_until_it_stops_then_met_for_good() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10)), human(berlin(2026, 11, 2, 11))])
    instants = [berlin(2026, 11, 2, 10, 59), berlin(2026, 11, 2, 11), berlin(2026, 11, 2, 15), berlin(2027, 3, 1)]
    assert statuses(clock, instants) == ["open", "met", "met", "met"]


@pytest.mark.parametrize(
    ("stop", "warned"),
    [
        (berlin(2026, 11, 2, 12, 59), False),
        (berlin(2026, 11, 2, 13, 1), True),
        (berlin(2026, 11, 2, 16), True),
        (None, True),
    ],
)
def test_a_warning_is_due_only_if_the_clock_still_runs_at_warn_at(stop: datetime | None, warned: bool) -> None:
    raws = [mql_at(berlin(2026, 11, 2, 10))] + ([human(stop)] if stop else [])
    clock = only_clock(raws)
    assert (WARNING in clock.moments()) is warned
    effects = sla_step(lead_state(raws), NOTHING, JUDGE, berlin(2026, 11, 3))
    assert (clock.marker(WARNING) in effects.published) is warned


@pytest.mark.parametrize("stage", ["sal", "sql", "opportunity", "customer", "recycled", "disqualified"])
def test_every_stop_stage_stops_the_mql_clock(stage: str) -> None:
    clocks = clocks_of([mql_at(berlin(2026, 11, 2, 10)), stage_event(LEAD, stage, berlin(2026, 11, 2, 11))])
    assert clocks[MQL, 1].stopped_at == berlin(2026, 11, 2, 11)
    assert clocks[MQL, 1].business_seconds == HOUR and clocks[MQL, 1].met


@pytest.mark.parametrize("stage", ["lead", "lost", "mql"])
def test_other_stages_do_not_stop_the_mql_clock(stage: str) -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 10)), stage_event(LEAD, stage, berlin(2026, 11, 2, 11))])
    assert clock.stopped_at is None


def test_a_stop_before_the_clock_started_does_not_count() -> None:
    clock = only_clock([human(berlin(2026, 11, 2, 9, 30)), mql_at(berlin(2026, 11, 2, 10))])
    assert clock.started_at == berlin(2026, 11, 2, 10) and clock.stopped_at is None


def test_the_owner_is_the_one_assigned_when_the_clock_stops() -> None:
    clock = only_clock(
        [
            mql_at(berlin(2026, 11, 2, 10)),
            owner_event(LEAD, "rep-1", berlin(2026, 11, 2, 10, 5)),
            human(berlin(2026, 11, 2, 11)),
            owner_event(LEAD, "rep-2", berlin(2026, 11, 2, 12)),
        ]
    )
    assert clock.owner_id == "rep-1"


# --- business time: nights, weekends, holidays, DST --------------------------------------------------


def test_an_mql_entered_on_friday_evening_counts_from_monday_opening() -> None:
    friday_evening = berlin(2026, 11, 6, 18)
    clock = only_clock([mql_at(friday_evening), human(berlin(2026, 11, 9, 10, 30))])
    assert clock.deadline == berlin(2026, 11, 9, 13)
    assert clock.warn_at == berlin(2026, 11, 9, 12)
    assert clock.business_seconds == 1.5 * HOUR and clock.met


def test_a_weekend_stop_of_a_friday_evening_mql_is_met_in_zero_business_seconds() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 6, 18)), human(berlin(2026, 11, 7, 11))])
    assert clock.met and clock.business_seconds == 0.0
    assert WARNING not in clock.moments()


def test_the_christmas_holidays_do_not_count() -> None:
    # Wed Dec 23 15:00: 2h that day, Thu 24 and Fri 25 are holidays, then the weekend; 2h more on Mon Dec 28.
    clock = only_clock([mql_at(berlin(2026, 12, 23, 15)), human(berlin(2026, 12, 28, 10, 30))])
    assert clock.deadline == berlin(2026, 12, 28, 11)
    assert clock.warn_at == berlin(2026, 12, 28, 10)
    assert clock.business_seconds == 3.5 * HOUR and clock.met


def test_a_clock_over_the_end_of_summer_time_keeps_local_hours() -> None:
    # Fri Oct 23 15:00 CEST (+02:00): 2h that day, 2h on Mon Oct 26 from 09:00 CET (+01:00).
    clock = only_clock([mql_at(berlin(2026, 10, 23, 15)), human(berlin(2026, 10, 26, 11))])
    assert clock.deadline == datetime(2026, 10, 26, 10, tzinfo=UTC)
    assert clock.business_seconds == 4 * HOUR and clock.met


def test_a_clock_ending_at_closing_time_is_due_then_not_next_morning() -> None:
    clock = only_clock([mql_at(berlin(2026, 11, 2, 13)), human(berlin(2026, 11, 3, 9))])
    assert clock.deadline == berlin(2026, 11, 2, 17)
    assert clock.met is False and clock.business_seconds == 4 * HOUR


# --- sql_to_opportunity --------------------------------------------------------------------------------


def test_sql_to_opportunity_runs_five_business_days_and_stops_on_an_opportunity() -> None:
    clocks = clocks_of(
        [
            mql_at(berlin(2026, 11, 2, 9, 30)),
            stage_event(LEAD, "sql", berlin(2026, 11, 2, 10)),
            human(berlin(2026, 11, 3, 10)),  # a human activity does not stop this handoff
            deal_event(LEAD, "created", berlin(2026, 11, 5, 12)),
        ]
    )
    clock = clocks[SQL, 1]
    assert clock.started_at == berlin(2026, 11, 2, 10)
    assert clock.deadline == berlin(2026, 11, 9, 10)
    assert clock.warn_at is None
    assert clock.stopped_at == berlin(2026, 11, 5, 12)
    assert clock.business_seconds == (7 + 8 + 8 + 3) * HOUR and clock.met
    assert clock.moments() == {MET: berlin(2026, 11, 5, 12)}
    assert clocks[MQL, 1].stopped_at == berlin(2026, 11, 2, 10)  # sql stops the mql clock
    assert clocks[MQL, 1].business_seconds == 0.5 * HOUR


@pytest.mark.parametrize("stage", ["opportunity", "customer", "recycled", "disqualified", "lost"])
def test_every_stop_stage_stops_the_sql_clock(stage: str) -> None:
    clocks = clocks_of(
        [stage_event(LEAD, "sql", berlin(2026, 11, 2, 10)), stage_event(LEAD, stage, berlin(2026, 11, 4, 10))]
    )
    assert clocks[SQL, 1].stopped_at == berlin(2026, 11, 4, 10)
    assert clocks[SQL, 1].business_seconds == 16 * HOUR


def test_a_lost_deal_stops_the_sql_clock() -> None:
    clocks = clocks_of(
        [stage_event(LEAD, "sql", berlin(2026, 11, 2, 10)), deal_event(LEAD, "lost", berlin(2026, 11, 2, 12))]
    )
    assert clocks[SQL, 1].stopped_at == berlin(2026, 11, 2, 12) and clocks[SQL, 1].met


# --- jumps over the starting stage ------------------------------------------------------------------------


def test_a_jump_from_lead_to_sql_starts_and_stops_the_mql_clock_at_once() -> None:
    jump = berlin(2026, 11, 2, 10)
    clocks = clocks_of([stage_event(LEAD, "lead", berlin(2026, 11, 2, 9, 30)), stage_event(LEAD, "sql", jump)])
    mql = clocks[MQL, 1]
    assert (mql.started_at, mql.stopped_at, mql.business_seconds, mql.met) == (jump, jump, 0.0, True)
    assert mql.moments() == {MET: jump}
    sql = clocks[SQL, 1]
    assert (sql.started_at, sql.stopped_at, sql.deadline) == (jump, None, berlin(2026, 11, 9, 10))


def test_a_lead_created_straight_at_sql_has_the_same_clocks() -> None:
    jump = berlin(2026, 11, 2, 10)
    created = clocks_of([stage_event(LEAD, "sql", jump)])
    assert created == clocks_of([stage_event(LEAD, "lead", berlin(2026, 11, 2, 9, 30)), stage_event(LEAD, "sql", jump)])


def test_a_jump_outside_business_hours_is_still_met_in_zero_seconds() -> None:
    jump = berlin(2026, 11, 7, 11)  # a Saturday
    mql = clocks_of([stage_event(LEAD, "lead", berlin(2026, 11, 6, 10)), stage_event(LEAD, "sql", jump)])[MQL, 1]
    assert (mql.stopped_at, mql.business_seconds, mql.met) == (jump, 0.0, True)
    assert mql.deadline == berlin(2026, 11, 9, 13)


def test_a_deal_on_an_mql_jumps_over_sql_and_meets_both_clocks() -> None:
    created = berlin(2026, 11, 2, 11)
    clocks = clocks_of([mql_at(berlin(2026, 11, 2, 10)), deal_event(LEAD, "created", created)])
    assert clocks[MQL, 1].stopped_at == created and clocks[MQL, 1].business_seconds == HOUR
    sql = clocks[SQL, 1]
    assert (sql.started_at, sql.stopped_at, sql.business_seconds, sql.met) == (created, created, 0.0, True)


# --- one clock per handoff per episode ----------------------------------------------------------------------


def test_going_back_and_forth_within_an_episode_starts_no_second_clock() -> None:
    clocks = clocks_of(
        [
            mql_at(berlin(2026, 11, 2, 10)),
            stage_event(LEAD, "lead", berlin(2026, 11, 2, 10, 30)),
            mql_at(berlin(2026, 11, 2, 11)),
        ]
    )
    assert list(clocks) == [(MQL, 1)]
    assert clocks[MQL, 1].started_at == berlin(2026, 11, 2, 10)


def test_a_new_episode_after_recycling_starts_a_second_clock() -> None:
    clocks = clocks_of(
        [
            mql_at(berlin(2026, 11, 2, 10)),
            stage_event(LEAD, "recycled", berlin(2026, 11, 2, 11)),
            stage_event(LEAD, "lead", berlin(2026, 11, 2, 12)),
            mql_at(berlin(2026, 11, 3, 10)),
            human(berlin(2026, 11, 3, 10, 45)),
        ]
    )
    assert sorted(clocks) == [(MQL, 1), (MQL, 2)]
    first, second = clocks[MQL, 1], clocks[MQL, 2]
    assert (first.stopped_at, first.business_seconds) == (berlin(2026, 11, 2, 11), HOUR)
    assert (second.started_at, second.deadline) == (berlin(2026, 11, 3, 10), berlin(2026, 11, 3, 14))
    assert (second.stopped_at, second.business_seconds) == (berlin(2026, 11, 3, 10, 45), 0.75 * HOUR)
    assert first.marker(MET) == "mql_follow_up/1/sla.met"
    assert second.marker(MET) == "mql_follow_up/2/sla.met"


def test_a_new_episode_that_jumps_to_sql_meets_its_mql_clock_at_once() -> None:
    jump = berlin(2026, 11, 4, 10)
    clocks = clocks_of(
        [
            mql_at(berlin(2026, 11, 2, 10)),
            stage_event(LEAD, "recycled", berlin(2026, 11, 2, 11)),
            stage_event(LEAD, "sql", jump),
        ]
    )
    assert sorted(clocks) == [(MQL, 1), (MQL, 2), (SQL, 2)]
    assert (clocks[MQL, 2].started_at, clocks[MQL, 2].stopped_at, clocks[MQL, 2].business_seconds) == (jump, jump, 0.0)
    assert (clocks[SQL, 2].started_at, clocks[SQL, 2].stopped_at) == (jump, None)


def test_both_episodes_publish_their_own_events() -> None:
    state = lead_state(
        [
            mql_at(berlin(2026, 11, 2, 10)),
            stage_event(LEAD, "recycled", berlin(2026, 11, 2, 11)),
            mql_at(berlin(2026, 11, 3, 10)),
        ]
    )
    effects = sla_step(state, NOTHING, JUDGE, berlin(2026, 11, 4))
    assert [e.id for e in effects.events] == [
        "L1/mql_follow_up/1/sla.met",
        "L1/mql_follow_up/2/sla.warning",
        "L1/mql_follow_up/2/sla.breached",
    ]
