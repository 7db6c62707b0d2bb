"""`leadflow lead`'s story from hand-made rows: late events, a recycled lead, met, breached and open clocks.

The lead works under the 2026-H2 agreement (Europe/Berlin, Mon-Fri 09:00-17:00, CET = UTC+1 in November):
- episode 1: a lead on Mon 2 Nov, MQL at 08:00 UTC (09:00 local), its 4h follow-up due 12:00 UTC; the first call
  comes Tue 3 Nov 09:00 UTC (10:00 local) and reaches the store late, after the SQL event of 10:00 UTC: breached,
  Mon 13:00-17:00 plus Tue 09:00-10:00 local = 5 business hours past the deadline, 21 hours on the clock.
  SQL Tue 10:00 UTC, opportunity 11:00 UTC: the 5d sql_to_opportunity clock is met after 1 business hour.
- recycled Wed 4 Nov; episode 2: MQL Thu 5 Nov 08:00 UTC, not followed up: open at 10:00 UTC, 2 business hours
  left; breached at 14:00 UTC, 2 business hours past the deadline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from pipelines.agreements import load_agreement
from pipelines.core.sla import Judge
from services.lead_story import StoryRows, build_story
from services.lead_text import duration, print_story
from tests.integration.processes import REPO

H2 = load_agreement(REPO / "agreements" / "2026-H2.yaml")
LEAD = "lead-42"
TOPIC = "leadflow.stages"


def utc(day: int, hour: int, minute: int = 0, ms: int = 0) -> datetime:
    """A November 2026 instant as chDB answers it: naive, in UTC."""
    return datetime(2026, 11, day, hour, minute, 0, ms * 1000, tzinfo=UTC).replace(tzinfo=None)


def event(offset: int, moment: datetime, kind: str, data: dict[str, Any], **extra: Any) -> tuple[Any, ...]:
    """A row of the story's events query."""
    visitor = data.get("visitor_id", "")
    subject = visitor if kind == "web.visit" else LEAD
    payload = json.dumps({"id": f"e{offset}", "source": "/crm", "type": kind, "subject": subject, "data": data})
    topic = extra.get("topic", TOPIC)
    return (moment, kind, "/crm", f"e{offset}", subject, visitor, topic, 0, offset, payload)


def stage(offset: int, moment: datetime, to: str, **data: Any) -> tuple[Any, ...]:
    return event(offset, moment, "crm.lifecycle_changed", {"lead_id": LEAD, "stage": to, **data})


EVENTS = [
    event(1, utc(2, 7, 50), "web.visit", {"visitor_id": "v-1", "url": "https://example.com/"}, topic="leadflow.visits"),
    event(2, utc(2, 7, 55), "web.form_submitted", {"visitor_id": "v-1", "lead_id": LEAD, "form_id": "demo"}),
    stage(3, utc(2, 8), "mql", owner_id="rep-1"),
    stage(4, utc(3, 10), "sql"),
    # arrives after the SQL event, dated before it: the follow-up call that stopped the MQL clock
    event(
        5, utc(3, 9), "crm.activity_logged", {"lead_id": LEAD, "kind": "call", "automated": False, "owner_id": "rep-2"}
    ),
    event(6, utc(3, 11), "crm.deal_changed", {"lead_id": LEAD, "deal_id": "d1", "stage": "created", "amount": "10"}),
    stage(7, utc(4, 9), "recycled", reason="no budget"),
    stage(8, utc(5, 8), "mql"),
]
ENTRIES = [  # chDB answers named tuples as dicts
    {"episode": 1, "stage": "lead", "entered_at": utc(2, 7, 55)},
    {"episode": 1, "stage": "mql", "entered_at": utc(2, 8)},
    {"episode": 1, "stage": "sal", "entered_at": utc(3, 10)},
    {"episode": 1, "stage": "sql", "entered_at": utc(3, 10)},
    {"episode": 1, "stage": "opportunity", "entered_at": utc(3, 11)},
    {"episode": 2, "stage": "mql", "entered_at": utc(5, 8)},
]
TRANSITIONS = [  # ... and a server or the store pages as tuples
    (utc(2, 7, 55), "/crm", "e2", "", "lead", 1, "created"),
    (utc(2, 8), "/crm", "e3", "lead", "mql", 1, "forward"),
    (utc(3, 10), "/crm", "e4", "mql", "sql", 1, "forward"),
    (utc(3, 11), "/crm", "e6", "sql", "opportunity", 1, "forward"),
    (utc(4, 9), "/crm", "e7", "opportunity", "recycled", 1, "recycled"),
    (utc(5, 8), "/crm", "e8", "recycled", "mql", 2, "new_episode"),
]
CLOCKS = [
    ("mql_follow_up", "2026-H2", 1, utc(2, 8), utc(2, 12), utc(2, 11), utc(3, 9), 18000.0, "rep-2"),
    ("sql_to_opportunity", "2026-H2", 1, utc(3, 10), utc(10, 10), None, utc(3, 11), 3600.0, "rep-2"),
    ("mql_follow_up", "2026-H2", 2, utc(5, 8), utc(5, 12), utc(5, 11), None, None, ""),
]
SNAPSHOT = (14, utc(2, 7, 55), "mql", 2, 1, "rep-2", utc(5, 8), ENTRIES, TRANSITIONS, CLOCKS)
SLA_EVENTS = [
    ("mql_follow_up", 1, "sla.warning", f"{LEAD}/mql_follow_up/1/sla.warning", "rep-1", utc(2, 11), utc(2, 11, 0, 40)),
    (
        "mql_follow_up",
        1,
        "sla.breached",
        f"{LEAD}/mql_follow_up/1/sla.breached",
        "rep-1",
        utc(2, 12, 0, 1),
        utc(2, 12, 0, 251),
    ),
    ("sql_to_opportunity", 1, "sla.met", f"{LEAD}/sql_to_opportunity/1/sla.met", "rep-2", utc(3, 11), utc(3, 11)),
    ("mql_follow_up", 3, "sla.warning", f"{LEAD}/mql_follow_up/3/sla.warning", "rep-2", utc(4, 11), utc(4, 11)),
]
DEAD = [("leadflow.stages", 0, 99, "subject: Field required", '{"data": {"lead_id": "lead-42"}}', utc(4, 12))]
FIRST_TOUCH = ("v-1", utc(2, 7, 50), "https://example.com/", "", "ads", "", "")
ROWS = StoryRows(LEAD, SNAPSHOT, EVENTS, FIRST_TOUCH, SLA_EVENTS, DEAD)


def story(as_of: datetime) -> dict[str, Any]:
    return build_story(ROWS, Judge([H2]), as_of.replace(tzinfo=UTC))


def clocks(as_of: datetime) -> dict[tuple[str, int], dict[str, Any]]:
    return {(c["handoff"], c["episode"]): c for c in story(as_of)["clocks"]}


def test_events_are_in_time_order_and_the_one_that_arrived_after_a_later_one_is_late() -> None:
    told = story(utc(5, 10))
    assert [e["id"] for e in told["events"]] == ["e1", "e2", "e3", "e5", "e4", "e6", "e7", "e8"]
    assert [e["id"] for e in told["events"] if e["late"]] == ["e5"]
    call = told["events"][3]
    assert call["store"] == {"topic": TOPIC, "partition": 0, "offset": 5}
    assert call["time"] == "2026-11-03T09:00:00.000+00:00" and call["data"]["kind"] == "call"
    assert [e["stage"] for e in told["events"]] == [None, None, "mql", None, "sql", "opportunity", "recycled", "mql"]


def test_a_recycled_lead_has_its_entries_and_transitions_per_episode() -> None:
    episodes = story(utc(5, 10))["episodes"]
    assert [e["episode"] for e in episodes] == [1, 2]
    assert [x["stage"] for x in episodes[0]["entries"]] == ["lead", "mql", "sal", "sql", "opportunity"]
    assert episodes[1]["entries"] == [{"stage": "mql", "entered_at": "2026-11-05T08:00:00.000+00:00"}]
    assert [t["kind"] for t in episodes[0]["transitions"]] == ["created", "forward", "forward", "forward", "recycled"]
    assert episodes[1]["transitions"] == [
        {
            "at": "2026-11-05T08:00:00.000+00:00",
            "from_stage": "recycled",
            "to_stage": "mql",
            "kind": "new_episode",
            "event": {"source": "/crm", "id": "e8"},
        }
    ]


def test_a_breached_clock_that_stopped_later_says_how_overdue_in_business_and_wall_time() -> None:
    clock = clocks(utc(5, 10))[("mql_follow_up", 1)]
    assert clock["status"] == "breached" and clock["stopped_by_as_of"]
    assert clock["overdue_business_seconds"] == 5 * 3600  # Mon 13:00-17:00 and Tue 09:00-10:00, Berlin
    assert clock["overdue_seconds"] == 21 * 3600
    assert clock["remaining_business_seconds"] is None
    assert clock["stopped_by"] == {"source": "/crm", "id": "e5", "type": "crm.activity_logged"}
    assert clock["within"] == "4h" and clock["owner_id"] == "rep-2"
    assert clock["calendar"] == {
        "kind": "agreement",
        "agreement": "2026-H2",
        "timezone": "Europe/Berlin",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00:00",
        "end": "17:00:00",
        "holidays": ["2026-12-24", "2026-12-25", "2026-12-26"],
    }
    published = [(e["kind"], e["delay_seconds"]) for e in clock["sla_events"]]
    assert published == [("sla.warning", 0.04), ("sla.breached", 0.25)]


def test_before_its_stop_the_same_clock_is_breached_and_still_running() -> None:
    clock = clocks(utc(2, 16))[("mql_follow_up", 1)]  # Monday 17:00 local
    assert clock["status"] == "breached" and not clock["stopped_by_as_of"]
    assert clock["overdue_business_seconds"] == 4 * 3600 and clock["overdue_seconds"] == 4 * 3600


def test_a_met_clock_has_what_was_left_to_spare() -> None:
    clock = clocks(utc(5, 10))[("sql_to_opportunity", 1)]
    assert clock["status"] == "met" and clock["business_seconds"] == 3600.0
    assert clock["remaining_business_seconds"] == (5 * 8 - 1) * 3600  # 5 business days less 1 hour
    assert clock["overdue_business_seconds"] is None
    assert clock["stopped_by"] == {"source": "/crm", "id": "e6", "type": "crm.deal_changed"}
    assert [e["kind"] for e in clock["sla_events"]] == ["sla.met"]


def test_an_open_clock_has_the_business_time_left_and_breaches_as_time_goes_on() -> None:
    clock = clocks(utc(5, 10))[("mql_follow_up", 2)]
    assert clock["status"] == "open" and clock["remaining_business_seconds"] == 2 * 3600
    assert clock["owner_id"] == "rep-2"  # no owner of its own: the lead's, as the sla_clocks view says
    later = clocks(utc(5, 14))[("mql_follow_up", 2)]
    assert later["status"] == "breached" and later["overdue_business_seconds"] == 2 * 3600
    before = clocks(utc(5, 7))[("mql_follow_up", 2)]
    assert before["status"] == "not_started" and before["remaining_business_seconds"] == 4 * 3600


def test_owners_visitors_first_touch_and_dead_letters() -> None:
    told = story(utc(5, 10))
    assert [(o["owner_id"], o["from"][:13], (o["until"] or "")[:13]) for o in told["owners"]] == [
        ("rep-1", "2026-11-02T08", "2026-11-03T09"),
        ("rep-2", "2026-11-03T09", ""),
    ]
    assert told["visitors"] == [
        {
            "visitor_id": "v-1",
            "tied_at": "2026-11-02T07:55:00.000+00:00",
            "first_visit_at": "2026-11-02T07:50:00.000+00:00",
            "visits": 1,
        }
    ]
    assert told["first_touch"]["utm_source"] == "ads" and told["first_touch"]["referrer"] is None
    assert told["dead_letters"][0]["reason"] == "subject: Field required"
    assert told["lead"] == {
        "stage": "mql",
        "episode": 2,
        "episode_open": True,
        "owner_id": "rep-2",
        "created_at": "2026-11-02T07:55:00.000+00:00",
        "last_event_at": "2026-11-05T08:00:00.000+00:00",
        "revision": 14,
    }
    assert told["timezone"] == "Europe/Berlin"
    other = told["other_sla_events"]
    assert [(e["handoff"], e["episode"], e["kind"]) for e in other] == [("mql_follow_up", 3, "sla.warning")]


def test_a_clock_whose_agreement_is_gone_counts_wall_clock_time() -> None:
    told = build_story(ROWS, Judge([]), utc(5, 10).replace(tzinfo=UTC))
    clock = told["clocks"][0]
    assert clock["calendar"] is None and clock["within"] is None
    assert clock["overdue_business_seconds"] == clock["overdue_seconds"] == 21 * 3600
    assert told["timezone"] == "UTC"


def test_the_story_is_plain_json() -> None:
    told = story(utc(5, 10))
    assert json.loads(json.dumps(told)) == told


def test_the_text_names_the_breach_how_overdue_and_draws_the_clocks_as_spans() -> None:
    console = Console(record=True, width=220, color_system=None)
    print_story(story(utc(5, 10)), console)
    text = console.export_text()
    breach = next(line for line in text.splitlines() if line.startswith("A  BREACHED mql_follow_up (episode 1"))
    assert "5h 00m business time past the deadline (21h 00m on the clock)" in breach
    assert "stopped 2026-11-03 10:00:00 by crm.activity_logged e5" in breach  # Berlin time
    assert "C  open mql_follow_up (episode 2, owner rep-2)" in text and "2h 00m of business time left" in text
    assert "late: arrived after an event dated later" in text
    lines = text.splitlines()
    column = next(line for line in lines if "┃ clocks" in line).index("clocks")

    def spans(what: str) -> str:
        return next(line for line in lines if what in line)[column : column + 3]

    assert spans("clock A mql_follow_up (episode 1) starts") == "┬  "
    assert spans("call logged (by rep-2)") == "│  "  # A still runs when the call that stops it comes
    assert spans("clock A mql_follow_up (episode 1) stops") == "┴  "
    assert spans("clock A mql_follow_up (episode 1): deadline passed") == "┼  "
    assert spans("clock C mql_follow_up (episode 2) starts") == "  ┬"
    assert spans("clock C mql_follow_up (episode 2): deadline") == "  ┼"
    assert "after as of" in next(line for line in lines if "clock C mql_follow_up (episode 2): deadline" in line)


def test_what_callers_sent_reaches_the_terminal_spelled_out() -> None:
    url = "https://example.com/\x1b[2J\u202e[bold]x"
    hostile = event(9, utc(2, 7, 51), "web.visit", {"visitor_id": "v-1", "url": url}, topic="leadflow.visits")
    rows = StoryRows(LEAD, SNAPSHOT, [*EVENTS, hostile], FIRST_TOUCH, SLA_EVENTS, DEAD)
    console = Console(record=True, width=220, force_terminal=True)
    print_story(build_story(rows, Judge([H2]), utc(5, 10).replace(tzinfo=UTC)), console)
    text = console.export_text(styles=False)
    assert "\x1b" not in text and "\u202e" not in text
    assert "https://example.com/\\u001b[2J\\u202e[bold]x" in text


def test_durations_read_as_people_say_them() -> None:
    assert duration(0.4) == "0.4s"
    assert duration(2.4) == "2s"
    assert duration(200) == "3m 20s"
    assert duration(18000) == "5h 00m"
    assert duration(timedelta(days=2, hours=3).total_seconds(), days=True) == "2d 3h 00m"
    assert duration(timedelta(days=2, hours=3).total_seconds()) == "51h 00m"


def test_a_clock_shows_the_escalation_steps_it_reaches_on_its_timeline() -> None:
    handoffs = list(H2.handoffs)
    ladder = [{"after": "1h", "to": "manager"}, {"after": "3h", "to": "reassign"}]
    handoffs[0] = handoffs[0].model_validate({**handoffs[0].model_dump(), "escalate": ladder})
    judge = Judge([H2.model_copy(update={"handoffs": tuple(handoffs)})])
    told = {(c["handoff"], c["episode"]): c for c in build_story(ROWS, judge, utc(5, 14).replace(tzinfo=UTC))["clocks"]}
    # A: due Mon 13:00 Berlin, stopped Tue 10:00 Berlin; 1h past is 14:00 Berlin, 3h past is 16:00
    assert told[("mql_follow_up", 1)]["escalations"] == [
        {"to": "manager", "kind": "sla.escalated", "at": "2026-11-02T13:00:00.000+00:00"},
        {"to": "reassign", "kind": "sla.reassign_suggested", "at": "2026-11-02T15:00:00.000+00:00"},
    ]
    assert told[("sql_to_opportunity", 1)]["escalations"] == []
    console = Console(record=True, width=220, color_system=None)
    print_story(build_story(ROWS, judge, utc(5, 14).replace(tzinfo=UTC)), console)
    lines = console.export_text().splitlines()
    column = next(line for line in lines if "┃ clocks" in line).index("clocks")
    marks = [line[column : column + 3] for line in lines if "clock C mql_follow_up (episode 2): escalated" in line]
    assert marks == ["  ╪"]
    assert any("clock A mql_follow_up (episode 1): reassignment suggested" in line for line in lines)


def test_a_step_after_the_clock_stopped_is_not_reached() -> None:
    handoffs = list(H2.handoffs)
    late = [{"after": "1d", "to": "manager"}]  # Tue 13:00 Berlin, after A stopped at 10:00
    handoffs[0] = handoffs[0].model_validate({**handoffs[0].model_dump(), "escalate": late})
    judge = Judge([H2.model_copy(update={"handoffs": tuple(handoffs)})])
    told = {(c["handoff"], c["episode"]): c for c in build_story(ROWS, judge, utc(6, 14).replace(tzinfo=UTC))["clocks"]}
    assert told[("mql_follow_up", 1)]["escalations"] == []
    assert [s["at"] for s in told[("mql_follow_up", 2)]["escalations"]] == ["2026-11-06T12:00:00.000+00:00"]
