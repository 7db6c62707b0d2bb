"""The store sink: rows gathered into a batch, coalesced, and written table by table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pipelines.core.identity import FirstTouch
from pipelines.core.lead import LeadSnapshot, LeadState, snapshot
from pipelines.core.model import Event, EventKey, Invalid, Origin
from pipelines.core.rows import (
    DEAD_LETTER_COLUMNS,
    EVENT_COLUMNS,
    FIRST_TOUCH_COLUMNS,
    SLA_EVENT_COLUMNS,
    SNAPSHOT_COLUMNS,
    Row,
    to_dead_letter_row,
    to_event_row,
    to_first_touch_row,
    to_sla_event_row,
    to_snapshot_row,
)
from pipelines.core.sla import Judge, SlaEvent
from pipelines.store.client import Store
from pipelines.store.exceptions import StoreRejected


class RowBatch:
    """Rows waiting for the store: one per event key, one snapshot per lead (its latest state), and so on.

    Every row carries its idempotency key, so writing a batch twice, or an event in two batches, counts once.
    """

    def __init__(self, judge: Judge | None = None) -> None:
        self.judge = judge
        self._derived: dict[str, LeadSnapshot] = {}  # snapshots derived already (by the SLA step) for `leads`
        self.sla_events: dict[str, Row] = {}
        self.events: dict[tuple[str, str], Row] = {}
        self.leads: dict[str, LeadState] = {}
        self.first_touches: dict[tuple[str, str, str, str], Row] = {}
        self.dead_letters: dict[tuple[str, int, int], Row] = {}
        self.payload_bytes = 0  # bytes of the events' and dead letters' own payloads added (a repeat counts again)

    def __len__(self) -> int:
        return (
            len(self.events) + len(self.leads) + len(self.first_touches) + len(self.dead_letters) + len(self.sla_events)
        )

    def add_event(self, event: Event, origin: Origin) -> EventKey:
        """Add a valid input event; return its key."""
        key = event.key
        self.events[key] = to_event_row(event, origin)
        self.payload_bytes += len(event.payload)
        return key

    def add_lead(self, state: LeadState, derived: LeadSnapshot | None = None) -> None:
        """Add a lead's state (and its snapshot if already derived); only its latest state is written."""
        previous = self.leads.get(state.lead_id)
        if previous is None or previous.revision <= state.revision:
            self.leads[state.lead_id] = state
            if derived is not None:
                self._derived[state.lead_id] = derived
            else:
                self._derived.pop(state.lead_id, None)

    def add_first_touches(self, touches: Iterable[FirstTouch]) -> None:
        """Add first-touch candidates."""
        for t in touches:
            self.first_touches[(t.lead_id, t.visitor_id, t.touch.source, t.touch.id)] = to_first_touch_row(t)

    def add_dead_letter(self, invalid: Invalid, origin: Origin, received_at: datetime) -> None:
        """Add an input that could not be processed."""
        self.payload_bytes += len(invalid.raw)
        self.dead_letters[(origin.topic, origin.partition, origin.offset)] = to_dead_letter_row(
            invalid, origin, received_at
        )

    def add_sla_events(self, events: Iterable[SlaEvent], published_at: datetime) -> None:
        """Add published SLA events."""
        for event in events:
            self.sla_events[event.id] = to_sla_event_row(event, published_at)

    def tables(self) -> list[tuple[str, list[Row], tuple[str, ...]]]:
        """Return (table, rows, columns) for every table with rows, snapshots derived now."""
        snapshots = [
            to_snapshot_row(self._derived.get(s.lead_id) or snapshot(s, self.judge)) for s in self.leads.values()
        ]
        candidates = [
            ("events", list(self.events.values()), EVENT_COLUMNS),
            ("lead_snapshots", snapshots, SNAPSHOT_COLUMNS),
            ("first_touch_candidates", list(self.first_touches.values()), FIRST_TOUCH_COLUMNS),
            ("dead_letters", list(self.dead_letters.values()), DEAD_LETTER_COLUMNS),
            ("sla_events", list(self.sla_events.values()), SLA_EVENT_COLUMNS),
        ]
        return [c for c in candidates if c[1]]

    def write(self, store: Store) -> dict[str, int]:
        """Write every table's rows; raises StoreError and keeps nothing back on failure (write again)."""
        written: dict[str, int] = {}
        for table, rows, columns in self.tables():
            store.insert(table, rows, columns)
            written[table] = len(rows)
        return written

    def write_sorting_out(self, store: Store) -> tuple[dict[str, int], list[RejectedRow]]:
        """Write every row the store takes, and return the rows it rejects (StoreError when it fails otherwise).

        Halving a rejected set of rows until single rows are left finds the rejected ones in a few writes
        each; the rows written twice on the way are idempotent.
        """
        written: dict[str, int] = {}
        rejected: list[RejectedRow] = []
        for table, rows, columns in self.tables():
            refused = _sort_out(store, table, rows, columns)
            rejected.extend(refused)
            written[table] = len(rows) - len(refused)
        return written, rejected


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row the store rejects, and why."""

    table: str
    row: Row
    reason: str


def _sort_out(store: Store, table: str, rows: list[Row], columns: tuple[str, ...]) -> list[RejectedRow]:
    try:
        store.insert(table, rows, columns)
    except StoreRejected as exc:
        if len(rows) == 1:
            return [RejectedRow(table, rows[0], str(exc))]
        middle = len(rows) // 2
        return _sort_out(store, table, rows[:middle], columns) + _sort_out(store, table, rows[middle:], columns)
    return []
