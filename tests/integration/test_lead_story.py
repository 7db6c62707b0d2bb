"""`leadflow lead` on a replayed simulation, read through a real `leadflow store serve` (its read policy applies).

The story's clocks, entries, transitions and SLA events must equal what the report's views say for the lead,
queried here on their own; its overdue time what the agreement's calendar counts; its dead letters the ones whose
raw JSON, parsed here in Python, names the lead.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.agreements import load_agreement
from pipelines.core.calendar import BusinessCalendar
from pipelines.store.client import RemoteStore
from services.lead_text import duration
from services.simulate import SimulationSummary
from tests.integration.processes import REPO, base_env, leadflow
from tests.integration.store_processes import Running, StoreService

pytestmark = pytest.mark.integration

H2 = load_agreement(REPO / "agreements" / "2026-H2.yaml")
CLOCK_COLUMNS = "handoff, agreement, episode, started_at, deadline, warn_at, stopped_at, business_seconds, owner_id"


def iso(value: datetime | None) -> str | None:
    """An instant read from the store as the story writes it."""
    return None if value is None else value.replace(tzinfo=UTC).isoformat(timespec="milliseconds")


def rows(store: RemoteStore, sql: str, lead: str) -> list[tuple[Any, ...]]:
    return store.query(sql, {"lead": lead})


@pytest.fixture
def replayed(small: tuple[Path, SimulationSummary], tmp_path: Path) -> dict[str, str]:
    """The small simulation replayed into an embedded store of its own."""
    env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'store'}")
    done = leadflow(["replay", str(small[0]), "--no-progress"], env, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return env


def story(lead: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = leadflow(["lead", lead, "--format", "json"], env, cwd, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


UNKNOWN = "in the store: no event, lifecycle or dead letter names it"


def test_an_unknown_lead_is_one_line_and_exit_code_2(replayed: dict[str, str], tmp_path: Path) -> None:
    for lead, error in [
        ("lead-that-never-was", f"no lead 'lead-that-never-was' {UNKNOWN}"),
        ("x' OR lead_id != '", f"no lead \"x' OR lead_id != '\" {UNKNOWN}"),  # a parameter, never SQL
        ("", "LEAD_ID must not be empty (visits carry an empty lead id)"),
    ]:
        done = leadflow(["lead", lead], replayed, tmp_path, timeout=120)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.splitlines() == [f"leadflow lead: error: {error}"]


def test_a_breached_lead_tells_what_the_views_say(replayed: dict[str, str], running: Running, tmp_path: Path) -> None:
    service = running.start(StoreService(replayed, tmp_path))
    store = service.store()
    with running.explained():
        (lead, handoff, episode), *_ = store.query(
            "SELECT lead_id, handoff, episode FROM sla_clocks WHERE stopped_at > deadline ORDER BY lead_id LIMIT 1"
        )
        told = story(lead, replayed, tmp_path)
    clocks = rows(store, f"SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE lead_id = {{lead:String}}", lead)
    expected = sorted((h, a, e, iso(s), iso(d), iso(w), iso(t), b, o) for h, a, e, s, d, w, t, b, o in clocks)
    fields = CLOCK_COLUMNS.split(", ")
    assert sorted(tuple(c[f] for f in fields) for c in told["clocks"]) == expected
    entries = rows(store, "SELECT episode, stage, entered_at FROM stage_entries WHERE lead_id = {lead:String}", lead)
    told_entries = [(e["episode"], x["stage"], x["entered_at"]) for e in told["episodes"] for x in e["entries"]]
    assert sorted(told_entries) == sorted((e, s, iso(t)) for e, s, t in entries)
    moves = rows(
        store, "SELECT episode, to_stage, kind, event_id FROM stage_transitions WHERE lead_id = {lead:String}", lead
    )
    told_moves = [
        (e["episode"], t["to_stage"], t["kind"], t["event"]["id"]) for e in told["episodes"] for t in e["transitions"]
    ]
    assert sorted(told_moves) == sorted(moves)
    published = rows(store, "SELECT handoff, episode, kind FROM sla_events FINAL WHERE lead_id = {lead:String}", lead)
    told_published = [(c["handoff"], c["episode"], e["kind"]) for c in told["clocks"] for e in c["sla_events"]]
    assert sorted(
        told_published + [(e["handoff"], e["episode"], e["kind"]) for e in told["other_sla_events"]]
    ) == sorted(published)
    own = rows(store, "SELECT count() FROM events FINAL WHERE lead_id = {lead:String}", lead)[0][0]
    assert sum(1 for e in told["events"] if e["subject"] == lead) == own

    breached = next(c for c in told["clocks"] if (c["handoff"], c["episode"]) == (handoff, episode))
    deadline, stopped = (datetime.fromisoformat(breached[k]) for k in ("deadline", "stopped_at"))
    overdue = round(BusinessCalendar.from_agreement(H2).between(deadline, stopped), 3)
    assert breached["status"] == "breached" and breached["overdue_business_seconds"] == overdue > 0
    assert breached["stopped_by"] is not None and breached["stopped_by_as_of"]

    text = leadflow(["lead", lead], {**replayed, "COLUMNS": "240"}, tmp_path, timeout=120)
    assert text.returncode == 0, text.stderr[-2000:]
    line = next(x for x in text.stdout.splitlines() if f"BREACHED {handoff} (episode {episode}" in x)
    assert f"{duration(overdue)} business time past the deadline" in line


def test_the_dead_letters_that_name_a_lead_are_in_its_story(
    replayed: dict[str, str], running: Running, tmp_path: Path
) -> None:
    service = running.start(StoreService(replayed, tmp_path))
    mentions: dict[str, set[str]] = {}
    for (raw,) in service.query("SELECT raw FROM dead_letters FINAL"):
        try:
            document = json.loads(raw)
        except ValueError:
            continue
        if isinstance(document, dict):
            data = document.get("data")
            data = data if isinstance(data, dict) else {}
            for lead in {document.get("subject"), data.get("lead_id")}:
                if isinstance(lead, str) and lead.startswith("lead-"):
                    mentions.setdefault(lead, set()).add(raw)
    assert mentions, "the small simulation has dead letters that name a lead"
    lead = sorted(mentions)[0]
    told = story(lead, replayed, tmp_path)
    assert {d["raw"] for d in told["dead_letters"]} == mentions[lead]
