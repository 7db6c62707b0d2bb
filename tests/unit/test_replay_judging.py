"""A replay judges a lead only when that can publish something: the same rows as judging at every event.

A lead state carries its lifecycle and clocks over to the next state (`LeadState._carry`), and the replay skips
judging a lead whose clocks are the very ones it judged last while nothing of them is due yet, and asks its
deadline index only once replay time reaches the earliest instant due. All three are checked here against a
replay that derives every state afresh, judges at every event and asks the index at every one, on simulated files.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.agreements import load_agreements
from pipelines.core import lead
from pipelines.core.codec import to_ms
from pipelines.core.lead import LeadState
from pipelines.core.sla import Judge
from pipelines.core.steps import SlaEffects, sla_step
from pipelines.replay import NOT_JUDGED, Replayer, read_lines
from services.simulate import SimulationConfig, write_jsonl

AGREEMENTS = Path(__file__).resolve().parents[2] / "agreements"
NOW = datetime(2027, 1, 31, tzinfo=UTC)
ALWAYS = datetime.min.replace(tzinfo=UTC)  # the earliest instant due: every later event time asks the index


class TableStore:
    """Keeps the rows of each table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {}

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self.rows.setdefault(table, []).extend(tuple(row) for row in rows)

    def close(self) -> None:
        pass


class JudgingEveryEvent(Replayer):
    """Judges a lead at every event that changed it, and asks the deadline index at every later event time."""

    def _judged(self, state: LeadState, now: datetime) -> SlaEffects | None:
        return sla_step(state, self._judgements.get(state.lead_id, NOT_JUDGED).published, self._judge, now)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._due_at = ALWAYS

    def _judge_due_by(self, time: datetime) -> None:
        for lead_id, _partition in self._index.pop_due(to_ms(time)):
            self._judge_due(lead_id, time)
        self._due_at = ALWAYS  # asked again at the next later event time


def _replayed(path: Path, replayer: type[Replayer]) -> dict[str, list[tuple[Any, ...]]]:
    store = TableStore()
    feeding = replayer(store, NOW, "replay:sim", Judge(load_agreements(AGREEMENTS)))
    for number, raw in read_lines(path):
        feeding.feed(raw, number)
    stats = feeding.finish()
    assert stats.sla_events > 100 and stats.leads > 100  # clocks started, ran out and stopped
    return {table: sorted(rows, key=repr) for table, rows in store.rows.items() if table != "store_runs"}


@pytest.mark.parametrize("seed", [3, 11])
def test_skipping_and_carrying_change_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    path = tmp_path / "events.jsonl"
    write_jsonl(SimulationConfig(seed=seed, visitors=1500, days=21), path)
    fast = _replayed(path, Replayer)
    monkeypatch.setattr(lead.LeadState, "_carry", lambda self, previous, move: self)  # every state derived afresh
    every = _replayed(path, JudgingEveryEvent)
    assert fast.keys() == every.keys() and {"sla_events", "lead_snapshots", "events"} <= fast.keys()
    for table, rows in every.items():
        assert fast[table] == rows, table
