"""SLA clocks judged by the agreement in force at their start, published once, re-derived on late events; the
`sla` line of the report.

Instants are Europe/Berlin wall time under the committed agreement 2026-H2 (see sla_cases.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from pipelines.core.clocks import derive_clocks
from pipelines.core.funnel import sla_section
from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.sla import (
    BREACHED,
    JUST_AFTER,
    MET,
    WARNING,
    Judge,
    SlaEvent,
    due_events,
    next_due,
)
from pipelines.core.steps import sla_step
from tests.unit.factories import (
    deal_event,
    lead_state,
    owner_event,
    parse,
    stage_event,
)
from tests.unit.sla_cases import (
    H1_2027,
    H2,
    HOUR,
    JUDGE,
    LEAD,
    MQL,
    NOTHING,
    SQL,
    berlin,
    clocks_of,
    copy_of,
    human,
    mql_at,
    only_clock,
    robot,
)

# --- the agreement in force when the clock starts ------------------------------------------------------------


def test_the_copied_agreement_is_valid_and_follows_the_committed_one() -> None:
    assert H1_2027.effective_from == H2.effective_to
    assert [(h.name, h.within) for h in H1_2027.handoffs] == [(MQL, "2h"), (SQL, "5d")]


def test_a_clock_keeps_the_agreement_in_force_when_it_started_even_if_due_under_the_next() -> None:
    # Thu Dec 31 16:00: 1h that day, 3h on Fri Jan 1 2027 (no holiday in 2026-H2) -> 12:00; under 2027-H1: 10:00.
    judge = Judge([H2, H1_2027])
    clock = only_clock([mql_at(berlin(2026, 12, 31, 16))], judge)
    assert clock.agreement == "2026-H2"
    assert clock.deadline == berlin(2027, 1, 1, 12)
    assert clock.warn_at == berlin(2027, 1, 1, 11)


def test_a_clock_started_under_the_next_agreement_uses_its_terms() -> None:
    judge = Judge([H2, H1_2027])
    clock = only_clock([mql_at(berlin(2027, 1, 4, 10))], judge)
    assert (clock.agreement, clock.deadline, clock.warn_at) == (
        "2027-H1",
        berlin(2027, 1, 4, 12),
        berlin(2027, 1, 4, 11, 30),
    )


def test_the_agreement_is_chosen_by_the_local_date_of_its_zone() -> None:
    judge = Judge([H2, H1_2027])
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on Jan 1 in Berlin
    assert judge.agreement_at(new_year) is H1_2027
    assert judge.agreement_at(new_year - timedelta(hours=1)) is H2
    clock = only_clock([mql_at(new_year)], judge)
    assert (clock.agreement, clock.deadline) == ("2027-H1", berlin(2027, 1, 1, 11))


def test_no_agreement_in_force_means_no_clock() -> None:
    assert clocks_of([mql_at(berlin(2027, 1, 4, 10))]) == {}
    assert clocks_of([mql_at(berlin(2026, 6, 30, 23, 30))]) == {}
    assert list(clocks_of([mql_at(berlin(2026, 7, 1, 0, 30))])) == [(MQL, 1)]
    assert clocks_of([mql_at(berlin(2026, 11, 2, 10))], Judge([])) == {}


def test_without_a_judge_the_snapshot_has_no_clocks() -> None:
    assert snapshot(lead_state([mql_at(berlin(2026, 11, 2, 10))])).clocks == ()


def test_a_handoff_on_a_side_stage_is_refused_or_runs() -> None:
    # The schema accepts any stage for `starts_on`; a handoff that loads must also start clocks.
    nurture = {
        "name": "recycled_nurture",
        "starts_on": {"stage": "recycled"},
        "stops_on": {"stages": ["mql"]},
        "within": "5d",
    }
    try:
        agreement = copy_of(H2, handoffs=[*(h.model_dump() for h in H2.handoffs), nurture])
    except ValidationError:
        return
    raws = [mql_at(berlin(2026, 11, 2, 10)), stage_event(LEAD, "recycled", berlin(2026, 11, 2, 11))]
    assert ("recycled_nurture", 1) in clocks_of(raws, Judge([agreement]))


# --- publishing: due_events, next_due, sla_step --------------------------------------------------------------


def test_due_events_are_each_kind_once_in_time_order() -> None:
    clocks = list(
        clocks_of([mql_at(berlin(2026, 11, 2, 10)), stage_event(LEAD, "sql", berlin(2026, 11, 2, 13, 30))]).values()
    )
    late = berlin(2026, 11, 10)
    events = due_events(LEAD, clocks, NOTHING, late)
    assert [(e.clock.handoff, e.kind, e.at) for e in events] == [
        (MQL, WARNING, berlin(2026, 11, 2, 13)),
        (MQL, MET, berlin(2026, 11, 2, 13, 30)),
        (SQL, BREACHED, berlin(2026, 11, 9, 13, 30) + JUST_AFTER),
    ]
    published = frozenset({"mql_follow_up/1/sla.warning"})
    assert [e.kind for e in due_events(LEAD, clocks, published, late)] == [MET, BREACHED]
    assert due_events(LEAD, clocks, NOTHING, berlin(2026, 11, 2, 12, 59)) == []
    assert [e.kind for e in due_events(LEAD, clocks, NOTHING, berlin(2026, 11, 2, 13))] == [WARNING]


def test_next_due_is_the_warning_then_just_after_the_deadline_then_none() -> None:
    clocks = list(clocks_of([mql_at(berlin(2026, 11, 2, 10))]).values())
    assert next_due(clocks, NOTHING) == berlin(2026, 11, 2, 13)
    assert next_due(clocks, frozenset({"mql_follow_up/1/sla.warning"})) == berlin(2026, 11, 2, 14) + JUST_AFTER
    everything = frozenset({"mql_follow_up/1/sla.warning", "mql_follow_up/1/sla.breached"})
    assert next_due(clocks, everything) is None
    assert next_due([], NOTHING) is None


def test_sla_step_publishes_each_event_once_as_time_goes_by() -> None:
    state = lead_state([mql_at(berlin(2026, 11, 2, 10))])
    deadline = berlin(2026, 11, 2, 14)
    published = NOTHING
    seen: list[tuple[str, datetime | None]] = []
    for now in [berlin(2026, 11, 2, 10), berlin(2026, 11, 2, 13), deadline, deadline + JUST_AFTER, berlin(2026, 11, 3)]:
        effects = sla_step(state, published, JUDGE, now)
        published = effects.published
        seen.append((",".join(e.kind for e in effects.events), effects.next_due))
    assert seen == [
        ("", berlin(2026, 11, 2, 13)),
        (WARNING, deadline + JUST_AFTER),
        ("", deadline + JUST_AFTER),
        (BREACHED, None),
        ("", None),
    ]
    assert published == {"mql_follow_up/1/sla.warning", "mql_follow_up/1/sla.breached"}


def test_sla_step_twice_at_the_same_instant_publishes_nothing_the_second_time() -> None:
    state = lead_state([mql_at(berlin(2026, 11, 2, 10)), stage_event(LEAD, "sql", berlin(2026, 11, 2, 15))])
    now = berlin(2026, 11, 20)
    first = sla_step(state, NOTHING, JUDGE, now)
    assert [(e.clock.handoff, e.kind) for e in first.events] == [(MQL, WARNING), (MQL, BREACHED), (SQL, BREACHED)]
    second = sla_step(state, first.published, JUDGE, now)
    assert second.events == () and second.published == first.published and second.next_due is None


def test_sla_step_does_not_change_what_it_is_given() -> None:
    state = lead_state([mql_at(berlin(2026, 11, 2, 10))])
    moves = state.moves
    published = frozenset({"other/1/sla.met"})
    effects = sla_step(state, published, JUDGE, berlin(2026, 11, 3))
    assert state.moves == moves and published == {"other/1/sla.met"}
    assert "other/1/sla.met" in effects.published


def test_sla_events_carry_the_clock_of_the_lead() -> None:
    state = lead_state(
        [
            mql_at(berlin(2026, 11, 2, 10)),
            owner_event(LEAD, "rep-7", berlin(2026, 11, 2, 10, 1)),
            human(berlin(2026, 11, 2, 11)),
        ]
    )
    (event,) = sla_step(state, NOTHING, JUDGE, berlin(2026, 11, 2, 12)).events
    assert (event.kind, event.lead_id, event.at) == (MET, LEAD, berlin(2026, 11, 2, 11))
    assert (event.clock.owner_id, event.clock.business_seconds) == ("rep-7", HOUR)


def test_the_sla_event_id_is_stable() -> None:
    raws = [mql_at(berlin(2026, 11, 2, 10)), robot(berlin(2026, 11, 2, 10, 10))]
    now = berlin(2026, 11, 3)
    ids_forward = [e.id for e in sla_step(lead_state(raws), NOTHING, JUDGE, now).events]
    ids_reversed = [e.id for e in sla_step(lead_state(reversed(raws)), NOTHING, JUDGE, now).events]
    assert ids_forward == ids_reversed == ["L1/mql_follow_up/1/sla.warning", "L1/mql_follow_up/1/sla.breached"]
    clock = only_clock(raws)
    later = only_clock([*raws, human(berlin(2026, 11, 2, 16))])  # the stop changes the clock, not the breach's id
    assert SlaEvent(BREACHED, LEAD, clock, now).id == SlaEvent(BREACHED, LEAD, later, now).id
    assert SlaEvent(BREACHED, "L2", clock, now).id == "L2/mql_follow_up/1/sla.breached"


# --- late events: the clock is derived again from history ----------------------------------------------------


def _publish_breach() -> tuple[LeadState, frozenset[str]]:
    state = lead_state([mql_at(berlin(2026, 11, 2, 10))])
    effects = sla_step(state, NOTHING, JUDGE, berlin(2026, 11, 2, 15))
    assert [e.kind for e in effects.events] == [WARNING, BREACHED]
    return state, effects.published


def test_a_late_stop_before_the_deadline_turns_a_breach_into_met_and_publishes_met_once() -> None:
    state, published = _publish_breach()
    state, new = apply_event(state, parse(human(berlin(2026, 11, 2, 13, 30))))
    assert new
    (clock,) = snapshot(state, JUDGE).clocks
    assert clock.met and clock.status(berlin(2026, 11, 2, 15)) == "met"
    assert clock.business_seconds == 3.5 * HOUR
    effects = sla_step(state, published, JUDGE, berlin(2026, 11, 2, 15, 5))
    assert [(e.kind, e.at) for e in effects.events] == [(MET, berlin(2026, 11, 2, 13, 30))]
    assert effects.next_due is None
    again = sla_step(state, effects.published, JUDGE, berlin(2026, 11, 2, 16))
    assert again.events == () and again.published == effects.published


def test_a_late_stop_before_the_warning_also_publishes_met() -> None:
    state, published = _publish_breach()
    state, _ = apply_event(state, parse(human(berlin(2026, 11, 2, 11))))
    effects = sla_step(state, published, JUDGE, berlin(2026, 11, 2, 15, 5))
    assert [(e.kind, e.at) for e in effects.events] == [(MET, berlin(2026, 11, 2, 11))]


def test_a_late_stop_after_the_deadline_changes_nothing_published() -> None:
    state, published = _publish_breach()
    state, _ = apply_event(state, parse(human(berlin(2026, 11, 2, 14, 30))))
    (clock,) = snapshot(state, JUDGE).clocks
    assert clock.status(berlin(2026, 11, 2, 15)) == "breached" and clock.stopped_at == berlin(2026, 11, 2, 14, 30)
    effects = sla_step(state, published, JUDGE, berlin(2026, 11, 2, 15, 5))
    assert effects.events == () and effects.next_due is None


def test_arrival_order_does_not_change_the_clocks() -> None:
    raws = [
        stage_event(LEAD, "lead", berlin(2026, 11, 2, 9)),
        mql_at(berlin(2026, 11, 2, 10)),
        robot(berlin(2026, 11, 2, 10, 5)),
        owner_event(LEAD, "rep-1", berlin(2026, 11, 2, 10, 6)),
        human(berlin(2026, 11, 2, 11)),
        stage_event(LEAD, "sql", berlin(2026, 11, 3, 10)),
        deal_event(LEAD, "created", berlin(2026, 11, 6, 10)),
    ]
    expected = snapshot(lead_state(raws), JUDGE).clocks
    assert snapshot(lead_state(reversed(raws)), JUDGE).clocks == expected
    assert snapshot(lead_state(raws[3:] + raws[:3]), JUDGE).clocks == expected
    assert derive_clocks(lead_state(raws).moves, snapshot(lead_state(raws)).lifecycle, JUDGE) == expected


# --- the `sla` line of the report -----------------------------------------------------------------------------


def test_sla_section_with_nothing_started() -> None:
    assert sla_section(0, 0, 0, 0, [0.0, 0.0]) == {
        "started": 0,
        "met": 0,
        "breached": 0,
        "open": 0,
        "compliance": None,
        "p50_business_seconds": None,
        "p90_business_seconds": None,
        "escalated": 0,
        "reassign_suggested": 0,
    }


def test_sla_section_of_open_clocks_only_has_no_compliance_nor_quantiles() -> None:
    section = sla_section(3, 0, 0, 0, [])
    assert (section["open"], section["compliance"]) == (3, None)
    assert (section["p50_business_seconds"], section["p90_business_seconds"]) == (None, None)


def test_sla_section_of_breached_clocks_that_never_stopped() -> None:
    section = sla_section(2, 0, 2, 0, [0.0, 0.0])
    assert (section["open"], section["compliance"], section["p50_business_seconds"]) == (0, 0.0, None)


@pytest.mark.parametrize(
    ("stopped_seconds", "p50", "p90"),
    [
        ([0.0, 3600.0, 7200.0, 18000.0], 5400.0, 14760.0),  # p90: 7200 + 0.7 * 10800
        ([4530.0], 4530.0, 4530.0),
        ([100.0, 200.0, 400.0], 200.0, 360.0),  # p90: rank 1.8 -> 200 + 0.8 * 200
        ([1.0, 2.0], 1.5, 1.9),
    ],
)
def test_sla_section_quantiles_match_numpys_linear_interpolation(
    stopped_seconds: list[float], p50: float, p90: float
) -> None:
    expected = np.quantile(stopped_seconds, [0.5, 0.9])  # numpy's default method is "linear"
    assert [round(float(q), 3) for q in expected] == [p50, p90]
    stopped = len(stopped_seconds)
    section = sla_section(stopped + 2, stopped - 1, 1, stopped, [p50, p90])
    assert section == {
        "started": stopped + 2,
        "met": stopped - 1,
        "breached": 1,
        "open": 2,
        "compliance": round((stopped - 1) / stopped, 6),
        "p50_business_seconds": p50,
        "p90_business_seconds": p90,
        "escalated": 0,
        "reassign_suggested": 0,
    }


def test_sla_section_rounds_to_milliseconds_and_ratios_to_six_places() -> None:
    section = sla_section(7, 2, 1, 3, [1234.56789, 9876.54321])
    assert section["compliance"] == 0.666667
    assert (section["p50_business_seconds"], section["p90_business_seconds"]) == (1234.568, 9876.543)
    assert section["open"] == 4


def test_sla_section_accepts_clickhouse_numbers() -> None:
    quantiles = [np.float64(60.5), np.float64(90)]
    section = sla_section(np.uint64(5), np.uint64(3), np.uint64(1), np.uint64(4), quantiles, np.uint64(2), np.uint64(1))  # type: ignore[arg-type]
    assert section == {
        "started": 5,
        "met": 3,
        "breached": 1,
        "open": 1,
        "compliance": 0.75,
        "p50_business_seconds": 60.5,
        "p90_business_seconds": 90.0,
        "escalated": 2,
        "reassign_suggested": 1,
    }
    assert all(type(v) in (int, float) for v in section.values())
