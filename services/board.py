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


def _pipeline_line(store: Store, previous: tuple[float, int] | None) -> tuple[Text, tuple[float, int]]:
    events, dead = store.query("SELECT (SELECT count() FROM events FINAL), (SELECT count() FROM dead_letters FINAL)")[0]
    now = time.monotonic()
    rate = ""
    if previous is not None and now > previous[0]:
        rate = f"   {max(int(events) - previous[1], 0) / (now - previous[0]):,.0f} events/s"
    line = Text(f"events stored {int(events):,}   dead letters {int(dead):,}{rate}", style="bold cyan")
    return line, (now, int(events))


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
                    report = build_report(store, start, end, agreements, None, datetime.now(UTC))
                finally:
                    store.close()
                stamp = Text(f"leadflow · refreshed {datetime.now(UTC):%H:%M:%S} UTC · Ctrl-C to stop", style="dim")
                live.update(Panel(Group(line, report_tables(report), stamp), title="leadflow live board"))
            except StoreError as exc:
                live.update(Text(f"store not ready: {exc}", style="yellow"))
            time.sleep(interval)
