"""The worker's lead and SLA tables as a checkpoint uses them: read decoded, judged once, written once per key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pipelines.checkpoint import LeadChange
from pipelines.core.codec import lead_from_bytes, lead_to_bytes
from pipelines.core.lead import LeadState, snapshot
from pipelines.decoded import DecodedTable
from pipelines.sink import RowBatch
from pipelines.sla_agent import SlaShell


class WorkerTables:
    """The `leads` table (decoded once per change) and the SLA shell, for `pipelines.checkpoint.Checkpoint`."""

    def __init__(self, leads: Any, sla: SlaShell) -> None:
        self._states = DecodedTable(leads, lead_from_bytes, sla.checkpoint.changelog)
        self._sla = sla

    def states(self) -> Iterator[LeadState]:
        """Yield every lead state this worker holds (its partitions, and standbys it keeps)."""
        return self._states.values()

    def committed(self, key: bytes) -> LeadState | None:
        """Return a lead's state as last written."""
        return self._states.get(key)

    def change(self, state: LeadState, changed: bool, now: datetime) -> LeadChange:
        """Judge a lead's clocks at `now`, derive its snapshot, encode its state if it changed; write nothing."""
        sla = self._sla.judged(state, now)
        derived = snapshot(state, self._sla.judge)  # the clocks just judged, taken over
        return LeadChange(state, lead_to_bytes(state) if changed else None, derived, sla)

    def write(self, key: bytes, change: LeadChange, partition: int) -> None:
        """Write a lead's state to its partition's changelog."""
        assert change.encoded is not None
        self._states.set(key, change.encoded, change.state, partition)

    async def publish(self, change: LeadChange, partition: int, now: datetime, rows: RowBatch) -> None:
        """Publish what a lead's clocks owe and record it, with the SLA rows in `rows`."""
        if change.sla is not None:
            await self._sla.publish(change.state.lead_id, change.sla, partition, now, rows, change.state)
