"""SLA timers in Faust: a deadline index per worker, check messages routed to the lead's partition.

A timer may not write tables, so it only finds the leads that are due and sends each a check message keyed
by lead; the lead handler judges the lead when the check arrives, publishes what fell due to leadflow.sla,
and records it in the changelogged `sla` table, so a restarted or rebalanced worker publishes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pipelines import metrics
from pipelines.core.codec import from_ms, sla_from_bytes, sla_to_bytes, to_ms
from pipelines.core.deadlines import DeadlineIndex
from pipelines.core.escalation import addressed, candidates
from pipelines.core.lead import LeadSnapshot, LeadState, snapshot
from pipelines.core.messages import to_check_message, to_sla_message
from pipelines.core.sla import BREACHED, ESCALATED, MET, REASSIGN, WARNING, Judge, SlaEvent
from pipelines.core.steps import SlaEffects, sla_step
from pipelines.decoded import Changelog
from pipelines.sink import RowBatch

log = logging.getLogger(__name__)
TICK_CHUNK = 1000
COUNTERS = {WARNING: metrics.SLA_WARNINGS, MET: metrics.SLA_MET}
STEPS = {ESCALATED: "manager", REASSIGN: "reassign"}
Loads = Callable[[list[str], datetime], Awaitable[Mapping[str, int] | None]]  # owners' running clocks at an instant


def count(event: SlaEvent) -> None:
    """Count a published SLA event; a breach or an escalation by its owner's team, a set the owners file bounds."""
    clock, team = event.clock, event.team or "none"
    if event.kind in STEPS:
        metrics.SLA_ESCALATIONS.labels(clock.handoff, clock.agreement, team, STEPS[event.kind]).inc()
        return
    if event.kind == BREACHED:
        metrics.SLA_BREACHES.labels(clock.handoff, clock.agreement, team).inc()
        return
    COUNTERS[event.kind].labels(clock.handoff, clock.agreement).inc()
    if event.kind == MET and clock.business_seconds is not None:
        metrics.SLA_BUSINESS_SECONDS.labels(clock.handoff).observe(clock.business_seconds)


class HasRows(Protocol):
    """Where rows and table writes wait for the commit: the worker's checkpoint."""

    rows: RowBatch
    changelog: Changelog


class SlaShell:
    """The worker's side of the SLA clocks: judging leads, the deadline index and its timer."""

    def __init__(self, judge: Judge, table: Any, sla_topic: Any, checks_topic: Any, checkpoint: HasRows) -> None:
        self.judge = judge
        self.enabled = any(a.handoffs for a in judge.agreements)
        self.table = table
        self.sla_topic = sla_topic
        self.checks_topic = checks_topic
        self.checkpoint = checkpoint
        self.index = DeadlineIndex()
        # each owner's running clocks over all leads (the store's), for the owner a reassignment step suggests
        self.loads: Loads | None = None

    def judged(self, state: LeadState, now: datetime) -> SlaEffects | None:
        """Judge a lead's clocks at `now` without publishing anything (None when no agreement has handoffs)."""
        if not self.enabled:
            return None
        stored = self.table.get(state.lead_id.encode())
        published = sla_from_bytes(stored)[0] if stored else frozenset()
        return sla_step(state, published, self.judge, now)

    async def publish(
        self,
        lead_id: str,
        effects: SlaEffects,
        partition: int,
        now: datetime,
        rows: RowBatch | None = None,
        state: LeadState | None = None,
    ) -> None:
        """Publish what fell due to leadflow.sla, then record it (in the lead's partition), so it is published once.

        Its rows go to `rows`, or to the checkpoint's current batch. With the lead's `state`, a reassignment step
        suggests the owner with the fewest running clocks over all leads (the lead's own clocks otherwise).
        """
        events = [await self._readdressed(e, state) for e in effects.events]
        for event in events:
            message = to_sla_message(event)
            await self.sla_topic.send(key=message.key, value=message.value)
            count(event)
        (rows or self.checkpoint.rows).add_sla_events(events, now)
        key = lead_id.encode()
        stored = self.table.get(key)
        due = None if effects.next_due is None else to_ms(effects.next_due)
        record = sla_to_bytes(effects.published, partition, due)
        if record != stored and (stored or effects.published or due is not None):
            self.checkpoint.changelog.put(self.table, key, record, partition)
        self.index.schedule(lead_id, partition, due)
        metrics.SLA_OPEN.set(len(self.index))

    async def _readdressed(self, event: SlaEvent, state: LeadState | None) -> SlaEvent:
        """Return a reassignment step addressed by the loads over all leads, when they can be had; else as given."""
        if event.kind != REASSIGN or state is None or self.loads is None:
            return event
        owners = candidates(event, state.moves, self.judge)
        loads = await self.loads(owners, event.at) if owners else None
        return event if loads is None else addressed(event, state.moves, (), self.judge, loads)

    async def judge_lead(self, state: LeadState, partition: int, now: datetime) -> LeadSnapshot | None:
        """Judge a lead's clocks at `now` and publish what fell due; returns the snapshot derived on the way."""
        effects = self.judged(state, now)
        if effects is None:
            return None
        await self.publish(state.lead_id, effects, partition, now, state=state)
        return snapshot(state, self.judge)  # the clocks just judged, taken over

    async def tick(self) -> int:
        """Send a check for every lead that fell due; costs what is due, not what is open."""
        now_ms = to_ms(datetime.now(UTC))
        sent = 0
        while due := self.index.pop_due(now_ms, limit=TICK_CHUNK):
            for lead_id, _partition in due:
                message = to_check_message(lead_id, now_ms)
                await self.checks_topic.send(key=message.key, value=message.value)
            sent += len(due)
            await asyncio.sleep(0)  # many leads due at once must not hold up the handlers
        metrics.SLA_OPEN.set(len(self.index))
        return sent

    def rebuild(self, partitions: set[int]) -> int:
        """Rebuild the index from the recovered `sla` table for the partitions this worker now owns."""
        self.index = DeadlineIndex()
        for key, value in self.table.items():
            _published, partition, due = sla_from_bytes(value)
            if partition in partitions and due is not None:
                self.index.schedule(bytes(key).decode(), partition, due)
        metrics.SLA_OPEN.set(len(self.index))
        log.info("deadline index rebuilt: %d leads due on partitions %s", len(self.index), sorted(partitions))
        return len(self.index)

    def next_due(self) -> datetime | None:
        """Return the earliest due instant on this worker."""
        due = self.index.next_due()
        return None if due is None else from_ms(due)
