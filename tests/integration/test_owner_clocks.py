"""`clock: owner` through the real commands: `leadflow replay` and a live worker judge with LEADFLOW_OWNERS and the
owners' absences sent as events, `leadflow lead` tells it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import REPO, Worker, base_env, leadflow, leadflow_json, produce_lines, wait_until
from tests.unit.factories import activity_event, away_event, owner_event, stage_event

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
OWNERS = """
teams:
  - {name: emea, manager: mgr-emea, members: [rep-01]}
owners:
  - id: rep-01
    timezone: Europe/Berlin
    working_hours: {days: [mon, tue, wed, thu, fri], start: "13:00", end: "17:00"}
    away:
      - {from: "2026-11-03T00:00:00+01:00", to: "2026-11-04T00:00:00+01:00"}
"""


def test_replay_counts_the_owners_hours_and_the_story_names_that_calendar(tmp_path: Path) -> None:
    agreements = tmp_path / "agreements"
    agreements.mkdir()
    text = (REPO / "agreements" / "2026-H2.yaml").read_text(encoding="utf-8")
    (agreements / "2026-H2.yaml").write_text(text.replace("    within: 4h\n", "    within: 4h\n    clock: owner\n"))
    (tmp_path / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    env = base_env(
        LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}",
        LEADFLOW_AGREEMENTS=str(agreements),
        LEADFLOW_OWNERS=str(tmp_path / "owners.yaml"),
    )
    start = datetime(2026, 11, 2, 15, tzinfo=BERLIN)  # Monday; rep-01 works 13-17 and is away all Tuesday
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        owner_event("lead-1", "rep-01", start - timedelta(minutes=5), id="o1")
        + b"\n"
        + stage_event("lead-1", "mql", start, id="m1")
        + b"\n"
    )
    assert leadflow_json(["replay", str(events), "--no-progress"], env, tmp_path)["leads"] == 1
    story = leadflow_json(["lead", "lead-1", "--format", "json", "--as-of", "2026-11-05T00:00:00+01:00"], env, tmp_path)
    (clock,) = story["clocks"]
    # 2h on Monday, none on Tuesday (away), 2h on Wednesday from 13:00: due Wednesday 15:00 Berlin
    assert datetime.fromisoformat(clock["deadline"]) == datetime(2026, 11, 4, 15, tzinfo=BERLIN)
    assert clock["calendar"]["kind"] == "owner" and clock["calendar"]["owner_id"] == "rep-01"
    assert clock["status"] == "breached"
    month = ["report", "--month", "2026-11", "--as-of", "2026-12-01T00:00:00+01:00", "--format", "json"]
    report = leadflow_json(month, env, tmp_path)
    assert report["sla_by_team"]["mql_follow_up"]["emea"] == {
        "started": 1, "met": 0, "breached": 1, "open": 0, "compliance": 0.0,
        "p50_business_seconds": None, "p90_business_seconds": None,
        "escalated": 0, "reassign_suggested": 0,
    }  # fmt: skip
    html = tmp_path / "november.html"
    assert leadflow([*month[:-2], "--html", str(html)], env, tmp_path).returncode == 0
    page = html.read_text(encoding="utf-8")
    assert "<h3>Per team</h3>" in page
    assert 'data-path="[&#34;sla_by_team&#34;, &#34;mql_follow_up&#34;, &#34;emea&#34;, &#34;breached&#34;]"' in page
    # without the owners file the same history counts the agreement's 09:00-17:00: due Tuesday 11:00
    plain = {**env, "LEADFLOW_OWNERS": str(tmp_path / "none.yaml"), "LEADFLOW_STORE": f"chdb:{tmp_path / 'plain'}"}
    assert leadflow_json(["replay", str(events), "--no-progress"], plain, tmp_path)["leads"] == 1
    told = leadflow(["lead", "lead-1", "--format", "json"], plain, tmp_path)
    assert told.returncode == 0, told.stderr
    assert '"kind": "agreement"' in told.stdout and "2026-11-03T10:00:00.000+00:00" in told.stdout


def test_an_absence_sent_as_an_event_counts_as_one_in_the_file_even_when_it_comes_last(tmp_path: Path) -> None:
    agreements = tmp_path / "agreements"
    agreements.mkdir()
    text = (REPO / "agreements" / "2026-H2.yaml").read_text(encoding="utf-8")
    (agreements / "2026-H2.yaml").write_text(text.replace("    within: 4h\n", "    within: 4h\n    clock: owner\n"))
    (tmp_path / "owners.yaml").write_text(OWNERS.split("    away:")[0], encoding="utf-8")  # no absence in the file
    env = base_env(
        LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}",
        LEADFLOW_AGREEMENTS=str(agreements),
        LEADFLOW_OWNERS=str(tmp_path / "owners.yaml"),
    )
    start = datetime(2026, 11, 2, 15, tzinfo=BERLIN)
    tuesday, wednesday = datetime(2026, 11, 3, tzinfo=BERLIN), datetime(2026, 11, 4, tzinfo=BERLIN)
    lines = [
        owner_event("lead-1", "rep-01", start - timedelta(minutes=5), id="o1"),
        stage_event("lead-1", "mql", start, id="m1"),
        away_event("rep-01", tuesday, wednesday, start + timedelta(days=3), id="away-1"),  # told days later
        away_event("rep-01", tuesday, wednesday, start + timedelta(days=3), id="away-1"),  # and again
        away_event("rep-02", tuesday, wednesday + timedelta(days=400), start, id="away-2"),  # too long: refused
    ]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    stats = leadflow_json(["replay", str(events), "--no-progress"], env, tmp_path)
    assert (stats["valid"], stats["duplicates"], stats["invalid"]) == (4, 1, 1)
    story = leadflow_json(["lead", "lead-1", "--format", "json", "--as-of", "2026-11-05T00:00:00+01:00"], env, tmp_path)
    (clock,) = story["clocks"]
    assert datetime.fromisoformat(clock["deadline"]) == datetime(2026, 11, 4, 15, tzinfo=BERLIN)  # as with the file


def test_replay_publishes_each_escalation_step_at_its_moment_unless_the_clock_stopped(tmp_path: Path) -> None:
    agreements = tmp_path / "agreements"
    agreements.mkdir()
    ladder = "    within: 4h\n    clock: owner\n    escalate: [{after: 1h, to: manager}, {after: 2h, to: reassign}]\n"
    text = (REPO / "agreements" / "2026-H2.yaml").read_text(encoding="utf-8")
    (agreements / "2026-H2.yaml").write_text(text.replace("    within: 4h\n", ladder))
    (tmp_path / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    env = base_env(
        LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}",
        LEADFLOW_AGREEMENTS=str(agreements),
        LEADFLOW_OWNERS=str(tmp_path / "owners.yaml"),
    )
    start = datetime(2026, 11, 2, 15, tzinfo=BERLIN)  # rep-01's clocks: due Wednesday 15:00 (away Tuesday)
    lines = [
        owner_event("lead-1", "rep-01", start - timedelta(minutes=5), id="o1"),
        stage_event("lead-1", "mql", start, id="m1"),
        owner_event("lead-2", "rep-01", start - timedelta(minutes=5), id="o2"),
        stage_event("lead-2", "mql", start, id="m2"),
        # lead-2's follow-up comes after its deadline, before the first step (Wednesday 16:00)
        activity_event("lead-2", datetime(2026, 11, 4, 15, 30, tzinfo=BERLIN), automated=False, id="a2"),
        stage_event("lead-9", "lead", datetime(2026, 11, 6, 12, tzinfo=BERLIN), id="later"),  # time moves on
    ]
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert leadflow_json(["replay", str(tmp_path / "events.jsonl"), "--no-progress"], env, tmp_path)["leads"] == 3
    as_of = ["--as-of", "2026-11-07T00:00:00+01:00"]
    steps = {}
    for lead in ("lead-1", "lead-2"):
        (clock,) = leadflow_json(["lead", lead, "--format", "json", *as_of], env, tmp_path)["clocks"]
        steps[lead] = {e["kind"]: datetime.fromisoformat(e["due_at"]) for e in clock["sla_events"]}
    # 1h of rep-01's time past Wednesday 15:00 is 16:00, 2h its closing at 17:00 (rep-01 works 13:00-17:00)
    assert steps["lead-1"] == {
        "sla.warning": datetime(2026, 11, 4, 14, tzinfo=BERLIN),
        "sla.breached": datetime(2026, 11, 4, 15, tzinfo=BERLIN) + timedelta(milliseconds=1),
        "sla.escalated": datetime(2026, 11, 4, 16, tzinfo=BERLIN),
        "sla.reassign_suggested": datetime(2026, 11, 4, 17, tzinfo=BERLIN),
    }
    assert set(steps["lead-2"]) == {"sla.warning", "sla.breached"}
    month = ["report", "--month", "2026-11", *as_of, "--format", "json"]
    line = leadflow_json(month, env, tmp_path)["sla"]["mql_follow_up"]
    assert (line["breached"], line["escalated"], line["reassign_suggested"]) == (2, 1, 1)
    early = ["report", "--month", "2026-11", "--as-of", "2026-11-04T16:30:00+01:00", "--format", "json"]
    line = leadflow_json(early, env, tmp_path)["sla"]["mql_follow_up"]
    assert (line["escalated"], line["reassign_suggested"]) == (1, 0)
    # without the later event the replay never reaches the steps' moments, yet a report as of after them counts
    # them: what a clock reaches comes from its moments, not from what was published
    (tmp_path / "short.jsonl").write_bytes(b"\n".join(lines[:-1]) + b"\n")
    short = {**env, "LEADFLOW_STORE": f"chdb:{tmp_path / 'short-store'}"}
    leadflow_json(["replay", str(tmp_path / "short.jsonl"), "--no-progress"], short, tmp_path)
    line = leadflow_json(month, short, tmp_path)["sla"]["mql_follow_up"]
    assert (line["breached"], line["escalated"], line["reassign_suggested"]) == (2, 1, 1)


def _deadline(store: Any, lead: str) -> datetime | None:
    rows = store.query("SELECT deadline FROM sla_clocks WHERE lead_id = {lead:String}", {"lead": lead})
    return rows[0][0].replace(tzinfo=UTC) if rows else None


def test_a_live_worker_restates_an_owners_leads_when_an_absence_arrives_and_counts_it_after_a_restart(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    agreements = tmp_path / "agreements"
    agreements.mkdir()
    text = (REPO / "agreements" / "2026-H2.yaml").read_text(encoding="utf-8")
    (agreements / "2026-H2.yaml").write_text(text.replace("    within: 4h\n", "    within: 4h\n    clock: owner\n"))
    (tmp_path / "owners-live.yaml").write_text(OWNERS.split("    away:")[0], encoding="utf-8")
    env = {**worker_env, "LEADFLOW_AGREEMENTS": str(agreements), "LEADFLOW_OWNERS": str(tmp_path / "owners-live.yaml")}
    start = datetime(2026, 11, 2, 15, tzinfo=BERLIN)
    tuesday, wednesday = datetime(2026, 11, 3, tzinfo=BERLIN), datetime(2026, 11, 4, tzinfo=BERLIN)
    without, with_absence = datetime(2026, 11, 3, 15, tzinfo=BERLIN), datetime(2026, 11, 4, 15, tzinfo=BERLIN)

    def lead(name: str) -> list[bytes]:
        return [
            owner_event(name, "rep-01", start - timedelta(minutes=5), id=f"o-{name}"),
            stage_event(name, "mql", start, id=f"m-{name}"),
        ]

    worker = Worker(env, tmp_path, "worker-1").start()
    try:
        produce_lines(env, tmp_path, lead("lead-1"))
        store = worker.store()
        wait_until(lambda: _deadline(store, "lead-1") == without, 60, "lead-1 judged on rep-01's hours")
        malformed = b'{"specversion": "1.0", "type": "crm.owner_away", "id": "bad", "source": "/cal"}'
        produce_lines(env, tmp_path, [away_event("rep-01", tuesday, wednesday, start, id="away-1"), malformed])
        wait_until(lambda: _deadline(store, "lead-1") == with_absence, 60, "lead-1 judged again with the absence")
        assert "leadflow_absences_restated_leads_total 1.0" in worker.metrics()
        stored = store.query("SELECT count() FROM events FINAL WHERE type = 'crm.owner_away'")
        wait_until(lambda: store.query("SELECT count() FROM dead_letters FINAL")[0][0] == 1, 30, "the bad one aside")
        assert stored == [(1,)]
    finally:
        worker.stop()
    again = Worker(env, tmp_path, "worker-2").start()  # reads the absence before it judges any lead
    try:
        produce_lines(env, tmp_path, lead("lead-2"))
        store = again.store()
        wait_until(lambda: _deadline(store, "lead-2") is not None, 60, "lead-2 judged")
        assert _deadline(store, "lead-2") == with_absence and _deadline(store, "lead-1") == with_absence
    finally:
        again.stop()
