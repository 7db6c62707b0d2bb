"""Agreements for tests that run on the wall clock: open around the clock, with a one-minute follow-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path


def noon_zone(now: datetime) -> str:
    """Return a time zone where it is about noon at `now`: a day's business hours are far away either side."""
    offset = 12 - now.hour
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def around_the_clock(
    folder: Path, now: datetime, name: str, warn_at: float | None = None, escalate: str | None = None
) -> Path:
    """Write an agreement in force now, in a zone where it is about noon, whose MQL follow-up is due in 1m.

    `escalate`: the handoff's ladder as a YAML flow sequence.
    """
    zone = noon_zone(now)
    warning = f"\n    warn_at: {warn_at}" if warn_at is not None else ""
    warning += f"\n    escalate: {escalate}" if escalate is not None else ""
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(
        f"""
name: {name}
effective_from: {(now - timedelta(days=2)).date()}
effective_to: {(now + timedelta(days=2)).date()}
timezone: {zone}
business_hours: {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "23:59"}}
goals:
  revenue: 100000
  currency: EUR
  average_deal_size: 10000
  rates: {{visit_to_lead: 0.1, lead_to_mql: 0.5, mql_to_sql: 0.5,
          sql_to_opportunity: 0.5, opportunity_to_customer: 0.5}}
handoffs:
  - name: mql_follow_up
    starts_on: {{stage: mql}}
    stops_on: {{human_activity: true, stages: [sal, sql, opportunity, customer, recycled, disqualified]}}
    within: 1m{warning}
"""
    )
    return folder
