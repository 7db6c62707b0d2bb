"""Crash recovery: a worker killed (SIGKILL) again and again while events flow still gives replay's report."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from services.simulate import SimulationSummary
from tests.integration.processes import Worker, leadflow_json, wait_until
from tests.integration.test_kafka_path import _replay_report, _store_count, wait_settled

pytestmark = pytest.mark.integration

CHUNKS = 4


def _chunks(path: Path, count: int, tmp_path: Path) -> list[Path]:
    """Split a JSON-lines file into `count` consecutive files of about equal length."""
    lines = path.read_bytes().splitlines(keepends=True)
    cuts = [len(lines) * i // count for i in range(count + 1)]
    chunks = []
    for number, (start, end) in enumerate(itertools.pairwise(cuts), start=1):
        chunk = tmp_path / f"chunk-{number}.jsonl"
        chunk.write_bytes(b"".join(lines[start:end]))
        chunks.append(chunk)
    return chunks


def _crash_after_progress(worker: Worker, env: dict[str, str], tmp_path: Path, before: int) -> int:
    """Wait until the store holds more events than `before`, then SIGKILL the worker; return the count seen."""
    counts: list[int] = []

    def progressed() -> bool:
        counts.append(_store_count(env, tmp_path, "events"))
        return counts[-1] > before

    wait_until(progressed, 120, f"more than {before} events in the store ({worker.log})", every=0.2)
    worker.kill()
    return counts[-1]


# The default sink batch, and small ones: agents that write every few events fall behind the fetcher, so a
# restarted worker has records queued when its recovery ends (Faust's flow control used to throw those away).
@pytest.mark.parametrize("batch_rows", ["20000", "10"])
def test_worker_killed_three_times_mid_stream_gives_the_replay_report(
    batch_rows: str, simulated: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path
) -> None:
    events, summary = simulated
    worker_env = {**worker_env, "LEADFLOW_SINK_BATCH_ROWS": batch_rows}
    expected = _replay_report(events, tmp_path)
    worker = Worker(worker_env, tmp_path, "worker-1").start()
    seen = 0
    sent = 0
    try:
        for number, chunk in enumerate(_chunks(events, CHUNKS, tmp_path), start=1):
            sent += leadflow_json(["produce", str(chunk)], worker_env, tmp_path)["sent"]
            if number < CHUNKS:
                seen = _crash_after_progress(worker, worker_env, tmp_path, seen)
                worker = Worker(worker_env, tmp_path, f"worker-{number + 1}").start()
        assert sent == summary.total
        wait_settled(worker_env, tmp_path, expected, summary, 180)
    finally:
        worker.stop()
