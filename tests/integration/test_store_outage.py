"""A store outage: the store service killed while events flow, restarted elsewhere; the worker waits and catches up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.simulate import SimulationSummary
from tests.integration.processes import Worker, leadflow, leadflow_json, wait_until
from tests.integration.store_processes import (
    Running,
    StoreService,
    group_lag,
    metric_total,
)
from tests.integration.test_crash_recovery import _chunks
from tests.integration.test_kafka_path import _replay_report, wait_settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

OUTAGE = 8.0  # seconds without a store: several failed writes, back-off included


def test_worker_holds_events_back_while_the_store_is_away_and_loses_none(
    small: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    events, summary = small
    expected = _replay_report(events, tmp_path)
    first, during, after = _chunks(events, 3, tmp_path)
    running.diagnostics.append(lambda: group_lag(worker_env))
    with running.explained():
        service = running.start(StoreService(worker_env, tmp_path, "store-1"))
        worker = running.start(Worker(worker_env, tmp_path))
        leadflow_json(["produce", str(first)], worker_env, tmp_path)
        refused = leadflow(["replay", str(first), "--no-progress"], worker_env, tmp_path)
        assert refused.returncode == 2 and "held by a `leadflow store serve`" in refused.stderr, refused.stderr
        wait_until(lambda: service.count("events") > 300, 120, "the first rows in the store")
        service.kill()
        down_since = time.monotonic()
        leadflow_json(["produce", str(during)], worker_env, tmp_path)
        wait_until(lambda: metric_total(worker, "leadflow_sink_errors_total") >= 2, 60, "failed store writes")
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
        assert worker.answers(), "the worker keeps running while the store is away"
        service = running.start(StoreService(worker_env, tmp_path, "store-2"))  # another port, in the owner file
        leadflow_json(["produce", str(after)], worker_env, tmp_path)
        wait_settled(worker_env, tmp_path, expected, summary, 240, count=service.count)
