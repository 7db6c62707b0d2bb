"""`leadflow board`: a live terminal board of counts and conversion, refreshed every few seconds."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from pipelines.agreements import load_agreements
from pipelines.settings import Settings
from pipelines.store.client import Store, open_store
from pipelines.store.exceptions import StoreError
from services.errors import UsageError
from services.formatting import report_tables
from services.report import build_report
from services.report_sql import TS, stored_time


def _pipeline_line(store: Store, previous: tuple[float, int] | None) -> tuple[Text, tuple[float, int]]:
    events, dead = store.query("SELECT (SELECT count() FROM events FINAL), (SELECT count() FROM dead_letters FINAL)")[0]
    now = time.monotonic()
    rate = ""
    if previous is not None and now > previous[0]:
        per_s = max(int(events) - previous[1], 0) / (now - previous[0])
        rate = f"   {per_s:,.1f} events/s" if per_s < 10 else f"   {per_s:,.0f} events/s"  # live traffic is slow
    line = Text(f"events stored {int(events):,}   dead letters {int(dead):,}{rate}", style="bold cyan")
    return line, (now, int(events))


# Clocks as of now: running (and past their warning), breached in the last hour, and the latest breach.
CLOCKS_NOW = f"""
SELECT countIf(running), countIf(running AND warn_at <= {{now:{TS}}}),
       countIf(breached AND deadline > {{hour_ago:{TS}}}),
       argMaxIf(lead_id, deadline, breached), maxIf(deadline, breached)
FROM (
    SELECT lead_id, deadline, warn_at,
           deadline > {{now:{TS}}} AND NOT (stopped_at IS NOT NULL AND stopped_at <= {{now:{TS}}}) AS running,
           deadline <= {{now:{TS}}} AND NOT (stopped_at IS NOT NULL AND stopped_at <= deadline) AS breached
    FROM sla_clocks
)
"""


def clocks_line(store: Store, now: datetime) -> Text:
    """Return the line of SLA clocks as of now: running, warned, breached in the last hour, the latest breach."""
    params = {"now": now, "hour_ago": now - timedelta(hours=1)}
    running, warned, breached, latest, deadline = store.query(CLOCKS_NOW, params)[0]
    text = f"SLA clocks now: {int(running):,} running, {int(warned):,} past their warning · "
    text += f"{int(breached):,} breached in the last hour"
    if latest:
        text += f" · latest breach {latest} (due {stored_time(deadline):%H:%M:%S} UTC)"
    return Text(text, style="bold magenta" if int(breached) else "bold green")


def run_board(settings: Settings, start: date | None, end: date | None, interval: float) -> int:
    """Refresh the board until Ctrl-C."""
    agreements = load_agreements(settings.agreements)
    today = datetime.now(UTC).date()
    start = start or today - timedelta(days=14)
    end = end or today + timedelta(days=1)
    if end <= start:
        raise UsageError(f"--to ({end}) must be after --from ({start})")
    previous: tuple[float, int] | None = None
    with Live(Text("waiting for the store…"), refresh_per_second=4, screen=False) as live:
        while True:
            try:
                store = open_store(settings)
                try:
                    line, previous = _pipeline_line(store, previous)
                    clocks = clocks_line(store, datetime.now(UTC))
                    report = build_report(store, start, end, agreements, None, datetime.now(UTC))
                finally:
                    store.close()
                stamp = Text(f"leadflow · refreshed {datetime.now(UTC):%H:%M:%S} UTC · Ctrl-C to stop", style="dim")
                live.update(Panel(Group(line, clocks, report_tables(report), stamp), title="leadflow live board"))
            except StoreError as exc:
                live.update(Text(f"store not ready: {exc}", style="yellow"))
            time.sleep(interval)
