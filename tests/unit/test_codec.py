"""State to bytes and back, for the changelogged tables."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from pipelines.core.codec import lead_from_bytes, lead_to_bytes, visitor_from_bytes, visitor_to_bytes
from pipelines.core.identity import Touch, VisitorState, apply_link, apply_visit
from pipelines.core.lead import LeadState, snapshot
from pipelines.core.lifecycle import Move
from tests.unit.factories import (
    activity_event,
    at,
    deal_event,
    form_event,
    lead_state,
    owner_event,
    parse,
    stage_event,
    visit_event,
)


def full_lead() -> LeadState:
    return lead_state(
        [
            form_event("L1", "V1", at(0), email="ada@example.com"),
            owner_event("L1", "rep-1", at(1)),
            stage_event("L1", "mql", at(2), reason="scored", owner_id="rep-2"),
            activity_event("L1", at(3), automated=False, kind="call"),
            activity_event("L1", at(4), automated=True, kind="email"),
            stage_event("L1", "recycled", at(5)),
            deal_event("L1", "won", at(6), amount=99.5),
            form_event("L1", "V2", at(7), form_id="demo"),
        ]
    )


def test_a_lead_with_every_kind_of_move_round_trips() -> None:
    state = full_lead()
    decoded = lead_from_bytes(lead_to_bytes(state))
    assert decoded == state
    assert snapshot(decoded) == snapshot(state)
    assert [m.human_activity for m in decoded.moves] == [False, False, False, True, False, False, False, False]
    assert [m.visitor_id for m in decoded.moves if m.visitor_id] == ["V1", "V2"]


def test_lead_bytes_are_a_versioned_compact_array() -> None:
    state = lead_state([stage_event("L1", "mql", datetime(2026, 11, 2, 9, 0, 0, 123000, tzinfo=UTC), id="e1")])
    assert orjson.loads(lead_to_bytes(state)) == [
        1,
        "L1",
        [[1793610000123, "/crm/hubspot", "e1", "crm.lifecycle_changed", "mql", None, False, None]],
    ]


def test_encoding_is_deterministic_and_independent_of_arrival_order() -> None:
    raws = [form_event("L1", "V1", at(0)), stage_event("L1", "sql", at(2)), stage_event("L1", "mql", at(1))]
    assert lead_to_bytes(lead_state(raws)) == lead_to_bytes(lead_state(reversed(raws)))
    assert lead_to_bytes(full_lead()) == lead_to_bytes(full_lead())


def test_decoded_times_are_aware_utc_to_the_millisecond() -> None:
    state = lead_state([stage_event("L1", "mql", at(0), id="e1")])
    (move,) = lead_from_bytes(lead_to_bytes(state)).moves
    assert move.time.tzinfo is not None and move.time.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert move.time == at(0)


def test_times_before_the_epoch_and_far_ahead_round_trip() -> None:
    for moment in (
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(2999, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
    ):
        state = LeadState("L1", (Move(moment, "/crm/hubspot", "e1", "crm.owner_assigned", owner_id="rep-1"),))
        assert lead_from_bytes(lead_to_bytes(state)) == state


def test_unicode_identifiers_round_trip() -> None:
    raw = stage_event("Lé-😀", "mql", at(0), id="ïd\u2028", source="/crm/hübspot")
    state = lead_state([raw])
    assert lead_from_bytes(lead_to_bytes(state)) == state


def test_a_visitor_with_first_visit_and_leads_round_trips() -> None:
    state, _ = apply_visit(
        None,
        parse(
            visit_event(
                "V1",
                at(0),
                referrer="https://r.example/",
                utm_source="ads",
                utm_medium="cpc",
                utm_campaign="q4",
            )
        ),
    )
    state, _ = apply_link(state, "V1", "L2")
    state, _ = apply_link(state, "V1", "L1")
    assert state.lead_ids == ("L1", "L2")
    assert visitor_from_bytes(visitor_to_bytes(state)) == state


def test_a_visitor_without_visits_or_optional_fields_round_trips() -> None:
    for state in (
        VisitorState("V1"),
        VisitorState("V1", None, ("L1",)),
        VisitorState("V1", Touch(at(0), "/web/x", "v1", "https://x/", None, None, None, None)),
    ):
        assert visitor_from_bytes(visitor_to_bytes(state)) == state
    assert orjson.loads(visitor_to_bytes(VisitorState("V1"))) == [1, "V1", None, []]


def test_an_empty_owner_written_by_an_earlier_version_is_read_as_none() -> None:
    moves_v1 = [[1_700_000_000_000, "/crm", "a-1", "crm.activity_logged", None, "", False, None]]
    (move,) = lead_from_bytes(orjson.dumps([1, "L1", moves_v1])).moves
    assert move.owner_id is None
    rows = [[1_700_000_000_000, 0, "a-1", 0, None, 1, 0, None]]
    dense = orjson.dumps([2, "L1", 300, [], ["/crm"], ["crm.activity_logged"], [""], rows])
    (move,) = lead_from_bytes(dense).moves
    assert move.owner_id is None
