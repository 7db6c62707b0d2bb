"""SLA clocks on a real broker, in wall-clock time: met, warned, breached and missing follow-ups, each once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer

from tests.integration.agreements import around_the_clock
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import Worker, base_env, leadflow_json, produce_lines, wait_until
from tests.unit.factories import activity_event, form_event, stage_event

pytestmark = pytest.mark.integration


def _script(t0: datetime) -> list[tuple[float, bytes]]:
    """(seconds after t0, event) for leads whose follow-up is early, after the warning, late, missing, skipped."""
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    script: list[tuple[float, bytes]] = []
    for lead in ("early", "warned", "late", "missing", "jump"):
        script.append((0, form_event(f"lead-{lead}", f"v-{lead}", at(0), id=f"f-{lead}")))
    for lead in ("early", "warned", "late", "missing"):
        script.append((0.5, stage_event(f"lead-{lead}", "mql", at(0.5), id=f"m-{lead}")))
    script.append((0.5, stage_event("lead-jump", "sql", at(0.5), id="s-jump")))
    script.append((5, activity_event("lead-early", at(5), automated=False, id="a-early")))
    script.append((10, activity_event("lead-late", at(10), automated=True, id="auto-late")))
    script.append((40, activity_event("lead-warned", at(40), automated=False, id="a-warned")))
    script.append((75, activity_event("lead-late", at(75), automated=False, id="a-late")))
    return script


EXPECTED = Counter(
    {
        ("lead-early", "sla.met"): 1,
        ("lead-warned", "sla.warning"): 1,
        ("lead-warned", "sla.met"): 1,
        ("lead-late", "sla.warning"): 1,
        ("lead-late", "sla.breached"): 1,
        ("lead-missing", "sla.warning"): 1,
        ("lead-missing", "sla.breached"): 1,
        ("lead-jump", "sla.met"): 1,
    }
)


def _sla_messages(kafka: LocalKafka, topic: str) -> list[Any]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=[kafka.bootstrap], auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    try:
        return [orjson.loads(m.value) | {"_ts": m.timestamp} for m in consumer]
    finally:
        consumer.close()


def test_handoff_clocks_publish_each_sla_event_once_across_a_restart(
    kafka: LocalKafka, worker_env: dict[str, str], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    env = {
        **worker_env,
        "LEADFLOW_AGREEMENTS": str(around_the_clock(tmp_path / "agreements", now, "live-test", warn_at=0.5)),
    }
    worker = Worker(env, tmp_path, "worker-1").start()
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    script = _script(t0)
    everything: list[bytes] = []
    restarted = False
    try:
        for offset in sorted({s for s, _ in script}):
            time.sleep(max(0.0, (t0 + timedelta(seconds=offset) - datetime.now(UTC)).total_seconds()))
            batch = [e for s, e in script if s == offset]
            produce_lines(env, tmp_path, batch)
            everything.extend(batch)
            if offset == 10 and not restarted:
                worker.stop()  # restart in the middle: clocks are open, warnings are due while it is away
                worker = Worker(env, tmp_path, "worker-2").start()
                restarted = True
        topic = env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.sla"
        wait_until(lambda: len(_sla_messages(kafka, topic)) >= sum(EXPECTED.values()), 90, "every SLA event")
        time.sleep(3)  # anything published twice would show up now
        messages = _sla_messages(kafka, topic)
    finally:
        worker.stop()
    assert Counter((m["subject"], m["type"]) for m in messages) == EXPECTED
    met = {m["subject"]: m["data"]["business_seconds"] for m in messages if m["type"] == "sla.met"}
    assert met["lead-jump"] == 0
    assert met["lead-early"] == 4.5 and met["lead-warned"] == 39.5
    breach = next(m for m in messages if m["subject"] == "lead-missing" and m["type"] == "sla.breached")
    lag = breach["_ts"] / 1000 - datetime.fromisoformat(breach["data"]["deadline"]).timestamp()
    print(f"deadline to breach published: {lag:.3f} s")

    replay_env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'replay'}", LEADFLOW_AGREEMENTS=env["LEADFLOW_AGREEMENTS"])
    (tmp_path / "all.jsonl").write_bytes(b"\n".join(everything) + b"\n")
    leadflow_json(["replay", str(tmp_path / "all.jsonl"), "--no-progress"], replay_env, tmp_path)
    window = ["--from", str((t0 - timedelta(days=1)).date()), "--to", str((t0 + timedelta(days=2)).date())]
    as_of = ["--as-of", (t0 + timedelta(minutes=5)).isoformat()]
    replayed = leadflow_json(["report", *window, *as_of, "--format", "json"], replay_env, tmp_path)
    assert replayed["sla"]["mql_follow_up"] == {
        "started": 5, "met": 3, "breached": 2, "open": 0, "compliance": 0.6,
        "p50_business_seconds": 22.0, "p90_business_seconds": 64.0,
        "escalated": 0, "reassign_suggested": 0,
    }  # fmt: skip
    live = Worker(env, tmp_path, "worker-3").start()
    try:
        assert leadflow_json(["report", *window, *as_of, "--format", "json"], env, tmp_path)["sla"] == replayed["sla"]
    finally:
        live.stop()
