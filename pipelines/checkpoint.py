"""One checkpoint orders the effects of the events taken since the last: state, rows, messages, then acks.

The record handlers (`pipelines.agents`) only compute: each event goes through the core at once (so the next
event of its lead sees it), and what it changed waits here, a lead's new state among the pending ones, its rows in
the row batch, the tables' writes in the changelog. Every `sink_interval`, or once `sink_batch_rows` wait or
their payloads reach `BATCH_BYTES` (then beside the records that follow), `Checkpoint.commit` applies all of it
in one order, which is the whole at-least-once rule of the worker (modelled on Quix Streams' `Checkpoint.commit`):

1. each changed lead is judged once, at the commit's moment: its snapshot and its clocks (nothing written yet);
2. each changed lead's state is written once to the table, its changelog record bound for its own partition;
3. what its clocks owe is published to leadflow.sla, then recorded in the SLA table, so it is published once;
4. the tables' changelog records since the last commit (leads, visitors, SLA records; the last value of each
   key) go to the producer (`pipelines.decoded.Changelog`);
5. the rows go to the store: an outage is waited out (nothing is acked meanwhile), rows the store rejects are
   set aside;
6. the events are acked; Faust commits their offsets only after flushing its producer (changelog, links, SLA
   events), so a crash anywhere before re-delivers them, and everything they cause is idempotent.

A lead whose effects cannot be written (the core fails on it, or its state would be too large for Kafka) keeps
its last written state, and the events taken for it are set aside with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pipelines import metrics
from pipelines.core.lead import LeadSnapshot, LeadState, apply_event
from pipelines.core.model import Event, Origin
from pipelines.core.sla import Judge
from pipelines.core.steps import SlaEffects
from pipelines.decoded import Changelog
from pipelines.poison import CORE_ERROR, STATE_TOO_LARGE, Poison, SetAside, core_error, from_rejected_row
from pipelines.sink import RowBatch
from pipelines.sink_service import StoreWriter

# what the waiting events' and dead letters' own bytes may reach before a commit starts: the row count alone would
# let large events (up to 1 MiB each) hold gigabytes
BATCH_BYTES = 32 * 1024 * 1024

log = logging.getLogger(__name__)

Ack = Callable[[], Any]  # marks a record done; its offset may be committed once every earlier one is
Record = tuple[Event, Origin]  # an event taken, and where it came from


@dataclass
class PendingLead:
    """A lead's state since the last commit, its partition, and the events taken for it (with their origins)."""

    state: LeadState
    partition: int
    changed: bool
    records: list[Record] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LeadChange:
    """What a pending lead comes to at a commit: its state's bytes (None: unchanged), snapshot and clocks."""

    state: LeadState
    encoded: bytes | None
    snapshot: LeadSnapshot
    sla: SlaEffects | None


class LeadTables(Protocol):
    """What a checkpoint needs of the worker's lead and SLA tables."""

    def committed(self, key: bytes) -> LeadState | None:
        """Return a lead's state as last written."""
        ...

    def change(self, state: LeadState, changed: bool, now: datetime) -> LeadChange:
        """Judge a lead at `now` and encode its state if it changed; write nothing."""
        ...

    def write(self, key: bytes, change: LeadChange, partition: int) -> None:
        """Write a lead's state to its partition's changelog."""
        ...

    async def publish(self, change: LeadChange, partition: int, now: datetime, rows: RowBatch) -> None:
        """Publish what a lead's clocks owe, record it, and add the SLA rows."""
        ...


class Checkpoint:
    """The effects of the events taken since the last commit, and the commit that applies them in order."""

    def __init__(self, writer: StoreWriter, batch_rows: int, judge: Judge, max_state_bytes: int) -> None:
        self._writer = writer
        self._judge = judge
        self._batch_rows = batch_rows
        self.max_state_bytes = max_state_bytes
        self.rows = RowBatch(judge)
        self._leads: dict[bytes, PendingLead] = {}
        self._acks: list[Ack] = []
        self._lock = asyncio.Lock()
        self._running: asyncio.Future[None] | None = None  # a commit started by `added`
        self.tables: LeadTables | None = None  # the worker's tables, set when the app is built
        self.set_aside: SetAside | None = None
        self.changelog = Changelog()  # the tables' writes since the last commit
        self.producer: Callable[[], Any] | None = None  # the app's producer, once built (None: nothing to send)
        metrics.SINK_PENDING.set_function(self.waiting)

    def lead(self, key: bytes) -> LeadState | None:
        """Return a lead's state: as pending, else as last written."""
        pending = self._leads.get(key)
        if pending is not None:
            return pending.state
        assert self.tables is not None
        return self.tables.committed(key)

    def take(self, key: bytes, state: LeadState, changed: bool, partition: int, record: Record) -> None:
        """Take a lead's state after an event (unchanged: restated, as a re-delivered event must be)."""
        pending = self._leads.get(key)
        if pending is None:
            pending = self._leads[key] = PendingLead(state, partition, changed)
        pending.state, pending.partition, pending.changed = state, partition, pending.changed or changed
        pending.records.append(record)

    def restate(self, key: bytes, state: LeadState, partition: int) -> None:
        """Take a lead to be judged and stored again at the next commit, its state unchanged (nothing to ack)."""
        if key not in self._leads:
            self._leads[key] = PendingLead(state, partition, changed=False)

    async def added(self, ack: Ack) -> None:
        """Register an event whose effects were taken; once `batch_rows` wait, commit them.

        The commit runs beside the records that follow: while it waits for the store (in a thread), they are
        taken into the next batch. Only when a second batch is full before it ends does the caller wait for it
        (back-pressure: at most two batches wait).
        """
        self._acks.append(ack)
        if not self._full(1):
            return
        self._raise_failed()
        if self._running is None:
            self._running = asyncio.ensure_future(self.commit())
        elif self._full(2):
            await asyncio.shield(self._running)

    def _full(self, batches: int) -> bool:
        """Say whether what waits fills `batches` batches, by rows and leads or by payload bytes."""
        return self.waiting() >= batches * self._batch_rows or self.rows.payload_bytes >= batches * BATCH_BYTES

    def _raise_failed(self) -> None:
        """Forget a commit `added` started once it has ended; raise its error, as one awaited would have."""
        running = self._running
        if running is not None and running.done():
            self._running = None
            running.result()

    async def send_changelog(self) -> None:
        """Hand the tables' changelog records waiting so far to the producer (none before the app is built)."""
        if self.producer is not None:
            await self.changelog.send(self.producer())

    def waiting(self) -> int:
        """Return how many rows and leads wait for the next commit (the pending-rows gauge reads it when scraped)."""
        return len(self.rows) + len(self._leads)

    async def commit(self) -> None:
        """Apply everything taken since the last commit, in the order the module's docstring gives."""
        async with self._lock:
            leads, rows, acks = self._leads, self.rows, self._acks
            if not (leads or acks or len(rows)):
                return
            self._leads, self.rows, self._acks = {}, RowBatch(self._judge), []
            now = datetime.now(UTC)
            # 1. Judge each changed lead once, at this moment; a lead that cannot be written is set aside whole
            changes, aside = self._judged(leads, now, rows)
            # 2. Write each changed lead's state once, to its own partition (synchronously: no event interleaves)
            assert self.tables is not None
            for key, (pending, change) in changes.items():
                if change.encoded is not None:
                    self.tables.write(key, change, pending.partition)
                rows.add_lead(change.state, change.snapshot)
            # 3. Publish what the clocks owe, then record it as published; set aside what could not be written
            for pending, change in changes.values():
                await self.tables.publish(change, pending.partition, now, rows)
            for poison in aside:
                await self._set_aside(poison, rows)
            # 4. Hand the tables' changelog records of this commit (leads, visitors, SLA records) to the producer
            await self.send_changelog()
            # 5. Store the rows: an outage is waited out; a rejected row is set aside (a dead letter to the topic only)
            for row in await self._writer.write(rows):
                await self._set_aside(from_rejected_row(row), None if row.table == "dead_letters" else self.rows)
            # 6. Ack: Faust commits these offsets only after flushing its producer (changelog, links, SLA events)
            for ack in acks:
                ack()

    def _judged(
        self, leads: dict[bytes, PendingLead], now: datetime, rows: RowBatch
    ) -> tuple[dict[bytes, tuple[PendingLead, LeadChange]], list[Poison]]:
        """Return each lead's change, and the events that cannot be written (their rows taken out of `rows`)."""
        assert self.tables is not None
        changes: dict[bytes, tuple[PendingLead, LeadChange]] = {}
        aside: list[Poison] = []
        for key, pending in leads.items():
            try:
                change: LeadChange | None = self.tables.change(pending.state, pending.changed, now)
                problem = self._problem(key, change)
            except Exception as exc:
                problem = (CORE_ERROR, core_error(exc))
            if problem is not None:
                change, refused = self._salvaged(key, pending, now)
                for poison, event in refused:
                    rows.events.pop(event.key, None)
                    aside.append(poison)
            if change is not None:
                changes[key] = (pending, change)
        return changes, aside

    def _problem(self, key: bytes, change: LeadChange | None) -> tuple[str, str] | None:
        """Return why a lead's change cannot be written (a state Kafka would refuse), or None."""
        if change is None or change.encoded is None or len(change.encoded) <= self.max_state_bytes:
            return None
        size = len(change.encoded)
        return STATE_TOO_LARGE, f"lead {key.decode()}: state of {size} bytes, over {self.max_state_bytes}"

    def _salvaged(
        self, key: bytes, pending: PendingLead, now: datetime
    ) -> tuple[LeadChange | None, list[tuple[Poison, Event]]]:
        """Apply a lead's events again one by one on its written state, setting aside each that cannot be written."""
        assert self.tables is not None
        state, change = self.tables.committed(key), None
        refused: list[tuple[Poison, Event]] = []
        for event, origin in pending.records:
            try:
                candidate, _new = apply_event(state, event)
                attempt = self.tables.change(candidate, True, now)
                problem = self._problem(key, attempt)
            except Exception as exc:
                problem = (CORE_ERROR, core_error(exc))
            if problem is None:
                state, change = candidate, attempt
            else:
                refused.append((Poison(event.payload, origin, *problem), event))
        return change, refused

    async def _set_aside(self, poison: Poison, rows: RowBatch | None) -> None:
        if self.set_aside is None:
            raise RuntimeError(f"no place to set aside {poison.kind}: {poison.detail}")
        await self.set_aside(poison, rows)

    async def commit_every(self, interval: float) -> None:
        """Commit on a steady cadence until cancelled: the time a commit takes counts toward the next interval.

        Waiting a whole interval after each commit would stretch the period by the commit's time, and rows would
        wait that much longer before they are in the store.
        """
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._raise_failed()  # a failed commit beside the records stops the cadence too
            await self.commit()
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
