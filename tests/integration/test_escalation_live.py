"""Escalation steps on a real broker, in wall-clock time: each published once, within a second of its moment."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.agreements import around_the_clock, noon_zone
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import Worker, produce_lines, wait_until
from tests.integration.test_sla_live import _sla_messages
from tests.unit.factories import owner_event, stage_event

pytestmark = pytest.mark.integration

LADDER = "[{after: 1m, to: manager}, {after: 2m, to: reassign}]"


def _owners(path: Path, zone: str) -> Path:
    """Write an owners file: one team, everyone at work all day in the agreement's zone."""
    hours = '{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "23:59"}'
    reps = ("rep-01", "rep-02", "rep-03")
    people = "\n".join(f"  - {{id: {o}, timezone: {zone}, working_hours: {hours}}}" for o in reps)
    path.write_text(f"teams:\n  - {{name: emea, manager: boss, members: [{', '.join(reps)}]}}\nowners:\n{people}\n")
    return path


def test_an_escalation_is_published_once_within_a_second_of_its_moment_across_a_restart(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    env = {
        **worker_env,
        "LEADFLOW_AGREEMENTS": str(around_the_clock(tmp_path / "agreements", now, "ladder", escalate=LADDER)),
        "LEADFLOW_OWNERS": str(_owners(tmp_path / "owners.yaml", noon_zone(now))),
    }
    worker = Worker(env, tmp_path, "worker-1").start()
    # the clock started 155 s ago: breached 95 s ago, escalated to the manager 35 s ago, reassignment due in 25 s
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=155)
    reassign_at = started + timedelta(minutes=3)
    topic = env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.sla"

    def lead_1() -> list[dict[str, object]]:
        return [m for m in _sla_messages(kafka, topic) if m["subject"] == "lead-1"]

    try:
        owned = owner_event("lead-1", "rep-01", started - timedelta(seconds=1), id="o1")
        # rep-02's own lead has a clock running: rep-03, with none, is the one to suggest
        busy = [
            owner_event("lead-2", "rep-02", started - timedelta(seconds=1), id="o2"),
            stage_event("lead-2", "mql", started, id="m2"),
        ]
        produce_lines(env, tmp_path, [owned, stage_event("lead-1", "mql", started, id="m1"), *busy])
        wait_until(lambda: len(lead_1()) >= 2, 30, "the breach and the first step")
        worker.stop()  # the reassignment falls due while this worker is gone and the next one starts
        worker = Worker(env, tmp_path, "worker-2").start()
        assert datetime.now(UTC) < reassign_at - timedelta(seconds=2), "the restart took too long to test anything"
        wait_until(lambda: len(lead_1()) >= 3, 40, "the second step")
        time.sleep(3)  # anything published twice would show up now
        messages = lead_1()
        exported = worker.metrics()
    finally:
        worker.stop()
    assert Counter(m["type"] for m in messages) == {"sla.breached": 1, "sla.escalated": 1, "sla.reassign_suggested": 1}
    by_type = {m["type"]: m for m in messages}
    escalated, reassign = by_type["sla.escalated"], by_type["sla.reassign_suggested"]
    assert escalated["id"] == "lead-1/mql_follow_up/1/sla.escalated"
    assert (escalated["data"]["escalated_to"], escalated["data"]["team"]) == ("boss", "emea")
    assert datetime.fromisoformat(escalated["time"]) == started + timedelta(minutes=2)
    assert reassign["data"]["suggested_owner_id"] == "rep-03"  # rep-01 owns it, rep-02 has a clock running
    assert datetime.fromisoformat(reassign["time"]) == reassign_at
    lag = reassign["_ts"] / 1000 - reassign_at.timestamp()
    print(f"escalation moment to published: {lag:.3f} s")
    assert 0 <= lag < 1.0
    # both leads' reassignment steps fall due after the restart
    line = 'leadflow_sla_escalations_total{agreement="ladder",handoff="mql_follow_up",step="reassign",team="emea"} 2.0'
    assert line in exported
