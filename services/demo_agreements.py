"""The demo's agreements, written for the day it starts: office hours for the weeks it backfills, then around the clock.

`demo-history` holds the backfilled weeks to the terms of agreements/2026-H2.yaml (Berlin office hours, an MQL
followed up within 4 business hours), so the board's compliance over two weeks is a believable one.
`demo-live` is in force from today (Berlin) on: open every day around the clock, no holidays, and an MQL
follow-up due within a few minutes, so that a clock the live traffic starts warns and breaches within
minutes at any hour of any day. Clocks that started earlier today under the backfill are judged by it too.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ZONE = "Europe/Berlin"
HISTORY_DAYS = 15  # covers the 14 backfilled days and the day they start on
LIVE_DAYS = 30
WARN_AT = 0.5
GOALS = """goals:
  revenue: 1200000
  currency: EUR
  average_deal_size: 20000
  rates: {visit_to_lead: 0.02, lead_to_mql: 0.4, mql_to_sql: 0.5,
          sql_to_opportunity: 0.6, opportunity_to_customer: 0.25}
"""
STOPS = "{human_activity: true, stages: [sal, sql, opportunity, customer, recycled, disqualified]}"
SQL_HANDOFF = """  - name: sql_to_opportunity
    starts_on: {stage: sql}
    stops_on: {stages: [opportunity, customer, recycled, disqualified, lost]}
    within: 5d
"""


def today_in_force(now: datetime) -> date:
    """Return the day, in the agreements' zone, from which the live agreement is in force."""
    return now.astimezone(ZoneInfo(ZONE)).date()


def history_agreement(today: date) -> str:
    """Return the YAML of the office-hours agreement in force for the backfilled days before today."""
    return f"""# Written by `leadflow demo`: the terms of agreements/2026-H2.yaml for the backfilled days.
name: demo-history
effective_from: {today - timedelta(days=HISTORY_DAYS)}
effective_to: {today}
timezone: {ZONE}
business_hours: {{days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}}
{GOALS}handoffs:
  - name: mql_follow_up
    starts_on: {{stage: mql}}
    stops_on: {STOPS}
    within: 4h
    warn_at: 0.75
{SQL_HANDOFF}"""


def live_agreement(today: date, follow_up_minutes: int) -> str:
    """Return the YAML of the agreement in force from today: around the clock, a follow-up within minutes."""
    return f"""# Written by `leadflow demo`: open around the clock, so live clocks warn and breach within minutes.
name: demo-live
effective_from: {today}
effective_to: {today + timedelta(days=LIVE_DAYS)}
timezone: {ZONE}
business_hours: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "23:59:59.999"}}
{GOALS}handoffs:
  - name: mql_follow_up
    starts_on: {{stage: mql}}
    stops_on: {STOPS}
    within: {follow_up_minutes}m
    warn_at: {WARN_AT}
{SQL_HANDOFF}"""


def write_demo_agreements(folder: Path, now: datetime, follow_up_minutes: int) -> Path:
    """Write both agreements into `folder` (created) and return it, for LEADFLOW_AGREEMENTS."""
    if follow_up_minutes < 1:
        raise ValueError(f"the follow-up must be at least 1 minute, got {follow_up_minutes}")
    today = today_in_force(now)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "demo-history.yaml").write_text(history_agreement(today), encoding="utf-8")
    (folder / "demo-live.yaml").write_text(live_agreement(today, follow_up_minutes), encoding="utf-8")
    return folder
