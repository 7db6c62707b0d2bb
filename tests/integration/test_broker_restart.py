"""A Kafka broker stopped (or killed) while the worker consumes, then started again: nothing lost, nothing twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.simulate import SimulationConfig, SimulationSummary, write_jsonl
from tests.integration.kafka_fixture import LocalKafka, free_port
from tests.integration.processes import Worker, group_env, leadflow_json, wait_until
from tests.integration.test_kafka_path import _replay_report, _split, _store_count, wait_settled
from tests.integration.test_sla_live import _sla_messages

pytestmark = [pytest.mark.integration, pytest.mark.timeout(480)]

DOWN_SECONDS = 5.0
TAIL = 4000
RETRY_NOISE = ("Unable connect to node", "Unable to update metadata")  # aiokafka, many a second while it is down


@pytest.fixture(scope="module")
def modest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    """A simulation of a few thousand events, with duplicates, late and malformed ones."""
    path = tmp_path_factory.mktemp("sim-modest") / "events.jsonl"
    summary = write_jsonl(replace(SimulationConfig(), visitors=800), path)
    assert 2000 <= summary.total <= 6000 and summary.duplicates and summary.late and summary.malformed
    return path, summary


@pytest.fixture(scope="module")
def expected(modest: tuple[Path, SimulationSummary], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`leadflow replay`'s report of the modest simulation."""
    return _replay_report(modest[0], tmp_path_factory.mktemp("replay"))


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of this test's own, which it may stop, kill and start again on the same port and storage."""
    broker = LocalKafka(free_port(), tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _tail(path: Path, skip: tuple[str, ...] = ()) -> str:
    """Return the end of a log, without the lines that contain any of `skip`."""
    if not path.exists():
        return f"({path} does not exist)"
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if not any(s in line for s in skip))[-TAIL:]


def _take_down(kafka: LocalKafka, how: str) -> None:
    if how == "kill":
        kafka.kill()
    else:
        kafka.stop()


def _alive(worker: Worker) -> bool:
    return worker.process is not None and worker.process.poll() is None


def _published_once(messages: list[Any]) -> Counter[tuple[str, str, str, int]]:
    """Count SLA messages per (lead, kind, handoff, episode): each should appear once."""
    return Counter((m["subject"], m["type"], m["data"]["handoff"], m["data"]["episode"]) for m in messages)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_broker_restarted_mid_stream_loses_nothing(
    how: str, own_kafka: LocalKafka, modest: tuple[Path, SimulationSummary], expected: Any, tmp_path: Path
) -> None:
    events, summary = modest
    env = group_env(own_kafka.bootstrap, tmp_path, LEADFLOW_SINK_INTERVAL="0.5")
    first, second = _split(events, 0.6, tmp_path)
    worker = Worker(env, tmp_path).start()
    try:
        sent = leadflow_json(["produce", str(first)], env, tmp_path)["sent"]
        wait_until(lambda: _store_count(env, tmp_path, "events") > 0, 120, "the first rows", every=0.1)
        down_at = time.monotonic()
        _take_down(own_kafka, how)
        stored_when_down = _store_count(env, tmp_path, "events")
        time.sleep(DOWN_SECONDS)
        assert _alive(worker), "the worker exited while the broker was down"
        own_kafka.start()
        back_s = time.monotonic() - down_at
        print(f"broker {how}: {stored_when_down} events stored when it went down, back after {back_s:.1f} s")
        sent += leadflow_json(["produce", str(second)], env, tmp_path)["sent"]
        assert sent == summary.total
        wait_settled(env, tmp_path, expected, summary, 240)
        assert _alive(worker), "the worker did not stay up through the broker restart"
        sla = _sla_messages(own_kafka, env["LEADFLOW_TOPIC_PREFIX"] + "leadflow.sla")
        published = _published_once(sla)
        assert sla and max(published.values()) == 1, [k for k, n in published.items() if n > 1][:10]
        wait_until(lambda: _store_count(env, tmp_path, "sla_events") == len(published), 60, "every SLA event stored")
    except BaseException:
        print(f"--- worker log tail, connection retries left out ({worker.log}):\n{_tail(worker.log, RETRY_NOISE)}")
        print(f"--- broker log tail ({own_kafka.broker_log}):\n{_tail(own_kafka.broker_log)}")
        raise
    finally:
        worker.stop()
