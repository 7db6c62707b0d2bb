"""A stranger with the website's public key sends a burst of activities for one lead id: nothing stops.

The key is a browser key (it sits in the website's HTML, so anyone has it) that may send every event type. The
burst is far past the point where one lead's state used to outgrow a Kafka message and crash-loop the worker.
Then events of other leads follow on the same partition. The worker must stay up, store the other leads, and
give the report that `leadflow replay` gives of the very events the collector accepted.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.collector.keys import hash_key
from tests.integration.kafka_fixture import LocalKafka
from tests.integration.processes import Worker, base_env, group_env, held_store, leadflow_json, wait_until
from tests.integration.test_collector_kafka import Collector
from tests.unit.factories import activity_doc, form_doc, stage_doc

pytestmark = pytest.mark.integration

PUBLIC_KEY = "lf_website_public_0123456789abcdefghijklmn"
BURST = 20_500
BATCH = 500
START = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
WINDOW = [
    "--from",
    (START - timedelta(days=1)).date().isoformat(),
    "--to",
    (START + timedelta(days=3)).date().isoformat(),
    "--as-of",
    (START + timedelta(days=3)).isoformat(),
]


def burst() -> list[dict[str, Any]]:
    """Activities for one lead id, one in ten by a human, and a few with impossible times among them."""
    documents: list[dict[str, Any]] = []
    for n in range(BURST):
        moment = START + timedelta(seconds=n)
        documents.append(activity_doc("victim", moment, automated=n % 10 != 3, owner_id="rep-1", id=f"burst-{n}"))
    documents.append(activity_doc("victim", datetime(1, 1, 1, tzinfo=UTC), id="year-one"))
    documents.append(activity_doc("victim", datetime(9999, 1, 1, tzinfo=UTC), id="year-9999"))
    return documents


def other_leads() -> list[dict[str, Any]]:
    later = START + timedelta(hours=7)
    documents = [form_doc(f"other-{n}", f"V{n}", later + timedelta(minutes=n), id=f"form-{n}") for n in range(20)]
    return documents + [stage_doc(f"other-{n}", "mql", later + timedelta(hours=1), id=f"mql-{n}") for n in range(10)]


def post_all(collector: Collector, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST in batches with the public key in the URL, as the website snippet does; return the accepted ones."""
    accepted: list[dict[str, Any]] = []
    for first in range(0, len(documents), BATCH):
        batch = documents[first : first + BATCH]
        status, answer = collector.request(
            "POST", f"/v1/events?key={PUBLIC_KEY}", json.dumps(batch).encode(), {"Content-Type": "application/json"}
        )
        while status == 429:  # a rate limit slows the burst down; it does not change what must hold
            time.sleep(float(answer.get("retry_after", 1)) if isinstance(answer, dict) else 1.0)
            status, answer = collector.request(
                "POST", f"/v1/events?key={PUBLIC_KEY}", json.dumps(batch).encode(), {"Content-Type": "application/json"}
            )
        assert status in (200, 207, 422), (status, answer)
        accepted += [batch[r["index"]] for r in answer["results"] if r["status"] == "accepted"]
    return accepted


def events_stored(env: dict[str, str]) -> int:
    return int(held_store(env).query("SELECT count() FROM events FINAL")[0][0])


def test_a_burst_for_one_lead_with_the_public_key_stops_nothing(kafka: LocalKafka, tmp_path: Path) -> None:
    env = group_env(
        kafka.bootstrap, tmp_path, partitions=1, LEADFLOW_SINK_INTERVAL="0.5", LEADFLOW_MAX_CLOCK_SKEW="900"
    )
    keys = tmp_path / "public-keys.json"
    keys.write_text(json.dumps({"website": {"key_sha256": hash_key(PUBLIC_KEY), "browser": True}}))
    worker = Worker(env, tmp_path).start()
    collector = Collector({**env, "LEADFLOW_COLLECTOR_KEYS_FILE": str(keys)}, tmp_path).start()
    try:
        accepted = post_all(collector, burst())
        assert len(accepted) == BURST  # the two impossible times were refused at the door
        accepted += post_all(collector, other_leads())
        wait_until(lambda: worker.answers() and events_stored(env) == len(accepted), 240, "every event")
        assert worker.process is not None and worker.process.poll() is None
        live = leadflow_json(["report", *WINDOW, "--format", "json"], env, tmp_path)
    finally:
        collector.stop()
        worker.stop()
    replayed = tmp_path / "accepted.jsonl"
    replayed.write_text("".join(json.dumps(d) + "\n" for d in accepted))
    replay_env = base_env(LEADFLOW_STORE=f"chdb:{tmp_path / 'replay-store'}")
    assert leadflow_json(["replay", str(replayed), "--no-progress"], replay_env, tmp_path)["valid"] == len(accepted)
    assert live == leadflow_json(["report", *WINDOW, "--format", "json"], replay_env, tmp_path)
    assert live["counts"]["lead"] == 21 and live["counts"]["mql"] == 10
