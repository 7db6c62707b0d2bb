"""Two workers of one consumer group share one embedded store: through `leadflow store serve`, or through the
worker that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.simulate import SimulationSummary
from tests.integration.kafka_fixture import free_port
from tests.integration.processes import Worker, leadflow_json, wait_until
from tests.integration.store_processes import (
    Running,
    StoreService,
    group_lag,
    metric_total,
    workers_holding_partitions,
)
from tests.integration.test_crash_recovery import _chunks
from tests.integration.test_kafka_path import _replay_report, wait_settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def second_worker_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The same group, topics and store; a web port and Faust data directory of its own."""
    return {**env, "LEADFLOW_WEB_PORT": str(free_port()), "LEADFLOW_STATE_DIR": str(tmp_path / "faust-b")}


def test_a_worker_killed_mid_stream_leaves_its_partitions_to_the_other(
    small: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    events, summary = small
    expected = _replay_report(events, tmp_path)
    first, second, third = _chunks(events, 3, tmp_path)
    running.diagnostics.append(lambda: group_lag(worker_env))
    with running.explained():
        service = running.start(StoreService(worker_env, tmp_path))
        survivor = running.start(Worker(worker_env, tmp_path, "worker-a"))
        victim = running.start(Worker(second_worker_env(worker_env, tmp_path), tmp_path, "worker-b"))
        wait_until(lambda: workers_holding_partitions(worker_env) == 2, 120, "both workers holding partitions")
        leadflow_json(["produce", str(first)], worker_env, tmp_path)
        both = [survivor, victim]
        wait_until(lambda: all(metric_total(w, "leadflow_events_total") > 0 for w in both), 120, "both at work")
        leadflow_json(["produce", str(second)], worker_env, tmp_path)
        victim.kill()
        leadflow_json(["produce", str(third)], worker_env, tmp_path)
        # the killed worker committed nothing yet on some partitions of a quiet topic: the survivor must read
        # records it fetched but dropped while rebalancing again, not go on from past them
        wait_settled(worker_env, tmp_path, expected, summary, 240, count=service.count)
        assert survivor.answers()


def test_a_second_worker_writes_through_the_worker_that_holds_the_store(
    small: tuple[Path, SimulationSummary], worker_env: dict[str, str], tmp_path: Path, running: Running
) -> None:
    events, summary = small
    expected = _replay_report(events, tmp_path)
    running.diagnostics.append(lambda: group_lag(worker_env))
    owners = tmp_path / "workers-owners.yaml"  # not ./owners.yaml: the report, run in tmp_path, reads no teams
    owners.write_text("teams:\n  - {name: emea, manager: mgr-emea, members: [rep-01, rep-02]}\n", encoding="utf-8")
    with_owners = {**worker_env, "LEADFLOW_OWNERS": str(owners)}
    with running.explained():
        holder = running.start(Worker(with_owners, tmp_path, "worker-a"))
        writer = running.start(Worker(second_worker_env(with_owners, tmp_path), tmp_path, "worker-b"))
        wait_until(lambda: workers_holding_partitions(worker_env) == 2, 120, "both workers holding partitions")
        leadflow_json(["produce", str(events)], worker_env, tmp_path)
        wait_settled(worker_env, tmp_path, expected, summary, 240)
        assert metric_total(writer, "leadflow_sink_rows_total") > 0, "worker-b wrote its rows through worker-a"
        store = holder.store()
        assert store.query("SELECT count() FROM store_runs WHERE kind = 'live'") == [(2,)]
        # each worker wrote its owners file's teams at its start, the second one through the first
        loads = "SELECT countIf(owner_id = ''), groupArrayDistinct((owner_id, team)) FROM owner_teams"
        ((count, members),) = store.query(loads)
        assert count == 2 and sorted(members) == [("", ""), ("rep-01", "emea"), ("rep-02", "emea")]
