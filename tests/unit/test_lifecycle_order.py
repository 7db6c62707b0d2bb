"""The stage model of contract §2 when events arrive late, tie in time, or come twice."""

from __future__ import annotations

import pytest

from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.lifecycle import StageEntry, derive
from tests.unit.factories import (
    CRM,
    CRM_OTHER,
    at,
    lead_state,
    parse,
    visit_event,
)
from tests.unit.lifecycle_cases import LEAD, deal, entries, form, life, stage, transitions

# --- event time, ties, duplicates -----------------------------------------------------------------------------------


def test_a_late_recycled_is_placed_by_its_time_and_changes_the_episodes() -> None:
    on_time = [form(0), stage("mql", 10), stage("sql", 30)]
    late = stage("recycled", 20)
    before = life(*on_time)
    assert entries(before) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(30)), (1, "sql", at(30))]

    after = life(*on_time, late)
    assert entries(after) == [
        (1, "lead", at(0)),
        (1, "mql", at(10)),
        (2, "mql", at(30)),
        (2, "sal", at(30)),
        (2, "sql", at(30)),
    ]
    assert transitions(after) == [
        ("", "lead", 1, "created"),
        ("lead", "mql", 1, "forward"),
        ("mql", "recycled", 1, "recycled"),
        ("recycled", "sql", 2, "new_episode"),
    ]
    assert lead_state([*on_time, late]) == lead_state([form(0), stage("mql", 10), late, stage("sql", 30)])


def test_a_late_first_event_becomes_the_creation() -> None:
    lifecycle = life(stage("mql", 10), form(0))
    assert lifecycle.created_at == at(0)
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10))]
    assert transitions(lifecycle) == [("", "lead", 1, "created"), ("lead", "mql", 1, "forward")]


def test_a_late_earlier_stage_enters_at_its_own_time() -> None:
    lifecycle = life(form(0), stage("sql", 30), stage("mql", 10))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(30)), (1, "sql", at(30))]


def test_ties_in_time_are_broken_by_source_then_id() -> None:
    # Same time: ids decide within a source ("a" before "b").
    sql_first = [form(0), stage("sql", 10, id="a"), stage("mql", 10, id="b")]
    for arrival in (sql_first, list(reversed(sql_first))):
        lifecycle = life(*arrival)
        assert entries(lifecycle) == [(1, "lead", at(0)), *((1, s, at(10)) for s in ("mql", "sal", "sql"))]
        assert transitions(lifecycle)[1:] == [("lead", "sql", 1, "forward"), ("sql", "mql", 1, "backward")]
        assert lifecycle.stage == "mql"

    mql_first = [form(0), stage("sql", 10, id="b"), stage("mql", 10, id="a")]
    for arrival in (mql_first, list(reversed(mql_first))):
        lifecycle = life(*arrival)
        assert transitions(lifecycle)[1:] == [("lead", "mql", 1, "forward"), ("mql", "sql", 1, "forward")]
        assert lifecycle.stage == "sql"

    # Same time, sources decide before ids ("/crm/hubspot" < "/crm/salesforce").
    by_source = [form(0), stage("sql", 10, id="z", source=CRM), stage("mql", 10, id="a", source=CRM_OTHER)]
    assert life(*by_source).stage == "mql"
    assert life(*reversed(by_source)).stage == "mql"


def test_a_tie_with_the_creating_event_is_broken_the_same_way() -> None:
    # A CRM event at the very time of the form sorts first ("/crm/..." < "/web/...") and creates the lead.
    lifecycle = life(form(0), stage("mql", 0))
    assert transitions(lifecycle) == [("", "mql", 1, "created")]
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(0))]


def test_a_duplicate_changes_nothing() -> None:
    raws = [form(0), stage("mql", 10), deal("won", 20)]
    state = lead_state(raws)
    for raw in raws:
        again, new = apply_event(state, parse(raw))
        assert new is False
        assert again == state
        assert again.revision == 3
    assert snapshot(state).revision == 3


def test_a_same_key_with_other_content_is_still_a_duplicate() -> None:
    state = lead_state([form(0), stage("mql", 10, id="e-1")])
    again, new = apply_event(state, parse(stage("customer", 50, id="e-1")))
    assert (new, again) == (False, state)


def test_the_first_event_is_new_and_revision_counts_distinct_events() -> None:
    state, new = apply_event(None, parse(form(0)))
    assert new is True and state.revision == 1
    state, new = apply_event(state, parse(stage("mql", 10)))
    assert new is True and state.revision == 2


def test_the_same_id_from_another_source_is_another_event() -> None:
    state = lead_state([form(0), stage("mql", 10, id="e-1", source=CRM)])
    other, new = apply_event(state, parse(stage("sql", 20, id="e-1", source=CRM_OTHER)))
    assert new is True
    assert other.revision == 3
    lifecycle = snapshot(other).lifecycle
    assert entries(lifecycle)[-2:] == [(1, "sal", at(20)), (1, "sql", at(20))]


def test_applying_never_mutates_the_state_it_was_given() -> None:
    state = lead_state([form(0), stage("mql", 10)])
    moves = state.moves
    updated, _ = apply_event(state, parse(stage("sql", 5)))
    assert state.moves is moves and state.revision == 2
    assert updated.revision == 3 and [m.time for m in updated.moves] == [at(0), at(5), at(10)]


def test_an_event_for_no_lead_cannot_be_applied() -> None:
    with pytest.raises(ValueError, match="no lead"):
        apply_event(None, parse(visit_event("V1", at(0))))


def test_a_lead_without_events_has_no_lifecycle() -> None:
    assert derive([]) is None
    with pytest.raises(ValueError, match="no events"):
        snapshot(LeadState(LEAD))


def test_entries_are_stage_entries() -> None:
    assert life(form(0)).entries == (StageEntry(1, "lead", at(0)),)
