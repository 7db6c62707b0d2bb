"""The deadline index: which leads have an SLA event due, found in time proportional to what is due."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class DeadlineIndex:
    """A min-heap of (due, lead) with lazy deletion: rescheduling a lead leaves its old entry to be skipped."""

    _heap: list[tuple[int, str]] = field(default_factory=list)
    _due: dict[str, tuple[int, int]] = field(default_factory=dict)  # lead -> (due ms, partition)

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, lead_id: str, partition: int, due_ms: int | None) -> None:
        """Set (or clear, with None) when a lead next has something due."""
        current = self._due.get(lead_id)
        if due_ms is None:
            self._due.pop(lead_id, None)
        elif current is None or current[0] != due_ms or current[1] != partition:
            self._due[lead_id] = (due_ms, partition)
            heapq.heappush(self._heap, (due_ms, lead_id))
        self._compact()

    def pop_due(self, now_ms: int, limit: int | None = None) -> list[tuple[str, int]]:
        """Remove and return (lead, partition) of every lead due at or before `now_ms` (at most `limit`)."""
        due: list[tuple[str, int]] = []
        while self._heap and self._heap[0][0] <= now_ms and (limit is None or len(due) < limit):
            at, lead_id = heapq.heappop(self._heap)
            current = self._due.get(lead_id)
            if current is not None and current[0] == at:
                del self._due[lead_id]
                due.append((lead_id, current[1]))
        return due

    def next_due(self) -> int | None:
        """Return the earliest due instant (ms), skipping stale entries."""
        while self._heap:
            at, lead_id = self._heap[0]
            current = self._due.get(lead_id)
            if current is not None and current[0] == at:
                return at
            heapq.heappop(self._heap)
        return None

    def drop_partitions(self, partitions: Iterable[int]) -> int:
        """Forget the leads of partitions this worker no longer owns; returns how many."""
        gone = set(partitions)
        leads = [lead for lead, (_, p) in self._due.items() if p in gone]
        for lead in leads:
            del self._due[lead]
        return len(leads)

    def _compact(self) -> None:
        # stale entries are skipped lazily; rebuild when they outnumber live ones, so memory stays bounded
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._heap = [(at, lead) for lead, (at, _) in self._due.items()]
            heapq.heapify(self._heap)
