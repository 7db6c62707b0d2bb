"""The demo's pieces end to end: its agreements, a worker and its simulator, backfill then live, on a real broker.

With a 1-minute follow-up promise, a live lead's breach must reach the store, the SLA topic's table and the
worker's metrics within two minutes of the simulator's start, next to live warnings and met clocks, while
nothing the backfill sent was dated ahead of its time (the worker here keeps the default 15-minute skew).
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.board import clocks_line
from services.demo import simulator_command
from services.demo_agreements import write_demo_agreements
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import Worker, group_env, wait_until

pytestmark = pytest.mark.integration

LIVE_SLA_EVENTS = "SELECT kind, count() FROM sla_events FINAL WHERE startsWith(lead_id, 'lead-live-') GROUP BY kind"
LIVE_BREACHES = """
SELECT lead_id FROM sla_clocks
WHERE startsWith(lead_id, 'lead-live-') AND handoff = 'mql_follow_up' AND agreement = 'demo-live'
  AND deadline < now64(3) AND NOT (stopped_at IS NOT NULL AND stopped_at <= deadline)
"""
REFUSED_TIMES = "SELECT count() FROM dead_letters WHERE startsWith(reason, 'time_out_of_range')"


def _query(worker: Worker, sql: str) -> list[tuple[Any, ...]]:
    return worker.store(timeout=10).query(sql)


def _sla_metric(worker: Worker, name: str) -> float:
    families = text_string_to_metric_families(worker.metrics())
    samples = [s for f in families for s in f.samples if s.name == name]
    return sum(s.value for s in samples if s.labels.get("agreement") == "demo-live")


def test_the_demo_goes_on_live_and_a_breach_reaches_the_store_within_two_minutes(
    kafka: LocalKafka, tmp_path: Path
) -> None:
    agreements = write_demo_agreements(tmp_path / "agreements", datetime.now(UTC), 1)
    env = group_env(
        kafka.bootstrap,
        tmp_path,
        "demo",
        LEADFLOW_AGREEMENTS=str(agreements),
        LEADFLOW_SINK_INTERVAL="0.5",
        LEADFLOW_MAX_CLOCK_SKEW="900",  # the default: a backfill that ran ahead of time would be refused
    )
    worker = Worker(env, tmp_path).start()
    command = [*simulator_command(200.0, datetime.now(UTC), 1), "--visitors", "300"]  # a small backfill
    with (tmp_path / "simulate.log").open("wb") as log:
        started = time.monotonic()
        simulator = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: bool(_query(worker, LIVE_BREACHES)), 130, "a live lead's breach in the store", every=2)
        took = time.monotonic() - started
        wait_until(lambda: _sla_metric(worker, "leadflow_sla_breaches_total") >= 1, 10, "the breach in /metrics")
        kinds = dict(_query(worker, LIVE_SLA_EVENTS))
        board_line = clocks_line(worker.store(), datetime.now(UTC)).plain
        refused = _query(worker, REFUSED_TIMES)[0][0]
        warnings = _sla_metric(worker, "leadflow_sla_warnings_total")
        assert simulator.poll() is None, "the simulator goes on live"
    finally:
        simulator.terminate()
        simulator.wait(timeout=30)
        worker.stop()
    log_text = (tmp_path / "simulate.log").read_text()
    print(f"first live breach in the store {took:.0f} s after the simulator started; live SLA events {kinds}")
    assert took < 120, log_text[-2000:]
    assert int(kinds.get("sla.breached", 0)) >= 1 and int(kinds.get("sla.warning", 0)) >= 1, kinds
    assert int(kinds.get("sla.met", 0)) >= 1, kinds
    assert warnings >= 1
    assert int(refused) == 0
    assert '"later":' in log_text  # the summary of what was held back from the backfill
    assert re.search(r"latest breach lead-live-0000\d\d \(due", board_line), board_line  # the board shows it
