"""`clock: owner` through the real commands: `leadflow replay` judges with LEADFLOW_OWNERS, `leadflow lead` tells it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.integration.processes import REPO, base_env, leadflow, leadflow_json
from tests.unit.factories import activity_event, owner_event, stage_event

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
