"""A replay writes its batches on a writer thread, one at a time: rows rejected there are counted, errors raised."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines import replay
from pipelines.core.sla import Judge
from pipelines.replay import Replayer
from pipelines.store.exceptions import StoreError, StoreRejected

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _visit(number: int) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"visit-{number}",
            "source": "/web/shop",
            "type": "web.visit",
            "time": f"2026-11-02T09:{number % 60:02d}:00Z",
            "subject": f"vis-{number}",
            "data": {"visitor_id": f"vis-{number}", "url": "https://shop.test/"},
        }
    ).encode()


class RecordingStore:
    """Keeps rows by table and the thread of each insert; refuses rows of one event id, or fails a whole insert."""

    def __init__(self, refuse_id: str | None = None, fail_on_insert: int | None = None) -> None:
        self.rows: dict[str, list[Sequence[Any]]] = {}
        self.threads: list[str] = []
        self._refuse_id = refuse_id
        self._fail_on_insert = fail_on_insert

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self.threads.append(threading.current_thread().name)
        if len(self.threads) == self._fail_on_insert:
            raise StoreError("the store is gone")
        if table == "events" and any(row[1] == self._refuse_id for row in rows):
            raise StoreRejected("a value the store will not take")
        self.rows.setdefault(table, []).extend(rows)

    def close(self) -> None:
        pass


def _replay(store: RecordingStore, lines: int) -> replay.ReplayStats:
    replayer = Replayer(store, NOW, "replay:test", Judge([]))
    for number in range(1, lines + 1):
        replayer.feed(_visit(number), number)
    return replayer.finish()


def test_batches_are_written_beside_the_replay_and_rejected_rows_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "EVENT_FLUSH_ROWS", 3)
    store = RecordingStore(refuse_id="visit-5")
    stats = _replay(store, 10)
    assert any(name.startswith("replay-writer") for name in store.threads)
    assert (stats.lines, stats.valid, stats.invalid) == (10, 10, 1)
    assert sorted(row[1] for row in store.rows["events"]) == sorted(f"visit-{n}" for n in range(1, 11) if n != 5)
    assert len(store.rows["dead_letters"]) == 1


def test_a_failed_write_on_the_writer_thread_fails_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "EVENT_FLUSH_ROWS", 3)
    with pytest.raises(StoreError, match="the store is gone"):
        _replay(RecordingStore(fail_on_insert=2), 10)


class IntervalStore(RecordingStore):
    """Records the interpreter's switch interval at each insert."""

    def __init__(self) -> None:
        super().__init__()
        self.intervals: list[float] = []

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        self.intervals.append(sys.getswitchinterval())
        super().insert(table, rows, columns)


def test_a_replay_hands_the_interpreter_over_quickly_while_it_writes_and_restores_it_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "EVENT_FLUSH_ROWS", 3)
    path = tmp_path / "visits.jsonl"
    path.write_bytes(b"\n".join(_visit(number) for number in range(1, 11)) + b"\n")
    before = sys.getswitchinterval()
    store = IntervalStore()
    stats = replay.replay_file(path, store, Judge([]), now=NOW)
    assert stats.valid == 10
    assert store.intervals and all(i == pytest.approx(replay.SWITCH_INTERVAL_S) for i in store.intervals)
    assert any(name.startswith("replay-writer") for name in store.threads)  # written beside the reading, too
    assert sys.getswitchinterval() == before and before > 10 * replay.SWITCH_INTERVAL_S
