"""The stage model of contract §2, case by case: entries, transitions and episodes of one lead."""

from __future__ import annotations

import pytest

from pipelines.core.lead import snapshot
from pipelines.core.lifecycle import to_move
from tests.unit.factories import (
    WEB,
    activity_event,
    at,
    lead_state,
    owner_event,
    parse,
)
from tests.unit.lifecycle_cases import LEAD, deal, entries, form, life, stage, transitions

# --- creation -------------------------------------------------------------------------------------------------------


def test_a_form_creates_the_lead() -> None:
    state = lead_state([form(0)])
    snap = snapshot(state)
    lifecycle = snap.lifecycle
    assert entries(lifecycle) == [(1, "lead", at(0))]
    assert transitions(lifecycle) == [("", "lead", 1, "created")]
    assert (lifecycle.created_at, lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == (
        at(0),
        "lead",
        1,
        True,
    )
    assert (snap.revision, snap.visitor_ids, snap.last_event_at) == (1, ("V1",), at(0))
    first = lifecycle.transitions[0]
    assert (first.at, first.source, first.id) == (at(0), WEB, parse(form(0)).id)


@pytest.mark.parametrize(
    "raw",
    [
        stage("lead", 0),
        owner_event(LEAD, "rep-1", at(0)),
        activity_event(LEAD, at(0), automated=True),
        activity_event(LEAD, at(0), automated=False),
    ],
    ids=["lifecycle_changed-lead", "owner_assigned", "activity_logged-automated", "activity_logged-human"],
)
def test_a_first_crm_event_without_a_stage_above_lead_creates_the_lead_at_lead(raw: bytes) -> None:
    lifecycle = life(raw)
    assert entries(lifecycle) == [(1, "lead", at(0))]
    assert transitions(lifecycle) == [("", "lead", 1, "created")]
    assert (lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == ("lead", 1, True)


def test_an_owner_assignment_sets_the_owner() -> None:
    assert life(owner_event(LEAD, "rep-7", at(0))).owner_id == "rep-7"
    assert life(form(0), owner_event(LEAD, "rep-1", at(1)), owner_event(LEAD, "rep-2", at(2))).owner_id == "rep-2"


@pytest.mark.parametrize(
    ("raw", "reached", "stage_after"),
    [
        (stage("mql", 0), ("mql",), "mql"),
        (stage("sql", 0), ("mql", "sal", "sql"), "sql"),
        (stage("customer", 0), ("mql", "sal", "sql", "opportunity", "customer"), "customer"),
        (deal("created", 0), ("mql", "sal", "sql", "opportunity"), "opportunity"),
        (deal("proposal", 0), ("mql", "sal", "sql", "opportunity"), "opportunity"),
        (deal("won", 0), ("mql", "sal", "sql", "opportunity", "customer"), "customer"),
    ],
    ids=["stage-mql", "stage-sql", "stage-customer", "deal-created", "deal-proposal", "deal-won"],
)
def test_a_first_crm_event_above_lead_creates_the_lead_and_enters_every_stage_up_to_it(
    raw: bytes, reached: tuple[str, ...], stage_after: str
) -> None:
    lifecycle = life(raw)
    assert entries(lifecycle) == [(1, "lead", at(0)), *((1, s, at(0)) for s in reached)]
    assert transitions(lifecycle) == [("", stage_after, 1, "created")]
    assert (lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == (stage_after, 1, True)


@pytest.mark.parametrize(
    ("raw", "side"),
    [(stage("disqualified", 0), "disqualified"), (stage("lost", 0), "lost"), (deal("lost", 0), "lost")],
    ids=["stage-disqualified", "stage-lost", "deal-lost"],
)
def test_a_first_event_to_a_side_stage_creates_the_lead_entering_only_lead(raw: bytes, side: str) -> None:
    lifecycle = life(raw)
    assert entries(lifecycle) == [(1, "lead", at(0))]
    assert transitions(lifecycle) == [("", side, 1, "created")]
    assert (lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == (side, 1, True)


def test_a_first_recycled_creates_the_lead_with_its_episode_ended() -> None:
    lifecycle = life(stage("recycled", 0), stage("lead", 1), stage("mql", 2))
    assert entries(lifecycle) == [(1, "lead", at(0)), (2, "mql", at(2))]
    assert transitions(lifecycle) == [
        ("", "recycled", 1, "created"),
        ("recycled", "lead", 1, "backward"),
        ("lead", "mql", 2, "new_episode"),
    ]


def test_a_form_after_crm_events_does_not_create_the_lead_again() -> None:
    lifecycle = life(stage("mql", 0), form(5))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(0))]
    assert transitions(lifecycle) == [("", "mql", 1, "created")]
    assert lifecycle.stage == "mql"


def test_events_without_a_stage_record_no_transition() -> None:
    lifecycle = life(form(0), activity_event(LEAD, at(1)), owner_event(LEAD, "rep-1", at(2)), form(3, form_id="demo"))
    assert entries(lifecycle) == [(1, "lead", at(0))]
    assert transitions(lifecycle) == [("", "lead", 1, "created")]


# --- moves within an episode ----------------------------------------------------------------------------------------


def test_a_forward_move_enters_the_stage() -> None:
    lifecycle = life(form(0), stage("mql", 10))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10))]
    assert transitions(lifecycle) == [("", "lead", 1, "created"), ("lead", "mql", 1, "forward")]


def test_skipped_stages_are_entered_at_the_same_time() -> None:
    lifecycle = life(form(0), stage("sql", 10))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(10)), (1, "sql", at(10))]
    assert transitions(lifecycle) == [("", "lead", 1, "created"), ("lead", "sql", 1, "forward")]
    assert lifecycle.stage == "sql"


def test_a_backward_move_enters_nothing_and_is_recorded() -> None:
    lifecycle = life(form(0), stage("mql", 10), stage("sql", 20), stage("sal", 30))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(20)), (1, "sql", at(20))]
    assert transitions(lifecycle) == [
        ("", "lead", 1, "created"),
        ("lead", "mql", 1, "forward"),
        ("mql", "sql", 1, "forward"),
        ("sql", "sal", 1, "backward"),
    ]
    assert (lifecycle.stage, lifecycle.episode) == ("sal", 1)


def test_a_move_back_to_lead_in_an_open_episode_is_backward_and_enters_nothing() -> None:
    lifecycle = life(form(0), stage("mql", 10), stage("lead", 20))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10))]
    assert transitions(lifecycle)[-1] == ("mql", "lead", 1, "backward")


def test_re_entering_a_stage_in_the_same_episode_enters_nothing() -> None:
    lifecycle = life(form(0), stage("mql", 10), stage("sal", 20), stage("mql", 30), stage("sal", 40), stage("sql", 50))
    assert entries(lifecycle) == [
        (1, "lead", at(0)),
        (1, "mql", at(10)),
        (1, "sal", at(20)),
        (1, "sql", at(50)),
    ]
    assert transitions(lifecycle) == [
        ("", "lead", 1, "created"),
        ("lead", "mql", 1, "forward"),
        ("mql", "sal", 1, "forward"),
        ("sal", "mql", 1, "backward"),
        ("mql", "sal", 1, "lateral"),
        ("sal", "sql", 1, "forward"),
    ]


def test_a_repeated_stage_is_no_transition() -> None:
    lifecycle = life(form(0), stage("mql", 10), stage("mql", 20, reason="rescored"))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10))]
    assert transitions(lifecycle) == [("", "lead", 1, "created"), ("lead", "mql", 1, "forward")]


# --- episodes -------------------------------------------------------------------------------------------------------


def test_recycled_ends_the_episode_and_the_next_move_above_lead_starts_the_next() -> None:
    before = life(form(0), stage("mql", 10), stage("recycled", 20))
    assert (before.stage, before.episode, before.episode_open) == ("recycled", 1, False)

    lifecycle = life(form(0), stage("mql", 10), stage("recycled", 20), stage("lead", 30), stage("sal", 40))
    assert entries(lifecycle) == [
        (1, "lead", at(0)),
        (1, "mql", at(10)),
        (2, "mql", at(40)),
        (2, "sal", at(40)),
    ]
    assert transitions(lifecycle) == [
        ("", "lead", 1, "created"),
        ("lead", "mql", 1, "forward"),
        ("mql", "recycled", 1, "recycled"),
        ("recycled", "lead", 1, "backward"),
        ("lead", "sal", 2, "new_episode"),
    ]
    assert (lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == ("sal", 2, True)


def test_a_move_to_lead_after_recycled_enters_nothing_and_keeps_the_episode_ended() -> None:
    lifecycle = life(form(0), stage("sql", 10), stage("recycled", 20), stage("lead", 30))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(10)), (1, "sql", at(10))]
    assert (lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == ("lead", 1, False)


def test_a_new_episode_enters_every_stage_from_mql_again_and_never_lead() -> None:
    lifecycle = life(
        form(0),
        stage("customer", 10),
        stage("recycled", 20),
        stage("sql", 30),
        stage("recycled", 40),
        deal("won", 50),
    )
    funnel_above_lead = ("mql", "sal", "sql", "opportunity", "customer")
    assert entries(lifecycle) == [
        (1, "lead", at(0)),
        *((1, s, at(10)) for s in funnel_above_lead),
        *((2, s, at(30)) for s in ("mql", "sal", "sql")),
        *((3, s, at(50)) for s in funnel_above_lead),
    ]
    assert [t for t in transitions(lifecycle) if t[3] in ("recycled", "new_episode")] == [
        ("customer", "recycled", 1, "recycled"),
        ("recycled", "sql", 2, "new_episode"),
        ("sql", "recycled", 2, "recycled"),
        ("recycled", "customer", 3, "new_episode"),
    ]
    assert [e.stage for e in lifecycle.entries].count("lead") == 1


def test_side_stages_after_recycled_do_not_start_an_episode() -> None:
    lifecycle = life(form(0), stage("mql", 10), stage("recycled", 20), stage("disqualified", 30), stage("mql", 40))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (2, "mql", at(40))]
    assert transitions(lifecycle)[-2:] == [
        ("recycled", "disqualified", 1, "side"),
        ("disqualified", "mql", 2, "new_episode"),
    ]


@pytest.mark.parametrize("side", ["disqualified", "lost"])
def test_disqualified_and_lost_do_not_end_the_episode(side: str) -> None:
    lifecycle = life(form(0), stage("mql", 10), stage(side, 20), stage("sal", 30), stage("mql", 40))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(30))]
    assert transitions(lifecycle) == [
        ("", "lead", 1, "created"),
        ("lead", "mql", 1, "forward"),
        ("mql", side, 1, "side"),
        (side, "sal", 1, "forward"),
        ("sal", "mql", 1, "backward"),
    ]
    assert (lifecycle.episode, lifecycle.episode_open) == (1, True)


def test_a_side_stage_then_an_entered_stage_is_lateral() -> None:
    lifecycle = life(form(0), stage("sql", 10), stage("disqualified", 20), stage("mql", 30))
    assert entries(lifecycle) == [(1, "lead", at(0)), (1, "mql", at(10)), (1, "sal", at(10)), (1, "sql", at(10))]
    assert transitions(lifecycle)[-1] == ("disqualified", "mql", 1, "lateral")


# --- deals ----------------------------------------------------------------------------------------------------------


def test_deal_created_and_proposal_mean_opportunity_and_won_means_customer() -> None:
    lifecycle = life(form(0), stage("sql", 10), deal("created", 20), deal("proposal", 30), deal("won", 40))
    assert entries(lifecycle) == [
        (1, "lead", at(0)),
        (1, "mql", at(10)),
        (1, "sal", at(10)),
        (1, "sql", at(10)),
        (1, "opportunity", at(20)),
        (1, "customer", at(40)),
    ]
    assert transitions(lifecycle) == [
        ("", "lead", 1, "created"),
        ("lead", "sql", 1, "forward"),
        ("sql", "opportunity", 1, "forward"),
        ("opportunity", "customer", 1, "forward"),
    ]


def test_deal_lost_means_lost_a_side_stage() -> None:
    lifecycle = life(form(0), deal("created", 10), deal("lost", 20), deal("created", 30, deal_id="D2"))
    assert entries(lifecycle) == [(1, "lead", at(0)), *((1, s, at(10)) for s in ("mql", "sal", "sql", "opportunity"))]
    assert transitions(lifecycle) == [
        ("", "lead", 1, "created"),
        ("lead", "opportunity", 1, "forward"),
        ("opportunity", "lost", 1, "side"),
        ("lost", "opportunity", 1, "lateral"),
    ]
    assert (lifecycle.stage, lifecycle.episode, lifecycle.episode_open) == ("opportunity", 1, True)


def test_deal_stages_reach_the_core_as_lifecycle_stages() -> None:
    mapped = {s: parse(deal(s, 0)).lifecycle_stage for s in ("created", "proposal", "won", "lost")}
    assert mapped == {"created": "opportunity", "proposal": "opportunity", "won": "customer", "lost": "lost"}


def test_a_human_activity_is_marked_on_its_move_and_an_automated_one_is_not() -> None:
    assert to_move(parse(activity_event(LEAD, at(0), automated=False))).human_activity is True
    assert to_move(parse(activity_event(LEAD, at(0), automated=True))).human_activity is False
    assert to_move(parse(stage("mql", 0))).human_activity is False
